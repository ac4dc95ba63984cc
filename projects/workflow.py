"""The staged review, written once and used by projects and declarations: one function per step of the
table projects.transitions.CASES, which draws the graph and says who may take each step.

Each function takes its step through registry.transitions: lock the row, check the actor's right, the
source stage and the guards (four eyes) against the table, change the case, record the audit event and
notify after commit. Nothing else changes a case's stage: the admin shows it read-only and forms never
carry it. Every change of stage also moves the review clock (projects.transitions._clock).
"""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from projects.access import STAGE_PERMISSION, is_conflicted, may_act_at, reviewed_technically
from projects.models import (
    CaseRecord,
    Conflict,
    Declaration,
    ExpertOpinion,
    Finding,
    GridConnectionPoint,
    Project,
    Stage,
)
from projects.transitions import CASES, pending_opinion
from registry.models import User
from registry.transitions import TransitionRefused, finish, move, start


def _release_meters(project: Project) -> None:
    GridConnectionPoint.objects.filter(project=project).update(live=False)


# --- The applicant ------------------------------------------------------------------------------------


@transaction.atomic
def submit(case, *, by):
    """draft → intake, by the applicant; refused with every reason while anything is missing."""
    from projects.services import submission_problems

    # Judge the row as it is now, under lock, not the caller's copy.
    locked = start(CASES, "submit", case, by=by)
    problems = submission_problems(locked)
    if problems:
        raise TransitionRefused(" ".join(str(p) for p in problems))
    finish(CASES, "submit", locked, by=by, submitted_at=timezone.now())
    return locked


def open_findings(case) -> list[Finding]:
    """The findings of the latest round that have no answer yet."""
    findings = Finding.objects.filter(**CaseRecord.of(case))
    latest = findings.aggregate(r=Max("round"))["r"]
    return list(findings.filter(round=latest, answer="")) if latest else []


@transaction.atomic
def answer_finding(finding: Finding, *, by, answer: str) -> Finding:
    """The applicant answers one finding of the round that returned its case."""
    case = start(CASES, "answer_finding", finding.case, by=by)
    if not answer.strip():
        raise TransitionRefused(_("Write an answer to the finding."))
    finding.answer, finding.answered_by, finding.answered_at = answer.strip(), by, timezone.now()
    finding.save(update_fields=["answer", "answered_by", "answered_at"])
    finish(CASES, "answer_finding", case, by=by, after={"finding": str(finding)})
    return finding


@transaction.atomic
def resubmit(case, *, by, note: str = ""):
    """returned → the stage that returned it, by the applicant, once every finding is answered.
    The stage's clock resumes with the working days that were left."""
    from projects.services import submission_problems

    locked = start(CASES, "resubmit", case, by=by)
    unanswered = open_findings(locked)
    if unanswered:
        raise TransitionRefused(
            _("Answer every finding first (%(numbers)s).")
            % {"numbers": ", ".join(str(f) for f in unanswered)}
        )
    problems = submission_problems(locked)
    if problems:
        raise TransitionRefused(" ".join(str(p) for p in problems))
    to = locked.returned_from or Stage.INTAKE
    finish(CASES, "resubmit", locked, by=by, to=to, note=note, returned_from="")
    return locked


@transaction.atomic
def withdraw(case, *, by, note: str = ""):
    """draft or intake (not yet accepted) → withdrawn, by the applicant. Frees the project's meters."""
    case, _event = move(CASES, "withdraw", case, by=by, note=note)
    if case.is_project:
        _release_meters(case)
    return case


# --- The bureau ------------------------------------------------------------------------------------------


@transaction.atomic
def accept(case, *, by, note: str = ""):
    """intake → technical review, by an intake officer. The applicant receives the acceptance letter."""
    case, _event = move(CASES, "accept", case, by=by, note=note)
    return case


@transaction.atomic
def return_case(case, *, by, findings: list[str], note: str = ""):
    """intake or technical → returned, with numbered findings (a new round); stops the clock."""
    locked = start(CASES, "return_case", case, by=by)
    findings = [text.strip() for text in findings if text.strip()]
    if not findings:
        raise TransitionRefused(_("Write at least one finding for the applicant to answer."))
    stage, record = locked.stage, CaseRecord.of(locked)
    round_number = (Finding.objects.filter(**record).aggregate(r=Max("round"))["r"] or 0) + 1
    finish(
        CASES,
        "return_case",
        locked,
        by=by,
        note=note,
        after={"round": round_number, "findings": len(findings)},
        returned_from=stage,
    )
    Finding.objects.bulk_create(
        Finding(**record, round=round_number, number=n, stage=stage, text=text, raised_by=by)
        for n, text in enumerate(findings, start=1)
    )
    return locked


@transaction.atomic
def request_opinions(case, *, by, experts: list[User], question: str = ""):
    """technical → expert review: each chosen expert is asked for an opinion."""
    locked = start(CASES, "request_opinions", case, by=by)
    experts = list(dict.fromkeys(experts))
    if not experts:
        raise TransitionRefused(_("Choose at least one expert."))
    for expert in experts:
        if not may_act_at(expert, Stage.EXPERT):
            raise TransitionRefused(_("%(name)s is not an expert.") % {"name": expert})
        if is_conflicted(expert, locked):
            raise TransitionRefused(
                _("%(name)s has declared a conflict of interest on this case.") % {"name": expert}
            )
    finish(
        CASES,
        "request_opinions",
        locked,
        by=by,
        note=question,
        after={"experts": [e.email for e in experts]},
    )
    ExpertOpinion.objects.bulk_create(
        ExpertOpinion(**CaseRecord.of(locked), expert=e, requested_by=by, question=question) for e in experts
    )
    return locked


