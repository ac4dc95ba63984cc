"""Drafting writes of the projects app: projects and their meters, declarations and their monitoring
data, documents. The review transitions are in projects.workflow.

Every rule the database also holds (one live project per meter; a project's periods never overlap) is
checked here first, so users get a readable message on SQLite and PostgreSQL alike.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from projects.access import may_act_on, may_upload
from projects.models import (
    DEAD_STAGES,
    Declaration,
    Document,
    GridConnectionPoint,
    MonitoringEntry,
    Project,
)
from projects.spreadsheets import months_of
from registry import audit, calculators
from registry.access import may_act_for, require
from registry.models import (
    VERIFICATION_DOCUMENTS,
    DocumentType,
    GridEmissionFactor,
    MethodologyStatus,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    User,
)
from registry.services import TransitionRefused, notify_after_commit
from registry.uploads import check_upload, display_name, storage_name


@dataclass(frozen=True)
class Point:
    meter_number: str
    capacity_kw: Decimal


# --- Verification bodies ------------------------------------------------------------------------------
# A verification body is never named on its own or a related organisation's declaration. "Related" is
# what the data model can tell: the same organisation, or one with the same legal representative (names
# compared without spaces or case). Sharing a member is impossible: a user belongs to one organisation.


def _person(name: str) -> str:
    return "".join(name.split()).casefold()


def verification_body_problem(body: Organisation, organisation: Organisation) -> str | None:
    """Why `body` may not verify `organisation`'s declarations, as a sentence; None when it may."""
    if body.kind != OrganisationKind.VERIFICATION_BODY or body.status != OrganisationStatus.VERIFIED:
        return _("Choose a verified verification body.")
    if body.pk == organisation.pk:
        return _(
            "An organisation never verifies its own declarations: choose an independent verification body."
        )
    if _person(body.legal_representative) == _person(organisation.legal_representative):
        return _(
            "%(body)s has the same legal representative as %(organisation)s: choose an independent "
            "verification body."
        ) % {"body": body, "organisation": organisation}
    return None


def verification_bodies_for(organisation: Organisation):
    """The verified verification bodies that may verify the organisation's declarations."""
    bodies = Organisation.objects.filter(
        kind=OrganisationKind.VERIFICATION_BODY, status=OrganisationStatus.VERIFIED
    )
    # Few rows: the names are compared here, as verification_body_problem compares them.
    dependent = [
        body.pk
        for body in bodies.only("pk", "kind", "status", "legal_representative")
        if verification_body_problem(body, organisation) is not None
    ]
    return bodies.exclude(pk__in=dependent)


def require_editable(case) -> None:
    if not case.is_editable:
        raise TransitionRefused(
            _("%(case)s is at the stage “%(stage)s” and cannot be changed now.")
            % {"case": case, "stage": case.get_stage_display()}
        )


# --- Projects ----------------------------------------------------------------------------------------


def meter_conflicts(points: list[Point], *, exclude_project: Project | None = None) -> list[str]:
    """Meter numbers already claimed by another live project, or twice in this one."""
    numbers = [p.meter_number for p in points]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    taken = GridConnectionPoint.objects.filter(meter_number__in=numbers, live=True)
    if exclude_project is not None:
        taken = taken.exclude(project=exclude_project)
    return twice + sorted(set(taken.values_list("meter_number", flat=True)))


def _check_meters(points: list[Point], project: Project | None) -> None:
    conflicts = meter_conflicts(points, exclude_project=project)
    if conflicts:
        raise ValidationError(
            _(
                "Meter %(meters)s is already claimed by another live project (or twice here): a meter "
                "belongs "
                "to one project only."
            )
            % {"meters": ", ".join(conflicts)}
        )


def _save_points(project: Project, points: list[Point]) -> None:
    project.connection_points.all().delete()
    GridConnectionPoint.objects.bulk_create(
        GridConnectionPoint(project=project, meter_number=p.meter_number, capacity_kw=p.capacity_kw)
        for p in points
    )


@transaction.atomic
def create_project(organisation: Organisation, *, by: User, data: dict, points: list[Point]) -> Project:
    """A new draft project of the organisation, with its grid-connection points."""
    require(may_act_for, by, organisation)
    _check_meters(points, None)
    project = Project.objects.create(organisation=organisation, created_by=by, **data)
    _save_points(project, points)
    audit.record(actor=by, action="project.created", subject=project, after={"title": project.title})
    return project


