"""The one transition helper (registry.transitions), on a small table of its own over organisations, and the
workflows' tables read by the screens."""

import uuid
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
from celery import Celery, group
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from registry import audit
from registry.models import AuditEvent, NotificationJob, Organisation, OrganisationStatus
from registry.transitions import (
    Table,
    Transition,
    TransitionRefused,
    finish,
    move,
    notify_many_after_commit,
    offered,
    start,
)
from tests.factories import admin_of, make_bureau, make_organisation

pytestmark = pytest.mark.django_db

PENDING, VERIFIED, SUSPENDED = (
    OrganisationStatus.PENDING,
    OrganisationStatus.VERIFIED,
    OrganisationStatus.SUSPENDED,
)


def registrar_only(user, organisation) -> None:
    if not user.has_perm("registry.verify_organisation"):
        raise PermissionDenied("Registrars only.")


def not_on_mondays(organisation, user) -> None:
    if organisation.name.startswith("Monday"):
        raise TransitionRefused("Not on Mondays.")


TABLE = Table(
    Transition(
        "verify",
        {PENDING},
        VERIFIED,
        action="organisation.verified",
        right=registrar_only,
        function="verify_organisation",
        label="Verify",
    ),
    Transition(
        "suspend",
        {VERIFIED},
        SUSPENDED,
        action="organisation.suspended",
        right=registrar_only,
        guards=(not_on_mondays,),
        refusal=lambda organisation: "Only a verified organisation is suspended.",
        label="Suspend",
    ),
    Transition("annotate", OrganisationStatus.values, action="organisation.updated", notify=False),
    field="status",
    module="registry.services",
    refusal=lambda organisation: f"{organisation.identifier} is {organisation.status}.",
    models=(),  # not the organisations' table: offered(organisation) still finds registry.services'
    changes=lambda organisation, before, to: {"status_reason": f"{before} to {to}"},
    recorded=("status_reason",),
)


@pytest.fixture
def registrar():
    return make_bureau("registry_admin")


@pytest.fixture
def pending():
    return make_organisation(status=PENDING)


def events_of(organisation):
    return AuditEvent.objects.filter(subject_type="registry.organisation", subject_id=organisation.pk)


class TestRefusals:
    def test_a_step_is_refused_from_a_state_it_does_not_leave_and_nothing_changes(self, registrar, pending):
        verified = make_organisation()
        with pytest.raises(
            TransitionRefused, match=f"{verified.identifier} is verified"
        ):  # the table's message
            move(TABLE, "verify", verified, by=registrar)
        before = events_of(pending).count()
        with pytest.raises(TransitionRefused, match="Only a verified organisation is suspended"):
            move(TABLE, "suspend", pending, by=registrar)  # the transition's own message
        pending.refresh_from_db()
        assert pending.status == PENDING
        assert events_of(pending).count() == before

    def test_the_state_is_judged_on_the_locked_row_not_on_the_callers_copy(self, registrar, pending):
        stale = Organisation.objects.get(pk=pending.pk)
        move(TABLE, "verify", pending, by=registrar)
        assert stale.status == PENDING  # what the caller still believes
        with pytest.raises(TransitionRefused, match="is verified"):
            move(TABLE, "verify", stale, by=registrar)
        assert events_of(pending).filter(action="organisation.verified").count() == 1  # once, not twice

    def test_without_the_right_it_is_refused_with_403_whatever_the_state(self, pending):
        for user in (make_bureau("approver"), admin_of(pending)):
            with pytest.raises(PermissionDenied, match="Registrars only"):
                move(TABLE, "verify", pending, by=user)
            with pytest.raises(PermissionDenied):
                move(TABLE, "suspend", pending, by=user)  # the wrong state too: the right comes first
        pending.refresh_from_db()
        assert pending.status == PENDING
        assert not events_of(pending).filter(action="organisation.verified").exists()

    def test_a_guard_refuses_for_this_object(self, registrar):
        organisation = make_organisation(name="Monday Ltd")
        with pytest.raises(TransitionRefused, match="Not on Mondays"):
            move(TABLE, "suspend", organisation, by=registrar)
        organisation.refresh_from_db()
        assert organisation.status == VERIFIED


