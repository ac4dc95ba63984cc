"""The bureau's back office: review queues and the case screen. HTTP only: every change goes through
projects.workflow, which checks the stage and the user's right again."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from projects import services
from projects.context_processors import counts_for
from projects.filters import CaseFilter
from projects.models import (
    REVIEW_STAGES,
    CaseRecord,
    Conflict,
    Declaration,
    ExpertOpinion,
    Finding,
    Letter,
    Project,
    Stage,
)
from projects.paging import capped_count, page_of_request
from projects.transitions import CASES
from registry import audit
from registry.access import get_visible_or_404
from registry.filter_bars import plain_fields
from registry.models import District
from registry.services import TransitionRefused

PAGE_SIZE = 50
COUNT_CAP = 1000  # a filtered queue counts its cases up to this many, then says "more than 1,000"
KINDS = {"declarations": Declaration, "projects": Project}

# queue → (title, filter, default order, allowed orders)
QUEUES = {
    "intake": (gettext_lazy("Intake"), lambda user: Q(stage=Stage.INTAKE), "due_date"),
    "technical": (gettext_lazy("Technical review"), lambda user: Q(stage=Stage.TECHNICAL), "due_date"),
    "expert": (gettext_lazy("Expert review"), lambda user: Q(stage=Stage.EXPERT), "due_date"),
    "approval": (gettext_lazy("Approval"), lambda user: Q(stage=Stage.APPROVAL), "due_date"),
    "mine": (
        gettext_lazy("Assigned to me"),
        lambda user: Q(assignee=user, stage__in=REVIEW_STAGES),
        "due_date",
    ),
    "overdue": (
        gettext_lazy("Overdue"),
        lambda user: Q(stage__in=REVIEW_STAGES, due_date__lt=timezone.localdate()),
        "due_date",
    ),
    "returned": (
        gettext_lazy("Returned for revision"),
        lambda user: Q(stage=Stage.RETURNED),
        "-submitted_at",
    ),
    "decided": (
        gettext_lazy("Decided"),
        lambda user: Q(stage__in=[Stage.APPROVED, Stage.REJECTED]),
        "-submitted_at",
    ),
}
SORTS = {
    "due_date": gettext_lazy("Due date, soonest first"),
    "-submitted_at": gettext_lazy("Submitted, newest first"),
    "submitted_at": gettext_lazy("Submitted, oldest first"),
    "-claimed_t": gettext_lazy("Claimed quantity, largest first"),
}


# What a queue row shows, and only that: the joined methodology's JSON and the organisation's and project's
# long texts were read and decoded for every row. A field the row comes to show must be added here, or each
# row reads it with a query of its own (tests/projects/test_office_queue.py counts them).
_PROJECT_COLUMNS = ["code", "title", "district", "organisation__name", "organisation__name_en"]
_PROJECT_COLUMNS += ["organisation__kind", "methodology__code"]
_CASE_COLUMNS = ["stage", "submitted_at", "due_date", "assignee__full_name"]
QUEUE_RELATED = {
    "declarations": ["project__organisation", "project__methodology"],
    "projects": ["organisation", "methodology"],
}
QUEUE_COLUMNS = {
    "declarations": [*_CASE_COLUMNS, "period_start", "period_end", "claimed_t"]
    + [f"project__{name}" for name in _PROJECT_COLUMNS],
    "projects": [*_CASE_COLUMNS, *_PROJECT_COLUMNS],
}


def _kind(kind: str):
    if kind not in KINDS:
        raise Http404
    return KINDS[kind]


@permission_required("projects.review_case", raise_exception=True)
def queue(request: HttpRequest, kind: str, name: str) -> HttpResponse:
    model = _kind(kind)
    if name not in QUEUES:
        raise Http404
    title, condition, default_order = QUEUES[name]
    order = request.GET.get("sort", default_order)
    if order not in SORTS or (order == "-claimed_t" and model is Project):
        order = default_order
    if order == "due_date" and name in ("returned", "decided"):
        order = default_order  # no due date once the bureau does not hold the case
    base = model.objects.filter(condition(request.user)).select_related(*QUEUE_RELATED[kind], "assignee")
    base = base.only(*QUEUE_COLUMNS[kind])
    filterset = CaseFilter(
        request.GET or None, queryset=base, project_path="project__" if model is Declaration else ""
    )
    page, query = page_of_request(request, filterset.qs, order=order, size=PAGE_SIZE)
    label_rows(page.rows, kind)
    # Unfiltered, the queue's count is the sidebar's (the same 30-second cache): no COUNT over the 150,000
    # cases of a queue on every page. A filter counts what it matches, up to COUNT_CAP: a district's share
    # of the technical queue took 50 ms to count in full, more than the rest of the page.
    if any(request.GET.get(field) for field in filterset.filters):
        total = capped_count(filterset.qs, COUNT_CAP)
    else:
        total = counts_for(request.user)[kind][name]
    return render(
        request,
        "projects/office_queue.html",
        {
            "kind": kind,
            "queue_name": name,
            "title": title,
            "fields": plain_fields(filterset),
            "page": page,
            "total": total,
            "count_cap": COUNT_CAP,
            "query": query,
            "sort": order,
            "sorts": [(k, str(v)) for k, v in SORTS.items() if not (k == "-claimed_t" and model is Project)],
        },
    )


def label_rows(cases: list, kind: str) -> None:
    """What each row of a queue shows, worked out once per page: choices' labels translated once (two
    get_FOO_display a row on lazily translated choices were 12 % of a page), one reverse() for every row's
    link, and the date the overdue badge compares with read once."""
    stages = {value: str(label) for value, label in Stage.choices}
    filed = str(_("Filed"))  # Project.status_label of an approved project
    districts = {value: str(label) for value, label in District.choices}
    link = reverse("projects:office_case", args=[kind, 0]).removesuffix("0/")
    today = timezone.localdate()
    for case in cases:
        project = case.project if case.is_declaration else case
        case.office_url = f"{link}{case.pk}/"
        # As projects/includes/stage.html: a filed project (approved, with its code) reads "Filed".
        filed_project = case.is_project and case.code and case.is_filed
        case.stage_label = filed if filed_project else stages.get(case.stage, case.stage)
        case.district_label = districts.get(project.district, project.district)
        case.overdue = case.due_date is not None and case.stage in REVIEW_STAGES and case.due_date < today
        # The day of submission in the registry's time zone, as the template's date filter gave it.
        case.submitted_on = timezone.localtime(case.submitted_at).date() if case.submitted_at else None


def _case(request: HttpRequest, kind: str, pk: int):
    return get_visible_or_404(_kind(kind).objects, request.user, pk=pk)


def decisions_for(case, user) -> list:
    """The bureau's decisions this user may take on this case now, each with its empty form: what the
    table of the review offers (projects.transitions.CASES), and nothing else."""
    steps = CASES.offered(case, user).values()
    return [(step, step.make_form(case, user)) for step in steps if step.form is not None]


@permission_required("projects.review_case", raise_exception=True)
def case_screen(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    case = _case(request, kind, pk)
    record = CaseRecord.of(case)
    calculation = services.calculation_of(case) if case.is_declaration else None
    recheck = None
    if calculation is not None:
        recheck = {"matches": calculation.claimed_t == case.claimed_t, "server": calculation.claimed_t}
    return render(
        request,
        "projects/office_case.html",
        {
            "case": case,
            "kind": kind,
            "project": case.project,
            "organisation": case.organisation,
            "calculation": calculation,
            "recheck": recheck,
            "entries": case.entries.all() if case.is_declaration else [],
            "points": case.project.connection_points.all(),
            "checklist": services.document_checklist(case, request.user),
            "findings": Finding.objects.filter(**record).select_related("raised_by", "answered_by"),
            "opinions": ExpertOpinion.objects.filter(**record).select_related("expert"),
            "conflicts": Conflict.objects.filter(**record).select_related("user"),
            "letters": Letter.objects.filter(**record),
            "events": audit.events_of(case).order_by("-seq")[:100],
            "decisions": decisions_for(case, request.user),
            "problems": services.applicability_problems(case) if case.is_project else [],
        },
    )


def _users(ids) -> list:
    return list(get_user_model().objects.filter(pk__in=ids))


@require_POST
@permission_required("projects.review_case", raise_exception=True)
def decide(request: HttpRequest, kind: str, pk: int, decision: str) -> HttpResponse:
    """One decision form posted; the workflow function checks the stage and the right again."""
    case = _case(request, kind, pk)
    step = CASES.offered(case, request.user).get(decision)
    if step is None or step.form is None:
        messages.error(request, _("This step is not open to you on this case now."))
        return redirect(office_url(case))
    bound = step.make_form(case, request.user, request.POST)
    if not bound.is_valid():
        messages.error(request, _("The form is incomplete: %(errors)s") % {"errors": _form_errors(bound)})
        return redirect(office_url(case))
    try:
        CASES.function(decision)(case, by=request.user, **step.arguments(bound))
    except TransitionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Recorded."))
    return redirect(office_url(case))


def _form_errors(form) -> str:
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


def office_url(case) -> str:
    kind = "declarations" if case.is_declaration else "projects"
    return reverse("projects:office_case", args=[kind, case.pk])
