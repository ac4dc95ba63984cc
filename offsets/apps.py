from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffsetsConfig(AppConfig):
    name = "offsets"
    verbose_name = _("Issuance and credits")

    def ready(self) -> None:
        from offsets import ledger_checks, notifications
        from offsets.public import home_context
        from registry.audit import ACTION_LABELS
        from registry.checkpoints import TOTALS_PROVIDERS
        from registry.home import HOME_PROVIDERS

        notifications.register()
        if home_context not in HOME_PROVIDERS:
            HOME_PROVIDERS.append(home_context)
        if ledger_checks.totals not in TOTALS_PROVIDERS:  # signed in every checkpoint
            TOTALS_PROVIDERS.append(ledger_checks.totals)
        ACTION_LABELS.update(
            {
                "phase.created": _("Phase created"),
                "phase.declarations_added": _("Declarations added to the phase"),
                "phase.declaration_removed": _("Declaration removed from the phase"),
                "phase.submitted": _("Phase submitted for approval"),
                "phase.approved": _("Phase approved for notice"),
                "phase.sent_back": _("Phase sent back"),
                "phase.published": _("Notice published"),
                "phase.notice_closed": _("Notice closed"),
                "phase.registered": _("Phase registered"),
                "objection.filed": _("Objection filed"),
                "objection.answered": _("Objection answered by the declarant"),
                "objection.dismissed": _("Objection dismissed"),
                "objection.upheld": _("Objection upheld"),
                "credits.issued": _("Credits issued"),
                "case.reopened": _("Reopened after an objection"),
            }
        )