class TestWhatAStepRecords:
    def test_the_new_state_the_tables_changes_and_the_event_with_before_and_after(self, registrar, pending):
        locked, event = move(TABLE, "verify", pending, by=registrar, note="Licence checked", after={"n": 1})
        pending.refresh_from_db()
        assert (pending.status, pending.status_reason) == (VERIFIED, "pending to verified")
        assert locked.status == VERIFIED
        assert (event.action, event.actor, event.comment) == (
            "organisation.verified",
            registrar,
            "Licence checked",
        )
        assert event.before == {"status": "pending"}
        assert event.after == {"status": "verified", "status_reason": "pending to verified", "n": 1}

    def test_a_step_that_keeps_the_state_saves_only_its_changes(self, registrar, pending):
        locked = start(TABLE, "annotate", pending, by=registrar)
        event = finish(
            TABLE, "annotate", locked, by=registrar, before={"x": 1}, after={"x": 2}, status_reason="x"
        )
        pending.refresh_from_db()
        assert (pending.status, pending.status_reason) == (PENDING, "x")
        assert (event.before, event.after) == ({"x": 1}, {"x": 2})

    def test_the_function_can_name_the_new_state(self, registrar, pending):
        locked = start(TABLE, "verify", pending, by=registrar)
        finish(TABLE, "verify", locked, by=registrar, to=SUSPENDED)
        pending.refresh_from_db()
        assert pending.status == SUSPENDED


