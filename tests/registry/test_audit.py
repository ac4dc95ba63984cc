import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction

from registry import audit
from registry.models import AuditChainHead, AuditEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def record_some(n: int, subject=None):
    subject = subject or make_user()
    return [
        audit.record(actor=subject, action="test.event", subject=subject, after={"n": i}) for i in range(n)
    ]


def test_events_are_chained_by_hash():
    first, second = record_some(2)
    assert first.seq + 1 == second.seq
    assert second.prev_hash == first.hash
    assert first.hash == audit.digest(first) and len(first.hash) == 64


def test_the_hash_is_over_what_the_database_gives_back():
    event = record_some(1)[0]
    stored = AuditEvent.objects.get(pk=event.pk)
    assert audit.digest(stored) == stored.hash


def test_events_recorded_together_are_written_at_its_end_in_order_and_chained():
    subject = make_user()
    before = AuditEvent.objects.count()
    ids_when_written = []
    with transaction.atomic(), audit.together():
        first = audit.record(actor=subject, action="test.event", subject=subject, after={"n": 1})
        with audit.together():  # an inner one leaves the writing to the outer
            second = audit.record(actor=subject, action="test.event", subject=subject, after={"n": 2})
        audit.once_written(lambda: ids_when_written.append((first.pk, second.pk)))
        assert AuditEvent.objects.count() == before and first.pk is None and ids_when_written == []
    assert AuditEvent.objects.count() == before + 2
    assert ids_when_written == [(first.pk, second.pk)] and None not in ids_when_written[0]
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    assert AuditChainHead.objects.get(id=1).last_hash == second.hash
    assert [e.after["n"] for e in AuditEvent.objects.order_by("-seq")[:2]] == [2, 1]
    call_command("verify_audit")


def test_an_error_inside_together_writes_none_of_its_events():
    subject = make_user()
    before = AuditEvent.objects.count()
    with pytest.raises(ValueError), transaction.atomic(), audit.together():
        audit.record(actor=subject, action="test.event", subject=subject)
        raise ValueError
    assert AuditEvent.objects.count() == before
    # And the next event, outside any together(), is written at once.
    assert audit.record(actor=subject, action="test.event", subject=subject).pk is not None


def test_actor_is_a_snapshot_that_survives_renaming():
    user = make_user(full_name="Before Rename")
    audit.record(actor=user, action="test.event", subject=user)
    user.full_name = "After Rename"
    user.save()
    assert AuditEvent.objects.get(actor=user).actor_name == "Before Rename"


