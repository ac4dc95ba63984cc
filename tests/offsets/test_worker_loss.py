"""A worker killed in the middle of a registration's certificates loses nothing (issue 15).

Real processes against the test database and Redis: a phase of DECLARATIONS declarations (the bulk fill
of bench/registration.py, then the real services) is registered by a `manage.py shell` process with the
production settings, which sends the jobs to Redis; a `celery worker` (prefork, two processes, its own
process group) makes the certificates and e-mails them. Once about a third of the certificates have their
file, the worker's whole process group is killed (SIGKILL): the tasks it was running stay unacknowledged in
Redis, which would hand them back only after the visibility timeout (minutes). A new worker starts, and the
reconciliation is sent to it every few seconds, as beat does every minute. Within two minutes every
certificate has exactly one file and every owner's member exactly one e-mail carrying it.
"""

import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from offsets.models import Announcement, Certificate, CertificateKind
from registry.models import AuditEvent, Delivery, Membership, NotificationJob

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

DECLARATIONS = 60
KILL_AT = DECLARATIONS // 3  # certificates with their file when the worker is killed
RECOVERY_SECONDS = 120  # the bound, from the new worker's start
RECONCILE_EVERY = 3  # seconds between reconciliations here (beat's schedule: every minute)
GRACE = 10  # RECONCILE_AFTER_SECONDS for these workers (production: 60)


WORKER = ["-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2"]
QUIET = ["--loglevel", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"]


def start_worker(env: dict, queue: str, hostname: str, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, *WORKER, "-Q", queue, "--hostname", hostname, *QUIET],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its pool processes
        )


