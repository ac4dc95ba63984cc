"""Demo data of the projects app: the city's three methodologies, grid factors, the article's PV
project filed through the real review, its 2022 declaration, and cases in other states.

Figures the article gives: the GEM PV project's 4,269 t and the phase's second declaration of 3,340 t
(7,609 t in all), vintage 2022. Everything else (meters, capacities, monthly MWh) is a demo value.
"""

from datetime import date, datetime
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from projects import services, workflow
from projects.models import Finding, Project
from registry.demo import DEMO_DOMAIN
from registry.models import (
    DocumentType,
    FactorScope,
    GridEmissionFactor,
    Membership,
    Methodology,
    Organisation,
    OrgRole,
    Sector,
    User,
)

PUBLISHED = date(2023, 11, 30)

METHODOLOGIES = [
    {
        "code": "PV",
        "version": "1.0",
        "sector": Sector.ENERGY,
        "calculator": "pv",
        "title_zh": "分布式光伏发电项目碳普惠方法学",
        "title_en": "Distributed photovoltaic generation",
        "factor_scope": FactorScope.NATIONAL,
        "max_point_capacity_kw": Decimal("6000"),
        "applicability_zh": "位于本市行政区域内、单个并网点装机容量小于6兆瓦的分布式光伏发电项目。",
        "applicability_en": "Distributed PV in the city, each grid-connection point under 6 MW.",
        "project_documents": [
            DocumentType.PROJECT_DESCRIPTION,
            DocumentType.GRID_CONNECTION_ACCEPTANCE,
            DocumentType.PROPERTY_RIGHTS,
        ],
        "declaration_documents": [
            DocumentType.MONITORING_REPORT,
            DocumentType.SETTLEMENT_RECORDS,
            DocumentType.VERIFICATION_REPORT,
        ],
    },
    {
        "code": "MA",
        "version": "1.0",
        "sector": Sector.AGRICULTURE,
        "calculator": "",
        "title_zh": "规模化畜禽养殖场粪污资源化利用碳普惠方法学",
        "title_en": "Manure use on large poultry and livestock farms",
        "factor_scope": "",
        "max_point_capacity_kw": None,
        "applicability_zh": "本市规模化养殖场粪污资源化利用项目；减排量以核查报告为准。",
        "applicability_en": "Manure use on large farms in the city; the verified quantity comes from the "
        "verification report.",
        "project_documents": [DocumentType.PROJECT_DESCRIPTION],
        "declaration_documents": [DocumentType.MONITORING_REPORT, DocumentType.VERIFICATION_REPORT],
    },
    {
        "code": "DR",
        "version": "1.0",
        "sector": Sector.HOUSEHOLD,
        "calculator": "demand_response",
        "title_zh": "居民用电需求响应碳普惠方法学",
        "title_en": "Residential electricity demand response",
        "factor_scope": FactorScope.NATIONAL,
        "max_point_capacity_kw": None,
        "applicability_zh": "本市居民用户参与电网需求响应所减少的用电负荷。",
        "applicability_en": "Load reduced by residential customers in the city in demand response.",
        "project_documents": [DocumentType.PROJECT_DESCRIPTION],
        "declaration_documents": [DocumentType.LOAD_REDUCTION_RECORDS, DocumentType.VERIFICATION_REPORT],
    },
]

# (year, value, source, published, demo value?)
FACTORS = [
    (
        2021,
        "0.5810",
        "生态环境部《企业温室气体排放核算与报告指南 发电设施》(2022 修订版) (demo value)",
        date(2022, 12, 19),
        True,
    ),
    (
        2022,
        "0.5703",
        "生态环境部、国家统计局 2022 年全国电力平均二氧化碳排放因子 (demo value)",
        date(2023, 2, 7),
        True,
    ),
]

# 2022 monthly MWh of the two registered declarations (demo values chosen so that the sums give the
# article's tonnes: 7,486.0 MWh × 0.5703 = 4,269.26 → 4,269 t; 5,857.0 × 0.5703 = 3,340.25 → 3,340 t).
GEM_MONTHS = [
    "412.6",
    "455.3",
    "598.7",
    "671.2",
    "744.9",
    "702.8",
    "798.4",
    "812.5",
    "690.1",
    "601.3",
    "520.7",
    "477.5",
]
SECOND_MONTHS = [
    "322.4",
    "356.8",
    "468.1",
    "525.0",
    "582.6",
    "549.7",
    "624.3",
    "635.4",
    "539.8",
    "470.3",
    "407.4",
    "375.2",
]


def demo_pdf(title: str) -> bytes:
    """A small valid one-page PDF saying what it stands for (ASCII only)."""
    text = f"Demo document: {title}".replace("(", "[").replace(")", "]")
    stream = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _user(local: str) -> User:
    return User.objects.get(email=f"{local}@{DEMO_DOMAIN}")