def test_a_user_with_history_cannot_be_deleted():
    user = make_user()
    audit.record(actor=user, action="test.event", subject=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        user.delete()


def test_source_address_comes_from_the_request(client):
    from django.urls import reverse

    from tests.factories import PASSWORD

    user = make_user()
    client.post(reverse("login"), {"username": user.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.23")
    event = AuditEvent.objects.get(action="user.logged_in", actor=user)
    assert event.source_ip == "198.51.100.23"


def test_verify_audit_passes_on_an_intact_chain(capsys):
    record_some(5)
    call_command("verify_audit", chunk_size=2)
    assert "intact: 5 events" in capsys.readouterr().out


@pytest.mark.postgres
def test_the_database_refuses_update_and_delete_of_events():
    event = record_some(1)[0]
    for statement in (
        "UPDATE registry_auditevent SET comment = 'rewritten' WHERE id = %s",
        "DELETE FROM registry_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises((InternalError, ProgrammingError)),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).comment == ""


def _behind_the_triggers_back(sql: str, params) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # triggers off, as a DBA could
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def test_verify_audit_names_an_event_altered_behind_the_triggers_back():
    events = record_some(4)
    _behind_the_triggers_back(
        "UPDATE registry_auditevent SET comment = 'forged' WHERE id = %s", [events[2].pk]
    )
    with pytest.raises(CommandError, match=f"event #{events[2].seq}: .*altered"):
        call_command("verify_audit")


def test_verify_audit_names_a_deleted_event():
    events = record_some(4)
    _behind_the_triggers_back("DELETE FROM registry_auditevent WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError, match=f"event #{events[1].seq}: .*missing"):
        call_command("verify_audit")


def test_verify_audit_notices_a_deleted_tail():
    events = record_some(3)
    _behind_the_triggers_back("DELETE FROM registry_auditevent WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError, match="head says"):
        call_command("verify_audit")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_never_fork_the_chain():
    subject = make_user()
    errors: list[Exception] = []
    barrier = threading.Barrier(20)

    def writer(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for j in range(5):
                audit.record(
                    actor=None, action="test.concurrent", subject=subject, after={"writer": i, "j": j}
                )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    events = list(AuditEvent.objects.order_by("seq"))
    assert len(events) == 100
    assert [e.seq for e in events] == list(range(1, 101))
    assert len({e.prev_hash for e in events}) == 100  # no two events share a predecessor
    assert AuditChainHead.objects.get().last_seq == 100
    call_command("verify_audit")


def test_bureau_role_changes_in_the_admin_are_audited(rf):
    from django.contrib import admin
    from django.contrib.auth.models import Group

    from registry.models import User
    from tests.factories import make_bureau

    superuser = make_user(is_staff=True, is_superuser=True)
    target = make_bureau("expert")
    model_admin = admin.site._registry[User]
    request = rf.post("/")
    request.user = superuser

    class Form:  # what the admin's form does for the many-to-many part
        instance = target

        @staticmethod
        def save_m2m():
            target.groups.set([Group.objects.get(name="approver")])

    model_admin.save_model(request, target, Form, change=True)
    model_admin.save_related(request, Form, [], change=True)
    event = AuditEvent.objects.get(action="user.roles_changed", subject_id=str(target.pk))
    assert (event.before["roles"], event.after["roles"], event.actor) == (["expert"], ["approver"], superuser)

    model_admin.save_model(request, target, Form, change=True)  # nothing changes: nothing recorded
    model_admin.save_related(request, Form, [], change=True)
    assert AuditEvent.objects.filter(action="user.roles_changed").count() == 1


# --- The chain walked in parts, by several processes (verify_audit on a long chain) -------------------


@pytest.fixture
def split_small_chains(monkeypatch):
    monkeypatch.setattr(audit, "PART_AT_LEAST", 2)  # a chain of 12 events is walked in 3 parts of 4


def outcomes(parts: int) -> tuple[list[int], list[audit.Break]]:
    found = list(audit.verify_chain(parts=parts))
    return [o for o in found if isinstance(o, int)], [o for o in found if isinstance(o, audit.Break)]


def tamper(sql: str, params) -> None:
    with transaction.atomic():
        _behind_the_triggers_back(sql, params)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_chain_walked_in_parts_checks_what_one_walk_checks(split_small_chains):
    events = record_some(12)
    assert outcomes(3) == outcomes(1) == ([e.seq for e in events], [])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("change", "index", "reason"),
    [
        ("UPDATE registry_auditevent SET comment = 'forged' WHERE id = %s", 6, "altered"),
        ("DELETE FROM registry_auditevent WHERE id = %s", 4, "missing"),  # the first of the second part
        ("DELETE FROM registry_auditevent WHERE id = %s", 11, "head says"),  # the tail, the head not moved
    ],
)
def test_a_break_in_any_part_is_found_as_one_walk_finds_it(split_small_chains, change, index, reason):
    events = record_some(12)
    tamper(change, [events[index].pk])
    checked, breaks = outcomes(3)
    assert (checked, breaks) == outcomes(1)
    assert len(breaks) == 1 and reason in breaks[0].reason


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_link_rewritten_where_two_parts_meet_is_found(split_small_chains):
    """The first event of the second part is rewritten to follow another hash, with its own hash made
    to match: each part is consistent in itself; only the link between them tells."""
    events = record_some(12)
    forged = AuditEvent.objects.get(pk=events[4].pk)
    forged.prev_hash = "f" * 64
    tamper(
        "UPDATE registry_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
        [forged.prev_hash, audit.digest(forged), forged.pk],
    )
    checked, breaks = outcomes(3)
    assert (checked, breaks) == outcomes(1)
    assert breaks[0].seq == events[4].seq and "does not follow" in breaks[0].reason
