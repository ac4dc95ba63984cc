"""What the behaviour app's jobs owe (registry/reconcile.py sends them again): chunks of received batches no
worker finished (killed while it ran, or never sent because the broker was down) and none gave up, and
donation certificates not made yet (a donation's own date says since when: its job was sent at its commit)."""

from datetime import datetime

from django.db.models import QuerySet

from offsets.behaviour.models import BatchChunk, Donation
from registry.reconcile import Debt


def chunks_not_done(before: datetime) -> QuerySet:
    return (
        BatchChunk.objects.filter(done_at=None, failed_at=None, created_at__lt=before)
        .order_by("created_at", "pk")
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
    "donation certificates": Debt(
        donations_without_certificate, "offsets.behaviour.tasks.make_donation_certificate"
    ),
}
