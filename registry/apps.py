from axes import apps as axes_apps
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static import apps as otp_static_apps
from django_otp.plugins.otp_totp import apps as otp_totp_apps

BLANK_CHOICE_LABEL = _("Choose…")


class RegistryConfig(AppConfig):
    default = True  # the configuration of "registry"; the others here are named in INSTALLED_APPS
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

    default = False
    default_site = "registry.admin_site.RegistryAdminSite"

    def ready(self) -> None:
        from django.db.models import fields

        # The empty choice of every select a form offers (model choices, ModelChoiceField, the admin's):
        # our words, not Django 6.1's "- Select an option -", which no Chinese catalogue has. Set here, the
        # first app to be ready, before the admin's autodiscovery imports the modules that build forms.
        fields.BLANK_CHOICE_LABEL = BLANK_CHOICE_LABEL
        super().ready()


# Third-party apps under names a bureau reads (the admin's sections, the permission lists): their own
# AppConfigs have none, or none that can be translated. INSTALLED_APPS names these instead of the apps.


class AxesConfig(axes_apps.AppConfig):
    default = False
    verbose_name = _("Login attempts")


class TOTPConfig(otp_totp_apps.DefaultConfig):
    default = False
    verbose_name = _("Authenticator apps")


class StaticTokensConfig(otp_static_apps.DefaultConfig):
    default = False
    verbose_name = _("Recovery codes")
