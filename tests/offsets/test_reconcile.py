"""The documents' debts (offsets/reconcile.py): a certificate without its file, a notice version or an
announcement without its PDF, and the owners' e-mails of a registration, found and made again by the
reconciliation once owed past the grace period; and each made once when its job runs twice, even at once.

"Lost" here is a transaction whose on_commit hooks never ran (pytest-django's transaction is never
committed): the state a worker killed before it took the jobs leaves behind.
"""

import contextlib
import hashlib
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from offsets import documents
from offsets.models import Announcement, Certificate, NoticeVersion
from registry import reconcile
from registry.models import AuditEvent, Membership, NotificationJob
from tests.factories import approved_declaration, phase_in_notice, registered_phase, reviewers

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


def owed_past_the_grace_period() -> None:
    since = timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS + 5)
    Certificate.objects.filter(file="").update(issued_at=since)
    NoticeVersion.objects.filter(pdf="").update(published_at=since)
    Announcement.objects.filter(pdf="").update(published_at=since)
    NotificationJob.objects.filter(done_at=None).update(created_at=since)


def files_in(storage, name: str) -> set[str]:
    folder = name.rpartition("/")[0]
    return {f"{folder}/{file}" for file in storage.listdir(folder)[1]} if storage.exists(folder) else set()


def test_a_registration_whose_jobs_were_lost_is_made_and_sent_once_by_the_reconciliation(people, mailoutbox):
    phase = registered_phase(people, count=2)  # its on_commit hooks never run: every job lost
    certificates = Certificate.objects.filter(issuance__phase=phase)
    assert certificates.count() == 2 and not certificates.exclude(file="").exists()
    assert reconcile.reconcile()["certificates"] == 0  # within the grace period: the jobs may be on their way

    owed_past_the_grace_period()
    sent = reconcile.reconcile()

    assert sent["certificates"] == 2 and sent["announcement PDFs"] == 1
    # Each certificate made once and e-mailed once to each member of its owner, attached.
    assert not certificates.filter(file="").exists()
    for certificate in certificates.select_related("issuance__account"):
        assert hashlib.sha256(certificate.file.read()).hexdigest() == certificate.sha256
        members = Membership.objects.filter(organisation=certificate.issuance.account.organisation_id)
        for member in members.select_related("user"):
            carrying = [
                m for m in mailoutbox if m.to == [member.user.email] and m.attachments
                and m.attachments[0][0] == f"{certificate.number}.pdf"
            ]  # fmt: skip
            assert len(carrying) == 1, member.user.email
    assert Announcement.objects.get(phase=phase).pdf
    issued = AuditEvent.objects.filter(action="credits.issued")
    assert not NotificationJob.objects.filter(event__in=issued, done_at=None).exists()

    # Paid: a second run sends nothing, and the jobs sent again find their work done.
    before = len(mailoutbox)
    assert sum(reconcile.reconcile().values()) == 0
    for certificate in certificates:
        documents.make_certificate(certificate.pk)
    assert len(mailoutbox) == before


def test_a_notice_pdf_whose_job_was_lost_is_made(people):
    phase = phase_in_notice([approved_declaration(people)], people)
    version = NoticeVersion.objects.get(phase=phase)
    assert not version.pdf
    owed_past_the_grace_period()
    assert reconcile.reconcile()["notice PDFs"] == 1
    version.refresh_from_db()
    assert version.pdf and hashlib.sha256(version.pdf.read()).hexdigest() == version.pdf_sha256


def test_a_file_left_by_a_run_killed_before_its_commit_is_replaced_not_doubled(people):
    phase = registered_phase(people, count=1)
    certificate = Certificate.objects.get(issuance__phase=phase)
    storage = certificate.file.storage
    target = certificate.file.field.generate_filename(certificate, f"{certificate.number}.pdf")
    storage.delete(target)  # the storage is the process's: another test may have made this number's
    storage.save(target, ContentFile(b"%PDF-1.7 half a file"))  # written by a run that died uncommitted
    before = files_in(storage, target)

    made = documents.make_certificate(certificate.pk)

    assert made.file.name == target
    assert files_in(storage, target) == before  # the same one name, no second copy beside it
    assert hashlib.sha256(made.file.read()).hexdigest() == made.sha256


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_certificate_job_at_the_same_moment_make_one_file(people, monkeypatch):
    """Two workers given the same job: the row lock lets one render and store, and the other find it made."""
    phase = registered_phase(people, count=1)
    certificate = Certificate.objects.get(issuance__phase=phase)
    Certificate.objects.filter(pk=certificate.pk).update(file="", sha256="")  # its job not run yet
    # Both runs reach the rendering only if the lock lets both in. With it, the first waits here in vain
    # for 2 s while the second waits for the lock.
    both_rendering = threading.Barrier(2, timeout=2)
    render, renders = documents.render_pdf, []

    def slow_render(*args):
        renders.append(1)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_rendering.wait()
        return render(*args)

    monkeypatch.setattr(documents, "render_pdf", slow_render)
    made = []

    def run():
        try:
            made.append(documents.make_certificate(certificate.pk).file.name)
        finally:
            connection.close()

    storage = certificate.file.storage
    target = certificate.file.field.generate_filename(certificate, f"{certificate.number}.pdf")
    before = files_in(storage, target)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(60)
    assert len(renders) == 1
    assert made == [target, target]
    assert files_in(storage, target) - before <= {target}
