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
