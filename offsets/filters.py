import django_filters
from django.utils.translation import gettext_lazy as _

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

    def by_status(self, queryset, name, value):
        credited = queryset.filter(issuances__isnull=False).values("pk")
        return queryset.filter(pk__in=credited) if value == "credited" else queryset.exclude(pk__in=credited)

    def by_vintage(self, queryset, name, value):
        return queryset.filter(pk__in=queryset.filter(issuances__vintage=value).values("pk"))
