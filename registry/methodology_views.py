"""The public methodology catalogue: each methodology as the bureau publishes it, with its applicability,
formula, parameters, required documents and the grid emission factors in force for each vintage."""

from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from registry.caching import cache_for_anonymous
from registry.calculators import calculator_for
from registry.models import (
    VERIFICATION_DOCUMENTS,
    DocumentType,
    GridEmissionFactor,
    Methodology,
    MethodologyStatus,
)


@dataclass(frozen=True)
class FactorInForce:
    """The factor a declaration of `vintage` is calculated with: its own, or the latest one before it."""

    vintage: int
    factor: GridEmissionFactor

    @property
    def is_own(self) -> bool:
        return self.factor.year == self.vintage


@dataclass(frozen=True)
class Document:
    label: str
    by_verification_body: bool


def current_versions(methodologies) -> list[Methodology]:
    """One methodology per code, by code: the version in force (active before superseded or withdrawn;
    among those, the one that took effect last)."""
    rank = {MethodologyStatus.ACTIVE: 0, MethodologyStatus.SUPERSEDED: 1, MethodologyStatus.WITHDRAWN: 2}
    current: dict[str, Methodology] = {}
    for methodology in methodologies.order_by("code", "-effective_date", "-pk"):
        kept = current.get(methodology.code)
        if kept is None or rank.get(methodology.status, 3) < rank.get(kept.status, 3):
            current[methodology.code] = methodology
    return list(current.values())


def factors_in_force(scope: str, until: int) -> list[FactorInForce]:
    """For each vintage from the first published factor of `scope` to `until`, newest first, the factor
    that applies: the same rule as GridEmissionFactor.objects.for_vintage, in one query."""
    published = list(GridEmissionFactor.objects.filter(scope=scope).order_by("year", "published_on"))
    if not published:
        return []
    rows, latest = [], None
    by_year = {factor.year: factor for factor in published}
    for vintage in range(published[0].year, max(until, published[-1].year) + 1):
        latest = by_year.get(vintage, latest)
        rows.append(FactorInForce(vintage, latest))
    return rows[::-1]


def documents(types: list) -> list[Document]:
    """A methodology's required documents by label (a type the portal no longer knows, as stored)."""
    return [
        Document(
            label=DocumentType(value).label if value in DocumentType.values else str(value),
            by_verification_body=value in VERIFICATION_DOCUMENTS,
        )
        for value in types
    ]


@cache_for_anonymous(60)
def methodology_list(request: HttpRequest) -> HttpResponse:
    methodologies = current_versions(Methodology.objects.all())
    return render(
        request,
        "registry/methodology_list.html",
        {
            "rows": [(m, calculator_for(m.calculator)) for m in methodologies],
            "factors": GridEmissionFactor.objects.order_by("-year", "scope"),
        },
    )


@cache_for_anonymous(60)
def methodology_detail(request: HttpRequest, code: str) -> HttpResponse:
    found = current_versions(Methodology.objects.filter(code=code.upper()))
    if not found:
        raise Http404
    methodology = found[0]
    this_year = timezone.localdate().year
    return render(
        request,
        "registry/methodology_detail.html",
        {
            "methodology": methodology,
            "calculator": calculator_for(methodology.calculator),
            "factors": factors_in_force(methodology.factor_scope, this_year)
            if methodology.factor_scope
            else [],
            "project_documents": documents(methodology.project_documents),
            "declaration_documents": documents(methodology.declaration_documents),
            "versions": Methodology.objects.filter(code=methodology.code).order_by("-effective_date", "-pk"),
        },
    )
