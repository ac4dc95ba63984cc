import os
import subprocess
import sys
import time
import uuid

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from config.celery import BEAT_SCHEDULE, app
from registry.models import Heartbeat
from registry.periodic import InProcessBeat


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_against_the_test_database():
    """Not eager: a separate `celery worker` process takes the task from Redis and writes the row."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    credentials = f"{db['USER']}:{db['PASSWORD'] or ''}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REDIS_URL": settings.TEST_REDIS_URL,
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sender = Celery(broker=settings.TEST_REDIS_URL, set_as_current=False)
    try:
        sender.send_task("registry.tasks.heartbeat", args=[queue], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Heartbeat.objects.filter(name=queue).exists():
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.3)
        assert Heartbeat.objects.filter(name=queue).exists(), "the worker never ran the task"
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        sender.close()


def test_tasks_run_in_process_without_redis():
    assert settings.CELERY_TASK_ALWAYS_EAGER is True


def test_every_scheduled_job_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


def test_worker_settings_favour_redelivery_over_loss():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True


@pytest.mark.django_db
def test_in_process_beat_runs_due_jobs_once_per_interval():
    beat = InProcessBeat(
        {"beat": {"task": "registry.tasks.heartbeat", "schedule": 3600.0, "args": ["inproc"]}}, app
    )
    assert beat.run_due() == ["beat"]
    first = Heartbeat.objects.get(name="inproc").last_seen
    assert beat.run_due() == []
    assert Heartbeat.objects.get(name="inproc").last_seen == first


def test_a_pool_process_hides_what_it_inherits_from_the_garbage_collector():
    """issue 15: full collections in a worker scan only what its certificates make, not the imports."""
    import gc

    from config.celery import freeze_what_the_pool_process_inherits  # on celery's worker_process_init

    before = gc.get_freeze_count()
    try:
        freeze_what_the_pool_process_inherits(sender="test@host")
        assert gc.get_freeze_count() > before + 10_000  # Django, the apps, WeasyPrint
    finally:
        gc.unfreeze()
