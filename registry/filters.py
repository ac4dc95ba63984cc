import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.models import AuditEvent, Organisation


class OrganisationFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Name or identifier"), method="search")
    is_covered_emitter = django_filters.ChoiceFilter(
        label=_("Covered emitter"), choices=[("true", _("Yes")), ("false", _("No"))], method="covered"
    )

    class Meta:
        model = Organisation
        fields = ["status", "kind", "district", "is_covered_emitter"]

    def covered(self, queryset, name, value):
        return queryset.filter(is_covered_emitter=value == "true")

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            Q(name__icontains=value) | Q(name_en__icontains=value) | Q(identifier=value.upper())
        )


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(label=_("Actor"), field_name="actor_name", lookup_expr="icontains")
    action = django_filters.CharFilter(label=_("Action"), lookup_expr="startswith")
    subject = django_filters.CharFilter(label=_("Subject"), method="by_subject")
    since = django_filters.DateFilter(label=_("From"), field_name="created_at", lookup_expr="date__gte")
    until = django_filters.DateFilter(label=_("Until"), field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = AuditEvent
        fields = []

    def by_subject(self, queryset, name, value):
        return queryset.filter(subject_repr__icontains=value.strip())