@transaction.atomic
def record_opinion(case, *, by, opinion: str):
    """An expert records its opinion; with the last one in, the case goes back to technical review."""
    locked = start(CASES, "record_opinion", case, by=by)
    if not opinion.strip():
        raise TransitionRefused(_("Write the opinion."))
    asked = pending_opinion(locked, by)
    asked.opinion, asked.given_at = opinion.strip(), timezone.now()
    asked.save(update_fields=["opinion", "given_at"])
    finish(CASES, "record_opinion", locked, by=by, note=asked.opinion)
    if not ExpertOpinion.objects.filter(**CaseRecord.of(locked), given_at=None).exists():
        locked, _event = move(CASES, "opinions_given", locked, by=by)
    return locked


RECOMMENDATIONS = ("approve", "reject")


@transaction.atomic
def forward(case, *, by, recommendation: str, verified_t: int | None = None, note: str = ""):
    """technical → approval, with a recommendation (approve or reject) and, for a declaration, the
    verified quantity in whole tonnes, never above the claim. The forwarding reviewer is recorded."""
    locked = start(CASES, "forward", case, by=by)
    if recommendation not in RECOMMENDATIONS:
        raise TransitionRefused(_("Recommend approval or rejection."))
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
    finish(
        CASES,
        "forward",
        locked,
        by=by,
        note=note,
        after={"recommendation": recommendation, "verified_t": changes.get("verified_t")},
        **changes,
    )
    return locked


@transaction.atomic
def send_back(case, *, by, note: str):
    """approval → technical review, with the approver's reasons; never by the case's technical reviewer."""
    locked = start(CASES, "send_back", case, by=by)
    if not note.strip():
        raise TransitionRefused(_("Give the reasons for sending the case back."))
    finish(CASES, "send_back", locked, by=by, note=note)
    return locked


@transaction.atomic
def approve(case, *, by, note: str = ""):
    """approval → approved, never by the case's technical reviewer. A project is filed with its code."""
    locked = start(CASES, "approve", case, by=by)
    changes = {"decided_at": timezone.now()}
    if locked.is_project:
        changes.update(code=_next_project_code(locked), filed_at=timezone.now())
    finish(CASES, "approve", locked, by=by, note=note, **changes)
    return locked


@transaction.atomic
def reject(case, *, by, note: str):
    """approval → rejected, final, with reasons; never by the case's technical reviewer."""
    locked = start(CASES, "reject", case, by=by)
    if not note.strip():
        raise TransitionRefused(_("Give the reasons for the rejection."))
    finish(CASES, "reject", locked, by=by, note=note, decided_at=timezone.now())
    if locked.is_project:
        _release_meters(locked)
    return locked


@transaction.atomic
def reopen_after_objection(case: Declaration, *, by, note: str):
    """approved → technical review: a technical reviewer upheld an objection during the notice."""
    case, _event = move(
        CASES, "reopen_after_objection", case, by=by, note=note, verified_t=None, decided_at=None
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
    locked = start(CASES, "assign", case, by=by)
    permission = STAGE_PERMISSION[locked.stage]
    if not assignee.is_active or not assignee.has_perm(permission):
        raise TransitionRefused(_("%(name)s cannot act at this stage.") % {"name": assignee})
    if is_conflicted(assignee, locked):
        raise TransitionRefused(
            _("%(name)s has declared a conflict of interest on this case.") % {"name": assignee}
        )
    if locked.stage == Stage.APPROVAL and reviewed_technically(assignee, locked):
        # Four eyes: the case would sit with someone who may not decide it.
        raise TransitionRefused(
            _("%(name)s did the technical review of this case; another approver must decide it.")
            % {"name": assignee}
        )
    before = locked.assignee.email if locked.assignee else None
    finish(
        CASES,
        "assign",
        locked,
        by=by,
        before={"assignee": before},
        after={"assignee": assignee.email},
        assignee=assignee,
    )
    return locked


@transaction.atomic
def declare_conflict(case, *, by, reason: str) -> Conflict:
    """A reviewer or expert declares a conflict of interest on a case under review: it is unassigned and
    never assigned again. Declaring it twice changes nothing."""
    locked = start(CASES, "declare_conflict", case, by=by)
    if not reason.strip():
        raise TransitionRefused(_("Say what the conflict of interest is."))
    conflict, created = Conflict.objects.get_or_create(
        **CaseRecord.of(locked), user=by, defaults={"reason": reason}
    )
    if locked.assignee_id == by.pk:
        locked.assignee = None
        locked.save(update_fields=["assignee", "updated_at"])
    # An expert with a conflict is no longer awaited; if it was the last one awaited, the case goes on.
    withdrawn = ExpertOpinion.objects.filter(**CaseRecord.of(locked), expert=by, given_at=None).delete()[0]
    if created:
        finish(CASES, "declare_conflict", locked, by=by, note=reason)
    awaited = ExpertOpinion.objects.filter(**CaseRecord.of(locked), given_at=None).exists()
    if withdrawn and locked.stage == Stage.EXPERT and not awaited:
        move(CASES, "opinions_given", locked, by=by)
    return conflict