class TestNotification:
    def test_it_is_scheduled_and_sent_only_after_commit(
        self, registrar, pending, django_capture_on_commit_callbacks
    ):
        with mock.patch("registry.tasks.notify.delay") as delay:
            with django_capture_on_commit_callbacks() as callbacks:
                _locked, event = move(TABLE, "verify", pending, by=registrar)
                assert not delay.called  # nothing leaves while the transaction is open
            assert len(callbacks) == 1
            callbacks[0]()
        delay.assert_called_once_with(event.pk)

    def test_a_step_rolled_back_notifies_nobody(self, registrar, pending, django_capture_on_commit_callbacks):
        with (
            django_capture_on_commit_callbacks() as callbacks,
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            move(TABLE, "verify", pending, by=registrar)
            raise RuntimeError("later in the same transaction")
        assert callbacks == []
        pending.refresh_from_db()
        assert pending.status == PENDING

    def test_a_step_without_notification_schedules_none(
        self, registrar, pending, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks() as callbacks:
            move(TABLE, "annotate", pending, by=registrar)
        assert callbacks == []


class TestNotifyingMany:
    """A registration's thousand events (issue 15): their jobs leave after the commit as one group of
    batches, in one round trip to Redis, not one send per event."""

    def events(self, registrar, organisation, n: int) -> list:
        action = "organisation.updated"
        return [audit.record(actor=registrar, action=action, subject=organisation) for _ in range(n)]

    def test_each_event_is_delivered_once_after_commit_by_batches_of_one_group(
        self, registrar, pending, django_capture_on_commit_callbacks
    ):
        events = self.events(registrar, pending, 23)
        ids = [event.pk for event in events]
        delivered, groups = [], []
        apply_async = group.apply_async

        def spy(self, *args, **kwargs):
            groups.append([signature.args[0] for signature in self.tasks])
            return apply_async(self, *args, **kwargs)

        with (
            mock.patch("registry.notifications.deliver", side_effect=delivered.append),
            mock.patch("registry.tasks.notify.delay") as one_by_one,
            mock.patch.object(group, "apply_async", spy),
        ):
            with django_capture_on_commit_callbacks() as callbacks:
                notify_many_after_commit(events)
                assert delivered == []  # nothing leaves while the transaction is open
            for callback in callbacks:
                callback()
        assert groups == [[ids[0:10], ids[10:20], ids[20:23]]]
        assert delivered == ids
        assert not one_by_one.called
        assert NotificationJob.objects.filter(event_id__in=ids).count() == 23

    def test_one_event_is_still_one_notify_job(self, registrar, pending, django_capture_on_commit_callbacks):
        [event] = self.events(registrar, pending, 1)
        with (
            mock.patch("registry.tasks.notify.delay") as delay,
            mock.patch.object(group, "apply_async") as grouped,
            django_capture_on_commit_callbacks(execute=True),
        ):
            notify_many_after_commit([event])
        delay.assert_called_once_with(event.pk)
        assert not grouped.called

    @pytest.mark.redis
    def test_the_groups_messages_reach_redis_in_one_round_trip(
        self, registrar, pending, django_capture_on_commit_callbacks
    ):
        """Not eager: a Celery app on the test Redis sends the group, as the portal's does in production."""
        queue = f"test-notify-many-{uuid.uuid4().hex[:8]}"
        sender = Celery(broker=settings.TEST_REDIS_URL, set_as_current=False)
        sender.conf.task_default_queue = queue
        batch = SimpleNamespace(
            si=lambda ids: sender.signature("registry.tasks.notify_each", args=(ids,), immutable=True)
        )
        client = redis.Redis.from_url(settings.TEST_REDIS_URL)
        events = self.events(registrar, pending, 23)
        sends_with_a_message = []
        send_packed_command = redis.connection.AbstractConnection.send_packed_command

        def count(connection, command, *args, **kwargs):
            packed = b"".join(command) if isinstance(command, list | tuple) else command
            if b"LPUSH" in packed:
                sends_with_a_message.append(packed.count(b"LPUSH"))
            return send_packed_command(connection, command, *args, **kwargs)

        try:
            with (
                mock.patch("celery.current_app", sender),
                mock.patch("registry.tasks.notify_each", batch),
                mock.patch.object(redis.connection.AbstractConnection, "send_packed_command", count),
                django_capture_on_commit_callbacks(execute=True),
            ):
                notify_many_after_commit(events)
            assert sends_with_a_message == [3]  # three messages, one write to the socket
            assert client.llen(queue) == 3
        finally:
            for key in client.scan_iter(match=f"*{queue}*"):
                client.delete(key)
            sender.close()
            client.close()


class TestWhatTheScreensAreOffered:
    def test_only_labelled_steps_from_this_state_that_the_user_may_take(self, registrar, pending):
        assert list(TABLE.offered(pending, registrar)) == ["verify"]  # not the system's "annotate"
        assert TABLE.offered(pending, make_bureau("approver")) == {}
        assert list(TABLE.offered(make_organisation(), registrar)) == ["suspend"]
        assert TABLE.offered(make_organisation(name="Monday Ltd"), registrar) == {}  # its guard

    def test_the_function_of_a_step_is_found_in_the_tables_module(self):
        from registry import services

        assert TABLE.function("verify") is services.verify_organisation

    def test_each_workflows_steps_name_functions_that_exist(self):
        from offsets.issuing import OBJECTIONS, PHASES
        from projects.transitions import CASES
        from registry.services import ORGANISATIONS

        for table in (CASES, ORGANISATIONS, PHASES, OBJECTIONS):
            for step in table:
                assert callable(table.function(step.name)), step.name
                assert step.action, step.name

    def test_an_organisation_is_offered_the_registrars_decisions_of_its_state(self, registrar, pending):
        assert list(offered(pending, registrar)) == ["verify", "reject"]
        assert list(offered(make_organisation(), registrar)) == ["suspend"]
        assert offered(pending, admin_of(pending)) == {}
