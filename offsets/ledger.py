"""The ledger: the only code that creates or changes a SerialBlock.

Operations: issue (registration calls it), reserve, release, move, retire, cancel; splitting happens
inside them when a quantity cuts a block. Each writes, in the caller's transaction, the movements it
made (offsets.models.Movement) and its audit event, so every balance is derivable from movements and the
blocks agree with them (offsets.ledger_checks proves it).

Locks, always in this order: the accounts concerned, by id (lock_accounts); then a compliance record
(offsets.retirements); then the account's blocks. Two operations on one account wait for each other;
operations on different accounts do not. Callers lock the accounts before calling any operation here.

Taking a quantity without named blocks is first in, first out: the oldest vintage first, then the
lowest unit. A block partly taken is closed as split and replaced by two live children covering it.
"""

from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from offsets.models import (
    LIVE_BLOCK_STATUSES,
    Account,
    BlockStatus,
    Issuance,
    Movement,
    MovementKind,
    SerialBlock,
)
from registry import audit
from registry.models import Organisation
from registry.services import TransitionRefused

# A reference, or a function that takes one once the blocks are locked and chosen, before any is written.
Reference = str | Callable[[], str]


def _named(reference: Reference) -> str:
    return reference() if callable(reference) else reference


class LedgerRefused(TransitionRefused):
    """A ledger operation that cannot be done: not enough credits, or the named blocks are not free."""


def account_number(organisation: Organisation) -> str:
    return f"WHA-{organisation.pk:08d}"


def open_account(organisation: Organisation, *, by=None) -> Account:
    """The organisation's holding account, opened now if it has none (audited once, when opened)."""
    account, created = Account.objects.get_or_create(
        organisation=organisation, defaults={"number": account_number(organisation)}
    )
    if created:
        audit.record(actor=by, action="account.opened", subject=account, after={"number": account.number})
    return account


def lock_accounts(*accounts: Account) -> dict[int, Account]:
    """Lock the accounts' rows, by id: the first lock of every operation that changes blocks."""
    ids = sorted({a.pk for a in accounts})
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def free_quantity(account: Account, eligible: Q | None = None) -> int:
    blocks = SerialBlock.objects.filter(account=account, status=BlockStatus.HELD)
    if eligible is not None:
        blocks = blocks.filter(eligible)
    return blocks.aggregate(t=Sum(UNITS))["t"] or 0


def _ranges(blocks: list[SerialBlock]) -> tuple[list, str]:
    ordered = sorted(blocks, key=lambda b: b.first_unit)
    return [[b.first_unit, b.last_unit] for b in ordered], "\n".join(b.serial for b in ordered)


def _movement(account, kind, blocks, *, reference, at, counterparty=None) -> Movement:
    ranges, serials = _ranges(blocks)
    return Movement(
        account=account,
        kind=kind,
        counterparty=counterparty,
        quantity=sum(b.quantity for b in blocks),
        ranges=ranges,
        serials=serials,
        reference=reference,
        at=at,
    )


def _record(by, action: str, account: Account, movement: Movement, **after):
    return audit.record(
        actor=by,
        action=action,
        subject=account,
        after={
            "reference": movement.reference,
            "quantity": movement.quantity,
            "ranges": movement.ranges,
            **after,
        },
    )


BLOCK_FIELDS = [f.name for f in SerialBlock._meta.concrete_fields]
SERIAL_NEEDS = ("issuance__vintage", "issuance__phase__code", "issuance__project__code")


def _blocks(account: Account, status: str, *, reference: str | None = None):
    blocks = (
        SerialBlock.objects.select_for_update(of=("self",))
        .filter(account=account, status=status)
        .select_related("issuance__phase", "issuance__project")
    )
    if reference is not None:
        blocks = blocks.filter(status_reference=reference)
    return blocks


def _split(block: SerialBlock, quantity: int, status: str, reference: str) -> SerialBlock:
    """Close `block` as split into two live children: the first `quantity` units, made in `status` under
    `reference` (no second write to put them there), and the rest, as the block was. Returns the first."""
    head_last = block.first_unit + quantity - 1
    # The parent leaves the live set first: live blocks never overlap (an exclusion constraint).
    SerialBlock.objects.filter(pk=block.pk).update(status=BlockStatus.SPLIT)
    head, _tail = SerialBlock.objects.bulk_create(
        [
            SerialBlock(
                issuance=block.issuance,
                account_id=block.account_id,
                parent=block,
                first_unit=first,
                last_unit=last,
                status=status,
                status_reference=reference,
            )
            for first, last, status, reference in (
                (block.first_unit, head_last, status, reference),
                (head_last + 1, block.last_unit, block.status, block.status_reference),
            )
        ]
    )
    head.issuance = block.issuance
    return head


