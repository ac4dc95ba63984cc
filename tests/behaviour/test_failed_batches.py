"""A chunk whose task fails every time (here: its file lost from the shared storage) is given up after
BEHAVIOUR_CHUNK_ATTEMPTS deliveries: its batch is failed, once, with the lines not counted; the other chunks
still count; the platform is told; the reconciliation sends it no more; and the platform's month can close."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from offsets.behaviour import processing, reconcile, services
from offsets.behaviour.models import Batch, BatchChunk, BatchStatus
from registry.models import AuditEvent, NotificationJob
from tests.behaviour.world import make_platform, person_days, recent, row, send
from tests.factories import admin_of, make_bureau

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost_middle_chunk(settings):
    """Five rows in chunks of two (file lines 2–3, 4–5, 6), the middle chunk's file lost; the others done."""
    settings.BEHAVIOUR_CHUNK_ROWS = 2
    settings.BEHAVIOUR_CHUNK_ATTEMPTS = 3
    platform = make_platform()
    rows = [row(f"r{n}", f"user-{n}", start=recent(2, 8 + n)) for n in range(1, 6)]
    batch, _new = send(platform, "b-lost", rows)  # no on_commit here: no chunk task has run
    first, middle, last = batch.chunk_rows.order_by("number")
    default_storage.delete(middle.file.name)
    assert processing.process_chunk(first.pk) and processing.process_chunk(last.pk)
    return platform, batch, middle


def test_a_chunk_is_tried_as_often_as_allowed_then_given_up_and_its_batch_failed(
    lost_middle_chunk, django_capture_on_commit_callbacks
):
    platform, batch, middle = lost_middle_chunk
    for _attempt in range(3):
        with pytest.raises(FileNotFoundError):
            processing.process_chunk(middle.pk)
        batch.refresh_from_db()
        assert batch.status == BatchStatus.PROCESSING
    with django_capture_on_commit_callbacks() as callbacks:
        assert processing.process_chunk(middle.pk) is False
    middle.refresh_from_db()
    batch.refresh_from_db()
    assert middle.attempts == 4 and middle.failed_at and middle.done_at is None
    assert batch.status == BatchStatus.FAILED and batch.finished_at == middle.failed_at
    # The other chunks' rows stand: four of the five.
    assert (batch.accepted, batch.rejected, batch.chunks_done) == (3, 0, 2)
    assert len(person_days(platform=platform)) == 3
    event = AuditEvent.objects.get(action="batch.failed")
    assert event.before == {"status": BatchStatus.PROCESSING}
    assert event.after == {"status": BatchStatus.FAILED, "lines": [[4, 5]]}
    assert NotificationJob.objects.filter(event=event).exists() and callbacks
    # Sent again (a late retry, the reconciliation): nothing changes, no second event.
    assert processing.process_chunk(middle.pk) is False
    processing.give_up(middle.pk)
    assert AuditEvent.objects.filter(action="batch.failed").count() == 1
    assert BatchChunk.objects.get(pk=middle.pk).attempts == 4


def test_a_given_up_chunk_is_owed_no_more_and_the_month_can_close(lost_middle_chunk):
    platform, _batch, middle = lost_middle_chunk
    later = timezone.now() + timedelta(hours=1)
    month = recent(2).date().replace(day=1)

    def problems() -> str:
        return " ".join(str(problem) for problem in services.close_problems(platform, month))

    assert list(reconcile.chunks_not_done(later)) == [middle.pk]
    assert "still being processed" in problems()
    processing.give_up(middle.pk)
    assert list(reconcile.chunks_not_done(later)) == []
    assert "still being processed" not in problems()


def test_the_platform_reads_the_lines_not_counted_in_the_api_the_page_and_its_email(
    client, lost_middle_chunk, mailoutbox, django_capture_on_commit_callbacks
):
    platform, _batch, middle = lost_middle_chunk
    admin = admin_of(platform)
    admin.language = "en"
    admin.save(update_fields=["language"])
    with django_capture_on_commit_callbacks(execute=True):
        processing.give_up(middle.pk)
    mail = next(m for m in mailoutbox if "b-lost" in m.subject)
    assert mail.to == [admin.email] and "Lines 4 to 5 of the file" in mail.body
    assert platform.name_en and platform.name_en in mail.body  # the English name for an English reader
    assert reverse("behaviour:platform_batch", args=["b-lost"]) in mail.body

    token = services.issue_credential(platform, by=make_bureau("registry_admin"), label="app")[1]
    status = client.get(
        reverse("behaviour:api_batch", args=["b-lost"]), headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert status["status"] == "failed" and status["failed_lines"] == [[4, 5]]

    client.force_login(admin)
    page = client.get(reverse("behaviour:platform_batch", args=["b-lost"]), headers={"accept-language": "en"})
    assert "Lines 4 to 5 of the file" in page.text and "under a new batch id" in page.text
    chinese = client.get(
        reverse("behaviour:platform_batch", args=["b-lost"]), headers={"accept-language": "zh-hans"}
    )
    assert "文件第 4 至 5 行" in chinese.text


def test_a_last_chunk_given_up_runs_to_the_end_of_the_file(settings):
    settings.BEHAVIOUR_CHUNK_ROWS = 2
    platform = make_platform()
    batch, _new = send(
        platform, "b-end", [row(f"r{n}", f"user-{n}", start=recent(2, 8 + n)) for n in range(3)]
    )
    last = batch.chunk_rows.order_by("number").last()
    processing.give_up(last.pk)
    batch = Batch.objects.get(pk=batch.pk)
    assert batch.status == BatchStatus.FAILED and processing.failed_lines(batch) == [(4, None)]
