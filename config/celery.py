"""Celery application. Every periodic job of the portal is declared here, in BEAT_SCHEDULE."""

import os

from celery import Celery
from celery.schedules import crontab

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
}
app.conf.beat_schedule = BEAT_SCHEDULE

__all__ = ["BEAT_SCHEDULE", "app", "crontab"]