def _org(identifier_prefix: str) -> Organisation:
    return Organisation.objects.get(identifier__startswith=identifier_prefix)


def _upload(case, by: User, doc_type: str) -> None:
    content = ContentFile(demo_pdf(f"{doc_type} of {case}"), name=f"{doc_type}.pdf")
    services.upload_document(case, by=by, doc_type=doc_type, upload=content)


def seed_reference_data() -> dict[str, Methodology]:
    methodologies = {}
    for spec in METHODOLOGIES:
        methodology, _ = Methodology.objects.get_or_create(
            code=spec["code"], version=spec["version"], defaults={**spec, "effective_date": PUBLISHED}
        )
        methodologies[spec["code"]] = methodology
    for year, value, source, published, demo in FACTORS:
        GridEmissionFactor.objects.get_or_create(
            year=year,
            scope=FactorScope.NATIONAL,
            defaults={
                "value": Decimal(value),
                "source": source,
                "published_on": published,
                "is_demo_value": demo,
            },
        )
    return methodologies


def _file_project(organisation, methodology, *, by, title, site, district, meters, capacity, docs=True):
    """A draft project with its documents (the demo takes it through the review)."""
    project = services.create_project(
        organisation,
        by=by,
        data={
            "methodology": methodology,
            "title": title,
            "site_address": site,
            "district": district,
            "capacity_kw": capacity,
            "commissioning_date": date(2021, 6, 30),
            "crediting_start": date(2021, 7, 1),
            "crediting_end": date(2031, 6, 30),
            "not_registered_elsewhere": True,
            "outside_covered_boundary": True,
            "description": "Demo project.",
        },
        points=[services.Point(m, c) for m, c in meters],
    )
    if docs:
        for doc_type in methodology.project_documents:
            _upload(project, by, doc_type)
    return project


def _declare(project, *, by, months: list[str], verifier_user: User, submit: bool, start=None, end=None):
    start, end = start or date(2022, 1, 1), end or date(2022, 12, 31)
    declaration = services.create_declaration(
        project, by=by, period_start=start, period_end=end, verification_body=_org("91420100MA4K00007")
    )
    values = {
        month: Decimal(v) for month, v in zip(services.expected_months(declaration), months, strict=True)
    }
    services.save_monitoring_data(declaration, by=by, values=values)
    for doc_type in [DocumentType.MONITORING_REPORT, DocumentType.SETTLEMENT_RECORDS]:
        _upload(declaration, by, doc_type)
    _upload(declaration, verifier_user, DocumentType.VERIFICATION_REPORT)
    _upload(declaration, verifier_user, DocumentType.VERIFICATION_OPINION)
    if submit:
        workflow.submit(declaration, by=by)
    declaration.refresh_from_db()
    return declaration


def _months(start: date, end: date, value: str) -> list[str]:
    from projects.spreadsheets import months_of

    return [value] * len(months_of(start, end))


def _forward(
    case, *, verified_t=None, recommendation="approve", note="Demo: eligible, data and calculation checked."
):
    workflow.forward(
        case, by=_user("reviewer"), recommendation=recommendation, verified_t=verified_t, note=note
    )


# --- The history: the article's two projects filed and their 2022 reductions approved, in the week after
# the PV methodology took effect (30 November 2023), before phase 2023P01's notice of 7 December 2023.


def seed_history(clock) -> None:
    methodologies = seed_reference_data()
    if Project.objects.filter(title__startswith="武汉格林美城市矿产循环产业园").exists():
        return
    seed_article(clock, methodologies)


