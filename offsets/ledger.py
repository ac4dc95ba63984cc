"""The ledger's invariants, checkable at any time (manage.py verify_ledger):

1. for every issuance, its live blocks (every status but split) cover its range exactly once:
   no gap, no overlap, nothing outside it;
2. no two live blocks overlap anywhere in the registry;
3. every split block is exactly covered by its children;
4. issued = held + reserved + retired + cancelled, per account and in total.

Blocks are read in unit order, in bounded memory.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Sum

from offsets.models import BlockStatus, Issuance, SerialBlock

LIVE = [s for s in BlockStatus.values if s != BlockStatus.SPLIT]


@dataclass
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def check(chunk_size: int = 5000) -> Iterator[Violation]:
    yield from _coverage(chunk_size)
    yield from _splits()
    yield from _balances()


def _coverage(chunk_size: int) -> Iterator[Violation]:
    issuances = Issuance.objects.order_by("first_unit").values_list("pk", "serial", "first_unit", "last_unit")
    blocks = (
        SerialBlock.objects.filter(status__in=LIVE)
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
    held: dict[int, int] = defaultdict(int)
    for account, first, last in SerialBlock.objects.filter(status__in=LIVE).values_list(
        "account", "first_unit", "last_unit"
    ):
        held[account] += last - first + 1
    # Credits move between accounts by transfers; until those exist, each account holds what it was issued.
    for account in sorted(set(issued) | set(held)):
        if issued.get(account, 0) != held.get(account, 0):
            yield Violation(
                "balance",
                f"account #{account}: issued {issued.get(account, 0)} ≠ held + reserved + retired + "
                "cancelled "
                f"{held.get(account, 0)}",
            )
            return
    if sum(issued.values()) != sum(held.values()):
        yield Violation(
            "balance", f"in total: issued {sum(issued.values())} ≠ live blocks {sum(held.values())}"
        )
