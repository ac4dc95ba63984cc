"""The PDFs of the ledger: registration and retirement certificates, notices and announcements. Each is
made once: a job finds the file already there and returns. The same record always gives the same bytes
(nothing in them is read from the clock: dates are the record's own)."""

import hashlib

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from offsets.models import (
    Announcement,
    BeneficiaryKind,
    BlockStatus,
    Certificate,
    CertificateKind,
    Issuance,
    NoticeVersion,
    Retirement,
    RetirementKind,
    SerialBlock,
)
from projects.letters import authority_names
from registry.pdf import render_pdf


def verification_url(query: str) -> str:
    return f"{settings.SITE_URL}{reverse('offsets:verify')}?q={query}"


def qr_svg(url: str) -> str:
    # Our own SVG, made from our own URL: safe to put into the PDF's HTML as it is.
    return mark_safe(segno.make(url, error="m").svg_inline(scale=3, border=2))  # noqa: S308


def _store(instance, field: str, hash_field: str, pdf: bytes, name: str) -> None:
    """Called with the row locked and its file still empty. A file already at the name is a run's that died
    (or rolled back) before its COMMIT: the storage would keep it and save this one as a second copy under
    another name, so it goes first. It held the same bytes."""
    file = getattr(instance, field)
    target = file.field.generate_filename(instance, name)
    if file.storage.exists(target):
        file.storage.delete(target)
    file.save(name, ContentFile(pdf), save=False)
    setattr(instance, hash_field, hashlib.sha256(pdf).hexdigest())
    instance.save(update_fields=[field, hash_field])


@transaction.atomic
def make_certificate(certificate_id: int) -> Certificate:
    """The certificate's PDF, a registration's or a retirement's, made once."""
    certificate = Certificate.objects.select_for_update().get(pk=certificate_id)
    if certificate.file:
        return certificate
    if certificate.kind == CertificateKind.RETIREMENT:
        template, context = "offsets/retirement_certificate.html", _retirement_context(certificate)
    else:
        template, context = "offsets/certificate.html", _registration_context(certificate)
    _store(certificate, "file", "sha256", render_pdf(template, context), f"{certificate.number}.pdf")
    return certificate


def _registration_context(certificate: Certificate) -> dict:
    # One query for what the certificate names, not one per related row (a phase makes a thousand).
    issuance = Issuance.objects.select_related("phase", "project__methodology", "account__organisation").get(
        pk=certificate.issuance_id
    )
    project, organisation = issuance.project, issuance.account.organisation
    methodology = project.methodology
    return {
        **authority_names(),
        "number": certificate.number,
        "date": timezone.localtime(certificate.issued_at).date(),
        "holder_zh": organisation.name,
        "holder_en": organisation.name_en,
        "account": issuance.account.number,
        "project_code": project.code,
        "project_title": project.title,
        "methodology": f"{methodology.code} {methodology.version} {methodology.title_zh}",
        "quantity": f"{issuance.quantity:,}",
        "serial": issuance.serial,
        "first_unit": f"{issuance.first_unit:09d}",
        "last_unit": f"{issuance.last_unit:09d}",
        "vintage": issuance.vintage,
        "phase": issuance.phase,
        "registered_on": timezone.localtime(issuance.registered_at).date(),
        "qr": qr_svg(verification_url(certificate.number)),
        "verify_url": verification_url(certificate.number),
    }


# The certificate is bilingual whatever the reader's language: each term written in both, literally.
RETIREMENT_KINDS = {
    RetirementKind.VOLUNTARY: ("自愿注销", "Voluntary retirement"),
    RetirementKind.COMPLIANCE: ("履约抵销", "Compliance offset"),
    RetirementKind.CANCELLATION: ("注销（更正）", "Cancellation (correction)"),
}
BENEFICIARY_KINDS = {
    BeneficiaryKind.ORGANISATION: ("单位", "Organisation"),
    BeneficiaryKind.EVENT: ("活动", "Event"),
    BeneficiaryKind.PERSON: ("个人", "Person"),
}


