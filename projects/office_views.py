"""The bureau's back office: review queues and the case screen. HTTP only: every change goes through
projects.workflow, which checks the stage and the user's right again."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from projects import services, workflow
from projects.filters import CaseFilter
from projects.forms import (
    AssignForm,
    ConflictForm,
    FindingsForm,
    ForwardForm,
    NoteForm,
    OpinionForm,
    OpinionRequestForm,
)
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
from registry import audit
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
    model = _kind(kind)
    return get_object_or_404(model.objects.visible_to(request.user), pk=pk)


def _colleagues(permission: str, case):
    app_label, codename = permission.split(".")
    users = get_user_model().objects.filter(
        Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label=app_label)
        | Q(is_superuser=True),
        is_active=True,
    )
    conflicted = Conflict.objects.filter(**CaseRecord.of(case)).values("user")
    users = users.exclude(pk__in=conflicted)
    if case.stage == Stage.APPROVAL and case.technical_reviewer_id:
        users = users.exclude(pk=case.technical_reviewer_id)  # four eyes
    return users.distinct().order_by("full_name")


def decisions_for(case, user) -> dict:
    """The decision forms this user may use on this case now, and nothing else."""
    stage, forms = case.stage, {}
    if stage == Stage.INTAKE and user.has_perm("projects.act_intake"):
        forms.update(accept=NoteForm(), return_case=FindingsForm())
    if stage == Stage.TECHNICAL and user.has_perm("projects.act_technical"):
        forms.update(
            return_case=FindingsForm(),
            request_opinions=OpinionRequestForm(experts=_colleagues("projects.act_expert", case)),
            forward=ForwardForm(initial={"verified_t": getattr(case, "claimed_t", None)}),
        )
    if stage == Stage.EXPERT and workflow.pending_opinion(case, user) is not None:
        forms["record_opinion"] = OpinionForm()
    if (
        stage == Stage.APPROVAL
        and user.has_perm("projects.act_approval")
        and case.technical_reviewer_id != user.pk
    ):
        forms.update(approve=NoteForm(), reject=NoteForm(), send_back=NoteForm())
    permission = workflow.STAGE_PERMISSION.get(stage)
    conflicted = Conflict.objects.filter(**CaseRecord.of(case), user=user).exists()
    if permission and user.has_perm(permission) and not conflicted:
        forms["assign"] = AssignForm(candidates=_colleagues(permission, case), initial={"assignee": user.pk})
    if not conflicted and stage in REVIEW_STAGES:
        forms["declare_conflict"] = ConflictForm()
    return forms


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
            "checklist": services.document_checklist(case),
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
    available = decisions_for(case, request.user)
    if decision not in available:
        messages.error(request, _("This step is not open to you on this case now."))
        return redirect(office_url(case))
    form = type(available[decision])
    if decision == "request_opinions":
        bound = form(request.POST, experts=_colleagues("projects.act_expert", case))
    elif decision == "assign":
        bound = form(request.POST, candidates=_colleagues(workflow.STAGE_PERMISSION[case.stage], case))
    else:
        bound = form(request.POST)
    if not bound.is_valid():
        messages.error(request, _("The form is incomplete: %(errors)s") % {"errors": _form_errors(bound)})
        return redirect(office_url(case))
    data, by = bound.cleaned_data, request.user
    actions = {
        "accept": lambda: workflow.accept(case, by=by, note=data["note"]),
        "return_case": lambda: workflow.return_case(
            case, by=by, findings=bound.finding_texts(), note=data["note"]
        ),
        "request_opinions": lambda: workflow.request_opinions(
            case, by=by, experts=list(data["experts"]), question=data["question"]
        ),
        "forward": lambda: workflow.forward(
            case,
            by=by,
            recommendation=data["recommendation"],
            verified_t=data["verified_t"],
            note=data["note"],
        ),
        "record_opinion": lambda: workflow.record_opinion(case, by=by, opinion=data["opinion"]),
        "approve": lambda: workflow.approve(case, by=by, note=data["note"]),
        "reject": lambda: workflow.reject(case, by=by, note=data["note"]),
        "send_back": lambda: workflow.send_back(case, by=by, note=data["note"]),
        "assign": lambda: workflow.assign(case, by=by, assignee=data["assignee"]),
        "declare_conflict": lambda: workflow.declare_conflict(case, by=by, reason=data["reason"]),
    }
    try:
        actions[decision]()
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