@transaction.atomic
def seed_article(clock, methodologies) -> None:
    gem, second = _org("91420117MA4K00001"), _org("91420100MA4K00002")
    gem_declarant, second_admin = _user("gem.declarant"), _user("second.admin")
    intake, approver, verifier = _user("intake"), _user("approver"), _user("verifier")

    clock.set(datetime(2023, 11, 30, 9, 30))  # the morning the methodology takes effect
    article = _file_project(
        gem,
        methodologies["PV"],
        by=gem_declarant,
        title="武汉格林美城市矿产循环产业园分布式光伏发电项目",
        site="武汉市新洲区阳逻经济开发区（格林美城市矿产循环产业园）",
        district="xinzhou",
        meters=[("PV-XZ-0001", Decimal("5200.0")), ("PV-XZ-0002", Decimal("4800.0"))],
        capacity=Decimal("10000.0"),
    )
    workflow.submit(article, by=gem_declarant)
    # The phase's second project (the article names only its tonnes).
    other = _file_project(
        second,
        methodologies["PV"],
        by=second_admin,
        title="东湖高新区光谷园区屋顶分布式光伏项目 (demo)",
        site="武汉市东湖新技术开发区光谷大道 (demo)",
        district="east_lake_high_tech",
        meters=[("PV-DH-0101", Decimal("3900.0")), ("PV-DH-0102", Decimal("3100.0"))],
        capacity=Decimal("7000.0"),
    )
    workflow.submit(other, by=second_admin)
    clock.set(datetime(2023, 11, 30, 15, 0))
    for project in (article, other):
        workflow.accept(project, by=intake, note="Demo: complete.")
    clock.set(datetime(2023, 12, 1, 10, 0))
    for project in (article, other):
        _forward(project)
    clock.set(datetime(2023, 12, 1, 16, 0))
    for project in (article, other):  # filed in this order: WH-PV-0001 and WH-PV-0002
        workflow.approve(project, by=approver, note="Demo: filed.")
        project.refresh_from_db()

    # The article's two 2022 declarations: 4,269 t and 3,340 t.
    clock.set(datetime(2023, 12, 4, 9, 0))
    declarations = [
        _declare(article, by=gem_declarant, months=GEM_MONTHS, verifier_user=verifier, submit=True),
        _declare(other, by=second_admin, months=SECOND_MONTHS, verifier_user=verifier, submit=True),
    ]
    clock.set(datetime(2023, 12, 4, 14, 0))
    for declaration in declarations:
        workflow.accept(declaration, by=intake, note="Demo: complete.")
    clock.set(datetime(2023, 12, 5, 10, 0))
    for declaration in declarations:
        _forward(declaration, verified_t=declaration.claimed_t)
    clock.set(datetime(2023, 12, 5, 16, 0))
    for declaration in declarations:
        workflow.approve(declaration, by=approver, note="Demo: verified quantity confirmed.")


# --- The present: open cases in every review stage, in the weeks before today, so each queue and screen
# has something to show; some overdue by their own dates. Their monitoring periods lie in the last two
# years (VINTAGE and VINTAGE - 1); their factor falls back to the latest one published, and says so.


def seed_present(clock) -> None:
    methodologies = seed_reference_data()
    if Project.objects.filter(title__startswith="江汉区第一中学").exists():
        return
    seed_review_cases(clock, methodologies)


