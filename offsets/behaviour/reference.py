"""The behaviour scenarios of the second batch of Wuhan's methodologies (September 2024) and their factors.

The scenarios and units follow the published list; the factors and limits here are demo values (marked so):
the bureau enters the published ones in the admin, each for its validity period.
"""

from datetime import date

from offsets.behaviour.models import Category, Scenario, ScenarioFactor, Unit

DEMO_SOURCE = "演示数值（非官方） Demo value, not an official factor"
# code, Chinese, English, category, unit, mg CO2e per unit, largest record (units), most records a day
SCENARIOS = [
    ("metro", "轨道交通出行", "Rail transit trip", Category.TRAVEL, Unit.PASSENGER_KM, 45_000, 80, 12),
    ("bus", "公交出行", "Bus trip", Category.TRAVEL, Unit.PASSENGER_KM, 38_000, 60, 12),
    ("bicycle", "共享单车骑行", "Shared-bicycle ride", Category.TRAVEL, Unit.KM, 50_000, 30, 16),
    ("carpool", "合乘出行", "Car-pooling", Category.TRAVEL, Unit.PASSENGER_KM, 60_000, 150, 6),
    ("nev", "新能源汽车出行", "New-energy vehicle trip", Category.TRAVEL, Unit.KM, 70_000, 500, 10),
    (
        "no_tableware",
        "外卖不使用一次性餐具",
        "Food delivery without disposable tableware",
        Category.CONSUMPTION,
        Unit.ORDER,
        30_000,
        1,
        6,
    ),
    (
        "second_hand",
        "二手手机交易",
        "Second-hand phone trade",
        Category.CONSUMPTION,
        Unit.ITEM,
        25_000_000,
        1,
        3,
    ),
]


def ensure_scenarios(valid_from: date = date(2024, 9, 1)) -> dict[str, Scenario]:
    """The scenarios and a demo factor each, made once (idempotent)."""
    made = {}
    for code, zh, en, category, unit, mg, largest, most in SCENARIOS:
        scenario, _created = Scenario.objects.get_or_create(
            code=code,
            defaults={
                "name_zh": zh,
                "name_en": en,
                "category": category,
                "unit": unit,
                "methodology": "武汉市碳普惠个人低碳行为方法学（第二批） Wuhan methodologies, batch 2",
            },
        )
        ScenarioFactor.objects.get_or_create(
            scenario=scenario,
            valid_from=valid_from,
            defaults={
                "milligrams_per_unit": mg,
                "max_quantity_milli": largest * 1000,
                "max_records_per_day": most,
                "source": DEMO_SOURCE,
                "is_demo_value": True,
            },
        )
        made[code] = scenario
    return made


def ensure_aggregation_methodology():
    """The methodology a platform's aggregation project is filed under: its declarations are the platform's
    aggregated months, evidenced by the registry's own behaviour report (no verification body)."""
    from registry.models import DocumentType, Methodology, Sector

    methodology, _created = Methodology.objects.get_or_create(
        code="PA",
        version="1.0",
        defaults={
            "title_zh": "个人低碳行为平台归集",
            "title_en": "Platform aggregation of residents' low-carbon behaviour",
            "sector": Sector.HOUSEHOLD,
            "effective_date": date(2024, 9, 1),
            "calculator": "",
            "applicability_zh": "平台运营方归集其用户经核算的个人低碳行为减排量，按月申报。",
            "applicability_en": (
                "A platform operator's users' quantified low-carbon behaviour, aggregated and declared "
                "by month."
            ),
            "project_documents": [DocumentType.PROJECT_DESCRIPTION],
            "declaration_documents": [DocumentType.BEHAVIOUR_REPORT],
        },
    )
    return methodology