@transaction.atomic
def update_project(project: Project, *, by: User, data: dict, points: list[Point]) -> Project:
    """Edit a draft or returned project and replace its grid-connection points."""
    require(may_act_on, by, project)
    locked = Project.objects.select_for_update().get(pk=project.pk)
    require_editable(locked)
    _check_meters(points, locked)
    changed = {}
    for field, value in data.items():
        if getattr(locked, field) != value:
            changed[field] = str(value)
            setattr(locked, field, value)
    locked.save()
    _save_points(locked, points)
    audit.record(actor=by, action="project.updated", subject=locked, after=changed)
    return locked


def applicability_problems(project: Project) -> list[str]:
    """The methodology's applicability rules, each failure as a sentence the applicant can act on."""
    problems = []
    methodology = project.methodology
    points = list(project.connection_points.all())
    if methodology.max_point_capacity_kw is not None:
        if not points:
            problems.append(_("Add at least one grid-connection point with its meter number and capacity."))
        limit_mw = methodology.max_point_capacity_kw / 1000
        for point in points:
            if point.capacity_kw >= methodology.max_point_capacity_kw:
                problems.append(
                    _(
                        "Grid-connection point %(meter)s has %(capacity)s kW; this methodology allows "
                        "less than "
                        "%(limit)s MW per point."
                    )
                    % {"meter": point.meter_number, "capacity": point.capacity_kw, "limit": f"{limit_mw:g}"}
                )
    if not project.not_registered_elsewhere:
        problems.append(
            _(
                "Confirm that the project is registered in no other scheme (CCER, VCS, another city's "
                "carbon inclusion)."
            )
        )
    if not project.outside_covered_boundary:
        problems.append(_("Confirm that the project lies inside no covered emitter's compliance boundary."))
    return problems


# --- Documents ---------------------------------------------------------------------------------------


def required_documents(case) -> list[str]:
    methodology = case.project.methodology
    required = methodology.declaration_documents if case.is_declaration else methodology.project_documents
    return [DocumentType(d) for d in required]


def latest_documents(case) -> dict[str, Document]:
    latest = {}
    for document in case.documents.order_by("doc_type", "-version"):
        latest.setdefault(document.doc_type, document)
    return latest


def missing_documents(case) -> list[str]:
    # .all() so that a list page's prefetch_related("documents") serves it without a query per case.
    present = {document.doc_type for document in case.documents.all()}
    return [d for d in required_documents(case) if d not in present]


def document_provider(case, doc_type: str) -> str:
    """Who provides a document of the case: the verification body named on the declaration for its report
    and opinion, else the applicant."""
    if doc_type in VERIFICATION_DOCUMENTS:
        body = case.verification_body if case.is_declaration else None
        if body is None:
            return _("The verification body (not named yet)")
        return _("%(body)s (verification body)") % {"body": body}
    return _("%(organisation)s (applicant)") % {"organisation": case.organisation}


def document_next_step(case, doc_type: str, document: Document | None, user: User | None) -> str:
    """What happens next about one document, said to the person reading the checklist; empty when nothing
    is waiting."""
    if user is not None and may_upload(user, case, doc_type):
        if document is None:
            return _("Upload it below.")
        return _("Present. A new upload below becomes its next version.")
    if document is not None:
        return ""
    if doc_type in VERIFICATION_DOCUMENTS:
        if not case.is_declaration:
            return ""
        body = case.verification_body
        if body is None:
            return _(
                "No verification body is named on this declaration yet: once the applicant names one, it "
                "is told and uploads this document."
            )
        return _(
            "%(body)s, the verification body named on this declaration, uploads it here; it is told in its "
            "inbox and by e-mail when it is named."
        ) % {"body": body}
    if case.is_editable:
        return _("The applicant's administrator or a declarant uploads it.")
    return ""


def document_checklist(case, user: User | None = None) -> list[dict]:
    """Required types first, then any others: the latest version of each and the earlier ones (one query),
    who provides each, and what happens next, said to `user`."""
    versions: dict[str, list] = {}
    for document in case.documents.order_by("doc_type", "-version"):
        versions.setdefault(document.doc_type, []).append(document)
    required = required_documents(case)
    checklist = []
    for t in [*required, *(t for t in versions if t not in required)]:
        document = versions.get(t, [None])[0]
        checklist.append(
            {
                "type": DocumentType(t),
                "required": t in required,
                "document": document,
                "versions": versions.get(t, []),
                "provider": document_provider(case, t),
                "next": document_next_step(case, t, document, user),
            }
        )
    return checklist


