"""An attacker with the database superuser password rewrites history; published checkpoints catch it.

Each test keeps a copy of the public checkpoints (as a journalist or auditor would), then plays the
superuser: turns the append-only triggers off, tampers, turns them on again, and covers its tracks
in the checkpoint table too. `verify_audit --against` the kept copy must fail, naming the rule.
"""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from registry import audit, checkpoints
from registry.models import AuditChainHead, AuditEvent, Checkpoint
from tests.factories import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def history(n: int) -> list[AuditEvent]:
    subject = make_user()
    return [
        audit.record(actor=subject, action="test.event", subject=subject, after={"n": i}) for i in range(n)
    ]


def keep_published_checkpoints(client, tmp_path) -> str:
    """What anyone can save from the public site before the tampering."""
    path = tmp_path / "checkpoints.json"
    path.write_bytes(client.get(reverse("registry:checkpoints_json")).content)
    return str(path)


def as_superuser(*statements: tuple[str, list]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: TRUNCATE is allowed
        cursor.execute("ALTER TABLE registry_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("ALTER TABLE registry_checkpoint DISABLE TRIGGER checkpoint_append_only")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE registry_auditevent ENABLE TRIGGER audit_event_append_only")
        cursor.execute("ALTER TABLE registry_checkpoint ENABLE TRIGGER checkpoint_append_only")


def move_head(seq: int, hash_: str) -> tuple[str, list]:
    return ("UPDATE registry_auditchainhead SET last_seq = %s, last_hash = %s WHERE id = 1", [seq, hash_])


ERASE_CHECKPOINTS = ("DELETE FROM registry_checkpoint", [])


@pytest.fixture
def signed_history(client, tmp_path):
    """60 events, checkpoints at #30 and #60, and a copy of the published checkpoints kept outside."""
    events = history(30)
    checkpoints.take()
    events += history(30)
    checkpoints.take()
    return events, keep_published_checkpoints(client, tmp_path)


def test_the_untouched_history_matches_the_kept_checkpoints(signed_history, capsys):
    _events, kept = signed_history
    call_command("verify_audit", against=kept)
    assert "Checkpoints kept in" in (out := capsys.readouterr().out) and ": 2, all matching" in out


def test_tail_deleted_and_head_moved_back(signed_history):
    events, kept = signed_history
    survivor = events[54]
    as_superuser(
        ("DELETE FROM registry_auditevent WHERE seq > %s", [survivor.seq]),
        move_head(survivor.seq, survivor.hash),
        ERASE_CHECKPOINTS,
    )
    call_command("verify_audit")  # inside the database alone, a shorter history looks whole
    with pytest.raises(CommandError, match=r"\[checkpoint\].*ends at #55: events were deleted"):
        call_command("verify_audit", against=kept)


def test_tail_deleted_is_caught_by_the_stored_checkpoints_while_they_remain(signed_history):
    events, _kept = signed_history
    survivor = events[54]
    as_superuser(
        ("DELETE FROM registry_auditevent WHERE seq > %s", [survivor.seq]),
        move_head(survivor.seq, survivor.hash),
    )
    with pytest.raises(CommandError, match=r"\[checkpoint\] against the checkpoints stored in the database"):
        call_command("verify_audit")


def test_rewrite_from_event_50_with_every_hash_recomputed(signed_history):
    events, kept = signed_history
    previous = events[48].hash  # event #49's
    statements = []
    for event in AuditEvent.objects.filter(seq__gte=50).order_by("seq"):
        event.comment = "approved by nobody"  # the forger's version of history
        event.prev_hash = previous
        event.hash = previous = audit.digest(event)
        statements.append(
            (
                "UPDATE registry_auditevent SET comment = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [event.comment, event.prev_hash, event.hash, event.pk],
            )
        )
    as_superuser(*statements, move_head(events[-1].seq, previous), ERASE_CHECKPOINTS)
    call_command("verify_audit")  # every link recomputed: the chain alone looks intact
    with pytest.raises(
        CommandError, match=r"\[checkpoint\].*event #60 differs from what checkpoint 2 signed"
    ):
        call_command("verify_audit", against=kept)


def test_truncate_and_head_reset(signed_history):
    _events, kept = signed_history
    as_superuser(
        ("TRUNCATE registry_auditevent, registry_checkpoint CASCADE", []),
        move_head(0, audit.GENESIS),
    )
    assert not AuditEvent.objects.exists() and AuditChainHead.objects.get().last_seq == 0
    call_command("verify_audit")
    with pytest.raises(CommandError, match=r"\[checkpoint\].*ends at #0: events were deleted"):
        call_command("verify_audit", against=kept)


def test_a_checkpoint_erased_from_the_database_is_named(signed_history):
    _events, kept = signed_history
    as_superuser(("DELETE FROM registry_checkpoint WHERE number = 2", []))
    with pytest.raises(CommandError, match=r"checkpoint 2 was published but is missing from the database"):
        call_command("verify_audit", against=kept)


def test_a_rewritten_head_row_is_named():
    events = history(3)
    AuditChainHead.objects.filter(id=1).update(last_hash=events[0].hash)
    with pytest.raises(CommandError, match=r"\[head\]"):
        call_command("verify_audit")


def test_history_forged_before_signing_is_never_signed(signed_history):
    events, _kept = signed_history
    history(2)
    as_superuser(("UPDATE registry_auditevent SET comment = 'x' WHERE seq = %s", [events[-1].seq + 1]))
    with pytest.raises(checkpoints.CheckpointRefused):
        checkpoints.take()
    assert Checkpoint.objects.count() == 2


def test_the_kept_copy_may_come_from_the_open_data_table(client, tmp_path, signed_history):
    events, _kept = signed_history
    path = tmp_path / "open-data.json"
    path.write_bytes(client.get(reverse("offsets:open_data_file", args=["checkpoints", "json"])).content)
    assert len(json.loads(path.read_text())["rows"]) == 2
    survivor = events[40]
    as_superuser(
        ("DELETE FROM registry_auditevent WHERE seq > %s", [survivor.seq]),
        move_head(survivor.seq, survivor.hash),
        ERASE_CHECKPOINTS,
    )
    with pytest.raises(CommandError, match=r"\[checkpoint\]"):
        call_command("verify_audit", against=str(path))