def wait_for(condition, *, seconds: float, worker: subprocess.Popen, log: Path) -> float:
    """Poll until condition() is true; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() - started < seconds, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    return time.monotonic() - started


def unacked_of(redis, queue: str) -> list[bytes]:
    """Delivery tags of messages of `queue` that a worker took and never acknowledged (kombu's Redis QoS)."""
    return [
        tag for tag, payload in redis.hgetall("unacked").items() if json.loads(payload)[2] == queue
    ]  # fmt: skip


def forget(redis, queue: str) -> None:
    """Remove from Redis what the workers of `queue` left: its messages, the killed worker's unacknowledged
    ones (they would come back after the visibility timeout), and the bindings of the workers' mailboxes."""
    for tag in unacked_of(redis, queue):
        redis.hdel("unacked", tag)
        redis.zrem("unacked_index", tag)
    for key in redis.scan_iter(match=f"*{queue}*"):
        redis.delete(key)
    for key in redis.scan_iter(match="_kombu.binding*"):
        if redis.type(key) == b"set":
            ours = [m for m in redis.smembers(key) if queue.encode() in m]
            if ours:
                redis.srem(key, *ours)
        elif redis.type(key) == b"zset":
            ours = [m for m in redis.zrange(key, 0, -1) if queue.encode() in m]
            if ours:
                redis.zrem(key, *ours)


def certificate_mails(folder: Path) -> Counter:
    """(recipient, attached file name) of every e-mail kept in the folder."""
    seen = Counter()
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for part in message.iter_attachments():
            seen[(str(message["To"]), part.get_filename())] += 1
    return seen


def test_a_worker_killed_mid_phase_loses_no_certificate_and_no_e_mail(tmp_path):
    import redis as redis_client

    from bench.registration import closed_phase, fill

    queue = f"test-loss-{uuid.uuid4().hex[:8]}"
    files, mail_folder, log = tmp_path / "files", tmp_path / "mail", tmp_path / "worker.log"
    db = connection.settings_dict
    credentials = f"{db['USER']}:{db['PASSWORD'] or ''}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "DJANGO_SETTINGS"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.TEST_REDIS_URL,
        "CELERY_QUEUE": queue,
        "PRIVATE_FILES_ROOT": str(files),
        "MAIL_FOLDER": str(mail_folder),
        "RECONCILE_AFTER_SECONDS": str(GRACE),
    }
    redis = redis_client.Redis.from_url(settings.TEST_REDIS_URL)
    # Not the current app: this process's tasks stay eager (in-process), as the test settings say.
    sender = Celery(broker=settings.TEST_REDIS_URL, set_as_current=False)
    workers = []
    try:
        registrar, approver = fill(DECLARATIONS)
        phase = closed_phase(registrar, approver)  # here, eagerly: its notice PDF is not this test's
        workers.append(start_worker(env, queue, f"{queue}@first", log))
        # Registered by another process with the production settings, so its jobs go to Redis.
        registration = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", registration_script(phase.pk, approver.pk)],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert registration.returncode == 0, registration.stderr[-3000:]
        certificates = Certificate.objects.filter(kind=CertificateKind.REGISTRATION, issuance__phase=phase)
        assert certificates.count() == DECLARATIONS
        made = certificates.exclude(file="")
        wait_for(lambda: made.count() >= KILL_AT, seconds=120, worker=workers[0], log=log)

        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        made_when_killed = made.count()
        lost = unacked_of(redis, queue)
        assert KILL_AT <= made_when_killed < DECLARATIONS
        # What the killed worker was running: Redis would hand it back only after the visibility timeout.
        assert lost, "the worker was killed between two tasks: nothing was lost"
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > RECOVERY_SECONDS

        workers.append(start_worker(env, queue, f"{queue}@second", log))
        started = time.monotonic()
        ready = wait_for(
            lambda: sender.control.ping(destination=[f"{queue}@second"], timeout=0.5),
            seconds=RECOVERY_SECONDS,
            worker=workers[1],
            log=log,
        )
        issued = AuditEvent.objects.filter(action="credits.issued", subject_type="offsets.issuance")
        jobs_undone = NotificationJob.objects.filter(event__in=issued, done_at=None)
        announcement = Announcement.objects.filter(phase=phase)
        last_reconciled = 0.0

        def all_done() -> bool:
            nonlocal last_reconciled
            if time.monotonic() - last_reconciled > RECONCILE_EVERY:  # beat, on a short schedule
                sender.send_task("registry.tasks.reconcile", queue=queue, expires=RECONCILE_EVERY)
                last_reconciled = time.monotonic()
            return (
                not certificates.filter(file="").exists()
                and not jobs_undone.exists()
                and not announcement.filter(pdf="").exists()
            )

        wait_for(all_done, seconds=RECOVERY_SECONDS - ready, worker=workers[1], log=log)
        print(
            f"{DECLARATIONS} certificates; killed with {made_when_killed} made and {len(lost)} tasks "
            f"unacknowledged; the new worker answered after {ready:.1f} s, and all was made and sent "
            f"{time.monotonic() - started:.1f} s after it started."
        )

        # Every certificate: exactly one file on disk, named by its number, holding the bytes recorded.
        on_disk = sorted(p.relative_to(files).as_posix() for p in (files / "certificates").rglob("*.pdf"))
        assert on_disk == sorted(c.file.name for c in certificates)
        for certificate in certificates:
            assert Path(certificate.file.name).name == f"{certificate.number}.pdf"
            assert certificate.sha256 == hash_of(files / certificate.file.name)
        assert len(list((files / "announcements").rglob("*.pdf"))) == 1
        # Every member of every owner: exactly one e-mail carrying each of its certificates.
        expected = Counter()
        for certificate in certificates.select_related("issuance__account"):
            owner = certificate.issuance.account.organisation_id
            for address in Membership.objects.filter(organisation=owner).values_list(
                "user__email", flat=True
            ):
                expected[(address, f"{certificate.number}.pdf")] = 1
        assert certificate_mails(mail_folder) == expected
        assert not Delivery.objects.filter(event__in=issued, channel="email", sent_at=None).exists()
        assert "reconcile: sent" in log.read_text(errors="replace")
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=10)
        forget(redis, queue)
        sender.close()
        redis.close()


def registration_script(phase_id: int, approver_id: int) -> str:
    return (
        "from offsets import issuing\n"
        "from offsets.models import IssuancePhase\n"
        "from registry.models import User\n"
        f"phase = IssuancePhase.objects.get(pk={phase_id})\n"
        f"issuing.register_phase(phase, by=User.objects.get(pk={approver_id}))\n"
    )


def hash_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
