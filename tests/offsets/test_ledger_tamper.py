"""An attacker with the database superuser password edits the ledger; verify_ledger names the rule.

The ledger is cross-checked against the registry-wide unit counter and the audit trail's registration
events (whose history published checkpoints protect: tests/registry/test_audit_tamper.py).
"""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from offsets import issuing, ledger_checks
from offsets.models import BlockStatus, Certificate, Issuance, Movement, SerialBlock
from offsets.serials import format_serial
from registry import audit
from registry.models import Counter, OrganisationStatus
from tests.factories import make_organisation, registered_phase, reviewers

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def registered(people):
    """A registered phase of two issuances; returns them in unit order."""
    registered_phase(people, count=2)
    call_command("verify_ledger")  # intact before the tampering
    return list(Issuance.objects.select_related("phase", "project").order_by("first_unit"))


def ledger_violations() -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_ledger")
    return str(caught.value)


def inflate(issuance: Issuance, tonnes: int) -> None:
    """The issuance and its block grow together: coverage and balances stay consistent."""
    last = issuance.last_unit + tonnes
    serial = format_serial(
        issuance.phase.code, issuance.project.code, issuance.vintage, issuance.first_unit, last
    )
    Issuance.objects.filter(pk=issuance.pk).update(
        quantity=issuance.quantity + tonnes, last_unit=last, serial=serial
    )
    SerialBlock.objects.filter(issuance=issuance).update(last_unit=last)


def test_an_issuance_and_its_block_inflated_by_1000_t(registered):
    inflate(registered[-1], 1000)
    output = ledger_violations()
    assert "Ledger violation: units:" in output and "past the unit counter" in output
    assert "Ledger violation: audit:" in output and "quantity is" in output


def test_an_inflation_with_the_unit_counter_moved_too_is_still_named_by_the_audit_trail(registered):
    inflate(registered[-1], 1000)
    Counter.objects.filter(name=ledger_checks.UNIT_COUNTER).update(value=registered[-1].last_unit + 1000)
    output = ledger_violations()
    assert "units:" not in output
    assert f"Ledger violation: audit: {registered[-1].serial[:20]}" in output
    assert f"quantity is {registered[-1].quantity + 1000}" in output


@pytest.mark.postgres
def test_a_quantity_that_is_not_its_units_behind_a_dropped_constraint(registered):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: ALTER TABLE is allowed
        cursor.execute("ALTER TABLE offsets_issuance DROP CONSTRAINT issuance_range_matches_quantity")
    Issuance.objects.filter(pk=registered[0].pk).update(quantity=registered[0].quantity + 1000)
    output = ledger_violations()
    assert f"Ledger violation: units: {registered[0].serial}: {registered[0].quantity + 1000} t" in output


def test_a_held_block_marked_retired_with_no_retirement(registered):
    block = SerialBlock.objects.get(issuance=registered[0])
    SerialBlock.objects.filter(pk=block.pk).update(status=BlockStatus.RETIRED)
    output = ledger_violations()
    assert f"Ledger violation: retirement: block #{block.pk}" in output
    assert "belongs to no retirement" in output


def test_a_block_marked_retired_under_an_invented_reference(registered):
    block = SerialBlock.objects.get(issuance=registered[0])
    SerialBlock.objects.filter(pk=block.pk).update(
        status=BlockStatus.RETIRED, status_reference="WHCER-R-2024-000001"
    )
    output = ledger_violations()
    assert "Ledger violation: retirement:" in output and "does not record" in output


def test_a_retirement_made_by_the_service_passes(registered):
    from offsets import retirements
    from tests.factories import admin_of

    account = registered[0].account
    retirements.retire_voluntarily(
        account,
        by=admin_of(account.organisation),
        quantity=3,
        beneficiary_kind="event",
        beneficiary="Expo",
        purpose="Neutral",
    )
    call_command("verify_ledger")


def test_a_block_retired_by_hand_with_a_forged_event_is_caught(registered):
    """The audit event alone is not enough: the retirement record and the movement must agree."""
    block = SerialBlock.objects.get(issuance=registered[0])
    SerialBlock.objects.filter(pk=block.pk).update(status=BlockStatus.RETIRED, status_reference="R-1")
    audit.record(actor=None, action="credits.retired", subject=block, after={"reference": "R-1"})
    output = ledger_violations()
    assert "Ledger violation: movement:" in output and "retired movements 0" in output
    assert "Ledger violation: retirement:" in output and "under R-1" in output


