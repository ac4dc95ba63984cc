"""The reconciliation (registry/reconcile.py): what the database says a job owes is sent to the job again,
once it has been owed for longer than the grace period, and a job that runs twice makes and sends once.

Here tasks run in-process (eager), so "lost" is a transaction whose on_commit hooks never ran: the same
state a worker killed before it started the job leaves behind. The e2e test with a real killed worker is
tests/offsets/test_worker_loss.py.
"""

import contextlib
import email
import email.policy
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from config.celery import BEAT_SCHEDULE
from registry import notifications, reconcile, services, tasks
from registry.models import AuditEvent, Delivery, NotificationJob, OrganisationStatus
from tests.factories import admin_of, make_bureau, make_organisation

pytestmark = pytest.mark.django_db

NOTHING_OWED = {
    "notifications": 0,
    "certificates": 0,
    "notice PDFs": 0,
    "announcement PDFs": 0,
    "behaviour chunks": 0,
    "months closing": 0,
    "donation certificates": 0,
}


def verified_without_its_job():
    """An organisation verified, whose notify task was lost on its way to the worker."""
    with mock.patch.object(tasks.notify, "delay"):
        organisation = services.verify_organisation(
            make_organisation(status=OrganisationStatus.PENDING), by=make_bureau("registry_admin")
        )
    return organisation, AuditEvent.objects.filter(action="organisation.verified").latest("seq")


def owed_for(event, seconds: int) -> None:
    since = timezone.now() - timedelta(seconds=seconds)
    NotificationJob.objects.filter(event=event).update(created_at=since)


def test_the_job_of_a_notified_event_is_written_with_it_and_done_by_its_delivery(
    django_capture_on_commit_callbacks, mailoutbox
):
    organisation = make_organisation(status=OrganisationStatus.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        services.verify_organisation(organisation, by=make_bureau("registry_admin"))
    job = NotificationJob.objects.get(event__action="organisation.verified")
    assert job.done_at is not None
    assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]


def test_a_lost_notification_is_sent_again_once_owed_past_the_grace_period(mailoutbox):
    organisation, event = verified_without_its_job()
    assert NotificationJob.objects.get(event=event).done_at is None
    owed_for(event, settings.RECONCILE_AFTER_SECONDS + 5)

    sent = tasks.reconcile.apply().get()

    assert sent == {**NOTHING_OWED, "notifications": 1}
    assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]
    assert NotificationJob.objects.get(event=event).done_at is not None
    # Paid: the next run finds nothing owed and sends nothing.
    assert reconcile.reconcile() == NOTHING_OWED
    assert len(mailoutbox) == 1


def test_nothing_is_sent_again_within_the_grace_period(mailoutbox):
    _organisation, event = verified_without_its_job()
    owed_for(event, settings.RECONCILE_AFTER_SECONDS - 10)
    assert reconcile.reconcile() == NOTHING_OWED
    assert mailoutbox == []
    assert NotificationJob.objects.get(event=event).done_at is None


def test_nothing_is_sent_when_nothing_is_owed(mailoutbox):
    assert reconcile.reconcile() == NOTHING_OWED
    assert mailoutbox == []


@override_settings(RECONCILE_BATCH=2)
def test_a_run_sends_at_most_a_batch_of_each_kind_oldest_first(mailoutbox):
    events = [verified_without_its_job()[1] for _ in range(3)]
    for age, event in zip([300, 200, 100], events, strict=True):
        NotificationJob.objects.filter(event=event).update(created_at=timezone.now() - timedelta(seconds=age))
    assert reconcile.owed()["notifications"] == [events[0].pk, events[1].pk]
    assert reconcile.reconcile()["notifications"] == 2
    assert reconcile.reconcile()["notifications"] == 1
    assert len(mailoutbox) == 3


def test_a_broker_down_at_the_commit_loses_no_notification(
    monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    """The send fails after the commit: logged, never an error for the committed change; the job is owed."""

    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.notify, "delay", broker_down)
    organisation = make_organisation(status=OrganisationStatus.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        services.verify_organisation(organisation, by=make_bureau("registry_admin"))
    assert mailoutbox == []
    monkeypatch.undo()
    owed_for(AuditEvent.objects.get(action="organisation.verified"), settings.RECONCILE_AFTER_SECONDS + 5)
    assert reconcile.reconcile()["notifications"] == 1
    assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]