@transaction.atomic
def upload_document(case, *, by: User, doc_type: str, upload) -> Document:
    """Store a checked upload as the next version of its type; refused files are never stored."""
    if doc_type not in DocumentType.values:
        raise ValidationError(_("Choose a document type."))
    # Judge the case as it is now, and lock it so two uploads of one type get versions n and n + 1.
    case = type(case).objects.select_for_update().get(pk=case.pk)
    if not may_upload(by, case, doc_type):
        raise PermissionDenied(_("You cannot add this document to this case now."))
    checked = check_upload(upload)
    owner = {case.kind: case}
    version = (Document.objects.filter(doc_type=doc_type, **owner).aggregate(v=Max("version"))["v"] or 0) + 1
    # The user's name is kept for display only, tidied; the file is stored under a random name of ours
    # with the checked kind's extension, so nothing the user wrote reaches the storage path.
    original_name = display_name(upload.name, max_length=200)
    upload.name = storage_name(checked)
    document = Document.objects.create(
        doc_type=doc_type,
        version=version,
        file=upload,
        original_name=original_name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by=by,
        **owner,
    )
    audit.record(
        actor=by,
        action="document.uploaded",
        subject=case,
        after={"document": doc_type, "version": version, "sha256": checked.sha256},
    )
    return document


def attach_generated_document(case, *, by: User, doc_type: str, content, name: str) -> Document:
    """A document the registry made itself (a platform month's behaviour report), stored as the next version
    of its type. Nothing in it is a user's file, so the upload checks do not apply; its hash is kept alike."""
    import hashlib

    case = type(case).objects.select_for_update().get(pk=case.pk)
    data = content.read()
    content.seek(0)
    version = (
        Document.objects.filter(doc_type=doc_type, **{case.kind: case}).aggregate(v=Max("version"))["v"] or 0
    ) + 1
    sha256 = hashlib.sha256(data).hexdigest()
    document = Document.objects.create(
        doc_type=doc_type,
        version=version,
        file=content,
        original_name=name[:200],
        content_type="text/csv",
        size=len(data),
        sha256=sha256,
        uploaded_by=by,
        **{case.kind: case},
    )
    audit.record(
        actor=by,
        action="document.uploaded",
        subject=case,
        after={"document": doc_type, "version": version, "sha256": sha256},
    )
    return document


# --- Declarations --------------------------------------------------------------------------------------


def period_problems(
    project: Project, start: date, end: date, *, exclude: Declaration | None = None
) -> list[str]:
    problems = []
    if end < start:
        return [_("The monitoring period ends before it starts.")]
    if start.year != end.year:
        problems.append(_("A monitoring period lies within one calendar year (its vintage)."))
    if start < project.crediting_start or end > project.crediting_end:
        problems.append(
            _("The monitoring period must lie inside the project's crediting period (%(start)s to %(end)s).")
            % {"start": project.crediting_start.isoformat(), "end": project.crediting_end.isoformat()}
        )
    overlapping = project.declarations.exclude(stage__in=DEAD_STAGES).filter(
        period_start__lte=end, period_end__gte=start
    )
    if exclude is not None:
        overlapping = overlapping.exclude(pk=exclude.pk)
    for other in overlapping:
        problems.append(
            _("The period overlaps the declaration for %(start)s to %(end)s of this project.")
            % {"start": other.period_start.isoformat(), "end": other.period_end.isoformat()}
        )
    return problems


def _check_verification_body(body: Organisation | None, organisation: Organisation) -> None:
    if body is None:
        return
    # Judged as the rows are now, not as the caller's copies were.
    body = Organisation.objects.get(pk=body.pk)
    problem = verification_body_problem(body, Organisation.objects.get(pk=organisation.pk))
    if problem:
        raise ValidationError(problem)


@transaction.atomic
def create_declaration(
    project: Project,
    *,
    by: User,
    period_start: date,
    period_end: date,
    verification_body: Organisation | None,
) -> Declaration:
    """A draft declaration of a filed project for one monitoring period."""
    require(may_act_on, by, project)
    if not project.is_filed:
        raise TransitionRefused(_("Reductions can be declared only for a filed project."))
    # Lock the project: two declarations of one project at once must not both pass the overlap check.
    Project.objects.select_for_update().get(pk=project.pk)
    problems = period_problems(project, period_start, period_end)
    if problems:
        raise ValidationError(problems)
    _check_verification_body(verification_body, project.organisation)
    declaration = Declaration.objects.create(
        project=project,
        period_start=period_start,
        period_end=period_end,
        verification_body=verification_body,
        created_by=by,
    )
    audit.record(
        actor=by,
        action="declaration.created",
        subject=declaration,
        after={"period": [period_start.isoformat(), period_end.isoformat()]},
    )
    if verification_body is not None:
        _name_verification_body(declaration, verification_body, by=by)
    return declaration