def test_an_issuance_moved_to_another_account_with_its_block(registered):
    issuance = registered[0]
    other = issuing.account_of(make_organisation())
    Issuance.objects.filter(pk=issuance.pk).update(account=other)
    SerialBlock.objects.filter(issuance=issuance).update(account=other)
    output = ledger_violations()
    assert "balance" not in output  # the balances still add up: only the cross-check sees it
    assert f"Ledger violation: audit: {issuance.serial}: account is {other.number}" in output
    assert f"recorded {issuance.account.number}" in output


def test_an_account_handed_to_another_owner(registered):
    account = registered[0].account
    account.organisation = make_organisation(status=OrganisationStatus.PENDING)  # one without an account
    account.save()
    output = ledger_violations()
    assert f"Ledger violation: audit: {registered[0].serial}: owner is {account.organisation_id}" in output


def test_an_issuance_deleted_with_its_block(registered):
    issuance = registered[0]
    Certificate.objects.filter(issuance=issuance).delete()
    SerialBlock.objects.filter(issuance=issuance).delete()
    Issuance.objects.filter(pk=issuance.pk).delete()
    output = ledger_violations()
    assert "Ledger violation: audit: audit event #" in output and "missing from the ledger" in output


@pytest.mark.postgres
def test_every_rule_is_named_even_when_several_break(registered):
    with connection.cursor() as cursor:  # the exclusion constraint would refuse the overlap below
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE offsets_serialblock DROP CONSTRAINT live_serial_blocks_never_overlap")
    inflate(registered[0], 5)  # runs into the next issuance's units
    output = ledger_violations()
    assert "Ledger violation: overlap:" in output and "Ledger violation: audit:" in output


@pytest.mark.postgres
def test_a_ledger_edit_hidden_by_rewriting_the_audit_trail_is_caught_by_a_kept_checkpoint(
    people, client, tmp_path, django_capture_on_commit_callbacks
):
    """The thorough forger: moves an issuance to another account, then rewrites its registration event
    to match and recomputes every later hash. verify_ledger is satisfied; a checkpoint kept outside is not."""
    from django.urls import reverse

    from registry.models import AuditChainHead, AuditEvent

    with django_capture_on_commit_callbacks(execute=True):
        registered_phase(people, count=2)  # a checkpoint is signed after the registration commits
    kept = tmp_path / "checkpoints.json"
    kept.write_bytes(client.get(reverse("registry:checkpoints_json")).content)

    issuance = Issuance.objects.order_by("first_unit").first()
    other = issuing.account_of(make_organisation())
    Issuance.objects.filter(pk=issuance.pk).update(account=other)
    SerialBlock.objects.filter(issuance=issuance).update(account=other)
    Movement.objects.filter(kind="issued", reference=issuance.serial).update(
        account=other
    )  # and its statement
    registration = AuditEvent.objects.get(action="credits.issued", subject_id=str(issuance.pk))
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE registry_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("ALTER TABLE registry_checkpoint DISABLE TRIGGER checkpoint_append_only")
        previous = AuditEvent.objects.get(seq=registration.seq - 1).hash
        for event in AuditEvent.objects.filter(seq__gte=registration.seq).order_by("seq"):
            if event.pk == registration.pk:
                event.after = {**event.after, "account": other.number, "owner": other.organisation_id}
            event.prev_hash = previous
            event.hash = previous = audit.digest(event)
            cursor.execute(
                "UPDATE registry_auditevent SET after = %s::jsonb, prev_hash = %s, hash = %s WHERE id = %s",
                [json.dumps(event.after), event.prev_hash, event.hash, event.pk],
            )
        cursor.execute("DELETE FROM registry_checkpoint")
        cursor.execute("ALTER TABLE registry_auditevent ENABLE TRIGGER audit_event_append_only")
        cursor.execute("ALTER TABLE registry_checkpoint ENABLE TRIGGER checkpoint_append_only")
    AuditChainHead.objects.filter(id=1).update(last_hash=previous)

    call_command("verify_ledger")  # the ledger agrees with the (rewritten) audit trail
    call_command("verify_audit")  # and the chain, recomputed, is consistent inside the database
    with pytest.raises(CommandError, match=r"\[checkpoint\].*differs from what checkpoint 1 signed"):
        call_command("verify_audit", against=str(kept))
