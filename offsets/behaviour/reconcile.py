"""What the behaviour app's jobs owe (registry/reconcile.py sends them again): chunks of received batches no
worker finished (killed while it ran, or never sent because the broker was down) and none gave up, months
whose close was asked for and not done, and donation certificates not made yet (a donation's own date says
since when: its job was sent at its commit)."""

from datetime import datetime

from django.db.models import QuerySet

from offsets.behaviour.models import AggregationPeriod, BatchChunk, Donation, PeriodStatus
from registry.reconcile import Debt


def chunks_not_done(before: datetime) -> QuerySet:
    return (
        BatchChunk.objects.filter(done_at=None, failed_at=None, created_at__lt=before)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def periods_closing(before: datetime) -> QuerySet:
    """A close still under way is sent too: the copy finds the month locked and returns at once."""
    return (
        AggregationPeriod.objects.filter(status=PeriodStatus.CLOSING, close_requested_at__lt=before)
        .order_by("close_requested_at", "pk")
        .values_list("pk", flat=True)
    )


def donations_without_certificate(before: datetime) -> QuerySet:
    return (
        Donation.objects.filter(file="", donated_at__lt=before)
        .order_by("donated_at", "pk")
        .values_list("pk", flat=True)
    )


DEBTS = {
    "behaviour chunks": Debt(chunks_not_done, "offsets.behaviour.tasks.process_chunk"),
    "months closing": Debt(periods_closing, "offsets.behaviour.tasks.settle_period"),
    "donation certificates": Debt(
        donations_without_certificate, "offsets.behaviour.tasks.make_donation_certificate"
    ),
}
