"""The bureau's reference data for residents' behaviour: scenarios, their factors and the donation events,
edited here. Accounts, their gram entries and donations are read-only: they change only through
offsets/behaviour/services.py, with their audit events."""

from django.contrib import admin

from offsets.behaviour.models import (
    Donation,
    DonationEvent,
    GramEntry,
    PersonalAccount,
    Scenario,
    ScenarioFactor,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScenarioFactorInline(admin.TabularInline):
    model = ScenarioFactor
    extra = 0


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "category", "unit", "methodology"]
    list_filter = ["category"]
    inlines = [ScenarioFactorInline]


@admin.register(ScenarioFactor)
class ScenarioFactorAdmin(admin.ModelAdmin):
    list_display = ["scenario", "valid_from", "valid_until", "milligrams_per_unit", "is_demo_value"]
    list_filter = ["scenario", "is_demo_value"]


@admin.register(DonationEvent)
class DonationEventAdmin(admin.ModelAdmin):
    list_display = ["name_zh", "name_en", "opens_on", "closes_on", "target_g", "donated_g"]
    date_hierarchy = "opens_on"
    readonly_fields = ["donated_g"]  # the donations' sum, kept by services.donate

    def has_delete_permission(self, request, obj=None):
        # An event with donations is their certificates' subject; one without may go.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.donations.exists())


@admin.register(PersonalAccount)
class PersonalAccountAdmin(ReadOnlyAdmin):
    list_display = ["number", "user", "identity_masked", "balance_g", "opened_at"]
    search_fields = ["number", "user__email"]
    exclude = ["identity_hash"]


@admin.register(GramEntry)
class GramEntryAdmin(ReadOnlyAdmin):
    list_display = ["account", "kind", "grams", "period", "donation", "created_at"]
    list_filter = ["kind"]
    search_fields = ["account__number"]


@admin.register(Donation)
class DonationAdmin(ReadOnlyAdmin):
    list_display = ["number", "account", "event", "grams", "donated_at"]
    list_filter = ["event"]
    search_fields = ["number", "account__number"]
    exclude = ["file", "sha256"]