def _name_verification_body(declaration: Declaration, body: Organisation, *, by: User) -> None:
    """Record that the body is named on the declaration; its members hear of it after commit (inbox and
    e-mail), since they upload the verification report and the applicant cannot."""
    event = audit.record(
        actor=by,
        action="declaration.verification_body_named",
        subject=declaration,
        after={"verification_body": body.pk, "name": body.name},
    )
    notify_after_commit(event)


@transaction.atomic
def update_declaration(
    declaration: Declaration, *, by: User, period_start: date, period_end: date, verification_body
) -> Declaration:
    require(may_act_on, by, declaration)
    locked = Declaration.objects.select_for_update().get(pk=declaration.pk)
    require_editable(locked)
    Project.objects.select_for_update().get(pk=locked.project_id)
    problems = period_problems(locked.project, period_start, period_end, exclude=locked)
    if problems:
        raise ValidationError(problems)
    _check_verification_body(verification_body, locked.project.organisation)
    period_changed = (locked.period_start, locked.period_end) != (period_start, period_end)
    body_named = verification_body is not None and verification_body.pk != locked.verification_body_id
    locked.period_start, locked.period_end, locked.verification_body = (
        period_start,
        period_end,
        verification_body,
    )
    locked.save()
    if period_changed:
        # Months outside the new period no longer count.
        locked.entries.exclude(month__isnull=True).exclude(
            month__range=(period_start.replace(day=1), period_end)
        ).delete()
        recalculate(locked)
    audit.record(
        actor=by,
        action="declaration.updated",
        subject=locked,
        after={"period": [period_start.isoformat(), period_end.isoformat()]},
    )
    if body_named:
        _name_verification_body(locked, verification_body, by=by)
    return locked


def expected_months(declaration: Declaration) -> list[date]:
    return months_of(declaration.period_start, declaration.period_end)


def calculator_of(declaration: Declaration):
    return calculators.calculator_for(declaration.project.methodology.calculator)


@transaction.atomic
def save_monitoring_data(
    declaration: Declaration, *, by: User, values: dict[date | None, Decimal]
) -> Declaration:
    """Replace the monitoring data and recalculate. `values` maps each month (or None for a single
    figure) to MWh; every month of the period must be there. Nothing is saved if anything is wrong."""
    require(may_act_on, by, declaration)
    locked = Declaration.objects.select_for_update().get(pk=declaration.pk)
    require_editable(locked)
    calculator = calculator_of(locked)
    if calculator is None:
        raise TransitionRefused(
            _("This methodology has no formula: the quantity comes from the verification report.")
        )
    if calculator.entry_kind == calculators.MONTHLY:
        expected = set(expected_months(locked))
        if set(values) != expected:
            raise ValidationError(_("Give one figure for each month of the monitoring period."))
    elif set(values) != {None}:
        raise ValidationError(_("Give one figure for the whole monitoring period."))
    if any(v is None or v < 0 for v in values.values()):
        raise ValidationError(_("Figures cannot be negative."))
    locked.entries.all().delete()
    MonitoringEntry.objects.bulk_create(
        MonitoringEntry(declaration=locked, month=month, value_mwh=value) for month, value in values.items()
    )
    recalculate(locked)
    audit.record(
        actor=by,
        action="declaration.data_saved",
        subject=locked,
        after={"activity_mwh": str(locked.activity_mwh), "claimed_t": locked.claimed_t},
    )
    return locked


@transaction.atomic
def set_claimed_quantity(declaration: Declaration, *, by: User, claimed_t: int) -> Declaration:
    """No formula in the methodology: the claimed whole tonnes, as the verification report gives them."""
    require(may_act_on, by, declaration)
    locked = Declaration.objects.select_for_update().get(pk=declaration.pk)
    require_editable(locked)
    if calculator_of(locked) is not None:
        raise TransitionRefused(_("This methodology calculates the quantity from the monitoring data."))
    if claimed_t < 0:
        raise ValidationError(_("Figures cannot be negative."))
    locked.claimed_t = claimed_t
    locked.save(update_fields=["claimed_t", "updated_at"])
    audit.record(actor=by, action="declaration.data_saved", subject=locked, after={"claimed_t": claimed_t})
    return locked


