from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import audit, mfa, roles
from registry.admin_words import permission_label
from registry.models import (
    AuditEvent,
    CalendarDay,
    GridEmissionFactor,
    Heartbeat,
    Methodology,
    Organisation,
    User,
)
from registry.services import TransitionRefused


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "language", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Personal"), {"fields": ["full_name", "language"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "full_name", "password1", "password2"]})
    ]

    actions = ["reset_mfa"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "groups":
            field.label_from_instance = role_label
        elif db_field.name == "user_permissions":
            field.label_from_instance = permission_label
        return field

    @admin.action(
        description=_("Reset two-factor login (they set it up again at their next login)"),
        permissions=["reset_mfa"],
    )
    def reset_mfa(self, request, queryset):
        for user in queryset:
            try:
                mfa.reset_mfa(user, by=request.user)
            except TransitionRefused as refusal:
                self.message_user(request, f"{user.email}: {refusal}", messages.ERROR)
            else:
                self.message_user(
                    request, _("Two-factor login of %(email)s is reset.") % {"email": user.email}
                )

    def has_reset_mfa_permission(self, request) -> bool:
        return request.user.has_perm("otp_totp.delete_totpdevice")

    # Bureau roles and rights are granted here, so their changes go into the audit trail like any other.
    def save_model(self, request, obj, form, change):
        obj._rights_before = self._rights(User.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user = User.objects.get(pk=form.instance.pk)
        before, after = getattr(form.instance, "_rights_before", {}), self._rights(user)
        if before != after:
            audit.record(
                actor=request.user, action="user.roles_changed", subject=user, before=before, after=after
            )

    @staticmethod
    def _rights(user) -> dict:
        return {
            "roles": sorted(user.groups.values_list("name", flat=True)),
            "bureau_staff": user.is_staff,
            "superuser": user.is_superuser,
            "active": user.is_active,
        }


def role_label(group: Group) -> str:
    """A bureau role by its translated name (registry.roles), not the group's key (intake_officer)."""
    return str(roles.LABELS.get(group.name, group.name))


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Django's, with the roles and permissions named in the reader's language."""

    list_display = ["name", "role"]

    @admin.display(description=_("Role"))
    def role(self, group: Group) -> str:
        return role_label(group)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "permissions":
            field.label_from_instance = permission_label
        return field


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seen"]
    readonly_fields = ["name", "last_seen"]

    def has_add_permission(self, request) -> bool:
        # Written by the periodic jobs only; an add form of read-only fields saved an empty row (a 500).
        return False


@admin.register(Methodology)
class MethodologyAdmin(admin.ModelAdmin):
    list_display = ["code", "version", "title_zh", "title_en", "effective_date", "status", "calculator"]
    list_filter = ["status", "sector"]


@admin.register(GridEmissionFactor)
class GridEmissionFactorAdmin(admin.ModelAdmin):
    list_display = ["year", "scope", "value", "published_on", "source", "is_demo_value"]
    list_filter = ["scope", "year"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "is_working_day", "note"]
    list_filter = ["is_working_day"]
    date_hierarchy = "date"


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    """Read-only: organisations change through the portal and the verification screens (audited)."""

    list_display = ["name", "identifier", "kind", "district", "status"]
    list_filter = ["status", "kind", "district"]
    search_fields = ["name", "name_en", "identifier"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["seq", "created_at", "actor_name", "action", "subject_repr"]
    list_filter = ["action"]
    search_fields = ["subject_repr", "actor_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Authenticators and recovery codes change only through registry.mfa, which records each change in the
# audit trail; django-otp's own admin pages would let them change unrecorded.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)
