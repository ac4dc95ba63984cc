from celery import shared_task


@shared_task
def make_notice_pdf(version_id: int) -> None:
    from offsets import documents

    documents.make_notice_pdf(version_id)


@shared_task
def make_certificate(certificate_id: int) -> None:
    from offsets import documents

    documents.make_certificate(certificate_id)


@shared_task
def make_announcement_pdf(announcement_id: int) -> None:
    from offsets import documents

    documents.make_announcement_pdf(announcement_id)


@shared_task
def close_notices() -> list[str]:
    """Periodic: close the notices whose period has ended (by the clock)."""
    from offsets import issuing

    return issuing.close_due_notices()
