"""The staged review, written once and used by projects and declarations.

    draft --submit--> intake --accept--> technical --forward--> approval --approve--> approved
    intake, technical --return_case (numbered findings)--> returned --resubmit--> (the stage that returned it)
    technical --request_opinions--> expert --(the last requested opinion recorded)--> technical
    approval --send_back--> technical;  approval --reject--> rejected (final, with reasons)
    draft, intake --withdraw--> withdrawn (by the applicant)
    approved (declaration in notice) --reopen_after_objection--> technical (an objection was upheld)

Each transition locks the row, checks the source stage and the actor's right, records the audit event
and notifies after commit. Nothing else changes a case's stage: the admin shows it read-only and forms
never carry it. Entering a review stage starts its clock (settings.REVIEW_WORKING_DAYS, working days);
returning the case stops the clock, and resubmission resumes it with the working days that were left.
A new stage has no assignee until someone takes or assigns the case.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from projects.models import (
    REVIEW_STAGES,
    CaseRecord,
    Conflict,
    Declaration,
    ExpertOpinion,
    Finding,
    GridConnectionPoint,
    Project,
    Stage,
)
from registry import audit
from registry.models import OrgRole, User
from registry.services import TransitionRefused, notify_after_commit
from registry.workdays import add_working_days, working_days_between

# The permission that acts in each review stage.
STAGE_PERMISSION = {
    Stage.INTAKE: "projects.act_intake",
    Stage.TECHNICAL: "projects.act_technical",
    Stage.EXPERT: "projects.act_expert",
    Stage.APPROVAL: "projects.act_approval",
}


def _require_applicant(case, user) -> None:
    applicant = case.organisation.memberships.filter(user=user, role__in=[OrgRole.ADMIN, OrgRole.DECLARANT])
    if not applicant.exists():
        raise PermissionDenied(_("Only the organisation's administrator or declarants may do this."))


def _require(user, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied(_("Your bureau role does not include this step."))


def _lock(case):
    return type(case).objects.select_for_update().get(pk=case.pk)


def _clock(case, *, before: str, to: str) -> dict:
    """The deadline fields for a move from `before` to `to`."""
    today = timezone.localdate()
    if to == Stage.RETURNED:
        left = working_days_between(today, case.due_date) if case.due_date else None
        return {"due_date": None, "days_left_when_returned": left}
    if to in REVIEW_STAGES:
        resumed = before == Stage.RETURNED and case.days_left_when_returned is not None
        days = max(case.days_left_when_returned, 1) if resumed else settings.REVIEW_WORKING_DAYS[to]
        return {"due_date": add_working_days(today, days), "days_left_when_returned": None}
    return {"due_date": None, "days_left_when_returned": None}


def _move(
    case, *, to: str, allowed_from, by, action: str, note: str = "", after: dict | None = None, **changes
):
    """Lock the row, check the source stage, change it, record the event. Returns (case, event)."""
    # Lock the row: two reviewers clicking at once must not both succeed.
    locked = _lock(case)
    if locked.stage not in allowed_from:
        raise TransitionRefused(
            _("%(case)s is at the stage “%(stage)s”; this step is not possible now.")
            % {"case": locked, "stage": locked.get_stage_display()}
        )
    before = locked.stage
    changes = {**_clock(locked, before=before, to=to), "assignee": None, **changes}
    locked.stage = to
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.save(update_fields=["stage", "updated_at", *changes])
    event = audit.record(
        actor=by,
        action=action,
        subject=locked,
        before={"stage": before},
        after={
            "stage": to,
            "due_date": locked.due_date.isoformat() if locked.due_date else None,
            **(after or {}),
        },
        comment=note,
    )
    notify_after_commit(event)
    return locked, event


def _release_meters(project: Project) -> None:
    GridConnectionPoint.objects.filter(project=project).update(live=False)


# --- The applicant ------------------------------------------------------------------------------------


@transaction.atomic
def submit(case, *, by):
    """draft → intake, by the applicant; refused with every reason while anything is missing."""
    from projects.services import submission_problems

    _require_applicant(case, by)
    # Judge the row as it is now, under lock, not the caller's copy.
    locked = _lock(case)
    problems = submission_problems(locked) if locked.stage == Stage.DRAFT else []
    if problems:
        raise TransitionRefused(" ".join(str(p) for p in problems))
    case, _event = _move(
        locked,
        to=Stage.INTAKE,
        allowed_from={Stage.DRAFT},
        by=by,
        action="case.submitted",
        submitted_at=timezone.now(),
    )
    return case


def open_findings(case) -> list[Finding]:
    """The findings of the latest round that have no answer yet."""
    findings = Finding.objects.filter(**CaseRecord.of(case))
    latest = findings.aggregate(r=Max("round"))["r"]
    return list(findings.filter(round=latest, answer="")) if latest else []


@transaction.atomic
def answer_finding(finding: Finding, *, by, answer: str) -> Finding:
    """The applicant answers one finding of the round that returned its case."""
    case = _lock(finding.case)
    _require_applicant(case, by)
    if case.stage != Stage.RETURNED:
        raise TransitionRefused(_("Findings are answered while the case is returned for revision."))
    if not answer.strip():
        raise TransitionRefused(_("Write an answer to the finding."))
    finding.answer, finding.answered_by, finding.answered_at = answer.strip(), by, timezone.now()
    finding.save(update_fields=["answer", "answered_by", "answered_at"])
    audit.record(actor=by, action="case.finding_answered", subject=case, after={"finding": str(finding)})
    return finding


@transaction.atomic
def resubmit(case, *, by, note: str = ""):
    """returned → the stage that returned it, by the applicant, once every finding is answered.
    The stage's clock resumes with the working days that were left."""
    from projects.services import submission_problems

    _require_applicant(case, by)
    locked = _lock(case)
    if locked.stage == Stage.RETURNED:
        unanswered = open_findings(locked)
        if unanswered:
            raise TransitionRefused(
                _("Answer every finding first (%(numbers)s).")
                % {"numbers": ", ".join(str(f) for f in unanswered)}
            )
        problems = submission_problems(locked)
        if problems:
            raise TransitionRefused(" ".join(str(p) for p in problems))
    case, _event = _move(
        locked,
        to=locked.returned_from or Stage.INTAKE,
        allowed_from={Stage.RETURNED},
        by=by,
        action="case.resubmitted",
        note=note,
        returned_from="",
    )
    return case


