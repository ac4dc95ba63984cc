"""The donation certificate (捐赠证书): a resident's donation of grams to an event the bureau lists, as a PDF
with its number, the event, the grams, the donor's masked name, the date and a QR code to the public
verification page. Made once, like offsets/documents.py's certificates: a job finds the file already there
and returns, and the same donation always gives the same bytes (its date is the donation's own)."""

from django.db import transaction
from django.utils import timezone

from offsets.behaviour.models import Donation
from offsets.documents import _store, qr_svg, verification_url
from projects.letters import authority_names
from registry.models import mask_person_name
from registry.pdf import render_pdf


@transaction.atomic
def make_donation_certificate(donation_id: int) -> Donation:
    """The donation's certificate PDF, made once; its SHA-256 kept with it."""
    donation = Donation.objects.select_for_update().get(pk=donation_id)
    if donation.file:
        return donation
    _store(
        donation,
        "file",
        "sha256",
        render_pdf("behaviour/donation_certificate.html", _context(donation)),
        f"{donation.number}.pdf",
    )
    return donation


def _context(donation: Donation) -> dict:
    donation = Donation.objects.select_related("event", "account__user").get(pk=donation.pk)
    event = donation.event
    return {
        **authority_names(),
        "number": donation.number,
        "date": timezone.localtime(donation.donated_at).date(),
        "donor": mask_person_name(donation.account.user.full_name),
        "event_zh": event.name_zh,
        "event_en": event.name_en,
        "grams": f"{donation.grams:,}",
        "kilograms": f"{donation.grams / 1000:,.3f}",
        "qr": qr_svg(verification_url(donation.number)),
        "verify_url": verification_url(donation.number),
    }
