"""The ledger's invariants, checkable at any time (manage.py verify_ledger). Each has a rule name:

1. coverage, gap: for every issuance, its live blocks (every status but split) cover its range
   exactly once: no gap, nothing outside it;
2. overlap: no two live blocks overlap anywhere in the registry;
3. split: every split block (split, or moved to another account) is exactly covered by its children;
4. balance, movement: per account, issued + received − sent = held + reserved + retired + cancelled;
   its movements agree (issued movements = its issuances, retired and cancelled movements = its retired
   and cancelled blocks, the signed sum of its movements = held + reserved); in total, issued = live;
5. units: every issuance's quantity is its number of units, and it lies within the units the
   registry-wide counter gave out (the counter's position is at or past every last unit, and at least
   the sum issued);
6. audit: every issuance is what its registration recorded in the audit trail (the `credits.issued`
   event: serial, quantity, account, owner, units), and every such event has its issuance;
7. retirement: a retired or cancelled block names its retirement (`status_reference`), that retirement
   is in the audit trail (an event whose action is in RETIREMENT_ACTIONS and whose `after["reference"]`
   is that reference), it is retired, of the block's kind and account, and its recorded ranges contain
   the block; each retirement is made of exactly its quantity of blocks;
8. reservation: a reserved block belongs to a pending transfer or offset of its account, and each is
   reserved exactly;
9. compliance, cap: each compliance record's used and pending offsets are its confirmed and pending
   offsets, and its used offsets never pass its cap.

The audit trail is the authority for 6 and 7 because it is hash-chained and anchored by signed,
published checkpoints (registry.checkpoints): a superuser who edits the ledger must also rewrite
history, which verify_audit --against a kept checkpoint then shows. Blocks are read in unit order, in
bounded memory.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import F, Sum

from offsets.ledger import UNITS
from offsets.models import (
    LIVE_BLOCK_STATUSES,
    MOVEMENT_SIGN,
    BlockStatus,
    ComplianceRecord,
    Issuance,
    Movement,
    MovementKind,
    Retirement,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
    Transfer,
    TransferStatus,
)
from registry.models import AuditEvent, Counter

UNIT_COUNTER = "serial-units"  # the counter registration takes unit numbers from (offsets.issuing)
ISSUE_ACTION = "credits.issued"
RETIREMENT_ACTIONS = ("credits.retired", "credits.cancelled")


@dataclass
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def check(chunk_size: int = 5000) -> Iterator[Violation]:
    """The first violation of each rule."""
    yield from _coverage(chunk_size)
    yield from _splits()
    yield from _balances()
    yield from _units()
    yield from _registrations(chunk_size)
    yield from _retirements()


def totals() -> dict:
    """The ledger's totals in tonnes, and the accounts holding credits (signed in each checkpoint)."""
    live = SerialBlock.objects.live()
    by_status = dict(
        live.values("status").annotate(t=Sum(F("last_unit") - F("first_unit") + 1)).values_list("status", "t")
    )
    return {
        "issued": Issuance.objects.aggregate(t=Sum("quantity"))["t"] or 0,
        **{status: by_status.get(status, 0) for status in LIVE_BLOCK_STATUSES},
        "accounts": live.values("account").distinct().count(),
    }


def _coverage(chunk_size: int) -> Iterator[Violation]:
    issuances = Issuance.objects.order_by("first_unit").values_list("pk", "serial", "first_unit", "last_unit")
    blocks = (
        SerialBlock.objects.live()
        .order_by("first_unit", "pk")
        .values_list("pk", "issuance_id", "first_unit", "last_unit")
        .iterator(chunk_size=chunk_size)
    )
    block = next(blocks, None)
    last_end = 0
    for pk, serial, first, last in issuances.iterator(chunk_size=chunk_size):
        expected = first
        while block is not None and block[2] <= last:
            block_pk, issuance_id, block_first, block_last = block
            if block_first <= last_end:
                yield Violation(
                    "overlap", f"block #{block_pk} starts at unit {block_first}, inside an earlier live block"
                )
                return
            if issuance_id != pk:
                yield Violation(
                    "coverage",
                    f"block #{block_pk} (units {block_first}–{block_last}) lies in {serial} "
                    "but belongs to another issuance",
                )
                return
            if block_first != expected:
                yield Violation("gap", f"{serial}: units {expected}–{block_first - 1} are in no live block")
                return
            if block_last > last:
                yield Violation("coverage", f"block #{block_pk} runs past the end of {serial} (unit {last})")
                return
            expected, last_end = block_last + 1, block_last
            block = next(blocks, None)
        if expected != last + 1:
            yield Violation("gap", f"{serial}: units {expected}–{last} are in no live block")
            return
    if block is not None:
        yield Violation(
            "coverage", f"block #{block[0]} (units {block[2]}–{block[3]}) lies outside every issuance"
        )


