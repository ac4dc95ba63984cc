"""Calculators of the methodologies: how a declaration's reduction follows from its monitoring data.

A calculator is a small module with a class that has `key`, `entry_kind` and `calculate()`, and one
line in CALCULATORS below. A methodology names its calculator by key; a methodology with none (an
empty key) takes its verified quantity from the verification report. See docs/methodologies.md.

Quantities are Decimal end to end: the activity data are summed exactly, multiplied once by the factor
and rounded down once to whole tonnes.
"""

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.utils.translation import gettext_lazy as _

MONTHLY = "monthly"  # one figure per calendar month of the monitoring period
SINGLE = "single"  # one figure for the whole period


@dataclass(frozen=True)
class Step:
    label: str
    value: str


@dataclass(frozen=True)
class Parameter:
    """One symbol of a published formula: what it stands for and where its value comes from."""

    symbol: str
    meaning: str
    source: str


@dataclass(frozen=True)
class Calculation:
    activity_mwh: Decimal
    factor: Decimal
    exact_t: Decimal
    claimed_t: int
    steps: list[Step] = field(default_factory=list)


def figure(value) -> str:
    """A quantity as people read it: thousands grouped, no trailing zeros after the point (7,486.08)."""
    text = f"{value:,f}" if isinstance(value, Decimal) else f"{value:,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class ElectricityCalculator:
    """Reduction (t) = electricity (MWh) × grid emission factor (tCO2/MWh), rounded down once."""

    key = ""
    entry_kind = MONTHLY
    activity_label = _("Electricity (MWh)")
    activity_symbol = "E"

    @property
    def formula(self) -> str:
        """The formula as the public catalogue shows it, in the symbols of parameters()."""
        return f"ER = {self.activity_symbol} × EF"

    def parameters(self) -> list[Parameter]:
        if self.entry_kind == MONTHLY:
            monitoring = _(
                "One figure per calendar month of the monitoring period, from the meter or settlement records"
            )
        else:
            monitoring = _("One figure for the whole monitoring period, from the monitoring report")
        return [
            Parameter(
                "ER",
                _("Emission reduction of the monitoring period (tCO2e), rounded down once to whole tonnes"),
                _("Calculated by the registry from the figures below"),
            ),
            Parameter(self.activity_symbol, self.activity_label, monitoring),
            Parameter(
                "EF",
                _("Grid emission factor (tCO2/MWh)"),
                _(
                    "Published by the Bureau for the vintage year and the methodology's scope; where none is "
                    "published yet, the latest one published"
                ),
            ),
        ]

    def calculate(self, entries: list[Decimal], factor: Decimal) -> Calculation:
        activity = sum(entries, Decimal(0))
        exact = activity * factor
        claimed = int(exact.to_integral_value(rounding=ROUND_FLOOR))
        steps = [
            Step(str(self.activity_label), figure(activity)),
            Step(str(_("Grid emission factor (tCO2/MWh)")), figure(factor)),
            Step(str(_("Product (tCO2)")), f"{figure(activity)} × {figure(factor)} = {figure(exact)}"),
            Step(str(_("Rounded down to whole tonnes")), figure(claimed)),
        ]
        return Calculation(
            activity_mwh=activity, factor=factor, exact_t=exact, claimed_t=claimed, steps=steps
        )


from registry.calculators.demand_response import DemandResponseCalculator  # noqa: E402
from registry.calculators.pv import DistributedPVCalculator  # noqa: E402

CALCULATORS = {
    calculator.key: calculator
    for calculator in [
        DistributedPVCalculator(),
        DemandResponseCalculator(),
    ]
}


def calculator_for(key: str):
    """The calculator of a methodology, or None where the verified quantity comes from the report."""
    return CALCULATORS.get(key) if key else None
