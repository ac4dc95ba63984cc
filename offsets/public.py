"""The public registry: figures for the home page, the project registry and the open data.

Everything here is public and read-only. Personal names (households) are masked through
Organisation.public_name; identity numbers and contact details never appear.
"""

import io

from django.db import connections
from django.db.models import BooleanField, Count, Expression, F, Q, Sum
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext as _

from offsets.models import (
    BlockStatus,
    Issuance,
    IssuancePhase,
    PhaseStatus,
    Retirement,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
)
from projects.models import FILED, Project
from registry import checkpoints, exports
from registry.models import District, Organisation, OrganisationKind, OrganisationStatus

COUNT_CAP = 200  # public lists count their rows up to this many (projects.paging.capped_count)


def filed_projects():
    return Project.objects.filter(FILED).select_related("organisation", "methodology")


def public_retirements():
    """The retirements anyone may read: those done (retired; an offset awaiting confirmation is not),
    cancellations included, newest first, with their holder."""
    return (
        Retirement.objects.filter(status=RetirementStatus.RETIRED)
        .select_related("account__organisation")
        .order_by("-retired_at", "-pk")
    )


def _retired():
    """Retirements proper (voluntary and compliance offsets): a cancellation corrects, it retires nothing."""
    return Retirement.objects.filter(status=RetirementStatus.RETIRED).exclude(
        kind=RetirementKind.CANCELLATION
    )


def figures() -> dict:
    issued = Issuance.objects.aggregate(t=Sum("quantity"))["t"] or 0
    retired = _retired().aggregate(t=Sum("quantity"))["t"] or 0
    return {
        "issued": issued,
        "retired": retired,
        "projects": filed_projects().count(),
        "organisations": Organisation.objects.filter(status=OrganisationStatus.VERIFIED).count(),
    }


def charts() -> dict:
    """Each chart as (label, value) rows, drawn as SVG bars and also shown as a table."""
    per_phase = [
        (phase.code, phase.total or 0)
        for phase in IssuancePhase.objects.filter(status=PhaseStatus.REGISTERED)
        .annotate(total=Sum("issuances__quantity"))
        .order_by("registered_at")
    ]
    per_methodology = [
        (f"{row['project__methodology__code']}", row["total"])
        for row in Issuance.objects.values("project__methodology__code")
        .annotate(total=Sum("quantity"))
        .order_by("project__methodology__code")
    ]
    districts = dict(District.choices)
    per_district = [
        (str(districts.get(row["project__district"], row["project__district"])), row["total"])
        for row in Issuance.objects.values("project__district")
        .annotate(total=Sum("quantity"))
        .order_by("-total")
    ]
    # Dated by the retirement (retired_at, in the registry's time zone), not by when a block was cut.
    retired_by_year = [
        (str(row["year"]), row["total"])
        for row in _retired()
        .annotate(year=ExtractYear("retired_at"))
        .values("year")
        .annotate(total=Sum("quantity"))
        .order_by("year")
    ]
    return {
        "per_phase": _bars(per_phase),
        "per_methodology": _bars(per_methodology),
        "per_district": _bars(per_district),
        "retired": _bars(retired_by_year),
    }


def _bars(rows: list[tuple[str, int]]) -> list[dict]:
    top = max((value for _label, value in rows), default=0) or 1
    return [{"label": label, "value": value, "percent": round(100 * value / top, 1)} for label, value in rows]


# Search by any part of a Chinese name (ADR 0014). Each column is matched with `icontains`, which
# Django writes as UPPER(column::text) LIKE UPPER('%…%'): on PostgreSQL a pg_trgm index on UPPER(column)
# serves words of three characters or more. A shorter word has no trigram inside it, so on PostgreSQL it
# is looked up instead in a stored array of every one- and two-character piece of the (upper-cased) names,
# `grams @> ARRAY[UPPER(word)]`, which a GIN index serves and which is true exactly when the LIKE is: the
# results are the LIKE's, on SQLite as on PostgreSQL. A project's title and code are ORed on the projects
# table itself and owners come as a list of ids, so PostgreSQL can OR bitmap index scans, where an
# IN (UNION …) let it flip to a hash join over every project. Owners are searched by name only when they
# are organisations: a person's name is masked on every public page, and a search must not confirm it.
SHORT_WORD = 2


class HasShortWord(Expression):
    """`<table>.<grams column> @> ARRAY[UPPER(word)]` on the query's own table. PostgreSQL only: the column
    is generated there (registry and projects migrations 0003) and is not in the Django model."""

    output_field = BooleanField()

    def __init__(self, column: str, word: str):
        super().__init__()
        self.column, self.word = column, word

    def as_sql(self, compiler, connection):
        table = compiler.quote_name(compiler.query.base_table)
        return f"{table}.{connection.ops.quote_name(self.column)} @> ARRAY[UPPER(%s)]", [self.word]


def _contains(columns: list[str], grams: str, word: str, vendor: str) -> Q:
    """`word` is in one of the columns: by their grams column for a short word on PostgreSQL, else LIKE."""
    if vendor == "postgresql" and len(word) <= SHORT_WORD:
        return Q(HasShortWord(grams, word))
    condition = Q()
    for column in columns:
        condition |= Q(**{f"{column}__icontains": word})
    return condition


def search(queryset, query: str):
    """Finds Chinese names by any part of them (title, code, owning organisation)."""
    query = query.strip()[:100]
    if not query:
        return queryset
    vendor = connections[queryset.db].vendor
    owners = (
        Organisation.objects.exclude(kind=OrganisationKind.HOUSEHOLD)
        .filter(_contains(["name"], "name_grams", query, vendor))
        .values_list("pk", flat=True)
    )
    in_project = _contains(["title", "code"], "search_grams", query, vendor)
    return queryset.filter(in_project | Q(organisation__in=list(owners)))


