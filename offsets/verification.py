"""The public verification: is this certificate number, serial or unit number genuine, and what is its
status now? Statuses are read from the live blocks, so a split or partly retired range says so."""

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from offsets.models import BlockStatus, Certificate, Issuance, SerialBlock
from offsets.serials import parse_serial

CERTIFICATE = re.compile(r"^WHCER-[CR]-\d{4}-\d{6}$")
UNIT = re.compile(r"^\d{1,12}$")


@dataclass
class Result:
    query: str
    kind: str = ""  # certificate, serial, unit, or "" when not recognised
    genuine: bool = False
    message: str = ""
    status: str = ""
    issuance: Issuance | None = None
    certificate: Certificate | None = None
    blocks: list = field(default_factory=list)
    first_unit: int | None = None
    last_unit: int | None = None


def status_of(blocks: list[SerialBlock]) -> str:
    """held, reserved, retired, cancelled, or partly so, over the live blocks of a range."""
    statuses = {b.status for b in blocks}
    if not statuses:
        return ""
    if len(statuses) == 1:
        return str(BlockStatus(statuses.pop()).label)
    parts = [
        str(BlockStatus(s).label)
        for s in (BlockStatus.RETIRED, BlockStatus.CANCELLED, BlockStatus.RESERVED)
        if s in statuses
    ]
    return _("Partly %(statuses)s") % {"statuses": _(", ").join(p.lower() for p in parts)}


def _live_blocks(first: int, last: int) -> list[SerialBlock]:
    return list(
        SerialBlock.objects.live()
        .filter(first_unit__lte=last, last_unit__gte=first)
        .select_related("account__organisation", "issuance__project", "issuance__phase")
        .order_by("first_unit")
    )


def look_up(query: str) -> Result:
    text = query.strip().upper()
    result = Result(query=query.strip())
    if CERTIFICATE.match(text):
        result.kind = "certificate"
        certificate = (
            Certificate.objects.select_related("issuance__project", "issuance__account__organisation")
            .filter(number=text)
            .first()
        )
        if certificate is None or certificate.issuance is None:
            result.message = _("No certificate with this number was issued by the registry.")
            return result
        issuance = certificate.issuance
        result.first_unit, result.last_unit = issuance.first_unit, issuance.last_unit
        result.certificate, result.issuance = certificate, issuance
    elif (serial := parse_serial(text)) is not None:
        result.kind = "serial"
        issuance = (
            Issuance.objects.select_related("project", "phase", "account__organisation")
            .filter(
                phase__code=serial.phase_code,
                project__code=serial.project_code,
                vintage=serial.vintage,
                first_unit__lte=serial.first_unit,
                last_unit__gte=serial.last_unit,
            )
            .first()
        )
        if issuance is None:
            result.message = _("No credits with this serial were issued by the registry.")
            return result
        result.issuance, result.first_unit, result.last_unit = issuance, serial.first_unit, serial.last_unit
    elif UNIT.match(text):
        result.kind = "unit"
        unit = int(text)
        issuance = (
            Issuance.objects.select_related("project", "phase", "account__organisation")
            .filter(first_unit__lte=unit, last_unit__gte=unit)
            .first()
        )
        if issuance is None:
            result.message = _("No credit with this unit number has been issued.")
            return result
        result.issuance, result.first_unit, result.last_unit = issuance, unit, unit
    else:
        result.message = _(
            "This is not a certificate number (WHCER-C-2023-000001), a serial "
            "(WHCER-2023P01-WH-PV-0001-2022-000000001-000004269) or a unit number."
        )
        return result
    result.genuine = True
    result.blocks = _live_blocks(result.first_unit, result.last_unit)
    result.status = status_of(result.blocks)
    return result
