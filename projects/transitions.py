"""The review workflow's steps, shared by projects and declarations: one table, read by projects.workflow
(which checks every step against it), the case screens (which list what it offers a user now) and the
decision views (which dispatch through it).

    draft --submit--> intake --accept--> technical --forward--> approval --approve--> approved
    intake, technical --return_case--> returned --resubmit--> (the stage that returned it)
    technical --request_opinions--> expert --opinions_given (the last awaited opinion)--> technical
    approval --send_back--> technical;  approval --reject--> rejected
    draft, intake --withdraw--> withdrawn
    approved --reopen_after_objection--> technical (an objection was upheld during the notice)
    (answer_finding, record_opinion, assign, declare_conflict: steps that keep the stage)
"""

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from projects.access import STAGE_PERMISSION, colleagues, is_conflicted, may_act_on, reviewed_technically
from projects.forms import (
    AssignForm,
    ConflictForm,
    FindingsForm,
    ForwardForm,
    NoteForm,
    OpinionForm,
    OpinionRequestForm,
)
from projects.models import REVIEW_STAGES, CaseRecord, ExpertOpinion, LetterKind, Stage
from registry.access import has_right, require
from registry.transitions import Table, Transition, TransitionRefused
from registry.workdays import add_working_days, working_days_between

# --- Who may ----------------------------------------------------------------------------------------


def _applicant(user, case) -> None:
    require(may_act_on, user, case)


def _bureau(stage: str):
    """The right of the bureau role that acts in `stage`."""

    def right(user, case) -> None:
        require(has_right, user, STAGE_PERMISSION[stage])

    return right


def _in_its_stage(user, case) -> None:
    """The right of the review stage the case is in, for a step taken in several (return_case, assign).
    Outside the review stages there is none to judge: the state check refuses."""
    if case.stage in STAGE_PERMISSION:
        require(has_right, user, STAGE_PERMISSION[case.stage])


def _reviewer(user, case) -> None:
    require(has_right, user, "projects.review_case")


# --- What about the case refuses a step ----------------------------------------------------------------


def _four_eyes(case, user) -> None:
    if reviewed_technically(user, case):
        raise TransitionRefused(_("You reviewed this case technically; another approver must decide."))


def pending_opinion(case, user) -> ExpertOpinion | None:
    return ExpertOpinion.objects.filter(**CaseRecord.of(case), expert=user, given_at=None).first()


def _opinion_awaited(case, user) -> None:
    if pending_opinion(case, user) is None:
        raise TransitionRefused(_("No opinion of yours is awaited on this case."))


def _a_declaration(case, user) -> None:
    if not case.is_declaration:
        raise TransitionRefused(_("Only a declaration can be reopened after an objection."))


def _not_conflicted(case, user) -> bool:
    return not is_conflicted(user, case)


# --- What every change of stage also changes: the review clock ------------------------------------------


def _clock(case, before: str, to: str) -> dict:
    """Entering a review stage starts its clock (settings.REVIEW_WORKING_DAYS, working days); returning
    the case stops it, and resubmission resumes it with the working days that were left. A new stage has
    no assignee until someone takes or assigns the case."""
    today = timezone.localdate()
    if to == Stage.RETURNED:
        left = working_days_between(today, case.due_date) if case.due_date else None
        return {"due_date": None, "days_left_when_returned": left, "assignee": None}
    if to in REVIEW_STAGES:
        resumed = before == Stage.RETURNED and case.days_left_when_returned is not None
        days = max(case.days_left_when_returned, 1) if resumed else settings.REVIEW_WORKING_DAYS[to]
        return {"due_date": add_working_days(today, days), "days_left_when_returned": None, "assignee": None}
    return {"due_date": None, "days_left_when_returned": None, "assignee": None}


def _not_possible(case) -> str:
    return _("%(case)s is at the stage “%(stage)s”; this step is not possible now.") % {
        "case": case,
        "stage": case.get_stage_display(),
    }


# --- The forms of the bureau's decisions -----------------------------------------------------------------


def _experts(case, user) -> dict:
    return {"experts": colleagues(case, STAGE_PERMISSION[Stage.EXPERT])}


def _claim(case, user) -> dict:
    return {"initial": {"verified_t": getattr(case, "claimed_t", None)}}


def _candidates(case, user) -> dict:
    return {"candidates": colleagues(case, STAGE_PERMISSION[case.stage]), "initial": {"assignee": user.pk}}


def _findings(form) -> dict:
    return {"findings": form.finding_texts(), "note": form.cleaned_data["note"]}


DANGER, QUIET = "btn-outline-danger", "btn-outline-secondary"

