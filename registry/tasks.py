from smtplib import SMTPException

from celery import shared_task


@shared_task
def heartbeat(name: str = "worker") -> None:
    """Periodic: record that a worker ran a scheduled job, for /healthz."""
    from registry import services

    services.record_heartbeat(name)


@shared_task(autoretry_for=(SMTPException, ConnectionError), retry_backoff=True, max_retries=5)
def notify(event_id: int) -> None:
    """Tell the people concerned by one audit event; safe to run twice."""
    from registry import notifications

    notifications.deliver(event_id)


@shared_task(autoretry_for=(SMTPException, ConnectionError), retry_backoff=True, max_retries=5)
def notify_each(event_ids: list[int]) -> None:
    """notify for a batch of events, one after the other (registry.transitions.notify_many_after_commit).
    Safe to run twice: a retry finds what was already sent and sends only the rest."""
    from registry import notifications

    for event_id in event_ids:
        notifications.deliver(event_id)


@shared_task
def take_checkpoint() -> int | None:
    """After a registration or retirement: sign the chain's head and the ledger's totals. Idempotent."""
    from django.core.cache import cache

    from registry import checkpoints

    cache.delete(checkpoints.SOON_KEY)  # changes committed from now on ask for the next one
    checkpoint = checkpoints.take()
    return checkpoint.number if checkpoint else None


@shared_task
def take_checkpoint_if_due() -> int | None:
    """Periodic: a signed checkpoint once the last one is CHECKPOINT_INTERVAL_MINUTES old."""
    from registry import checkpoints

    checkpoint = checkpoints.take_if_due()
    return checkpoint.number if checkpoint else None


@shared_task
def reconcile() -> dict[str, int]:
    """Periodic: send again the jobs whose work the database says is owed (registry/reconcile.py)."""
    from registry import reconcile

    return reconcile.reconcile()
