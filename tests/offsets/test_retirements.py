"""Voluntary retirements, compliance offsets (every policy rule) and cancellations."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import translation

from offsets import compliance, ledger_checks, retirements
from offsets.models import (
    BeneficiaryKind,
    BlockStatus,
    Certificate,
    CompliancePolicy,
    ComplianceRecord,
    Issuance,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
)
from registry.models import AuditEvent
from registry.services import TransitionRefused
from tests.factories import admin_of, reviewers
from tests.offsets.ledger_world import covered_emitter, fund, holder_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def source(people):
    return holder_account(people)


def tonnes(account, status) -> int:
    return sum(b.quantity for b in SerialBlock.objects.filter(account=account, status=status))


def retire(account, quantity, **kwargs):
    values = {"beneficiary_kind": BeneficiaryKind.EVENT, "beneficiary": "2023 马拉松", "purpose": "碳中和"}
    return retirements.retire_voluntarily(
        account, by=admin_of(account.organisation), quantity=quantity, **{**values, **kwargs}
    )


def test_a_voluntary_retirement_is_final_at_once_and_certified(source):
    before = tonnes(source, BlockStatus.HELD)
    retirement = retire(source, 4)
    assert retirement.status == RetirementStatus.RETIRED and retirement.retired_at
    assert retirement.reference.startswith("WHCER-R-") and retirement.serials
    assert tonnes(source, BlockStatus.RETIRED) == 4 and tonnes(source, BlockStatus.HELD) == before - 4
    certificate = Certificate.objects.get(retirement=retirement)
    assert certificate.number == retirement.reference
    event = AuditEvent.objects.get(action="credits.retired")
    assert event.after["reference"] == retirement.reference  # ADR 0007's contract
    assert list(ledger_checks.check()) == []


def test_a_person_beneficiary_is_masked_in_public(source):
    retirement = retire(source, 1, beneficiary_kind=BeneficiaryKind.PERSON, beneficiary="张三丰")
    assert retirement.public_beneficiary == "张**"


def test_a_retirement_without_beneficiary_or_purpose_is_refused(source):
    with pytest.raises(TransitionRefused):
        retire(source, 1, purpose="  ")
    assert tonnes(source, BlockStatus.RETIRED) == 0


def test_cancellation_is_the_administrators_with_reasons(people, source):
    with pytest.raises(PermissionDenied):
        retirements.cancel_credits(source, by=admin_of(source.organisation), quantity=1, reasons="x")
    with pytest.raises(TransitionRefused):
        retirements.cancel_credits(source, by=people["registry_admin"], quantity=1, reasons=" ")
    retirement = retirements.cancel_credits(
        source, by=people["registry_admin"], quantity=2, reasons="Double count."
    )
    assert retirement.kind == RetirementKind.CANCELLATION and tonnes(source, BlockStatus.CANCELLED) == 2
    assert not Certificate.objects.filter(retirement=retirement).exists()
    assert list(ledger_checks.check()) == []


# --- Compliance offsets ---------------------------------------------------------------------------


@pytest.fixture
def emitter(people, source):
    """A covered emitter with a 100 t cap for 2022 (10% of 1,000 t) holding at least 150 t of 2022 credits."""
    _organisation, account = covered_emitter(people, emissions=1000)
    fund(people, account, 150)
    return account


def offset(account, quantity, year=2022, **kwargs):
    return retirements.request_offset(
        account, by=admin_of(account.organisation), year=year, quantity=quantity, **kwargs
    )


def refused(rule, call):
    with pytest.raises(compliance.RuleBroken) as caught:
        call()
    assert caught.value.rule == rule
    return str(caught.value)


def record(account):
    return ComplianceRecord.objects.get(organisation=account.organisation)


def test_an_offset_reserves_counts_and_is_confirmed_within_the_cap(people, emitter):
    held = tonnes(emitter, BlockStatus.HELD)
    request = offset(emitter, 30)
    assert request.status == RetirementStatus.PENDING and tonnes(emitter, BlockStatus.RESERVED) == 30
    assert record(emitter).offsets_pending_t == 30
    assert list(ledger_checks.check()) == []
    retirements.confirm_offset(request, by=people["registry_admin"])
    request.refresh_from_db()
    assert request.status == RetirementStatus.RETIRED and request.compliance_year == 2022
    assert (record(emitter).offsets_used_t, record(emitter).offsets_pending_t) == (30, 0)
    assert tonnes(emitter, BlockStatus.RETIRED) == 30 and tonnes(emitter, BlockStatus.HELD) == held - 30
    assert Certificate.objects.filter(retirement=request).exists()
    assert list(ledger_checks.check()) == []


def test_the_cap_at_its_boundary(people, emitter):
    offset(emitter, 60)
    offset(emitter, 40)  # used + pending = 100 = the cap: allowed
    message = refused("cap", lambda: offset(emitter, 1))
    assert "100" in message and "1" in message
    assert record(emitter).offsets_pending_t == 100 and tonnes(emitter, BlockStatus.RESERVED) == 100


def test_a_cap_refusal_names_the_figures_in_the_readers_language(people, emitter):
    offset(emitter, 90)
    with translation.override("zh-hans"):
        chinese = refused("cap", lambda: offset(emitter, 20))
    with translation.override("en"):
        english = refused("cap", lambda: offset(emitter, 20))
    assert "cap for 2022 is 100 t" in english and "asked 20 t" in english and "headroom 10 t" in english
    assert chinese != english and "100" in chinese and "10" in chinese


def test_a_cap_on_the_allowance(people, source):
    _organisation, account = covered_emitter(people, emissions=1000, basis="allowance", percent="5")
    fund(people, account, 120)  # allowance 2,000 t: cap 100 t
    offset(account, 100)
    refused("cap", lambda: offset(account, 1))


def test_rejection_and_withdrawal_release_and_uncount(people, emitter):
    first, second = offset(emitter, 10), offset(emitter, 20)
    retirements.reject_offset(first, by=people["registry_admin"], reasons="Wrong year.")
    retirements.withdraw_offset(second, by=admin_of(emitter.organisation))
    assert record(emitter).offsets_pending_t == 0 and tonnes(emitter, BlockStatus.RESERVED) == 0
    assert list(ledger_checks.check()) == []


def test_ineligible_vintages_do_not_count(people, emitter):
    Issuance.objects.update(vintage=2019)
    assert "2019" in refused(
        "vintage",
        lambda: offset(
            emitter, 1, block_ids=[SerialBlock.objects.filter(account=emitter, status="held")[0].pk]
        ),
    )
    refused("eligible_credits", lambda: offset(emitter, 1))


def test_credits_from_inside_the_own_boundary_never_count(people, emitter):
    installation = compliance.add_installation(
        by=people["registry_admin"], organisation=emitter.organisation, name="1号高炉"
    )
    blocks = list(
        SerialBlock.objects.filter(account=emitter, status="held").select_related("issuance__project")
    )
    compliance.link_project(
        by=people["technical_reviewer"],
        project=blocks[0].issuance.project,
        emitter=emitter.organisation,
        installation=installation,
    )
    refused("own_boundary", lambda: offset(emitter, 1, block_ids=[blocks[0].pk]))
    for block in blocks[1:]:  # every project it holds credits of lies inside its boundary
        compliance.link_project(
            by=people["technical_reviewer"], project=block.issuance.project, emitter=emitter.organisation
        )
    refused("eligible_credits", lambda: offset(emitter, 1))
    assert tonnes(emitter, BlockStatus.RESERVED) == 0


def test_not_on_the_list_no_policy_no_record_outside_the_window(people, source, emitter):
    refused("covered_emitter", lambda: offset(source, 1))
    refused("policy", lambda: offset(emitter, 1, year=2031))
    compliance.save_policy(
        by=people["registry_admin"],
        year=2023,
        first_vintage=2022,
        last_vintage=2023,
        conversion=Decimal(1),
        cap_basis="emissions",
        cap_percent=Decimal(10),
        window_opens=date(2024, 1, 1),
        window_closes=date(2024, 6, 30),
    )
    refused("record", lambda: offset(emitter, 1, year=2023))
    compliance.save_record(
        by=people["registry_admin"],
        organisation=emitter.organisation,
        year=2023,
        verified_emissions_t=1000,
        allowance_t=1000,
    )
    assert "2024" in refused("window", lambda: offset(emitter, 1, year=2023))
    assert tonnes(emitter, BlockStatus.RESERVED) == 0


def test_the_rules_are_checked_again_at_confirmation(people, emitter):
    request = offset(emitter, 80)
    CompliancePolicy.objects.filter(year=2022).update(cap_percent=Decimal(5))  # the cap falls to 50 t
    refused("cap", lambda: retirements.confirm_offset(request, by=people["registry_admin"]))
    request.refresh_from_db()
    assert request.status == RetirementStatus.PENDING and tonnes(emitter, BlockStatus.RESERVED) == 80


def test_only_the_registry_administrator_confirms_offsets(people, emitter):
    request = offset(emitter, 1)
    with pytest.raises(PermissionDenied):
        retirements.confirm_offset(request, by=admin_of(emitter.organisation))
    with pytest.raises(PermissionDenied):
        retirements.confirm_offset(request, by=people["approver"])
