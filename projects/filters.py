import django_filters
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from projects.models import REVIEW_STAGES, Stage
from registry.models import District, Methodology, Organisation


class OverdueWidget(django_filters.widgets.BooleanWidget):
    """All cases, or the overdue ones only (django-filter's own choices read "Unknown", "Yes", "No")."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("", _("All")), ("true", _("Yes"))]


class CaseFilter(django_filters.FilterSet):
    """The filters of every office queue; the same for projects and declarations."""

    q = django_filters.CharFilter(label=_("Search"), method="search")
    stage = django_filters.ChoiceFilter(
        label=_("Stage"), choices=[(s, s.label) for s in Stage if s != Stage.DRAFT]
    )
    methodology = django_filters.ModelChoiceFilter(
        label=_("Methodology"), queryset=Methodology.objects.all(), method="by_methodology"
    )
    district = django_filters.ChoiceFilter(
        label=_("District"), choices=District.choices, method="by_district"
    )
    organisation = django_filters.ModelChoiceFilter(
        label=_("Organisation"), queryset=Organisation.objects.all(), method="by_organisation"
    )
    submitted_from = django_filters.DateFilter(
        label=_("Submitted from"), field_name="submitted_at", lookup_expr="date__gte"
    )
    submitted_until = django_filters.DateFilter(
        label=_("Submitted until"), field_name="submitted_at", lookup_expr="date__lte"
    )
    overdue = django_filters.BooleanFilter(
        label=_("Overdue only"), method="only_overdue", widget=OverdueWidget
    )

    def __init__(self, *args, project_path: str = "", **kwargs):
        # "" for projects, "project__" for declarations: the paths to the project's fields.
        self.project_path = project_path
        super().__init__(*args, **kwargs)

    def search(self, queryset, name, value):
        value = value.strip()
        p = self.project_path
        return queryset.filter(
            Q(**{f"{p}title__icontains": value})
            | Q(**{f"{p}code__iexact": value})
            | Q(**{f"{p}organisation__name__icontains": value})
        )

    def by_methodology(self, queryset, name, value):
        return queryset.filter(**{f"{self.project_path}methodology": value})

    def by_district(self, queryset, name, value):
        return queryset.filter(**{f"{self.project_path}district": value})

    def by_organisation(self, queryset, name, value):
        return queryset.filter(**{f"{self.project_path}organisation": value})

    def only_overdue(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(stage__in=REVIEW_STAGES, due_date__lt=timezone.localdate())