@transaction.atomic
def withdraw(case, *, by, note: str = ""):
    """draft or intake (not yet accepted) → withdrawn, by the applicant. Frees the project's meters."""
    _require_applicant(case, by)
    case, _event = _move(
        case,
        to=Stage.WITHDRAWN,
        allowed_from={Stage.DRAFT, Stage.INTAKE},
        by=by,
        action="case.withdrawn",
        note=note,
    )
    if case.is_project:
        _release_meters(case)
    return case


# --- The bureau ------------------------------------------------------------------------------------------


@transaction.atomic
def accept(case, *, by, note: str = ""):
    """intake → technical review, by an intake officer. The applicant receives the acceptance letter."""
    _require(by, STAGE_PERMISSION[Stage.INTAKE])
    case, _event = _move(
        case, to=Stage.TECHNICAL, allowed_from={Stage.INTAKE}, by=by, action="case.accepted", note=note
    )
    return case


@transaction.atomic
def return_case(case, *, by, findings: list[str], note: str = ""):
    """intake or technical → returned, with numbered findings (a new round); stops the clock."""
    stage = _lock(case).stage
    if stage not in (Stage.INTAKE, Stage.TECHNICAL):
        raise TransitionRefused(_("Only a case at intake or in technical review can be returned."))
    _require(by, STAGE_PERMISSION[stage])
    findings = [text.strip() for text in findings if text.strip()]
    if not findings:
        raise TransitionRefused(_("Write at least one finding for the applicant to answer."))
    record = CaseRecord.of(case)
    round_number = (Finding.objects.filter(**record).aggregate(r=Max("round"))["r"] or 0) + 1
    case, _event = _move(
        case,
        to=Stage.RETURNED,
        allowed_from={Stage.INTAKE, Stage.TECHNICAL},
        by=by,
        action="case.returned",
        note=note,
        after={"round": round_number, "findings": len(findings)},
        returned_from=stage,
    )
    Finding.objects.bulk_create(
        Finding(**record, round=round_number, number=n, stage=stage, text=text, raised_by=by)
        for n, text in enumerate(findings, start=1)
    )
    return case


def _conflicted(case, user) -> bool:
    return Conflict.objects.filter(**CaseRecord.of(case), user=user).exists()