class Taking(NamedTuple):
    """What a quantity takes of an account's held blocks: some whole, and the last one cut."""

    whole: list[SerialBlock]
    cut: SerialBlock | None = None
    units: int = 0  # taken from the start of `cut`


def _take(
    account: Account, quantity: int, *, block_ids: Iterable[int] | None = None, eligible: Q | None = None
) -> Taking:
    """Lock the account's held blocks (all of them, or those named) and choose those covering exactly
    `quantity` units; nothing is written yet (_take_into does it)."""
    if quantity < 1:
        raise LedgerRefused(_("The quantity must be at least 1 t."))
    # Only what the serial numbers need of the issuance, its phase and project (the hot path of every
    # retirement and transfer: a project row has some thirty columns). Every held block is locked, so the
    # order is chosen here rather than by the database.
    blocks = _blocks(account, BlockStatus.HELD).only(*BLOCK_FIELDS, *SERIAL_NEEDS)
    if eligible is not None:
        blocks = blocks.filter(eligible)
    if block_ids is not None:
        wanted = set(block_ids)
        blocks = sorted(blocks.filter(pk__in=wanted), key=lambda b: b.first_unit)
        if len(blocks) != len(wanted):
            raise LedgerRefused(
                _("Some of the blocks you named are no longer held free in this account; choose again.")
            )
    else:
        blocks = sorted(blocks, key=lambda b: (b.issuance.vintage, b.first_unit))
    available = sum(b.quantity for b in blocks)
    if available < quantity:
        raise LedgerRefused(
            _("Not enough credits: %(available)s t free to use, %(asked)s t asked.")
            % {"available": available, "asked": quantity}
        )
    whole, remaining = [], quantity
    for block in blocks:
        if block.quantity > remaining:
            return Taking(whole, block, remaining)
        whole.append(block)
        remaining -= block.quantity
        if remaining == 0:
            break
    return Taking(whole)


def _take_into(
    account: Account,
    quantity: int,
    status: str,
    reference: Reference,
    *,
    block_ids: Iterable[int] | None = None,
    eligible: Q | None = None,
) -> tuple[list[SerialBlock], str]:
    """`quantity` of the account's held credits put in `status` under the reference, drawn once the blocks
    are chosen (after every refusal): the whole blocks by one UPDATE, the cut one split with its head made
    so. Returns the blocks and the reference."""
    taking = _take(account, quantity, block_ids=block_ids, eligible=eligible)
    reference = _named(reference)
    blocks = taking.whole
    if blocks:
        _set_status(blocks, status, reference)
    if taking.cut is not None:
        blocks = [*blocks, _split(taking.cut, taking.units, status, reference)]
    return blocks, reference


def _set_status(blocks: list[SerialBlock], status: str, reference: str) -> None:
    SerialBlock.objects.filter(pk__in=[b.pk for b in blocks]).update(
        status=status, status_reference=reference
    )
    for block in blocks:
        block.status, block.status_reference = status, reference


# --- The operations ---------------------------------------------------------------------------


def issue(issuances: list[Issuance]) -> list[SerialBlock]:
    """One held block per new issuance, in its owner's account, with its `issued` movement. The caller
    (registration) records the `credits.issued` events, one per issuance, with everything else it writes."""
    blocks = SerialBlock.objects.bulk_create(
        SerialBlock(
            issuance=i,
            account=i.account,
            first_unit=i.first_unit,
            last_unit=i.last_unit,
            status=BlockStatus.HELD,
        )
        for i in issuances
    )
    Movement.objects.bulk_create(
        Movement(
            account=i.account,
            kind=MovementKind.ISSUED,
            quantity=i.quantity,
            ranges=[[i.first_unit, i.last_unit]],
            serials=i.serial,
            reference=i.serial,
            at=i.registered_at,
        )
        for i in issuances
    )
    return blocks


def reserve(
    account: Account,
    quantity: int,
    *,
    reference: Reference,
    by,
    block_ids: Iterable[int] | None = None,
    eligible: Q | None = None,
) -> Movement:
    """Reserve `quantity` of the account's held credits for a pending transfer or offset."""
    blocks, reference = _take_into(
        account, quantity, BlockStatus.RESERVED, reference, block_ids=block_ids, eligible=eligible
    )
    movement = _movement(account, MovementKind.RESERVED, blocks, reference=reference, at=timezone.now())
    movement.save()
    _record(by, "credits.reserved", account, movement)
    return movement