CASES = Table(
    # The applicant's steps, on the project's and the declaration's own pages.
    Transition(
        "submit",
        {Stage.DRAFT},
        Stage.INTAKE,
        action="case.submitted",
        right=_applicant,
        label=gettext_lazy("Submit to the Bureau"),
    ),
    Transition(
        "withdraw",
        {Stage.DRAFT, Stage.INTAKE},
        Stage.WITHDRAWN,
        action="case.withdrawn",
        right=_applicant,
        label=gettext_lazy("Withdraw"),
        button=DANGER,
    ),
    Transition(
        "answer_finding",
        {Stage.RETURNED},
        action="case.finding_answered",
        right=_applicant,
        refusal=lambda case: _("Findings are answered while the case is returned for revision."),
        notify=False,
        label=gettext_lazy("Save the answer"),
    ),
    Transition(
        "resubmit",
        {Stage.RETURNED},  # to the stage that returned it
        action="case.resubmitted",
        right=_applicant,
        label=gettext_lazy("Resubmit"),
    ),
    # The bureau's decisions, on the case screen.
    Transition(
        "accept",
        {Stage.INTAKE},
        Stage.TECHNICAL,
        action="case.accepted",
        right=_bureau(Stage.INTAKE),
        letter=LetterKind.ACCEPTANCE,
        label=gettext_lazy("Accept for technical review"),
        form=NoteForm,
    ),
    Transition(
        "return_case",
        {Stage.INTAKE, Stage.TECHNICAL},
        Stage.RETURNED,
        action="case.returned",
        right=_in_its_stage,
        refusal=lambda case: _("Only a case at intake or in technical review can be returned."),
        letter=LetterKind.RETURN,
        label=gettext_lazy("Return with findings"),
        button=DANGER,
        form=FindingsForm,
        arguments=_findings,
    ),
    Transition(
        "request_opinions",
        {Stage.TECHNICAL},
        Stage.EXPERT,
        action="case.opinions_requested",
        right=_bureau(Stage.TECHNICAL),
        label=gettext_lazy("Ask experts for opinions"),
        form=OpinionRequestForm,
        form_kwargs=_experts,
    ),
    Transition(
        "forward",
        {Stage.TECHNICAL},
        Stage.APPROVAL,
        action="case.forwarded",
        right=_bureau(Stage.TECHNICAL),
        label=gettext_lazy("Forward for approval"),
        form=ForwardForm,
        form_kwargs=_claim,
    ),
    Transition(
        "record_opinion",
        {Stage.EXPERT},
        action="case.opinion_recorded",
        right=_bureau(Stage.EXPERT),
        guards=(_opinion_awaited,),
        refusal=lambda case: _("Opinions are recorded while the case is in expert review."),
        notify=False,
        label=gettext_lazy("Record your opinion"),
        form=OpinionForm,
    ),
    Transition(
        "approve",
        {Stage.APPROVAL},
        Stage.APPROVED,
        action="case.approved",
        right=_bureau(Stage.APPROVAL),
        guards=(_four_eyes,),
        letter=LetterKind.APPROVAL,
        label=gettext_lazy("Approve"),
        form=NoteForm,
    ),
    Transition(
        "reject",
        {Stage.APPROVAL},
        Stage.REJECTED,
        action="case.rejected",
        right=_bureau(Stage.APPROVAL),
        guards=(_four_eyes,),
        letter=LetterKind.REJECTION,
        label=gettext_lazy("Reject"),
        button=DANGER,
        form=NoteForm,
    ),
    Transition(
        "send_back",
        {Stage.APPROVAL},
        Stage.TECHNICAL,
        action="case.sent_back",
        right=_bureau(Stage.APPROVAL),
        guards=(_four_eyes,),
        label=gettext_lazy("Send back to technical review"),
        button=DANGER,
        form=NoteForm,
    ),
    Transition(
        "assign",
        REVIEW_STAGES,
        action="case.assigned",
        right=_in_its_stage,
        refusal=lambda case: _("Only a case under review can be assigned."),
        label=gettext_lazy("Assign"),
        button=QUIET,
        form=AssignForm,
        form_kwargs=_candidates,
        shown=_not_conflicted,
    ),
    Transition(
        "declare_conflict",
        REVIEW_STAGES,
        action="case.conflict_declared",
        right=_reviewer,
        notify=False,
        label=gettext_lazy("Declare a conflict of interest"),
        button=QUIET,
        form=ConflictForm,
        shown=_not_conflicted,
    ),
    # Taken by the system: the last awaited opinion, an upheld objection (offsets.issuing).
    Transition(
        "opinions_given",
        {Stage.EXPERT},
        Stage.TECHNICAL,
        action="case.opinions_given",
        function="record_opinion",  # and declare_conflict, when the expert still awaited withdraws
    ),
    Transition(
        "reopen_after_objection",
        {Stage.APPROVED},
        Stage.TECHNICAL,
        action="case.reopened",
        right=_bureau(Stage.TECHNICAL),
        guards=(_a_declaration,),
    ),
    field="stage",
    module="projects.workflow",
    refusal=_not_possible,
    models=("projects.project", "projects.declaration"),
    changes=_clock,
    recorded=("due_date",),
    touched=("updated_at",),
)
