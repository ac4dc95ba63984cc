"""The public verification: is this certificate number, serial or unit number genuine, and what is its
status now? Statuses and holders are read from the live blocks, so a split, transferred or partly
retired range says so: the holder shown is the account that holds the units now, not their first owner.

A registration certificate (WHCER-C-…) stands for its issuance's range; a retirement certificate
(WHCER-R-…, also the retirement's reference) for the ranges that retirement consumed. A cancellation has
no certificate, but its reference verifies too. A donation certificate (WHCER-D-…) stands for grams a
resident gave from a personal carbon account to an event: it shows the event, the grams, the date and the
donor's masked name, never the account or the identity number. Every name is shown as the public pages
show it: a person's masked.
"""

import re
from dataclasses import dataclass, field

from django.db.models import F, Sum
from django.db.models.functions import Greatest, Least
from django.utils.translation import gettext as _

from offsets.behaviour.models import Donation
from offsets.models import (
    Account,
    BlockStatus,
    Certificate,
    CertificateKind,
    Issuance,
    Retirement,
    RetirementKind,
    RetirementStatus,
    SerialBlock,
)
from offsets.serials import parse_serial
from registry.models import mask_person_name

CERTIFICATE = re.compile(r"^WHCER-[CR]-\d{4}-\d{6}$")
DONATION = re.compile(r"^WHCER-D-\d{4}-\d{6}$")
UNIT = re.compile(r"^\d{1,12}$")
# A range split by many transfers and retirements has many blocks: the page lists the first ones and
# says how many more; the holders, the status and the retirements always cover the whole range.
SHOWN = 50


@dataclass
class Holding:
    """Part of the range as it stands now: who holds it (display name) and in which status. The account
    number keeps two holders of one masked name apart; the public page does not show it."""

    holder: str
    account: str
    status: str
    quantity: int


@dataclass
class Result:
    query: str
    kind: str = ""  # certificate, donation, serial, unit, or "" when not recognised
    genuine: bool = False
    message: str = ""
    status: str = ""  # as read: Held, Retired, Partly retired, …
    # held, reserved, retired, cancelled, or partly_<the first of retired, cancelled, reserved present>
    state: str = ""
    issuance: Issuance | None = None  # the issuance of a serial, a unit or a registration certificate
    certificate: Certificate | None = None
    retirement: Retirement | None = None  # the retirement a WHCER-R number stands for
    donation: Donation | None = None  # the donation a WHCER-D number stands for
    donor: str = ""  # its donor's name, masked
    blocks: list = field(default_factory=list)  # the first SHOWN live blocks, in unit order
    more_blocks: int = 0
    holdings: list[Holding] = field(default_factory=list)
    retirements: list[Retirement] = field(default_factory=list)
    first_unit: int | None = None
    last_unit: int | None = None
    quantity: int = 0

    @property
    def holders(self) -> list[str]:
        """The current holders' public names, each once."""
        return list(dict.fromkeys(h.holder for h in self.holdings))


def state_of(statuses) -> tuple[str, str]:
    """(code, label) of a set of live block statuses: held, reserved, retired, cancelled, or partly so."""
    statuses = set(statuses)
    if not statuses:
        return "", ""
    if len(statuses) == 1:
        status = BlockStatus(statuses.pop())
        return status.value, str(status.label)
    parts = [s for s in (BlockStatus.RETIRED, BlockStatus.CANCELLED, BlockStatus.RESERVED) if s in statuses]
    label = _("Partly %(statuses)s") % {
        "statuses": _(", ").join(str(BlockStatus(s).label).lower() for s in parts)
    }
    return f"partly_{parts[0].value}", label


def status_of(blocks: list[SerialBlock]) -> str:
    """held, reserved, retired, cancelled, or partly so, over the live blocks of a range."""
    return state_of({b.status for b in blocks})[1]


def _in_range(first: int, last: int):
    return SerialBlock.objects.live().filter(first_unit__lte=last, last_unit__gte=first)