def test_a_delivery_run_twice_sends_each_e_mail_once(mailoutbox):
    organisation, event = verified_without_its_job()
    assert notifications.deliver(event.pk) == 1
    assert notifications.deliver(event.pk) == 0
    assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]


def test_a_delivery_cut_off_before_its_commit_sends_the_same_message_again(tmp_path, monkeypatch):
    """A worker killed between the SMTP send and recording it: the next run sends the e-mail again, with the
    same Message-ID and Date, and the mail folder (as a mail client would) keeps one message."""
    folder = tmp_path / "mail"
    _organisation, event = verified_without_its_job()
    real_save = Delivery.save

    def killed(self, *args, **kwargs):
        if kwargs.get("update_fields") == ["sent_at"]:
            raise SystemExit("killed")  # the process dies: the transaction never commits
        return real_save(self, *args, **kwargs)

    with override_settings(
        MAILERS={"default": {"BACKEND": "registry.mail.MailFolderBackend", "OPTIONS": {"file_path": folder}}}
    ):
        monkeypatch.setattr(Delivery, "save", killed)
        with pytest.raises(SystemExit):
            notifications.deliver(event.pk)
        monkeypatch.undo()
        assert Delivery.objects.get(event=event, channel="email").sent_at is None
        first = list(folder.glob("*.eml"))
        assert notifications.deliver(event.pk) == 1

    assert list(folder.glob("*.eml")) == first and len(first) == 1
    assert not list(folder.glob(".*"))  # no partial file left behind
    kept = email.message_from_bytes(first[0].read_bytes(), policy=email.policy.default)
    delivery = Delivery.objects.get(event=event, channel="email")
    assert kept["Message-ID"].startswith(f"<notification-{delivery.pk}.")
    assert delivery.sent_at is not None


def test_the_mail_folder_keeps_different_messages_apart(tmp_path):
    folder = tmp_path / "mail"
    with override_settings(
        MAILERS={"default": {"BACKEND": "registry.mail.MailFolderBackend", "OPTIONS": {"file_path": folder}}}
    ):
        for _ in range(3):
            assert mail.EmailMessage("Same subject", "Same body", None, ["a@example.com"]).send() == 1
    assert len(list(folder.glob("*.eml"))) == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_delivery_at_the_same_moment_send_one_e_mail(monkeypatch, mailoutbox):
    """Two workers given the same job (a copy sent by the reconciliation, or Redis handing it back) each
    read the e-mail as unsent; the row lock lets one send and the other find it sent."""
    _organisation, event = verified_without_its_job()
    # Both runs reach the rendering only if the lock lets both in; then both would send. With the lock,
    # the first waits here in vain for 2 s while the second waits for the lock.
    both_rendering = threading.Barrier(2, timeout=2)
    render = notifications.render_email

    def slow_render(*args):
        with contextlib.suppress(threading.BrokenBarrierError):
            both_rendering.wait()
        return render(*args)

    monkeypatch.setattr(notifications, "render_email", slow_render)
    sent = []

    def run():
        try:
            sent.append(notifications.deliver(event.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(30)
    assert sorted(sent) == [0, 1]
    assert len(mailoutbox) == 1


def test_the_reconciliation_runs_every_minute_and_the_broker_hands_lost_tasks_back_within_minutes():
    entry = BEAT_SCHEDULE["reconcile-owed-work"]
    assert entry["task"] == "registry.tasks.reconcile" and entry["schedule"] <= 60
    # One stuck behind a backlog is dropped rather than run back to back with the next.
    assert entry["options"]["expires"] <= entry["schedule"]
    # Not Redis's hour: long enough for the longest job (a big announcement PDF, about 30 s), short enough
    # that a killed worker's task comes back soon even without the reconciliation.
    assert 120 <= settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= 900