def reserved_for(account: Account, reference: str) -> list[SerialBlock]:
    return list(_blocks(account, BlockStatus.RESERVED, reference=reference).order_by("first_unit"))


def release(account: Account, *, reference: str, by) -> Movement | None:
    """Give the credits reserved under `reference` back to the account's free holding."""
    blocks = reserved_for(account, reference)
    if not blocks:
        return None
    _set_status(blocks, BlockStatus.HELD, "")
    movement = _movement(account, MovementKind.RELEASED, blocks, reference=reference, at=timezone.now())
    movement.save()
    _record(by, "credits.released", account, movement)
    return movement


def move(from_account: Account, to_account: Account, *, reference: str, by) -> list[Movement]:
    """Move the credits reserved under `reference` to another account, where they are held. Each block
    moved is closed (as split) and continued by a child in the receiving account: lineage is kept."""
    blocks = reserved_for(from_account, reference)
    if not blocks:
        raise LedgerRefused(_("No credits are reserved under %(reference)s.") % {"reference": reference})
    SerialBlock.objects.filter(pk__in=[b.pk for b in blocks]).update(status=BlockStatus.SPLIT)
    moved = SerialBlock.objects.bulk_create(
        SerialBlock(
            issuance=b.issuance,
            account=to_account,
            parent=b,
            first_unit=b.first_unit,
            last_unit=b.last_unit,
            status=BlockStatus.HELD,
        )
        for b in blocks
    )
    for child, block in zip(moved, blocks, strict=True):
        child.issuance = block.issuance
    at = timezone.now()
    movements = Movement.objects.bulk_create(
        [
            _movement(
                from_account, MovementKind.SENT, moved, reference=reference, at=at, counterparty=to_account
            ),
            _movement(
                to_account,
                MovementKind.RECEIVED,
                moved,
                reference=reference,
                at=at,
                counterparty=from_account,
            ),
        ]
    )
    _record(by, "credits.transferred", from_account, movements[0], to=to_account.number)
    return movements


def retire(
    account: Account,
    *,
    reference: Reference,
    by,
    quantity: int | None = None,
    block_ids: Iterable[int] | None = None,
    eligible: Q | None = None,
    reserved: bool = False,
) -> Movement:
    """Retire credits for good under the retirement `reference`: those reserved under it (an offset
    being confirmed), or `quantity` of the free holding."""
    if reserved:
        blocks = reserved_for(account, reference)
        if not blocks:
            raise LedgerRefused(_("No credits are reserved under %(reference)s.") % {"reference": reference})
        _set_status(blocks, BlockStatus.RETIRED, reference)
    else:
        blocks, reference = _take_into(
            account, quantity, BlockStatus.RETIRED, reference, block_ids=block_ids, eligible=eligible
        )
    return _consumed(account, blocks, MovementKind.RETIRED, "credits.retired", reference, by)


def cancel(
    account: Account, quantity: int, *, reference: Reference, by, block_ids: Iterable[int] | None = None
) -> Movement:
    """Cancel free credits to correct an error: the only way the ledger is corrected."""
    blocks, reference = _take_into(account, quantity, BlockStatus.CANCELLED, reference, block_ids=block_ids)
    return _consumed(account, blocks, MovementKind.CANCELLED, "credits.cancelled", reference, by)


def _consumed(account, blocks, kind, action, reference: str, by) -> Movement:
    """The movement and audit event of blocks just retired or cancelled under `reference`."""
    movement = _movement(account, kind, blocks, reference=reference, at=timezone.now())
    movement.save()
    # ledger_checks' retirement rule: the event's after["reference"] is the blocks' status_reference.
    _record(by, action, account, movement)
    return movement


# --- Reads ------------------------------------------------------------------------------------

UNITS = F("last_unit") - F("first_unit") + 1


def holdings(account: Account) -> dict[str, int]:
    """Tonnes per live status in the account: held, reserved, retired, cancelled."""
    found = dict(
        SerialBlock.objects.live()
        .filter(account=account)
        .values("status")
        .annotate(t=Sum(UNITS))
        .values_list("status", "t")
    )
    return {status: found.get(status, 0) for status in LIVE_BLOCK_STATUSES}
