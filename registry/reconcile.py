"""The reconciliation: what the database says a job owes and has not done, sent to the job again.

A job can be lost: its worker killed while it ran (Redis hands back an unacknowledged task only after the
visibility timeout, settings.CELERY_BROKER_TRANSPORT_OPTIONS), or never sent because the broker was down
when the transaction committed. The database is the truth: each kind of debt is one query here or in the
app that owns it (`<app>/reconcile.py`, added to DEBTS in its AppConfig.ready()), naming the rows that have
owed their work for more than RECONCILE_AFTER_SECONDS (so the job still on its way is not raced), oldest
first. The periodic `registry.tasks.reconcile` (config/celery.py) sends each row's job again, at most
RECONCILE_BATCH of a kind a run.

Every job is idempotent, so a job sent again that finds its work done (it was only waiting in a long queue)
returns at once: made once, sent once.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from registry.models import NotificationJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Debt:
    owed: Callable[[datetime], QuerySet]  # (owed since before) -> the ids the job takes, oldest first
    task: str  # the Celery task that pays one, given its id ("offsets.tasks.make_certificate")


def undelivered_notifications(before: datetime) -> QuerySet:
    """Events whose people were not all told (registry.notifications.deliver never finished)."""
    return (
        NotificationJob.objects.filter(done_at=None, created_at__lt=before)
        .order_by("created_at")
        .values_list("event_id", flat=True)
    )


# {name: Debt}; other apps add theirs.
DEBTS: dict[str, Debt] = {
    "notifications": Debt(undelivered_notifications, "registry.tasks.notify"),
}


def owed(before: datetime | None = None) -> dict[str, list]:
    """{kind: ids} of the work owed since before `before` (default: RECONCILE_AFTER_SECONDS ago)."""
    if before is None:
        before = timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS)
    return {name: list(debt.owed(before)[: settings.RECONCILE_BATCH]) for name, debt in DEBTS.items()}


def reconcile() -> dict[str, int]:
    """Send every owed job again; return how many of each kind were sent."""
    sent = {}
    for name, ids in owed().items():
        task = import_string(DEBTS[name].task)  # a task's name is its module's path
        for pk in ids:
            task.delay(pk)
        sent[name] = len(ids)
        if ids:
            # A lost job is news: the operator sees how many, and which, in the worker's log.
            log.warning("reconcile: sent %s again for %d %s: %s", DEBTS[name].task, len(ids), name, ids[:20])
    return sent
