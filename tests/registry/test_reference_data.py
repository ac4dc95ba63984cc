from datetime import date
from decimal import Decimal

import pytest

from registry.calculators import calculator_for
from registry.models import CalendarDay, GridEmissionFactor
from registry.workdays import add_working_days, is_working_day
from tests.factories import make_factor

D = Decimal


class TestCalculation:
    def test_pv_sums_the_months_multiplies_once_and_rounds_down_once(self):
        months = [
            D("412.6"),
            D("455.3"),
            D("598.7"),
            D("671.2"),
            D("744.9"),
            D("702.8"),
            D("798.4"),
            D("812.5"),
            D("690.1"),
            D("601.3"),
            D("520.7"),
            D("477.5"),
        ]
        result = calculator_for("pv").calculate(months, D("0.5703"))
        assert result.activity_mwh == D("7486.0")
        assert result.exact_t == D("4269.26580")
        assert result.claimed_t == 4269

    @pytest.mark.parametrize(
        ("activity", "factor", "tonnes"),
        # Each of these floors one tonne too low in binary floating point (e.g. 0.57 × 600 = 341.99999…).
        [("600.0", "0.57", 342), ("3400.0", "0.29", 986), ("1650.0", "0.58", 957)],
    )
    def test_decimal_gets_right_what_floating_point_gets_wrong(self, activity, factor, tonnes):
        import math

        assert math.floor(float(activity) * float(factor)) == tonnes - 1  # the trap is real
        assert calculator_for("pv").calculate([D(activity)], D(factor)).claimed_t == tonnes

    def test_rounding_happens_once_not_per_month(self):
        # Twelve months of 1.9 t each: 22.8 t in all → 22, where per-month rounding would give 12.
        result = calculator_for("pv").calculate([D("1.9")] * 12, D("1"))
        assert result.claimed_t == 22

    def test_demand_response_uses_the_same_product(self):
        assert calculator_for("demand_response").calculate([D("1000")], D("0.5703")).claimed_t == 570

    def test_a_methodology_without_formula_has_no_calculator(self):
        assert calculator_for("") is None

    def test_every_step_is_shown(self):
        steps = calculator_for("pv").calculate([D("100"), D("0.5")], D("0.5703")).steps
        assert [s.value for s in steps] == ["100.5", "0.5703", "100.5 × 0.5703 = 57.31515", "57"]


@pytest.mark.django_db
class TestGridFactors:
    def test_the_vintage_years_factor_is_used(self):
        make_factor(2021, "0.5810")
        make_factor(2022, "0.5703")
        assert GridEmissionFactor.objects.for_vintage("national", 2022).value == D("0.5703")

    def test_without_a_factor_for_the_vintage_the_latest_published_is_used(self):
        make_factor(2021, "0.5810")
        make_factor(2022, "0.5703")
        assert GridEmissionFactor.objects.for_vintage("national", 2024).year == 2022

    def test_no_factor_at_all(self):
        assert GridEmissionFactor.objects.for_vintage("province", 2022) is None


@pytest.mark.django_db
class TestWorkingDays:
    def test_national_day_2023_and_its_makeup_weekend(self):
        # 29 Sep – 6 Oct 2023 were holidays; Saturday 7 and Sunday 8 October were makeup working days.
        assert not is_working_day(date(2023, 10, 2))
        assert is_working_day(date(2023, 10, 7))
        assert is_working_day(date(2023, 10, 8))
        # Starting on the holiday: day 1 is Sat 7 Oct, day 2 Sun 8, day 3 Mon 9.
        assert add_working_days(date(2023, 9, 29), 3) == date(2023, 10, 9)

    def test_a_working_start_day_is_day_one(self):
        assert add_working_days(date(2023, 12, 11), 1) == date(2023, 12, 11)  # a Monday
        assert add_working_days(date(2023, 12, 11), 7) == date(2023, 12, 19)  # over a weekend

    def test_spring_festival_2026(self):
        # Holidays 15–23 Feb 2026; Sat 14 Feb and Sat 28 Feb were makeup working days.
        assert add_working_days(date(2026, 2, 13), 2) == date(2026, 2, 14)
        assert add_working_days(date(2026, 2, 15), 1) == date(2026, 2, 24)

    def test_overrides_teach_the_calendar_a_year_the_library_does_not_know(self):
        assert is_working_day(date(2027, 1, 1))  # a Friday, unknown year: weekdays work
        CalendarDay.objects.create(date=date(2027, 1, 1), is_working_day=False, note="New Year")
        CalendarDay.objects.create(date=date(2027, 1, 2), is_working_day=True, note="makeup day")
        assert not is_working_day(date(2027, 1, 1))
        assert add_working_days(date(2027, 1, 1), 1) == date(2027, 1, 2)

    def test_n_must_be_positive(self):
        with pytest.raises(ValueError):
            add_working_days(date(2023, 1, 1), 0)
