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