def _splits() -> Iterator[Violation]:
    children = defaultdict(list)
    for parent_id, first, last in (
        SerialBlock.objects.filter(parent__isnull=False)
        .values_list("parent_id", "first_unit", "last_unit")
        .order_by("parent_id", "first_unit")
    ):
        children[parent_id].append((first, last))
    for pk, first, last in SerialBlock.objects.filter(status=BlockStatus.SPLIT).values_list(
        "pk", "first_unit", "last_unit"
    ):
        expected = first
        for child_first, child_last in children.get(pk, []):
            if child_first != expected:
                yield Violation("split", f"split block #{pk}: its children do not start at unit {expected}")
                return
            expected = child_last + 1
        if expected != last + 1:
            yield Violation("split", f"split block #{pk}: its children do not cover units up to {last}")
            return


def _balances() -> Iterator[Violation]:
    issued = dict(Issuance.objects.values("account").annotate(t=Sum("quantity")).values_list("account", "t"))
    flows: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for account, kind, tonnes in (
        Movement.objects.values("account", "kind")
        .annotate(t=Sum("quantity"))
        .values_list("account", "kind", "t")
    ):
        flows[account][kind] = tonnes
    blocks: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for account, status, tonnes in (
        SerialBlock.objects.live()
        .values("account", "status")
        .annotate(t=Sum(UNITS))
        .values_list("account", "status", "t")
    ):
        blocks[account][status] = tonnes
    for account in sorted(set(issued) | set(flows) | set(blocks)):
        moved, live = flows[account], blocks[account]
        if moved[MovementKind.ISSUED] != issued.get(account, 0):
            yield Violation(
                "movement",
                f"account #{account}: issued movements {moved[MovementKind.ISSUED]} ≠ "
                f"its issuances {issued.get(account, 0)}",
            )
            return
        owned = issued.get(account, 0) + moved[MovementKind.RECEIVED] - moved[MovementKind.SENT]
        if owned != sum(live.values()):
            yield Violation(
                "balance",
                f"account #{account}: issued + received − sent {owned} ≠ held + reserved + retired + "
                f"cancelled {sum(live.values())}",
            )
            return
        for kind in (MovementKind.RETIRED, MovementKind.CANCELLED):
            if moved[kind] != live[kind]:
                yield Violation(
                    "movement",
                    f"account #{account}: {kind} movements {moved[kind]} ≠ {kind} blocks {live[kind]}",
                )
                return
        holding = sum(MOVEMENT_SIGN[kind] * tonnes for kind, tonnes in moved.items())
        if holding != live[BlockStatus.HELD] + live[BlockStatus.RESERVED]:
            yield Violation(
                "movement",
                f"account #{account}: the sum of its movements {holding} ≠ held + reserved "
                f"{live[BlockStatus.HELD] + live[BlockStatus.RESERVED]}",
            )
            return
    total_issued, total_live = sum(issued.values()), sum(sum(v.values()) for v in blocks.values())
    if total_issued != total_live:
        yield Violation("balance", f"in total: issued {total_issued} ≠ live blocks {total_live}")


