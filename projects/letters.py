"""The bureau's formal letters: acceptance, return with findings, approval, rejection.

Each deciding event gets exactly one letter (unique on the event): the notification task makes it
before it tells anyone, attaches it to the e-mails, and keeps it on the case. A second run finds it.
"""

import hashlib

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from projects.models import CaseRecord, Finding, Letter, LetterKind
from projects.transitions import CASES
from registry import counters
from registry.models import AuditEvent
from registry.notifications import subject_of
from registry.pdf import render_pdf

# The letter each deciding event carries, as the review's table says (projects.transitions.CASES).
KIND_OF_ACTION = {step.action: LetterKind(step.letter) for step in CASES if step.letter}


def authority(language: str) -> str:
    """The issuing authority's name, from the one setting the screens use too (REGISTRY_AUTHORITY)."""
    with translation.override(language):
        return str(settings.REGISTRY_AUTHORITY)


def authority_names() -> dict:
    """For the bilingual PDFs' letterheads and seals."""
    return {"authority_zh": authority("zh-hans"), "authority_en": authority("en")}


def _context(event: AuditEvent, case, number: str) -> dict:
    project = case.project
    context = {
        **authority_names(),
        "number": number,
        "date": timezone.localtime(event.created_at).date(),
        "recipient_zh": project.organisation.name,
        "case_title": str(case) if case.is_declaration else project.title,
        "case_code": project.code or "",
        "project_code": project.code or "",
        "submitted_on": timezone.localtime(case.submitted_at).date() if case.submitted_at else None,
        "reasons": event.comment,
        "review_days": settings.REVIEW_WORKING_DAYS,
    }
    if case.is_declaration:
        context["verified_t"] = case.verified_t
        context["verified_t_display"] = f"{case.verified_t:,}" if case.verified_t is not None else ""
    else:
        context["verified_t"] = None
    if event.action == "case.returned":
        context["round"] = event.after.get("round")
        context["findings"] = Finding.objects.filter(**CaseRecord.of(case), round=context["round"])
    return context


def ensure_letter(event: AuditEvent) -> Letter | None:
    """The event's letter, made now if it has none yet; None for events that carry no letter."""
    kind = KIND_OF_ACTION.get(event.action)
    if kind is None:
        return None
    existing = Letter.objects.filter(event=event).first()
    if existing is not None:
        return existing
    case = subject_of(event)
    year = timezone.localtime(event.created_at).year
    try:
        with transaction.atomic():
            number = f"WHCER-L-{year}-{counters.take(f'letter-{year}'):06d}"
            pdf = render_pdf(f"projects/letters/{kind}.html", _context(event, case, number))
            return Letter.objects.create(
                **CaseRecord.of(case),
                kind=kind,
                number=number,
                event=event,
                file=ContentFile(pdf, name=f"{number}.pdf"),
                sha256=hashlib.sha256(pdf).hexdigest(),
            )
    except IntegrityError:  # a concurrent run made it first; its counter step was rolled back with ours
        return Letter.objects.get(event=event)


def attachments(event: AuditEvent) -> list[tuple[str, bytes, str]]:
    letter = ensure_letter(event)
    if letter is None:
        return []
    with letter.file.open("rb") as handle:
        return [(f"{letter.number}.pdf", handle.read(), "application/pdf")]
