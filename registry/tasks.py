from celery import shared_task


@shared_task
def heartbeat(name: str = "worker") -> None:
    """Periodic: record that a worker ran a scheduled job, for /healthz."""
    from registry import services

    services.record_heartbeat(name)