def _units() -> Iterator[Violation]:
    # The database has this as a constraint; a superuser can drop constraints.
    mismatch = (
        Issuance.objects.exclude(quantity=F("last_unit") - F("first_unit") + 1)
        .order_by("first_unit")
        .values_list("serial", "quantity", "first_unit", "last_unit")
        .first()
    )
    if mismatch:
        serial, quantity, first, last = mismatch
        yield Violation(
            "units", f"{serial}: {quantity} t, but its units {first}–{last} are {last - first + 1}"
        )
        return
    position = Counter.objects.filter(name=UNIT_COUNTER).values_list("value", flat=True).first() or 0
    top = Issuance.objects.order_by("-last_unit").values_list("serial", "last_unit").first()
    if top and top[1] > position:
        yield Violation(
            "units",
            f"{top[0]} ends at unit {top[1]}, past the unit counter ({position}): "
            "units that registration never took",
        )
        return
    issued = Issuance.objects.aggregate(t=Sum("quantity"))["t"] or 0
    if issued > position:
        yield Violation("units", f"{issued} t issued, more than the {position} units the counter gave out")


def _registrations(chunk_size: int) -> Iterator[Violation]:
    recorded: dict[str, tuple[int, dict]] = {}
    for seq, subject_id, after in (
        AuditEvent.objects.filter(action=ISSUE_ACTION, subject_type="offsets.issuance")
        .order_by("seq")
        .values_list("seq", "subject_id", "after")
        .iterator(chunk_size=chunk_size)
    ):
        if subject_id in recorded:
            yield Violation(
                "audit",
                f"issuance #{subject_id} was registered twice (events #{recorded[subject_id][0]}, #{seq})",
            )
            return
        recorded[subject_id] = (seq, after or {})
    issuances = Issuance.objects.order_by("pk").values_list(
        "pk", "serial", "quantity", "first_unit", "last_unit", "account__number", "account__organisation_id"
    )
    for pk, serial, quantity, first, last, account, owner in issuances.iterator(chunk_size=chunk_size):
        if str(pk) not in recorded:
            yield Violation("audit", f"{serial} has no registration event in the audit trail")
            return
        seq, after = recorded.pop(str(pk))
        # Events written before owner and units were recorded carry only serial, quantity and account.
        now = {
            "quantity": quantity,
            "account": account,
            "owner": owner,
            "first_unit": first,
            "last_unit": last,
            "serial": serial,
        }
        for field, value in now.items():
            if field in after and after[field] != value:
                yield Violation(
                    "audit",
                    f"{serial}: {field} is {value}, but its registration (audit event #{seq}) "
                    f"recorded {after[field]}",
                )
                return
    for subject_id, (seq, after) in sorted(recorded.items(), key=lambda item: item[1][0]):
        yield Violation(
            "audit",
            f"audit event #{seq} registered {after.get('serial', f'issuance #{subject_id}')}, "
            "which is missing from the ledger",
        )
        return


def _retirements() -> Iterator[Violation]:
    recorded = {
        str((after or {}).get("reference"))
        for after in AuditEvent.objects.filter(action__in=RETIREMENT_ACTIONS).values_list("after", flat=True)
    }
    blocks = SerialBlock.objects.filter(status__in=[BlockStatus.RETIRED, BlockStatus.CANCELLED]).order_by(
        "pk"
    )
    for pk, first, last, status, reference in blocks.values_list(
        "pk", "first_unit", "last_unit", "status", "status_reference"
    ):
        if not reference:
            yield Violation(
                "retirement", f"block #{pk} (units {first}–{last}) is {status} but belongs to no retirement"
            )
            return
        if reference not in recorded:
            yield Violation(
                "retirement",
                f"block #{pk} (units {first}–{last}) is {status} under {reference}, "
                "a retirement the audit trail does not record",
            )
            return
    yield from _retirement_records()