@transaction.atomic
def request_opinions(case, *, by, experts: list[User], question: str = ""):
    """technical → expert review: each chosen expert is asked for an opinion."""
    _require(by, STAGE_PERMISSION[Stage.TECHNICAL])
    experts = list(dict.fromkeys(experts))
    if not experts:
        raise TransitionRefused(_("Choose at least one expert."))
    for expert in experts:
        if not expert.has_perm(STAGE_PERMISSION[Stage.EXPERT]):
            raise TransitionRefused(_("%(name)s is not an expert.") % {"name": expert})
        if _conflicted(case, expert):
            raise TransitionRefused(
                _("%(name)s has declared a conflict of interest on this case.") % {"name": expert}
            )
    case, _event = _move(
        case,
        to=Stage.EXPERT,
        allowed_from={Stage.TECHNICAL},
        by=by,
        action="case.opinions_requested",
        note=question,
        after={"experts": [e.email for e in experts]},
    )
    ExpertOpinion.objects.bulk_create(
        ExpertOpinion(**CaseRecord.of(case), expert=e, requested_by=by, question=question) for e in experts
    )
    return case


def pending_opinion(case, user) -> ExpertOpinion | None:
    return ExpertOpinion.objects.filter(**CaseRecord.of(case), expert=user, given_at=None).first()


@transaction.atomic
def record_opinion(case, *, by, opinion: str):
    """An expert records its opinion; with the last one in, the case goes back to technical review."""
    _require(by, STAGE_PERMISSION[Stage.EXPERT])
    locked = _lock(case)
    if locked.stage != Stage.EXPERT:
        raise TransitionRefused(_("Opinions are recorded while the case is in expert review."))
    asked = pending_opinion(locked, by)
    if asked is None:
        raise TransitionRefused(_("No opinion of yours is awaited on this case."))
    if not opinion.strip():
        raise TransitionRefused(_("Write the opinion."))
    asked.opinion, asked.given_at = opinion.strip(), timezone.now()
    asked.save(update_fields=["opinion", "given_at"])
    audit.record(actor=by, action="case.opinion_recorded", subject=locked, comment=asked.opinion)
    if not ExpertOpinion.objects.filter(**CaseRecord.of(locked), given_at=None).exists():
        locked, _event = _move(
            locked, to=Stage.TECHNICAL, allowed_from={Stage.EXPERT}, by=by, action="case.opinions_given"
        )
    return locked


RECOMMENDATIONS = ("approve", "reject")


@transaction.atomic
def forward(case, *, by, recommendation: str, verified_t: int | None = None, note: str = ""):
    """technical → approval, with a recommendation (approve or reject) and, for a declaration, the
    verified quantity in whole tonnes, never above the claim. The forwarding reviewer is recorded."""
    _require(by, STAGE_PERMISSION[Stage.TECHNICAL])
    if recommendation not in RECOMMENDATIONS:
        raise TransitionRefused(_("Recommend approval or rejection."))
    locked = _lock(case)
    changes = {"technical_reviewer": by}
    if locked.is_declaration:
        if verified_t is None or verified_t < 0:
            raise TransitionRefused(_("Record the verified quantity in whole tonnes."))
        if verified_t > locked.claimed_t:
            raise TransitionRefused(
                _("The verified quantity (%(verified)s t) cannot be above the claim (%(claimed)s t).")
                % {"verified": verified_t, "claimed": locked.claimed_t}
            )
        changes["verified_t"] = verified_t
    case, _event = _move(
        locked,
        to=Stage.APPROVAL,
        allowed_from={Stage.TECHNICAL},
        by=by,
        action="case.forwarded",
        note=note,
        after={"recommendation": recommendation, "verified_t": changes.get("verified_t")},
        **changes,
    )
    return case


@transaction.atomic
def send_back(case, *, by, note: str):
    """approval → technical review, with the approver's reasons."""
    _require(by, STAGE_PERMISSION[Stage.APPROVAL])
    if not note.strip():
        raise TransitionRefused(_("Give the reasons for sending the case back."))
    case, _event = _move(
        case, to=Stage.TECHNICAL, allowed_from={Stage.APPROVAL}, by=by, action="case.sent_back", note=note
    )
    return case


def _four_eyes(case, by) -> None:
    if case.technical_reviewer_id == by.pk:
        raise TransitionRefused(_("You reviewed this case technically; another approver must decide."))


