"""The ledger's operations: reserve, release, move, retire, cancel; splits, movements and the checks."""

import pytest

from offsets import ledger, ledger_checks
from offsets.models import BlockStatus, Issuance, Movement, MovementKind, SerialBlock
from tests.factories import make_organisation, registered_phase, reviewers

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def holding(people):
    """The account of the first of two registered issuances (each of its own organisation)."""
    registered_phase(people, count=2)
    return Issuance.objects.order_by("first_unit").first().account


def live(account, status=None):
    blocks = SerialBlock.objects.live().filter(account=account)
    return list(blocks.filter(status=status) if status else blocks)


def tonnes(blocks) -> int:
    return sum(b.quantity for b in blocks)


def test_issue_writes_an_issued_movement_per_issuance(holding):
    issued = Movement.objects.filter(kind=MovementKind.ISSUED)
    assert issued.count() == Issuance.objects.count() == 2
    issued = issued.filter(account=holding)
    assert sum(m.quantity for m in issued) == tonnes(live(holding))
    assert list(ledger_checks.check()) == []


def test_a_reservation_splits_the_block_it_cuts(holding, people):
    first = Issuance.objects.order_by("first_unit").first()
    ledger.lock_accounts(holding)
    movement = ledger.reserve(holding, 3, reference="T-1", by=people["registry_admin"])
    reserved = live(holding, BlockStatus.RESERVED)
    assert tonnes(reserved) == 3 and reserved[0].first_unit == first.first_unit
    assert movement.ranges == [[first.first_unit, first.first_unit + 2]]
    parent = SerialBlock.objects.get(issuance=first, parent__isnull=True)
    assert parent.status == BlockStatus.SPLIT
    assert sorted((c.first_unit, c.last_unit) for c in parent.children.all()) == [
        (first.first_unit, first.first_unit + 2),
        (first.first_unit + 3, first.last_unit),
    ]
    # Coverage and splits hold; the reservation belongs to no pending transfer or offset, which the
    # check names (the workflows always create one: tests/offsets/test_transfers.py).
    assert [v.rule for v in ledger_checks.check()] == ["reservation"]


def test_release_gives_the_reservation_back(holding, people):
    before = tonnes(live(holding, BlockStatus.HELD))
    ledger.reserve(holding, 5, reference="T-1", by=people["registry_admin"])
    ledger.release(holding, reference="T-1", by=people["registry_admin"])
    assert tonnes(live(holding, BlockStatus.HELD)) == before
    assert Movement.objects.filter(account=holding, kind=MovementKind.RELEASED, quantity=5).exists()


def test_move_keeps_lineage_and_balances(holding, people):
    other = ledger.open_account(make_organisation())
    ledger.reserve(holding, 7, reference="T-1", by=people["registry_admin"])
    ledger.move(holding, other, reference="T-1", by=people["registry_admin"])
    received = live(other)
    assert tonnes(received) == 7 and all(b.parent_id and b.status == BlockStatus.HELD for b in received)
    assert Movement.objects.get(account=holding, kind=MovementKind.SENT).counterparty == other
    assert Movement.objects.get(account=other, kind=MovementKind.RECEIVED).quantity == 7
    assert list(ledger_checks.check()) == []


def test_taking_more_than_is_free_is_refused_and_changes_nothing(holding, people):
    free = tonnes(live(holding, BlockStatus.HELD))
    with pytest.raises(ledger.LedgerRefused, match=f"{free} t"):
        ledger.reserve(holding, free + 1, reference="T-1", by=people["registry_admin"])
    assert tonnes(live(holding, BlockStatus.HELD)) == free


def test_first_in_first_out_takes_the_oldest_vintage_first(holding, people):
    later = Issuance.objects.order_by("first_unit").last()
    ledger.reserve(later.account, later.quantity, reference="T-1", by=people["registry_admin"])
    ledger.move(later.account, holding, reference="T-1", by=people["registry_admin"])
    Issuance.objects.filter(pk=later.pk).update(vintage=2021)  # the later units, an older vintage
    ledger.reserve(holding, 1, reference="T-2", by=people["registry_admin"])
    assert SerialBlock.objects.get(status=BlockStatus.RESERVED).first_unit == later.first_unit


def test_named_blocks_not_free_are_refused(holding, people):
    block = live(holding)[0]
    SerialBlock.objects.filter(pk=block.pk).update(status=BlockStatus.RESERVED, status_reference="X")
    with pytest.raises(ledger.LedgerRefused):
        ledger.reserve(holding, 1, reference="T-2", by=people["registry_admin"], block_ids=[block.pk])
