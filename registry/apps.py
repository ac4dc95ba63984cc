from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Registry")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # Imported for their side effects: the login audit receivers, and the system checks.
        from registry import auth, checks  # noqa: F401
        from registry.roles import sync_role_permissions

        # Sent after each app migrates (and after the test runner flushes): idempotent, and cheap.
        post_migrate.connect(sync_role_permissions, dispatch_uid="registry.sync_role_permissions")


class RegistryAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the portal's admin site (registry.admin_site): INSTALLED_APPS names this."""

    default = False  # RegistryConfig stays the configuration of "registry"
    default_site = "registry.admin_site.RegistryAdminSite"