def _read(result: Result, blocks, first: int | None = None, last: int | None = None) -> Result:
    """Fill the result from the live blocks of the range, clipped to [first, last] when given."""
    result.genuine = True
    if first is not None:
        units = Least(F("last_unit"), last) - Greatest(F("first_unit"), first) + 1
    else:
        units = F("last_unit") - F("first_unit") + 1
    rows = list(blocks.values("account", "status").annotate(t=Sum(units)).order_by("account", "status"))
    accounts = Account.objects.select_related("organisation").in_bulk({r["account"] for r in rows})
    result.holdings = sorted(
        (
            Holding(
                holder=accounts[r["account"]].organisation.display_name,
                account=accounts[r["account"]].number,
                status=str(BlockStatus(r["status"]).label),
                quantity=r["t"],
            )
            for r in rows
        ),
        key=lambda h: (-h.quantity, h.account, h.status),
    )
    result.quantity = sum(r["t"] for r in rows)
    result.state, result.status = state_of({r["status"] for r in rows})
    shown = blocks.select_related("account__organisation", "issuance__project", "issuance__phase").order_by(
        "first_unit"
    )
    result.blocks = list(shown[:SHOWN])
    result.more_blocks = max(blocks.count() - SHOWN, 0) if len(result.blocks) == SHOWN else 0
    consumed = blocks.filter(status__in=[BlockStatus.RETIRED, BlockStatus.CANCELLED]).values(
        "status_reference"
    )
    result.retirements = list(
        Retirement.objects.filter(status=RetirementStatus.RETIRED, reference__in=consumed)
        .select_related("account__organisation")
        .order_by("retired_at", "pk")[:SHOWN]
    )
    return result


def _certificate(result: Result, number: str) -> Result:
    result.kind = "certificate"
    certificate = (
        Certificate.objects.select_related(
            "issuance__project", "issuance__phase", "issuance__account__organisation", "retirement"
        )
        .filter(number=number)
        .first()
    )
    if certificate is not None and certificate.kind == CertificateKind.REGISTRATION:
        issuance = certificate.issuance
        result.certificate, result.issuance = certificate, issuance
        result.first_unit, result.last_unit = issuance.first_unit, issuance.last_unit
        return _read(result, _in_range(issuance.first_unit, issuance.last_unit))
    retirement = certificate.retirement if certificate is not None else None
    if retirement is None:
        # A cancellation has no certificate; its reference is public all the same.
        retirement = Retirement.objects.filter(
            reference=number, kind=RetirementKind.CANCELLATION, status=RetirementStatus.RETIRED
        ).first()
    if retirement is None or retirement.status != RetirementStatus.RETIRED:
        result.message = _("No certificate with this number was issued by the registry.")
        return result
    result.certificate, result.retirement = certificate, retirement
    blocks = SerialBlock.objects.live().filter(
        account_id=retirement.account_id,
        status_reference=retirement.reference,
        status__in=[BlockStatus.RETIRED, BlockStatus.CANCELLED],
    )
    return _read(result, blocks)


def _donation(result: Result, number: str) -> Result:
    result.kind = "donation"
    donation = Donation.objects.select_related("event", "account__user").filter(number=number).first()
    if donation is None:
        result.message = _("No certificate with this number was issued by the registry.")
        return result
    result.genuine = True
    result.donation, result.donor = donation, mask_person_name(donation.account.user.full_name)
    return result


def look_up(query: str) -> Result:
    text = query.strip().upper()
    result = Result(query=query.strip())
    if CERTIFICATE.match(text):
        return _certificate(result, text)
    if DONATION.match(text):
        return _donation(result, text)
    if (serial := parse_serial(text)) is not None:
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
        first, last = serial.first_unit, serial.last_unit
    elif UNIT.match(text):
        result.kind = "unit"
        first = last = int(text)
        issuance = (
            Issuance.objects.select_related("project", "phase", "account__organisation")
            .filter(first_unit__lte=first, last_unit__gte=first)
            .first()
        )
        if issuance is None:
            result.message = _("No credit with this unit number has been issued.")
            return result
    else:
        result.message = _(
            "This is not a certificate number (WHCER-C-2023-000001), a serial "
            "(WHCER-2023P01-WH-PV-0001-2022-000000001-000004269) or a unit number."
        )
        return result
    result.issuance, result.first_unit, result.last_unit = issuance, first, last
    return _read(result, _in_range(first, last), first, last)