def _retirement_context(certificate: Certificate) -> dict:
    retirement = (
        Retirement.objects.select_related("account__organisation").filter(pk=certificate.retirement_id).get()
    )
    organisation = retirement.account.organisation
    # The blocks it consumed: final once retired, so the same certificate always lists the same ranges.
    blocks = list(
        SerialBlock.objects.live()
        .filter(
            account=retirement.account,
            status_reference=retirement.reference,
            status__in=[BlockStatus.RETIRED, BlockStatus.CANCELLED],
        )
        .select_related("issuance__phase", "issuance__project__methodology")
        .order_by("first_unit")
    )
    projects: dict[tuple, dict] = {}
    for block in blocks:
        issuance = block.issuance
        key = (issuance.project.code, issuance.vintage)
        row = projects.setdefault(
            key,
            {
                "code": issuance.project.code,
                "title": issuance.project.title,
                "methodology": issuance.project.methodology.code,
                "vintage": issuance.vintage,
                "tonnes": 0,
            },
        )
        row["tonnes"] += block.quantity
    kind_zh, kind_en = RETIREMENT_KINDS[RetirementKind(retirement.kind)]
    beneficiary_kind = BENEFICIARY_KINDS.get(retirement.beneficiary_kind, ("", ""))
    date = timezone.localtime(retirement.retired_at).date()
    return {
        **authority_names(),
        "number": certificate.number,
        "date": date,
        "holder_zh": organisation.name,
        "holder_en": organisation.name_en,
        "account": retirement.account.number,
        "kind_zh": kind_zh,
        "kind_en": kind_en,
        "compliance_year": retirement.compliance_year,
        "beneficiary_kind_zh": beneficiary_kind[0],
        "beneficiary_kind_en": beneficiary_kind[1],
        "beneficiary": retirement.public_beneficiary,
        "purpose": retirement.purpose,
        "quantity": f"{retirement.quantity:,}",
        "ranges": [
            {
                "serial": block.serial,
                "first_unit": f"{block.first_unit:09d}",
                "last_unit": f"{block.last_unit:09d}",
                "tonnes": f"{block.quantity:,}",
            }
            for block in blocks
        ],
        "projects": [dict(row, tonnes=f"{row['tonnes']:,}") for row in projects.values()],
        "qr": qr_svg(verification_url(certificate.number)),
        "verify_url": verification_url(certificate.number),
    }


def _phase_context(phase, rows, number: str, date) -> dict:
    return {
        **authority_names(),
        "number": number,
        "date": date,
        "phase": phase,
        "rows": rows,
        "tonnes": f"{sum(r['tonnes'] or 0 for r in rows):,}",
        "projects": len({r["project_code"] for r in rows}),
    }


@transaction.atomic
def make_notice_pdf(version_id: int) -> NoticeVersion:
    version = NoticeVersion.objects.select_for_update().select_related("phase").get(pk=version_id)
    if version.pdf:
        return version
    phase = version.phase
    context = _phase_context(
        phase,
        version.snapshot["rows"],
        f"{phase.code}-N{version.version}",
        timezone.localtime(version.published_at).date(),
    )
    context.update(version=version, notice_start=phase.notice_start, notice_end=phase.notice_end)
    _store(
        version,
        "pdf",
        "pdf_sha256",
        render_pdf("offsets/notice_pdf.html", context),
        f"notice-{phase.code}-v{version.version}.pdf",
    )
    return version


@transaction.atomic
def make_announcement_pdf(announcement_id: int) -> Announcement:
    announcement = Announcement.objects.select_for_update().select_related("phase").get(pk=announcement_id)
    if announcement.pdf:
        return announcement
    phase = announcement.phase
    rows = [
        {
            "project_code": i.project.code,
            "project_title": i.project.title,
            "owner": i.account.organisation.public_name,
            "methodology": i.project.methodology.code,
            "vintage": i.vintage,
            "tonnes": i.quantity,
            "serial": i.serial,
        }
        for i in phase.issuances.select_related("project__methodology", "account__organisation").order_by(
            "first_unit"
        )
    ]
    context = _phase_context(
        phase, rows, announcement.number, timezone.localtime(announcement.published_at).date()
    )
    _store(
        announcement,
        "pdf",
        "pdf_sha256",
        render_pdf("offsets/announcement_pdf.html", context),
        f"{announcement.number}.pdf",
    )
    return announcement


# The events whose e-mail carries the certificate of its subject, made now if the job has not yet.
CERTIFIED_EVENTS = {
    "credits.issued": lambda event: Certificate.objects.filter(issuance_id=event.subject_id).first(),
    "retirement.made": lambda event: Certificate.objects.filter(retirement_id=event.subject_id).first(),
    "offset.confirmed": lambda event: Certificate.objects.filter(retirement_id=event.subject_id).first(),
}


def certificate_attachments(event) -> list[tuple[str, bytes, str]]:
    """For the holder's e-mail on registration or retirement: its certificate."""
    find = CERTIFIED_EVENTS.get(event.action)
    certificate = find(event) if find else None
    if certificate is None:
        return []
    certificate = make_certificate(certificate.pk)
    with certificate.file.open("rb") as handle:
        return [(f"{certificate.number}.pdf", handle.read(), "application/pdf")]
