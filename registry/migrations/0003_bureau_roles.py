"""Creates the bureau's role groups with the permissions of this app. Later apps' migrations add theirs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EVERY_ROLE = ["view_audit_log", "view_organisation"]
ROLE_PERMISSIONS = {
    "intake_officer": EVERY_ROLE,
    "technical_reviewer": EVERY_ROLE,
    "expert": ["view_organisation"],
    "approver": EVERY_ROLE,
    "registry_admin": [*EVERY_ROLE, "verify_organisation", "view_user", "view_membership"],
}


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations; create this app's now so they can be granted.
    # The migration state's app config has no models module; create_permissions only needs it to be set.
    config = apps.get_app_config("registry")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="registry", codename__in=codenames))


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_audit_events_are_append_only"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, backwards)]
