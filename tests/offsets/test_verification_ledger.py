"""Verification read from the ledger: the status now (held, reserved, partly retired, retired,
cancelled), the current holder (not the first owner), a retirement's purpose or compliance year, and
retirement certificate numbers; persons masked."""

import pytest
from django.urls import reverse

from offsets import ledger, retirements, transfers, verification
from offsets.models import BeneficiaryKind, Issuance
from tests.factories import admin_of, identity_number, make_organisation, reviewers
from tests.offsets.ledger_world import covered_emitter, give, holder_account

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def source(people):
    return holder_account(people)


@pytest.fixture
def issuance(source):
    return Issuance.objects.get(account=source)


def retire(account, quantity, **kwargs):
    values = {
        "beneficiary_kind": BeneficiaryKind.EVENT,
        "beneficiary": "2023 武汉马拉松",
        "purpose": "赛事碳中和",
    }
    return retirements.retire_voluntarily(
        account, by=admin_of(account.organisation), quantity=quantity, **{**values, **kwargs}
    )


def page(client, query: str):
    response = client.get(reverse("offsets:verify"), {"q": query}, headers=EN)
    assert response.status_code == 200
    return response


def test_held_then_partly_retired_then_retired(client, source, issuance):
    owner = source.organisation.display_name
    result = verification.look_up(issuance.serial)
    assert (result.genuine, result.state, result.holders) == (True, "held", [owner])

    retirement = retire(source, 5)
    result = verification.look_up(issuance.serial)
    assert result.state == "partly_retired" and result.retirements == [retirement]
    assert {(h.status, h.quantity) for h in result.holdings} == {
        ("Retired", 5),
        ("Held", issuance.quantity - 5),
    }
    response = page(client, issuance.serial)
    assert "Partly retired" in response.text and "赛事碳中和" in response.text
    assert retirement.reference in response.text
    # A unit of the retired part reads retired; one beyond it, held.
    assert verification.look_up(str(issuance.first_unit)).state == "retired"
    assert verification.look_up(str(issuance.first_unit + 5)).state == "held"

    retire(source, issuance.quantity - 5)
    result = verification.look_up(issuance.serial)
    assert result.state == "retired" and len(result.retirements) == 2
    assert "Partly" not in page(client, issuance.serial).text


def test_after_a_transfer_the_holder_is_the_receiver(people, client, source, issuance):
    person = make_organisation(kind="household", name="王小明", identifier=identity_number())
    give(people, source, ledger.open_account(person), 10)
    moved = str(issuance.first_unit + 3)
    result = verification.look_up(moved)
    assert result.holders == ["王**"] and result.state == "held"
    whole = verification.look_up(issuance.serial)
    assert set(whole.holders) == {"王**", source.organisation.display_name}
    assert whole.holdings[0].holder == source.organisation.display_name  # the larger part first
    for query in (moved, issuance.serial):
        text = page(client, query).text
        assert "王**" in text and "王小明" not in text


def test_a_pending_transfer_reads_reserved(people, source, issuance):
    transfers.request_transfer(
        source,
        by=admin_of(source.organisation),
        to_number=ledger.open_account(make_organisation()).number,
        quantity=issuance.quantity,
    )
    result = verification.look_up(issuance.serial)
    assert (result.state, result.holders) == ("reserved", [source.organisation.display_name])


def test_cancelled_credits_and_the_cancellation_reference(people, client, source, issuance):
    cancellation = retirements.cancel_credits(
        source,
        by=people["registry_admin"],
        quantity=issuance.quantity,
        reasons="Double registration, ref 42.",
    )
    result = verification.look_up(issuance.serial)
    assert result.state == "cancelled" and result.retirements == [cancellation]
    # A cancellation has no certificate; its reference verifies all the same; its reasons stay private.
    result = verification.look_up(cancellation.reference)
    assert (result.genuine, result.retirement, result.certificate) == (True, cancellation, None)
    assert result.state == "cancelled"
    text = page(client, cancellation.reference).text
    assert "Cancelled" in text and "ref 42" not in text


def test_a_retirement_certificate_number_verifies(client, source, issuance):
    retirement = retire(source, 7, beneficiary_kind=BeneficiaryKind.PERSON, beneficiary="张三丰")
    result = verification.look_up(retirement.reference.lower())
    assert result.genuine and result.kind == "certificate"
    assert result.retirement == retirement and result.certificate.retirement == retirement
    assert (result.state, result.quantity, result.holders) == (
        "retired",
        7,
        [source.organisation.display_name],
    )
    text = page(client, retirement.reference).text
    assert "Retirement certificate" in text and "张**" in text and "张三丰" not in text
    assert retirement.serials.split()[0] in text


def test_an_offset_shows_its_compliance_year_and_its_new_holder(people, client):
    emitter, account = covered_emitter(people)
    source = holder_account(people, code="2023P02")
    issuance = Issuance.objects.get(account=source)
    give(people, source, account, 6)
    offset = retirements.request_offset(account, by=admin_of(emitter), year=2022, quantity=4)
    # Awaiting confirmation: reserved, and its reference is no certificate yet.
    assert verification.look_up(str(issuance.first_unit)).state == "reserved"
    assert not verification.look_up(offset.reference).genuine
    retirements.confirm_offset(offset, by=people["registry_admin"])
    result = verification.look_up(str(issuance.first_unit))
    assert (result.state, result.holders) == ("retired", [emitter.display_name])
    text = page(client, issuance.serial).text
    assert "Compliance year 2022" in text and emitter.display_name in text
    assert verification.look_up(offset.reference).genuine


@pytest.mark.parametrize("query", ["WHCER-R-2023-999999", "WHCER-T-2023-000001", "99999999", "<b>x</b>"])
def test_unknown_numbers_are_not_genuine(source, query, client):
    assert not verification.look_up(query).genuine
    assert "Not found." in page(client, query).text
