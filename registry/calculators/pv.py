from django.utils.translation import gettext_lazy as _

from registry import calculators


class DistributedPVCalculator(calculators.ElectricityCalculator):
    """Distributed photovoltaic generation: Σ monthly electricity supplied or self-consumed × factor."""

    key = "pv"
    entry_kind = calculators.MONTHLY
    activity_symbol = "EG"
    activity_label = _("Electricity supplied or self-consumed, sum of the months (MWh)")
