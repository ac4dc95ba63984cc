"""Read-only: a case's stage changes only through projects.workflow, with its audit event."""

from django.contrib import admin

from projects.models import Declaration, Document, Project


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["code", "title", "organisation", "methodology", "stage", "district"]
    list_filter = ["stage", "methodology", "district"]
    search_fields = ["code", "title", "organisation__name"]


@admin.register(Declaration)
class DeclarationAdmin(ReadOnlyAdmin):
    list_display = ["pk", "project", "period_start", "period_end", "stage", "claimed_t", "verified_t"]
    list_filter = ["stage", "vintage"]


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ["doc_type", "version", "project", "declaration", "sha256", "uploaded_at"]
