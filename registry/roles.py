"""The bureau's roles: Django groups with permissions, created and kept in force after every migrate."""

from django.utils.translation import gettext_lazy as _

INTAKE_OFFICER = "intake_officer"
TECHNICAL_REVIEWER = "technical_reviewer"
EXPERT = "expert"
APPROVER = "approver"
REGISTRY_ADMIN = "registry_admin"

LABELS = {
    INTAKE_OFFICER: _("Intake officer"),
    TECHNICAL_REVIEWER: _("Technical reviewer"),
    EXPERT: _("Expert"),
    APPROVER: _("Approver"),
    REGISTRY_ADMIN: _("Registry administrator"),
}
BUREAU_ROLES = tuple(LABELS)


def roles_of(user) -> list[str]:
    """The translated names of the bureau roles a user holds, in the order above."""
    held = set(user.groups.values_list("name", flat=True))
    return [str(LABELS[role]) for role in BUREAU_ROLES if role in held]


# What each role may do, as "app_label.codename". sync_role_permissions creates the groups and keeps this
# table in force after every migrate (and after the test runner's flush), so a later app only adds its
# permissions here. No data migration is needed (ADR 0012).
_EVERY_ROLE = ["registry.view_audit_log", "registry.view_organisation", "projects.review_case"]
_REFERENCE_DATA = [
    f"registry.{verb}_{model}"
    for model in ("methodology", "gridemissionfactor", "calendarday")
    for verb in ("view", "add", "change")
]
ROLE_PERMISSIONS = {
    INTAKE_OFFICER: [*_EVERY_ROLE, "projects.act_intake"],
    TECHNICAL_REVIEWER: [
        *_EVERY_ROLE,
        "projects.act_technical",
        "offsets.rule_objection",
        # Links a project to the covered emitter whose compliance boundary it lies in (offsets.compliance).
        "offsets.link_boundary",
    ],
    EXPERT: ["registry.view_organisation", "projects.review_case", "projects.act_expert"],
    APPROVER: [*_EVERY_ROLE, "projects.act_approval", "offsets.approve_phase", "offsets.register_phase"],
    REGISTRY_ADMIN: [
        *_EVERY_ROLE,
        *_REFERENCE_DATA,
        "offsets.assemble_phase",
        # The ledger: any account's statement, transfers and offsets to confirm, cancellations, and the
        # compliance policies, records and boundaries (offsets.transfers, retirements, compliance).
        "offsets.view_any_account",
        "offsets.confirm_transfer",
        "offsets.confirm_offset",
        "offsets.cancel_credits",
        "offsets.keep_compliance",
        "registry.verify_organisation",
        "registry.view_user",
        "registry.view_membership",
        # Resets the two-factor login of someone who lost their authenticator (registry.mfa.reset_mfa).
        "otp_totp.delete_totpdevice",
    ],
}


def sync_role_permissions(**kwargs) -> None:
    """post_migrate: make every role group exist and hold exactly the permissions of ROLE_PERMISSIONS."""
    from django.contrib.auth.models import Group, Permission

    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:  # an app not migrated yet grants its permissions on its own migrate
                wanted.append(permission)
        group.permissions.set(wanted)