@transaction.atomic
def approve(case, *, by, note: str = ""):
    """approval → approved, never by the case's technical reviewer. A project is filed with its code."""
    _require(by, STAGE_PERMISSION[Stage.APPROVAL])
    locked = _lock(case)
    _four_eyes(locked, by)
    changes = {"decided_at": timezone.now()}
    if locked.is_project and locked.stage == Stage.APPROVAL:
        changes.update(code=_next_project_code(locked), filed_at=timezone.now())
    case, _event = _move(
        locked,
        to=Stage.APPROVED,
        allowed_from={Stage.APPROVAL},
        by=by,
        action="case.approved",
        note=note,
        **changes,
    )
    return case


@transaction.atomic
def reject(case, *, by, note: str):
    """approval → rejected, final, with reasons; never by the case's technical reviewer."""
    _require(by, STAGE_PERMISSION[Stage.APPROVAL])
    locked = _lock(case)
    _four_eyes(locked, by)
    if not note.strip():
        raise TransitionRefused(_("Give the reasons for the rejection."))
    case, _event = _move(
        locked,
        to=Stage.REJECTED,
        allowed_from={Stage.APPROVAL},
        by=by,
        action="case.rejected",
        note=note,
        decided_at=timezone.now(),
    )
    if case.is_project:
        _release_meters(case)
    return case


@transaction.atomic
def reopen_after_objection(case: Declaration, *, by, note: str):
    """approved → technical review: a technical reviewer upheld an objection during the notice."""
    _require(by, STAGE_PERMISSION[Stage.TECHNICAL])
    if not case.is_declaration:
        raise TransitionRefused(_("Only a declaration can be reopened after an objection."))
    case, _event = _move(
        case,
        to=Stage.TECHNICAL,
        allowed_from={Stage.APPROVED},
        by=by,
        action="case.reopened",
        note=note,
        verified_t=None,
        decided_at=None,
    )
    return case


def _next_project_code(project: Project) -> str:
    """WH-<method>-<4 digits>, numbered per methodology code from a locked registry counter."""
    from registry.counters import take

    return f"WH-{project.methodology.code}-{take(f'project-code-{project.methodology.code}'):04d}"


# --- Assignment and conflicts of interest -------------------------------------------------------------------


@transaction.atomic
def assign(case, *, by, assignee: User):
    """Give the case, in its present review stage, to a colleague who may act in it (or take it)."""
    locked = _lock(case)
    permission = STAGE_PERMISSION.get(locked.stage)
    if permission is None:
        raise TransitionRefused(_("Only a case under review can be assigned."))
    _require(by, permission)
    if not assignee.is_active or not assignee.has_perm(permission):
        raise TransitionRefused(_("%(name)s cannot act at this stage.") % {"name": assignee})
    if _conflicted(locked, assignee):
        raise TransitionRefused(
            _("%(name)s has declared a conflict of interest on this case.") % {"name": assignee}
        )
    if locked.stage == Stage.APPROVAL and locked.technical_reviewer_id == assignee.pk:
        # Four eyes: the case would sit with someone who may not decide it.
        raise TransitionRefused(
            _("%(name)s did the technical review of this case; another approver must decide it.")
            % {"name": assignee}
        )
    before = locked.assignee.email if locked.assignee else None
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    event = audit.record(
        actor=by,
        action="case.assigned",
        subject=locked,
        before={"assignee": before},
        after={"assignee": assignee.email},
    )
    notify_after_commit(event)
    return locked


@transaction.atomic
def declare_conflict(case, *, by, reason: str) -> Conflict:
    """A reviewer or expert declares a conflict of interest: it is unassigned and never assigned again."""
    if not by.has_perm("projects.review_case"):
        raise PermissionDenied(_("Your bureau role does not include this step."))
    if not reason.strip():
        raise TransitionRefused(_("Say what the conflict of interest is."))
    locked = _lock(case)
    conflict, created = Conflict.objects.get_or_create(
        **CaseRecord.of(locked), user=by, defaults={"reason": reason}
    )
    if locked.assignee_id == by.pk:
        locked.assignee = None
        locked.save(update_fields=["assignee", "updated_at"])
    # An expert with a conflict is no longer awaited; if it was the last one awaited, the case goes on.
    withdrawn = ExpertOpinion.objects.filter(**CaseRecord.of(locked), expert=by, given_at=None).delete()[0]
    if created:
        audit.record(actor=by, action="case.conflict_declared", subject=locked, comment=reason)
    awaited = ExpertOpinion.objects.filter(**CaseRecord.of(locked), given_at=None).exists()
    if withdrawn and locked.stage == Stage.EXPERT and not awaited:
        _move(locked, to=Stage.TECHNICAL, allowed_from={Stage.EXPERT}, by=by, action="case.opinions_given")
    return conflict
