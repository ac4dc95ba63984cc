from celery import shared_task


@shared_task
def remind_overdue() -> int:
    """Daily: remind assignees and stage groups of overdue cases (once a day per case)."""
    from projects.reminders import send_overdue_reminders

    return send_overdue_reminders()