def recalculate(declaration: Declaration) -> None:
    """Calculate from the stored entries with the factor of the vintage (or the latest published one),
    and store the result with the factor used."""
    calculator = calculator_of(declaration)
    if calculator is None:
        return
    entries = list(declaration.entries.values_list("value_mwh", flat=True))
    methodology = declaration.project.methodology
    factor = GridEmissionFactor.objects.for_vintage(methodology.factor_scope, declaration.vintage)
    if not entries or factor is None:
        declaration.activity_mwh, declaration.claimed_t = None, 0
        declaration.factor, declaration.factor_value, declaration.factor_year = None, None, None
    else:
        result = calculator.calculate(entries, factor.value)
        declaration.activity_mwh, declaration.claimed_t = result.activity_mwh, result.claimed_t
        declaration.factor, declaration.factor_value, declaration.factor_year = (
            factor,
            factor.value,
            factor.year,
        )
    declaration.save()


def calculation_of(declaration: Declaration):
    """The step-by-step calculation from the stored entries and the stored factor (never looked up again)."""
    calculator = calculator_of(declaration)
    if calculator is None or declaration.factor_value is None:
        return None
    entries = list(declaration.entries.values_list("value_mwh", flat=True))
    return calculator.calculate(entries, declaration.factor_value)


# --- Submission ------------------------------------------------------------------------------------------


def submission_problems(case) -> list[str]:
    """Everything that stops the applicant from submitting, as sentences; empty when it may go."""
    problems = []
    organisation = case.organisation
    if not organisation.can_submit:
        problems.append(
            _("Only a verified organisation can submit (yours is “%(status)s”).")
            % {"status": organisation.get_status_display()}
        )
    methodology = case.project.methodology
    if methodology.status != MethodologyStatus.ACTIVE:
        problems.append(_("The methodology %(code)s is not in force.") % {"code": methodology.code})
    elif timezone.localdate() < methodology.effective_date:
        problems.append(
            _("Declarations under %(code)s may be submitted from %(date)s.")
            % {"code": methodology.code, "date": methodology.effective_date.isoformat()}
        )
    if case.is_project:
        problems += applicability_problems(case)
    else:
        problems += _declaration_problems(case)
    for doc_type in missing_documents(case):
        problems.append(_missing_document_problem(case, doc_type))
    return problems


def _missing_document_problem(case, doc_type: str) -> str:
    """A missing document, saying who provides it where the applicant cannot."""
    label = DocumentType(doc_type).label
    if doc_type not in VERIFICATION_DOCUMENTS or not case.is_declaration:
        return _("The document “%(type)s” is missing.") % {"type": label}
    if case.verification_body_id is None:
        return _(
            "The document “%(type)s” is missing: the verification body you name on this declaration uploads "
            "it."
        ) % {"type": label}
    return _(
        "The document “%(type)s” is missing: %(body)s, the verification body named on this declaration, "
        "uploads it."
    ) % {"type": label, "body": case.verification_body}


def _declaration_problems(declaration: Declaration) -> list[str]:
    problems = []
    if not declaration.project.is_filed:
        problems.append(_("The project is not filed."))
    problems += period_problems(
        declaration.project, declaration.period_start, declaration.period_end, exclude=declaration
    )
    if declaration.verification_body_id is None:
        # A body is needed where it provides documents (a verification report); a platform's aggregation
        # declaration is evidenced by its behaviour report, which the registry makes.
        if any(d in VERIFICATION_DOCUMENTS for d in required_documents(declaration)):
            problems.append(_("Choose the verification body that verifies this declaration."))
    else:
        # The body may have been suspended, changed kind or become related since it was chosen.
        problem = verification_body_problem(declaration.verification_body, declaration.project.organisation)
        if problem:
            problems.append(problem)
    calculator = calculator_of(declaration)
    if calculator is not None:
        if calculator.entry_kind == calculators.MONTHLY:
            have = set(declaration.entries.values_list("month", flat=True))
            missing = [m for m in expected_months(declaration) if m not in have]
            if missing:
                problems.append(
                    _("Monitoring data is missing for %(months)s.")
                    % {"months": ", ".join(f"{m:%Y-%m}" for m in missing)}
                )
        elif not declaration.entries.exists():
            problems.append(_("Enter the monitoring data."))
        if declaration.factor_value is None and declaration.entries.exists():
            problems.append(_("No grid emission factor is published for this scope yet."))
    if declaration.claimed_t <= 0:
        problems.append(_("The claimed quantity is zero."))
    return problems