# --- Open data -------------------------------------------------------------------------------------------


def phase_rows() -> list[dict]:
    phases = IssuancePhase.objects.public()
    rows = []
    for phase in phases.annotate(issued=Sum("issuances__quantity"), n=Count("issuances")).order_by("code"):
        rows.append(
            {
                "code": phase.code,
                "title_zh": phase.title_zh,
                "title_en": phase.title_en,
                "status": phase.status,
                "notice_start": phase.notice_start.isoformat() if phase.notice_start else None,
                "notice_end": phase.notice_end.isoformat() if phase.notice_end else None,
                "registered_on": phase.registered_at.date().isoformat() if phase.registered_at else None,
                "issuances": phase.n,
                "issued_t": phase.issued or 0,
            }
        )
    return rows


def project_rows() -> list[dict]:
    issued = dict(Issuance.objects.values("project").annotate(t=Sum("quantity")).values_list("project", "t"))
    return [
        {
            "code": p.code,
            "title": p.title,
            "owner": p.organisation.public_name,
            "methodology": p.methodology.code,
            "methodology_version": p.methodology.version,
            "district": p.district,
            "capacity_kw": str(p.capacity_kw) if p.capacity_kw is not None else None,
            "filed_on": p.filed_at.date().isoformat() if p.filed_at else None,
            "crediting_start": p.crediting_start.isoformat(),
            "crediting_end": p.crediting_end.isoformat(),
            "issued_t": issued.get(p.pk, 0),
        }
        for p in filed_projects().order_by("code")
    ]


def issuance_rows() -> list[dict]:
    """One entry per live block: serial, project, vintage, phase, owner, status."""
    from offsets.serials import format_serial

    blocks = (
        SerialBlock.objects.live()
        .select_related("issuance__phase", "issuance__project", "account__organisation")
        .order_by("first_unit")
    )
    return [
        {
            "serial": format_serial(
                b.issuance.phase.code, b.issuance.project.code, b.issuance.vintage, b.first_unit, b.last_unit
            ),
            "project": b.issuance.project.code,
            "vintage": b.issuance.vintage,
            "phase": b.issuance.phase.code,
            "owner": b.account.organisation.public_name,
            "quantity_t": b.quantity,
            "first_unit": b.first_unit,
            "last_unit": b.last_unit,
            "status": b.status,
        }
        for b in blocks
    ]


def retirement_rows() -> list[dict]:
    """One entry per retirement done, oldest first: who, how many, what for, which serial ranges.
    A person's name (holder or beneficiary) is masked; a cancellation's reasons are not published."""
    rows = []
    for r in public_retirements().order_by("retired_at", "pk"):
        rows.append(
            {
                "reference": r.reference,
                "kind": r.kind,
                "retired_on": timezone.localtime(r.retired_at).date().isoformat(),
                "holder": r.account.organisation.public_name,
                "quantity_t": r.quantity,
                "compliance_year": r.compliance_year,
                "beneficiary_kind": r.beneficiary_kind,
                "beneficiary": r.public_beneficiary,
                "purpose": r.purpose,
                "serials": " ".join(r.serials.split()),
                "units": " ".join(f"{first}-{last}" for first, last, *_rest in r.ranges),
            }
        )
    return rows


def retired_per_issuance(issuances) -> dict[int, dict[str, int]]:
    """Tonnes retired and cancelled so far of each issuance, {issuance id: {status: t}}."""
    totals: dict[int, dict[str, int]] = {i.pk: {"retired": 0, "cancelled": 0} for i in issuances}
    rows = (
        SerialBlock.objects.filter(
            issuance__in=list(totals), status__in=[BlockStatus.RETIRED, BlockStatus.CANCELLED]
        )
        .values("issuance", "status")
        .annotate(t=Sum(F("last_unit") - F("first_unit") + 1))
    )
    for row in rows:
        totals[row["issuance"]][row["status"]] = row["t"]
    return totals


DATASETS = {
    "phases": phase_rows,
    "projects": project_rows,
    "issuances": issuance_rows,
    "retirements": retirement_rows,
    # The signed checkpoints of the audit trail and the ledger (registry.checkpoints, ADR 0007).
    "checkpoints": checkpoints.open_data_rows,
}


def as_csv(rows: list[dict]) -> str:
    # Text that would start a formula is neutralised (registry.exports), as in every export.
    return exports.csv_text(rows)


def as_xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, build in DATASETS.items():
        sheet = workbook.create_sheet(title=name)
        rows = build()
        if rows:
            exports.write_row(sheet, 1, list(rows[0]))
            for number, row in enumerate(rows, start=2):
                exports.write_row(sheet, number, list(row.values()))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def milestones(project: Project) -> list[tuple]:
    """The public milestones of a project: filed, each notice it was in, each registration."""
    items = [(project.filed_at, _("Filed as %(code)s") % {"code": project.code})]
    for phase in IssuancePhase.objects.public().filter(entries__declaration__project=project).distinct():
        items.append((phase.published_at, _("In the public notice of phase %(code)s") % {"code": phase.code}))
    for issuance in project.issuances.select_related("phase"):
        items.append(
            (
                issuance.registered_at,
                _("%(tonnes)s t of %(vintage)s vintage registered in phase %(code)s")
                % {
                    "tonnes": f"{issuance.quantity:,}",
                    "vintage": issuance.vintage,
                    "code": issuance.phase.code,
                },
            )
        )
    return sorted((when, text) for when, text in items if when)


def home_context() -> dict:
    from offsets.models import IssuancePhase

    latest = IssuancePhase.objects.public().order_by("-published_at")[:5]
    return {"figures": figures(), "charts": charts(), "latest_notices": latest}
