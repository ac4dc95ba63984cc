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
from projects.paging import keyset_page
from projects.transitions import CASES
from registry import audit
from registry.access import get_visible_or_404
from registry.services import TransitionRefused

PAGE_SIZE = 50
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
    related = (
        ["project__organisation", "project__methodology"]
        if model is Declaration
        else ["organisation", "methodology"]
    )
    base = model.objects.filter(condition(request.user)).select_related(*related, "assignee")
    filterset = CaseFilter(
        request.GET or None, queryset=base, project_path="project__" if model is Declaration else ""
    )
    page = keyset_page(
        filterset.qs,
        order=order,
        size=PAGE_SIZE,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        last=request.GET.get("page") == "last",
    )
    query = request.GET.copy()
    for key in ("after", "before", "page"):
        query.pop(key, None)
    return render(
        request,
        "projects/office_queue.html",
        {
            "kind": kind,
            "queue_name": name,
            "title": title,
            "filter": filterset,
            "page": page,
            "total": filterset.qs.count(),
            "query": query.urlencode(),
            "sort": order,
            "sorts": [(k, v) for k, v in SORTS.items() if not (k == "-claimed_t" and model is Project)],
            "today": timezone.localdate(),
        },
    )


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
