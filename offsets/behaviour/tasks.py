from celery import shared_task


@shared_task(autoretry_for=(Exception,), retry_backoff=5, retry_kwargs={"max_retries": 5})
def process_chunk(chunk_id: int) -> bool:
    """One chunk of a batch, once (a chunk sent again after it is done returns at once). Retried on failure:
    a deadlock, or two chunks inserting the same record id at once (the second then sees it a duplicate)."""
    from offsets.behaviour import processing

    return processing.process_chunk(chunk_id)


@shared_task(autoretry_for=(Exception,), retry_backoff=30, retry_kwargs={"max_retries": 5})
def settle_period(period_id: int) -> bool:
    """A platform's month whose close was asked for, closed (services.settle_period); False if there was
    nothing to do (done already, or under way in another worker). Retried on failure (a deadlock); the
    reconciliation sends a month still closing again."""
    from offsets.behaviour import services

    return services.settle_period(period_id) is not None


@shared_task
def keep_partitions() -> dict:
    """Daily: the day partitions of the behaviour records a week ahead, the days closed to reports summed
    into the persons' daily totals, and the partitions past retention dropped."""
    from offsets.behaviour import partitions

    return partitions.keep()


@shared_task
def make_donation_certificate(donation_id: int) -> None:
    from offsets.behaviour import documents

    documents.make_donation_certificate(donation_id)
