"""Transfers (划转) of credits between holding accounts.

    (request_transfer: the credits are reserved) pending --confirm_transfer--> completed
    pending --reject_transfer (registry administrator, with reasons)--> rejected    (reservation released)
    pending --cancel_transfer (the requester's organisation)--> cancelled            (reservation released)

A declarant or administrator of a verified holder asks; the registry administrator confirms, unless
settings.TRANSFERS_CONFIRM_AUTOMATICALLY. Both organisations and the administrators are notified. The
blocks move only through offsets.ledger, under the accounts' locks (by id).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from offsets import access, ledger
from offsets.models import Account, Transfer, TransferStatus
from registry import audit, counters, transitions
from registry.access import require
from registry.models import OrganisationStatus, User
from registry.transitions import Transition, TransitionRefused, notify_after_commit

CONFIRM = "offsets.confirm_transfer"


def require_holder(user, account: Account) -> None:
    require(access.may_move_credits, user, account)


def require_verified(organisation, *, doing: str) -> None:
    if organisation.status != OrganisationStatus.VERIFIED:
        raise TransitionRefused(
            _("%(organisation)s is %(status)s: it cannot %(doing)s now.")
            % {"organisation": organisation, "status": organisation.get_status_display(), "doing": doing}
        )


def new_reference(prefix: str) -> str:
    """A retirement's (R) or transfer's (T) reference: unique, increasing within the year, taken without
    waiting for other accounts' operations (counters.take_unique; decision 0013)."""
    year = timezone.localdate().year
    return f"WHCER-{prefix}-{year}-{counters.take_unique(f'{prefix.lower()}-reference-{year}'):06d}"


def _administrator(user, transfer: Transfer) -> None:
    # With TRANSFERS_CONFIRM_AUTOMATICALLY the request completes itself, confirmed by its requester.
    automatic = settings.TRANSFERS_CONFIRM_AUTOMATICALLY and transfer.requested_by_id == user.pk
    if not (automatic or user.has_perm(CONFIRM)):
        raise PermissionDenied(_("Only a registry administrator may confirm or reject transfers."))


def _sender(user, transfer: Transfer) -> None:
    require_holder(user, transfer.from_account)


PENDING = {TransferStatus.PENDING}
TRANSFERS = transitions.Table(
    Transition(
        "confirm_transfer",
        PENDING,
        TransferStatus.COMPLETED,
        action="transfer.confirmed",
        right=_administrator,
        label=gettext_lazy("Confirm the transfer"),
    ),
    Transition(
        "reject_transfer",
        PENDING,
        TransferStatus.REJECTED,
        action="transfer.rejected",
        right=_administrator,
        label=gettext_lazy("Reject the transfer"),
        button="btn-outline-danger",
    ),
    Transition(
        "cancel_transfer",
        PENDING,
        TransferStatus.CANCELLED,
        action="transfer.cancelled",
        right=_sender,
        label=gettext_lazy("Cancel the transfer"),
        button="btn-outline-danger",
    ),
    field="status",
    module="offsets.transfers",
    refusal=lambda transfer: (
        _("Transfer %(reference)s is “%(status)s”; this step is not possible now.")
        % {"reference": transfer.reference, "status": transfer.get_status_display()}
    ),
    models=["offsets.transfer"],
)


@transaction.atomic
def request_transfer(
    account: Account, *, by: User, to_number: str, quantity: int, block_ids=None, note: str = ""
) -> Transfer:
    """Reserve `quantity` (from the named blocks, or first in, first out) for a transfer to another
    verified organisation's account."""
    organisation = account.organisation
    require_holder(by, account)
    require_verified(organisation, doing=_("send credits"))
    number = (to_number or "").strip().upper()
    to_account = Account.objects.select_related("organisation").filter(number=number).first()
    if to_account is None or to_account.organisation.status != OrganisationStatus.VERIFIED:
        raise TransitionRefused(
            _("There is no verified organisation's account %(number)s.") % {"number": number[:40]}
        )
    if to_account.pk == account.pk:
        raise TransitionRefused(_("Credits cannot be transferred to the account they are in."))
    if quantity is None or quantity < 1:
        raise TransitionRefused(_("The quantity must be at least 1 t."))
    ledger.lock_accounts(account, to_account)
    with audit.together():  # the ledger's event and the request's, written at the end (decision 0013)
        movement = ledger.reserve(
            account, quantity, reference=lambda: new_reference("T"), by=by, block_ids=block_ids
        )
        transfer = Transfer.objects.create(
            reference=movement.reference,
            from_account=account,
            to_account=to_account,
            quantity=quantity,
            note=note.strip(),
            requested_by=by,
        )
        event = audit.record(
            actor=by,
            action="transfer.requested",
            subject=transfer,
            after={
                "status": transfer.status,
                "quantity": quantity,
                "to": to_account.number,
                "ranges": movement.ranges,
            },
            comment=transfer.note,
        )
        notify_after_commit(event)
    if settings.TRANSFERS_CONFIRM_AUTOMATICALLY:
        transfer = _decide(transfer, "confirm_transfer", by=by, note=_("Confirmed automatically."))
    return transfer


def _decide(transfer: Transfer, name: str, *, by, note: str = "", reasons: str = "") -> Transfer:
    """Lock both accounts (by id), then the transfer; check the step; move or release the reserved
    credits; record the decision."""
    ledger.lock_accounts(transfer.from_account, transfer.to_account)
    locked = transitions.start(TRANSFERS, name, transfer, by=by)
    if name == "confirm_transfer":
        require_verified(locked.to_account.organisation, doing=_("receive credits"))
        ledger.move(locked.from_account, locked.to_account, reference=locked.reference, by=by)
    else:
        ledger.release(locked.from_account, reference=locked.reference, by=by)
    transitions.finish(
        TRANSFERS,
        name,
        locked,
        by=by,
        note=note or reasons,
        decided_by=by,
        decided_at=timezone.now(),
        reasons=reasons,
    )
    return locked


@transaction.atomic
def confirm_transfer(transfer: Transfer, *, by: User) -> Transfer:
    """pending → completed, by the registry administrator: the reserved credits move to the receiver."""
    return _decide(transfer, "confirm_transfer", by=by)


@transaction.atomic
def reject_transfer(transfer: Transfer, *, by: User, reasons: str) -> Transfer:
    """pending → rejected, by the registry administrator, with reasons: the reservation is released."""
    if not (reasons or "").strip():
        TRANSFERS.check(transfer, "reject_transfer", by)  # 403 before asking for reasons
        raise TransitionRefused(_("Give the reasons."))
    return _decide(transfer, "reject_transfer", by=by, reasons=reasons.strip())


@transaction.atomic
def cancel_transfer(transfer: Transfer, *, by: User) -> Transfer:
    """pending → cancelled, by the requesting organisation: the reservation is released."""
    return _decide(transfer, "cancel_transfer", by=by)
