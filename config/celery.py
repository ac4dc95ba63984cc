"""Celery application. Every periodic job of the portal is declared here, in BEAT_SCHEDULE."""

import gc
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("carbon_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One place for every periodic job. `manage.py serve` (make run) runs the same table in-process
# when there is no beat process, so the demo behaves like production.
BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "registry.tasks.heartbeat", "schedule": 60.0},
    "remind-overdue-cases": {"task": "projects.tasks.remind_overdue", "schedule": crontab(hour=8, minute=30)},
    # Every five minutes: a notice closes within minutes of 23:59:59 on its last day.
    "close-ended-notices": {"task": "offsets.tasks.close_notices", "schedule": 300.0},
    # Looked at every five minutes; signs when the last checkpoint is CHECKPOINT_INTERVAL_MINUTES old
    # (a setting, read when the job runs) and history has grown since.
    "sign-checkpoint": {"task": "registry.tasks.take_checkpoint_if_due", "schedule": 300.0},
    # Every minute: a job lost with a killed worker (or never sent) is sent again once its work has been owed
    # for RECONCILE_AFTER_SECONDS (registry/reconcile.py). It waits in the same queue as the jobs, so it runs
    # once those before it are taken; one that waited longer than a minute behind a backlog is dropped, not
    # run back to back with the next ones (each would send the same jobs again).
    # Daily: the behaviour records' day partitions a week ahead; those past the retention period dropped.
    "keep-behaviour-partitions": {
        "task": "offsets.behaviour.tasks.keep_partitions",
        "schedule": crontab(hour=0, minute=5),
    },
    "reconcile-owed-work": {"task": "registry.tasks.reconcile", "schedule": 60.0, "options": {"expires": 55}},
}
app.conf.beat_schedule = BEAT_SCHEDULE


@worker_process_init.connect
def freeze_what_the_pool_process_inherits(**kwargs) -> None:
    """Each pool process starts with everything its parent imported (Django, the apps, WeasyPrint): moved
    out of the garbage collector's sight (gc.freeze), its full collections scan only the objects made
    since. A certificate makes many objects; scanning the imported ones too cost about 8 ms a certificate
    (docs/performance.md, "Certificates (issue 15)")."""
    gc.freeze()


__all__ = ["BEAT_SCHEDULE", "app", "crontab"]
