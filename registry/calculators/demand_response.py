from django.utils.translation import gettext_lazy as _

from registry import calculators


class DemandResponseCalculator(calculators.ElectricityCalculator):
    """Residential electricity demand response: verified load reduction (MWh) × factor."""

    key = "demand_response"
    entry_kind = calculators.SINGLE
    activity_symbol = "ΔE"
    activity_label = _("Verified load reduction (MWh)")