def _retirement_records() -> Iterator[Violation]:
    """Retired and cancelled blocks make up their retirements exactly; reserved blocks make up a pending
    transfer or offset exactly."""
    retirements = {
        r.reference: r
        for r in Retirement.objects.only("reference", "kind", "status", "account_id", "quantity", "ranges")
    }
    transfers = {
        t.reference: t
        for t in Transfer.objects.filter(status=TransferStatus.PENDING).only(
            "reference", "from_account_id", "quantity"
        )
    }
    consumed: dict[str, int] = defaultdict(int)
    reserved: dict[str, int] = defaultdict(int)
    blocks = SerialBlock.objects.filter(
        status__in=[BlockStatus.RETIRED, BlockStatus.CANCELLED, BlockStatus.RESERVED]
    ).order_by("pk")
    for pk, account, first, last, status, reference in blocks.values_list(
        "pk", "account_id", "first_unit", "last_unit", "status", "status_reference"
    ):
        if status == BlockStatus.RESERVED:
            owner = transfers.get(reference) or retirements.get(reference)
            pending = owner is not None and (
                isinstance(owner, Transfer) or owner.status == RetirementStatus.PENDING
            )
            if (
                not pending
                or getattr(owner, "from_account_id", getattr(owner, "account_id", None)) != account
            ):
                yield Violation(
                    "reservation",
                    f"block #{pk} (units {first}–{last}) is reserved for {reference or 'nothing'}, "
                    "which is no pending transfer or offset of its account",
                )
                return
            reserved[reference] += last - first + 1
            continue
        retirement = retirements.get(reference)
        kind_fits = retirement is not None and (
            (status == BlockStatus.CANCELLED) == (retirement.kind == RetirementKind.CANCELLATION)
        )
        inside = retirement is not None and any(a <= first and last <= b for a, b, *_ in retirement.ranges)
        if not (
            kind_fits
            and inside
            and retirement.status == RetirementStatus.RETIRED
            and retirement.account_id == account
        ):
            yield Violation(
                "retirement",
                f"block #{pk} (units {first}–{last}) is {status} under {reference}, "
                "but that retirement does not record these units",
            )
            return
        consumed[reference] += last - first + 1
    for reference, retirement in retirements.items():
        expected = retirement.quantity if retirement.status == RetirementStatus.RETIRED else 0
        if consumed.get(reference, 0) != expected:
            yield Violation(
                "retirement",
                f"{reference}: {retirement.quantity} t, but {consumed.get(reference, 0)} t of blocks",
            )
            return
        if (
            retirement.status == RetirementStatus.PENDING
            and reserved.get(reference, 0) != retirement.quantity
        ):
            yield Violation(
                "reservation",
                f"{reference}: {retirement.quantity} t asked, {reserved.get(reference, 0)} t reserved",
            )
            return
    for reference, transfer in transfers.items():
        if reserved.get(reference, 0) != transfer.quantity:
            yield Violation(
                "reservation",
                f"{reference}: {transfer.quantity} t to move, {reserved.get(reference, 0)} t reserved",
            )
            return
    yield from _compliance()


def _compliance() -> Iterator[Violation]:
    """Each compliance record's offsets are its confirmed and pending offsets, and never pass its cap."""
    from offsets.compliance import Standing
    from offsets.models import CompliancePolicy

    policies = {p.year: p for p in CompliancePolicy.objects.all()}
    sums: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for organisation, year, status, tonnes in (
        Retirement.objects.filter(kind=RetirementKind.COMPLIANCE)
        .values("account__organisation", "compliance_year", "status")
        .annotate(t=Sum("quantity"))
        .values_list("account__organisation", "compliance_year", "status", "t")
    ):
        sums[(organisation, year)][status] = tonnes
    for record in ComplianceRecord.objects.order_by("year", "organisation_id"):
        policy = policies.get(record.year)
        counted = sums.pop((record.organisation_id, record.year), {})
        conversion = policy.conversion if policy else 1
        used = counted.get(RetirementStatus.RETIRED, 0) * conversion
        pending = counted.get(RetirementStatus.PENDING, 0) * conversion
        if record.offsets_used_t != used or record.offsets_pending_t != pending:
            yield Violation(
                "compliance",
                f"compliance record #{record.pk} ({record.year}): used {record.offsets_used_t}, "
                f"pending {record.offsets_pending_t}; its offsets make {used} and {pending}",
            )
            return
        if policy is not None and used > Standing(policy, record).cap:
            yield Violation(
                "cap",
                f"compliance record #{record.pk} ({record.year}): offsets {used} t pass the cap "
                f"{Standing(policy, record).cap} t",
            )
            return
    for (organisation, year), counted in sums.items():
        yield Violation(
            "compliance",
            f"organisation #{organisation} offset {dict(counted)} t for {year} without a compliance record",
        )
        return
