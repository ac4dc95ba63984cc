"""The staged review, written once and used by projects and declarations.

    draft --submit--> intake --accept--> technical --forward--> approval --approve--> approved
    intake, technical --return_case--> returned --resubmit--> (the stage that returned it)
    technical --request_opinions--> expert --(last opinion recorded)--> technical
    approval --send_back--> technical;  approval --reject--> rejected (final, with reasons)
    draft, intake --withdraw--> withdrawn (by the applicant)

Each function locks the row, checks the source state and the actor's right, records the audit event
and notifies after commit. Nothing else changes a case's stage: the admin shows it read-only and forms
never carry it.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from projects.models import Declaration, GridConnectionPoint, Project, Stage
from registry import audit
from registry.models import OrgRole
from registry.services import TransitionRefused, notify_after_commit


def _applicant_may_act(case, user) -> bool:
    organisation = case.project.organisation if isinstance(case, Declaration) else case.organisation
    return organisation.memberships.filter(user=user, role__in=[OrgRole.ADMIN, OrgRole.DECLARANT]).exists()


def _require_applicant(case, user) -> None:
    if not _applicant_may_act(case, user):
        raise PermissionDenied(_("Only the organisation's administrator or declarants may do this."))


def _require(user, permission: str) -> None:
    if not user.has_perm(f"projects.{permission}"):
        raise PermissionDenied(_("Your bureau role does not include this step."))


def _move(case, *, to: str, allowed_from, by, action: str, note: str = "", **changes):
    """Lock the row, check the source stage, change it, record the event. Returns (case, event)."""
    # Lock the row: two reviewers clicking at once must not both succeed.
    locked = type(case).objects.select_for_update().get(pk=case.pk)
    if locked.stage not in allowed_from:
        raise TransitionRefused(
            _("%(case)s is at the stage “%(stage)s”; this step is not possible now.")
            % {"case": locked, "stage": locked.get_stage_display()}
        )
    before = locked.stage
    locked.stage = to
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.save(update_fields=["stage", "updated_at", *changes])
    event = audit.record(
        actor=by, action=action, subject=locked, before={"stage": before}, after={"stage": to}, comment=note
    )
    notify_after_commit(event)
    return locked, event


def _release_meters(project: Project) -> None:
    GridConnectionPoint.objects.filter(project=project).update(live=False)


@transaction.atomic
def submit(case, *, by):
    """draft → intake, by the applicant; refused with every reason while anything is missing."""
    from projects.services import submission_problems

    _require_applicant(case, by)
    # Judge the row as it is now, under lock, not the caller's copy.
    locked = type(case).objects.select_for_update().get(pk=case.pk)
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


@transaction.atomic
def resubmit(case, *, by, note: str = ""):
    """returned → the stage that returned it, by the applicant."""
    from projects.services import submission_problems

    _require_applicant(case, by)
    locked = type(case).objects.select_for_update().get(pk=case.pk)
    problems = submission_problems(locked) if locked.stage == Stage.RETURNED else []
    if problems:
        raise TransitionRefused(" ".join(str(p) for p in problems))
    target = locked.returned_from or Stage.INTAKE
    case, _event = _move(
        locked,
        to=target,
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
    if isinstance(case, Project):
        _release_meters(case)
    return case


@transaction.atomic
def accept(case, *, by, note: str = ""):
    """intake → technical review, by an intake officer."""
    _require(by, "act_intake")
    case, _event = _move(
        case, to=Stage.TECHNICAL, allowed_from={Stage.INTAKE}, by=by, action="case.accepted", note=note
    )
    return case


@transaction.atomic
def return_case(case, *, by, note: str):
    """intake or technical → returned, with the reasons; the applicant answers and resubmits."""
    locked = type(case).objects.get(pk=case.pk)
    _require(by, "act_intake" if locked.stage == Stage.INTAKE else "act_technical")
    if not note.strip():
        raise TransitionRefused(_("Say what the applicant must correct."))
    case, _event = _move(
        case,
        to=Stage.RETURNED,
        allowed_from={Stage.INTAKE, Stage.TECHNICAL},
        by=by,
        action="case.returned",
        note=note,
        returned_from=locked.stage,
    )
    return case


@transaction.atomic
def request_opinions(case, *, by, note: str = ""):
    """technical → expert review: experts record opinions; the case comes back to technical review."""
    _require(by, "act_technical")
    case, _event = _move(
        case,
        to=Stage.EXPERT,
        allowed_from={Stage.TECHNICAL},
        by=by,
        action="case.opinions_requested",
        note=note,
    )
    return case


@transaction.atomic
def close_expert_review(case, *, by, note: str = ""):
    """expert → technical, once the opinions are in."""
    _require(by, "act_expert")
    case, _event = _move(
        case, to=Stage.TECHNICAL, allowed_from={Stage.EXPERT}, by=by, action="case.opinions_given", note=note
    )
    return case


@transaction.atomic
def forward(case, *, by, recommendation: str, verified_t: int | None = None, note: str = ""):
    """technical → approval, with a recommendation (approve or reject) and, for a declaration, the
    verified quantity in whole tonnes, never above the claim. The forwarding reviewer is recorded."""
    _require(by, "act_technical")
    changes = {"technical_reviewer": by}
    if isinstance(case, Declaration):
        if verified_t is None or verified_t < 0:
            raise TransitionRefused(_("Record the verified quantity in whole tonnes."))
        if verified_t > case.claimed_t:
            raise TransitionRefused(
                _("The verified quantity (%(verified)s t) cannot be above the claim (%(claimed)s t).")
                % {"verified": verified_t, "claimed": case.claimed_t}
            )
        changes["verified_t"] = verified_t
    note = f"[{recommendation}] {note}".strip()
    case, _event = _move(
        case,
        to=Stage.APPROVAL,
        allowed_from={Stage.TECHNICAL},
        by=by,
        action="case.forwarded",
        note=note,
        **changes,
    )
    return case


@transaction.atomic
def send_back(case, *, by, note: str):
    """approval → technical review, with the approver's reasons."""
    _require(by, "act_approval")
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
    _require(by, "act_approval")
    _four_eyes(type(case).objects.get(pk=case.pk), by)
    changes = {"decided_at": timezone.now()}
    if isinstance(case, Project):
        changes.update(code=_next_project_code(case), filed_at=timezone.now())
    case, _event = _move(
        case,
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
    _require(by, "act_approval")
    _four_eyes(type(case).objects.get(pk=case.pk), by)
    if not note.strip():
        raise TransitionRefused(_("Give the reasons for the rejection."))
    case, _event = _move(
        case,
        to=Stage.REJECTED,
        allowed_from={Stage.APPROVAL},
        by=by,
        action="case.rejected",
        note=note,
        decided_at=timezone.now(),
    )
    if isinstance(case, Project):
        _release_meters(case)
    return case


def _next_project_code(project: Project) -> str:
    """WH-<method>-<4 digits>, numbered per methodology code; the methodology rows are locked while taken."""
    from registry.models import Methodology

    code = project.methodology.code
    list(Methodology.objects.select_for_update().filter(code=code))
    prefix = f"WH-{code}-"
    taken = Project.objects.filter(code__startswith=prefix).values_list("code", flat=True)
    number = max((int(c.rsplit("-", 1)[1]) for c in taken), default=0) + 1
    return f"{prefix}{number:04d}"
