from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from registry import auth  # noqa: F401  (connects the login audit receivers)
        from registry.roles import sync_role_permissions

        # Sent after each app migrates (and after the test runner flushes): idempotent, and cheap.
        post_migrate.connect(sync_role_permissions, dispatch_uid="registry.sync_role_permissions")
