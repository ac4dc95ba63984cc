"""Retirements (注销): voluntary retirements, compliance offsets (履约抵销) and cancellations.

    retire_voluntarily (the holder): retired at once, with beneficiary and purpose
    request_offset (a covered emitter) --> pending (credits reserved; counted against the year's cap)
    pending --confirm_offset (registry administrator; rules checked again)--> retired
    pending --reject_offset (registry administrator, with reasons)--> rejected (reservation released)
    pending --withdraw_offset (the emitter)--> withdrawn (reservation released)
    cancel_credits (registry administrator, with reasons): cancelled at once, the only correction

Each retirement has its reference WHCER-R-<year>-<6 digits>, which is also its certificate's number
(made once by a background job), and records the serial ranges it consumed. Locks: the account, then
the compliance record (offsets.ledger's order), so two offsets at once never pass the cap together.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from offsets import compliance, ledger
from offsets.models import (
    Account,
    BeneficiaryKind,
    Certificate,
    CertificateKind,
    Retirement,
    RetirementKind,
    RetirementStatus,
)
from offsets.transfers import new_reference, require_holder, require_verified
from registry import audit, checkpoints, transitions
from registry.models import User
from registry.transitions import Transition, TransitionRefused, notify_after_commit

CONFIRM = "offsets.confirm_offset"
CANCEL = "offsets.cancel_credits"


def _positive(quantity) -> int:
    if quantity is None or quantity < 1:
        raise TransitionRefused(_("The quantity must be at least 1 t."))
    return quantity


def _certify(retirement: Retirement) -> None:
    """The certificate's record now, numbered as the retirement. Its PDF is made once, by the job that
    notifies the retirement's event (its e-mail carries it: offsets.documents.CERTIFIED_EVENTS); the
    download makes it if asked first, and the reconciliation if that job was lost."""
    Certificate.objects.create(
        kind=CertificateKind.RETIREMENT,
        retirement=retirement,
        issued_at=retirement.retired_at,
        number=retirement.reference,
    )


def _made(retirement: Retirement, movement, *, by) -> Retirement:
    """A voluntary retirement or a cancellation, final when made: saved with the ranges it consumed,
    certified (a cancellation has no certificate), audited and announced."""
    retirement.ranges, retirement.serials = movement.ranges, movement.serials
    retirement.status, retirement.retired_at = RetirementStatus.RETIRED, movement.at
    retirement.save()
    if retirement.kind != RetirementKind.CANCELLATION:
        _certify(retirement)
    event = audit.record(
        actor=by,
        action="retirement.made",
        subject=retirement,
        after={
            "status": retirement.status,
            "kind": retirement.kind,
            "quantity": retirement.quantity,
            "ranges": retirement.ranges,
        },
        comment=retirement.purpose or retirement.reasons,
    )
    notify_after_commit(event)
    checkpoints.take_after_commit(
        within=settings.CHECKPOINT_AFTER_RETIREMENT_SECONDS
    )  # the new totals, signed
    return retirement


@transaction.atomic
def retire_voluntarily(
    account: Account,
    *,
    by: User,
    quantity: int,
    beneficiary_kind: str,
    beneficiary: str,
    purpose: str,
    block_ids=None,
) -> Retirement:
    """Retire credits for a beneficiary and purpose, final at once."""
    require_holder(by, account)
    require_verified(account.organisation, doing=_("retire credits"))
    if beneficiary_kind not in BeneficiaryKind.values or not beneficiary.strip() or not purpose.strip():
        raise TransitionRefused(_("Name the beneficiary and the purpose of the retirement."))
    _positive(quantity)
    ledger.lock_accounts(account)
    # The audit chain's head, which every account's operations share, is locked only for the end of the
    # transaction: the two events are written together there.
    with audit.together():
        movement = ledger.retire(
            account, reference=lambda: new_reference("R"), by=by, quantity=quantity, block_ids=block_ids
        )
        retirement = Retirement(
            reference=movement.reference,
            kind=RetirementKind.VOLUNTARY,
            account=account,
            quantity=quantity,
            beneficiary_kind=beneficiary_kind,
            beneficiary=beneficiary.strip(),
            purpose=purpose.strip(),
            requested_by=by,
            decided_by=by,
            decided_at=timezone.now(),
            status=RetirementStatus.PENDING,
        )
        return _made(retirement, movement, by=by)


@transaction.atomic
def request_offset(
    account: Account, *, by: User, year: int, quantity: int, block_ids=None, today=None
) -> Retirement:
    """A covered emitter asks to offset `quantity` t for the compliance year: the credits are reserved and
    counted against the cap until the registry administrator confirms or rejects. (`today` is for the
    demo's historical request; the portal always asks as of today.)"""
    emitter = account.organisation
    require_holder(by, account)
    require_verified(emitter, doing=_("retire credits"))
    _positive(quantity)
    ledger.lock_accounts(account)
    standing = compliance.standing(emitter, year, lock=True)
    compliance.check_window(standing.policy, today)
    eligible = compliance.eligible_credits(standing.policy, emitter)
    if block_ids is not None:
        from offsets.models import SerialBlock

        named = SerialBlock.objects.filter(account=account, pk__in=list(block_ids)).select_related(
            "issuance__project"
        )
        compliance.check_blocks(standing.policy, emitter, named)
    compliance.check_cap(standing, quantity)
    available = ledger.free_quantity(account, eligible)
    if available < quantity:
        raise compliance.RuleBroken(
            "eligible_credits",
            _("Not enough eligible credits for %(year)s: %(available)s t free to use, %(asked)s t asked.")
            % {"year": year, "available": available, "asked": quantity},
        )
    movement = ledger.reserve(
        account, quantity, reference=lambda: new_reference("R"), by=by, block_ids=block_ids, eligible=eligible
    )
    retirement = Retirement.objects.create(
        reference=movement.reference,
        kind=RetirementKind.COMPLIANCE,
        account=account,
        quantity=quantity,
        compliance_year=year,
        status=RetirementStatus.PENDING,
        requested_by=by,
        ranges=movement.ranges,
        serials=movement.serials,
    )
    standing.record.offsets_pending_t += standing.allowance_of(quantity)
    standing.record.save(update_fields=["offsets_pending_t"])
    event = audit.record(
        actor=by,
        action="offset.requested",
        subject=retirement,
        after={
            "status": retirement.status,
            "quantity": quantity,
            "compliance_year": year,
            "ranges": movement.ranges,
        },
    )
    notify_after_commit(event)
    return retirement


def _administrator(user, retirement: Retirement) -> None:
    if not user.has_perm(CONFIRM):
        raise PermissionDenied(_("Only a registry administrator may confirm or reject compliance offsets."))


def _emitter(user, retirement: Retirement) -> None:
    require_holder(user, retirement.account)


PENDING = {RetirementStatus.PENDING}
# The steps of a compliance offset; voluntary retirements and cancellations are final when made.
OFFSETS = transitions.Table(
    Transition(
        "confirm_offset",
        PENDING,
        RetirementStatus.RETIRED,
        action="offset.confirmed",
        right=_administrator,
        label=gettext_lazy("Confirm the offset"),
    ),
    Transition(
        "reject_offset",
        PENDING,
        RetirementStatus.REJECTED,
        action="offset.rejected",
        right=_administrator,
        label=gettext_lazy("Reject the offset"),
        button="btn-outline-danger",
    ),
    Transition(
        "withdraw_offset",
        PENDING,
        RetirementStatus.WITHDRAWN,
        action="offset.withdrawn",
        right=_emitter,
        label=gettext_lazy("Withdraw the offset request"),
        button="btn-outline-danger",
    ),
    field="status",
    module="offsets.retirements",
    refusal=lambda retirement: (
        _("%(reference)s is “%(status)s”; this step is not possible now.")
        % {"reference": retirement.reference, "status": retirement.get_status_display()}
    ),
    models=["offsets.retirement"],
)


def _start(retirement: Retirement, name: str, *, by):
    """Lock the account, then the offset (checked against the table), then the compliance record."""
    ledger.lock_accounts(retirement.account)
    locked = transitions.start(OFFSETS, name, retirement, by=by)
    if locked.kind != RetirementKind.COMPLIANCE:
        raise TransitionRefused(OFFSETS.refusal(locked))
    standing = compliance.standing(locked.account.organisation, locked.compliance_year, lock=True)
    return locked, standing


@transaction.atomic
def confirm_offset(retirement: Retirement, *, by: User) -> Retirement:
    """pending → retired, by the registry administrator, after checking the year's rules again."""
    locked, standing = _start(retirement, "confirm_offset", by=by)
    emitter = locked.account.organisation
    compliance.check_blocks(standing.policy, emitter, ledger.reserved_for(locked.account, locked.reference))
    compliance.check_cap(standing, locked.quantity, already_counted=True)
    movement = ledger.retire(locked.account, reference=locked.reference, by=by, reserved=True)
    asked = standing.allowance_of(locked.quantity)
    standing.record.offsets_pending_t -= asked
    standing.record.offsets_used_t += asked
    standing.record.save(update_fields=["offsets_pending_t", "offsets_used_t"])
    transitions.finish(
        OFFSETS,
        "confirm_offset",
        locked,
        by=by,
        after={
            "compliance_year": locked.compliance_year,
            "quantity": locked.quantity,
            "ranges": movement.ranges,
        },
        decided_by=by,
        decided_at=timezone.now(),
        retired_at=movement.at,
        ranges=movement.ranges,
        serials=movement.serials,
    )
    _certify(locked)
    checkpoints.take_after_commit(
        within=settings.CHECKPOINT_AFTER_RETIREMENT_SECONDS
    )  # the new totals, signed
    return locked


def _undo_offset(retirement: Retirement, name: str, *, by, reasons: str = "") -> Retirement:
    locked, standing = _start(retirement, name, by=by)
    ledger.release(locked.account, reference=locked.reference, by=by)
    standing.record.offsets_pending_t -= standing.allowance_of(locked.quantity)
    standing.record.save(update_fields=["offsets_pending_t"])
    transitions.finish(
        OFFSETS, name, locked, by=by, note=reasons, decided_by=by, decided_at=timezone.now(), reasons=reasons
    )
    return locked


@transaction.atomic
def reject_offset(retirement: Retirement, *, by: User, reasons: str) -> Retirement:
    """pending → rejected, by the registry administrator, with reasons: the reservation is released."""
    if not (reasons or "").strip():
        OFFSETS.check(retirement, "reject_offset", by)  # 403 before asking for reasons
        raise TransitionRefused(_("Give the reasons."))
    return _undo_offset(retirement, "reject_offset", by=by, reasons=reasons.strip())


@transaction.atomic
def withdraw_offset(retirement: Retirement, *, by: User) -> Retirement:
    """pending → withdrawn, by the emitter: the reservation is released."""
    return _undo_offset(retirement, "withdraw_offset", by=by)


@transaction.atomic
def cancel_credits(account: Account, *, by: User, quantity: int, reasons: str, block_ids=None) -> Retirement:
    """The registry administrator cancels free credits to correct an error, with reasons."""
    if not by.has_perm(CANCEL):
        raise PermissionDenied(_("Only a registry administrator may cancel credits."))
    if not reasons.strip():
        raise TransitionRefused(_("Give the reasons."))
    _positive(quantity)
    ledger.lock_accounts(account)
    movement = ledger.cancel(
        account, quantity, reference=lambda: new_reference("R"), by=by, block_ids=block_ids
    )
    retirement = Retirement(
        reference=movement.reference,
        kind=RetirementKind.CANCELLATION,
        account=account,
        quantity=quantity,
        reasons=reasons.strip(),
        requested_by=by,
        decided_by=by,
        decided_at=timezone.now(),
        status=RetirementStatus.PENDING,
    )
    return _made(retirement, movement, by=by)
