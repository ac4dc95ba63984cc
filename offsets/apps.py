from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffsetsConfig(AppConfig):
    name = "offsets"
    verbose_name = _("Issuance and credits")

    def ready(self) -> None:
        from offsets import ledger, ledger_checks, notifications, reconcile
        from offsets.public import home_context
        from registry.checkpoints import TOTALS_PROVIDERS
        from registry.home import HOME_PROVIDERS
        from registry.reconcile import DEBTS
        from registry.services import WHEN_VERIFIED

        notifications.register()
        if home_context not in HOME_PROVIDERS:
            HOME_PROVIDERS.append(home_context)
        if ledger_checks.totals not in TOTALS_PROVIDERS:  # signed in every checkpoint
            TOTALS_PROVIDERS.append(ledger_checks.totals)
        if ledger.open_account not in WHEN_VERIFIED:  # every verified organisation has a holding account
            WHEN_VERIFIED.append(ledger.open_account)
        DEBTS.update(reconcile.DEBTS)  # PDFs not made yet: the reconciliation sends their jobs again