@transaction.atomic
def seed_review_cases(clock, methodologies) -> None:
    school, farm, gem = _org("12420103MB0000006"), _org("93420116MA4K00004"), _org("91420117MA4K00001")
    school_admin = Membership.objects.get(organisation=school, role=OrgRole.ADMIN).user
    farm_admin = Membership.objects.get(organisation=farm, role=OrgRole.ADMIN).user
    gem_declarant, second_admin = _user("gem.declarant"), _user("second.admin")
    verifier, reviewer, expert = _user("verifier"), _user("reviewer"), _user("expert")
    intake, approver = _user("intake"), _user("approver")
    article, other = Project.objects.get(code="WH-PV-0001"), Project.objects.get(code="WH-PV-0002")
    year = timezone.localtime(clock.real_now()).year - 1  # the last full year
    h1, h2 = (date(year, 1, 1), date(year, 6, 30)), (date(year, 7, 1), date(year, 12, 31))
    last_year, first_quarter = (
        (date(year - 1, 1, 1), date(year - 1, 12, 31)),
        (date(year - 1, 1, 1), date(year - 1, 3, 31)),
    )

    def declare(project, by, period, value="40.000"):
        start, end = period
        return _declare(
            project,
            by=by,
            months=_months(start, end, value),
            verifier_user=verifier,
            submit=True,
            start=start,
            end=end,
        )

    # Two months ago: the school's rooftop filed (WH-PV-0003); GEM and the farm draft their next projects.
    clock.days_ago(60, 10)
    school_project = _file_project(
        school,
        methodologies["PV"],
        by=school_admin,
        title="江汉区第一中学教学楼屋顶光伏项目 (demo)",
        site="武汉市江汉区 (demo)",
        district="jianghan",
        meters=[("PV-JH-0201", Decimal("350.0"))],
        capacity=Decimal("350.0"),
    )
    workflow.submit(school_project, by=school_admin)
    rooftop = _file_project(
        gem,
        methodologies["PV"],
        by=gem_declarant,
        title="格林美新洲二期屋顶光伏项目 (demo)",
        site="武汉市新洲区 (demo)",
        district="xinzhou",
        meters=[("PV-XZ-0003", Decimal("2500.0"))],
        capacity=Decimal("2500.0"),
        docs=False,  # a document missing: uploaded before it is submitted, below
    )
    farm_project = _file_project(
        farm,
        methodologies["MA"],
        by=farm_admin,
        title="黄陂生态养殖场粪污资源化利用项目 (demo)",
        site="武汉市黄陂区 (demo)",
        district="huangpi",
        meters=[],
        capacity=None,
    )
    clock.days_ago(59, 10)
    workflow.accept(school_project, by=intake, note="Demo: complete.")
    clock.days_ago(58, 10)
    _forward(school_project)
    clock.days_ago(57, 10)
    workflow.approve(school_project, by=approver, note="Demo: filed.")
    school_project.refresh_from_db()

    # GEM's first quarter of the year before: approved, waiting for a phase (2024P01-like, being assembled).
    clock.days_ago(50, 9)
    quarter = declare(article, gem_declarant, first_quarter, "300.000")
    clock.days_ago(49, 10)
    workflow.accept(quarter, by=intake)
    clock.days_ago(45, 10)
    _forward(quarter, verified_t=quarter.claimed_t)
    clock.days_ago(44, 10)
    workflow.approve(quarter, by=approver)

    # Technical review, assigned to the reviewer: its 15 working days ran out about three weeks ago.
    clock.days_ago(40, 9)
    technical = declare(article, gem_declarant, h1, "610.000")
    clock.days_ago(39, 10)
    workflow.accept(technical, by=intake)
    workflow.assign(technical, by=reviewer, assignee=reviewer)

    # Rejected: the school's first half-year.
    clock.days_ago(35, 9)
    rejected = declare(school_project, school_admin, h1)
    clock.days_ago(34, 10)
    workflow.accept(rejected, by=intake)
    clock.days_ago(30, 10)
    _forward(
        rejected,
        verified_t=0,
        recommendation="reject",
        note="Demo: the meter was replaced mid-period without calibration records.",
    )
    clock.days_ago(28, 10)
    workflow.reject(rejected, by=approver, note="Demo: the monitoring data cannot be verified.")

    # Returned with two findings, one answered; withdrawn.
    clock.days_ago(22, 9)
    returned = declare(article, gem_declarant, h2, "590.000")
    clock.days_ago(21, 10)
    workflow.accept(returned, by=intake)
    clock.days_ago(20, 9)
    withdrawn = declare(other, second_admin, (date(year, 7, 1), date(year, 9, 30)))
    clock.days_ago(19, 9)
    workflow.withdraw(withdrawn, by=second_admin, note="Demo: to be declared with the full half-year.")
    clock.days_ago(18, 10)
    workflow.return_case(
        returned,
        by=reviewer,
        findings=[
            f"Demo: the settlement record for {year}-09 is missing a page.",
            "Demo: explain the drop in November's generation.",
        ],
    )
    clock.days_ago(16, 9)
    first = Finding.objects.filter(declaration=returned).order_by("number").first()
    workflow.answer_finding(first, by=gem_declarant, answer="Demo: the full record is uploaded again.")

    # Expert review: an opinion asked of the expert.
    expert_case = declare(other, second_admin, h1, "480.000")
    clock.days_ago(15, 10)
    workflow.accept(expert_case, by=intake)

    # The second GEM rooftop: submitted, returned at intake with a finding.
    clock.days_ago(14, 9)
    for doc_type in rooftop.methodology.project_documents:
        _upload(rooftop, gem_declarant, doc_type)
    workflow.submit(rooftop, by=gem_declarant)
    clock.days_ago(13, 10)
    workflow.return_case(rooftop, by=intake, findings=["Demo: the grid-connection acceptance is unsigned."])

    # At intake since twelve days: its 5 working days have run out.
    clock.days_ago(12, 9)
    declare(school_project, school_admin, h2)

    # Two declarations forwarded to approval: the school's year (the present's offsets demo approves it
    # and puts it in the notice) and the second company's, which waits for the approver.
    clock.days_ago(11, 9)
    school_year = declare(school_project, school_admin, last_year, "30.000")
    clock.days_ago(10, 10)
    workflow.accept(school_year, by=intake)
    clock.days_ago(9, 10)
    workflow.request_opinions(
        expert_case,
        by=reviewer,
        experts=[expert],
        question="Demo: is the self-consumption metering adequate?",
    )
    clock.days_ago(9, 14)
    awaiting = declare(other, second_admin, last_year, "450.000")
    clock.days_ago(8, 10)
    workflow.accept(awaiting, by=intake)
    clock.days_ago(6, 10)
    _forward(
        school_year,
        verified_t=school_year.claimed_t - 5,
        note="Demo: two months' settlement records round down.",
    )

    # The farm's manure project, at intake.
    clock.days_ago(4, 10)
    workflow.submit(farm_project, by=farm_admin)

    clock.days_ago(3, 10)
    _forward(awaiting, verified_t=awaiting.claimed_t)


def seed() -> None:
    """The history and the present of this app's demo, for a caller that seeds one app at a time."""
    from registry.demo import story_clock

    with story_clock() as clock:
        seed_history(clock)
        seed_present(clock)
