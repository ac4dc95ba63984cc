"""What the offsets app's jobs owe (registry/reconcile.py sends them again): the PDFs of offsets/documents.py
not made yet. A row's own date says since when: it was written when its job was sent."""

from datetime import datetime

from django.db.models import QuerySet

from offsets.models import Announcement, Certificate, NoticeVersion
from registry.reconcile import Debt


def certificates_without_file(before: datetime) -> QuerySet:
    return (
        Certificate.objects.filter(file="", issued_at__lt=before)
        .order_by("issued_at", "pk")
        .values_list("pk", flat=True)
    )


def notices_without_pdf(before: datetime) -> QuerySet:
    return (
        NoticeVersion.objects.filter(pdf="", published_at__lt=before)
        .order_by("published_at", "pk")
        .values_list("pk", flat=True)
    )


def announcements_without_pdf(before: datetime) -> QuerySet:
    return (
        Announcement.objects.filter(pdf="", published_at__lt=before)
        .order_by("published_at", "pk")
        .values_list("pk", flat=True)
    )


DEBTS = {
    "certificates": Debt(certificates_without_file, "offsets.tasks.make_certificate"),
    "notice PDFs": Debt(notices_without_pdf, "offsets.tasks.make_notice_pdf"),
    "announcement PDFs": Debt(announcements_without_pdf, "offsets.tasks.make_announcement_pdf"),
}
