import django_filters
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from offsets.models import Issuance
from registry.models import District, Methodology


class RegistryFilter(django_filters.FilterSet):
    """Filters of the public project registry (the search box is applied separately)."""

    methodology = django_filters.ModelChoiceFilter(label=_("Methodology"), queryset=Methodology.objects.all())
    district = django_filters.ChoiceFilter(label=_("District"), choices=District.choices)
    status = django_filters.ChoiceFilter(
        label=_("Credits"),
        choices=[("credited", _("Credits registered")), ("filed", _("No credits yet"))],
        method="by_status",
    )
    vintage = django_filters.NumberFilter(label=_("Vintage"), method="by_vintage")

    # EXISTS per project, not IN (a join of projects and issuances): walking the page's index, PostgreSQL
    # checks each project's issuances by their project index and stops after a page of rows.
    def by_status(self, queryset, name, value):
        credited = Exists(Issuance.objects.filter(project=OuterRef("pk")))
        return queryset.filter(credited if value == "credited" else ~credited)

    def by_vintage(self, queryset, name, value):
        return queryset.filter(Exists(Issuance.objects.filter(project=OuterRef("pk"), vintage=value)))


def filter_bar(filterset: django_filters.FilterSet) -> list[dict]:
    """The filter bar as plain data for a plain template (no form library on the public hot path): each
    filter's name, label, options (None for a number) and current value, every label translated once."""
    form = filterset.form
    errors = form.errors if form.is_bound else {}
    return [
        {
            "name": name,
            "label": str(field.label),
            "options": [(str(value), str(label)) for value, label in field.choices]
            if hasattr(field, "choices")
            else None,
            "value": form.data.get(name, ""),
            "errors": errors.get(name, []),
        }
        for name, field in form.fields.items()
    ]
