"""Transfers: reservation while pending, confirmation, rejection and cancellation; who may ask."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import override_settings

from offsets import ledger_checks, transfers
from offsets.models import BlockStatus, Movement, MovementKind, SerialBlock, TransferStatus
from registry.models import OrganisationStatus, OrgRole
from registry.services import TransitionRefused
from tests.factories import admin_of, make_member, reviewers
from tests.offsets.ledger_world import holder_account, receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def source(people):
    return holder_account(people)


def held(account) -> int:
    return sum(b.quantity for b in SerialBlock.objects.filter(account=account, status=BlockStatus.HELD))


def reserved(account) -> int:
    return sum(b.quantity for b in SerialBlock.objects.filter(account=account, status=BlockStatus.RESERVED))


def request(source, target, quantity, by=None):
    return transfers.request_transfer(
        source, by=by or admin_of(source.organisation), to_number=target.number, quantity=quantity
    )


def test_a_request_reserves_exactly_the_quantity_until_confirmed(people, source):
    target, before = receiver(), held(source)
    transfer = request(source, target, 5)
    assert transfer.reference.startswith("WHCER-T-") and len(transfer.reference.rsplit("-", 1)[1]) == 6
    assert (held(source), reserved(source), held(target)) == (before - 5, 5, 0)
    assert list(ledger_checks.check()) == []
    transfers.confirm_transfer(transfer, by=people["registry_admin"])
    assert (held(source), reserved(source), held(target)) == (before - 5, 0, 5)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.COMPLETED and transfer.decided_by == people["registry_admin"]
    assert Movement.objects.filter(account=target, kind=MovementKind.RECEIVED, quantity=5).exists()
    assert list(ledger_checks.check()) == []


@pytest.mark.parametrize("undo", ["reject", "cancel"])
def test_rejection_and_cancellation_release_the_reservation(people, source, undo):
    target, before = receiver(), held(source)
    transfer = request(source, target, 5)
    if undo == "reject":
        transfers.reject_transfer(transfer, by=people["registry_admin"], reasons="Wrong account.")
    else:
        transfers.cancel_transfer(transfer, by=admin_of(source.organisation))
    transfer.refresh_from_db()
    assert transfer.status == (TransferStatus.REJECTED if undo == "reject" else TransferStatus.CANCELLED)
    assert (held(source), reserved(source), held(target)) == (before, 0, 0)
    assert list(ledger_checks.check()) == []
    with pytest.raises(TransitionRefused):  # a decided transfer stays decided
        transfers.confirm_transfer(transfer, by=people["registry_admin"])


def test_only_the_registry_administrator_confirms(people, source):
    transfer = request(source, receiver(), 1)
    for who in (people["approver"], admin_of(source.organisation)):
        with pytest.raises(PermissionDenied):
            transfers.confirm_transfer(transfer, by=who)


def test_a_viewer_or_a_stranger_may_not_ask(people, source):
    target = receiver()
    for who in (make_member(source.organisation, OrgRole.VIEWER), admin_of(target.organisation)):
        with pytest.raises(PermissionDenied):
            request(source, target, 1, by=who)
    assert reserved(source) == 0


def test_more_than_is_free_unknown_or_own_accounts_are_refused(people, source):
    target = receiver()
    with pytest.raises(TransitionRefused, match="Not enough credits"):
        request(source, target, held(source) + 1)
    with pytest.raises(TransitionRefused):
        transfers.request_transfer(
            source, by=admin_of(source.organisation), to_number="WHA-99999999", quantity=1
        )
    with pytest.raises(TransitionRefused):
        request(source, source, 1)
    with pytest.raises(TransitionRefused):
        request(source, target, 0)
    assert reserved(source) == 0 and not source.transfers_out.exists()


def test_a_suspended_holder_can_neither_send_nor_lose_its_pending_transfer(people, source):
    from registry.services import suspend_organisation

    target = receiver()
    transfer = request(source, target, 2)
    suspend_organisation(source.organisation, by=people["registry_admin"], reasons="Under investigation.")
    source.organisation.refresh_from_db()
    with pytest.raises(TransitionRefused):
        request(source, target, 1)
    assert transfer.status == TransferStatus.PENDING and reserved(source) == 2
    transfers.confirm_transfer(transfer, by=people["registry_admin"])  # the administrator acts
    assert held(target) == 2


def test_named_blocks_are_taken_as_named(people, source):
    block = SerialBlock.objects.get(account=source, status=BlockStatus.HELD)
    transfer = transfers.request_transfer(
        source,
        by=admin_of(source.organisation),
        to_number=receiver().number,
        quantity=2,
        block_ids=[block.pk],
    )
    assert (
        SerialBlock.objects.get(status=BlockStatus.RESERVED, status_reference=transfer.reference).parent
        == block
    )


@override_settings(TRANSFERS_CONFIRM_AUTOMATICALLY=True)
def test_a_setting_makes_confirmation_automatic(people, source):
    target = receiver()
    transfer = request(source, target, 3)
    assert transfer.status == TransferStatus.COMPLETED and held(target) == 3


def test_a_receiver_no_longer_verified_is_refused_at_confirmation(people, source):
    target = receiver()
    transfer = request(source, target, 1)
    target.organisation.status = OrganisationStatus.SUSPENDED
    target.organisation.save(update_fields=["status"])
    with pytest.raises(TransitionRefused):
        transfers.confirm_transfer(transfer, by=people["registry_admin"])
    assert reserved(source) == 1
