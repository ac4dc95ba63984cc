from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BehaviourConfig(AppConfig):
    name = "offsets.behaviour"
    label = "behaviour"
    verbose_name = _("Residents' low-carbon behaviour")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from offsets.behaviour import notifications, reconcile
        from offsets.behaviour.public import home_context, open_data_rows
        from offsets.public import DATASETS
        from registry.home import HOME_PROVIDERS
        from registry.reconcile import DEBTS

        DEBTS.update(reconcile.DEBTS)  # chunks no worker finished, certificates not made: sent again
        notifications.register()  # a resident's sign-up: the e-mail confirmation; a failed batch
        if home_context not in HOME_PROVIDERS:  # the home page's behaviour section: aggregates only
            HOME_PROVIDERS.append(home_context)
        DATASETS.setdefault("behaviour", open_data_rows)  # open data: totals per day, scenario and platform
