"""The statement of a holding account (登记账户): the one reader behind the holder's pages
(offsets.account_views) and the bureau's account page (offsets.office_ledger_views).

A statement lists the account's movements, oldest first, each with the holding after it: what the account
holds, credits held plus credits reserved for a pending transfer or offset (MOVEMENT_SIGN: a reservation or
its release changes only which part of the holding is free). A period is whole days in the registry's time
zone, from the first moment of its first day to the first moment of the day after its last, so a movement
at 23:59 local time on the last day is inside it (`at__date` would make the database convert every row and
leave the (account, at, id) index unused). The page is keyset-paged; the exports hold every line of the
period. Reads only: offsets.ledger is the one writer.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Case, F, IntegerField, Q, Sum, Value, When
from django.http import Http404, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from offsets import ledger
from offsets.models import LIVE_BLOCK_STATUSES, MOVEMENT_SIGN, Account, BlockStatus, Movement, SerialBlock
from projects.paging import Page, keyset_page
from registry import exports, params
from registry.uploads import XLSX, attachment

PAGE_SIZE = 50
FORMATS = ("csv", "xlsx")

# What a movement does to the holding, in SQL: MOVEMENT_SIGN × quantity (Movement.effect in Python).
EFFECT = F("quantity") * Case(
    *(When(kind=kind, then=Value(sign)) for kind, sign in MOVEMENT_SIGN.items()), output_field=IntegerField()
)


# --- The period --------------------------------------------------------------------------------------


def period(query: QueryDict) -> tuple[date | None, date | None]:
    """The period in ?from= and ?to= (YYYY-MM-DD, both days included, either may be left open);
    BadInput (400, with the reason translated) for an unreadable date or a period ending before it starts."""
    start, end = params.date(query, "from"), params.date(query, "to")
    if start and end and start > end:
        raise params.BadInput(_("The period starts after it ends: give a start date on or before the end."))
    return start, end


def _midnight(day: date) -> datetime:
    """The first moment of a day in the current time zone (the registry's: Asia/Shanghai)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def in_period(start: date | None, end: date | None) -> Q:
    """The movements of the local days start..end, both included; an open end is no bound."""
    within = Q()
    if start is not None:
        within &= Q(at__gte=_midnight(start))
    if end is not None and end < date.max:
        within &= Q(at__lt=_midnight(end + timedelta(days=1)))
    return within


def period_query(start: date | None, end: date | None) -> str:
    """The period as a query string, for the pager's and the exports' links."""
    query = QueryDict(mutable=True)
    for name, day in (("from", start), ("to", end)):
        if day is not None:
            query[name] = day.isoformat()
    return query.urlencode()


def balance(movements) -> int:
    """The holding that these movements add up to (the account's, when they are all of its movements)."""
    return movements.aggregate(t=Sum(EFFECT))["t"] or 0


# --- The page ----------------------------------------------------------------------------------------


@dataclass
class Statement:
    page: Page  # its rows are Movements, each with .balance (the holding after it) and .link
    start: date | None
    end: date | None
    query: str  # the period as a query string
    opening: int  # the holding before the period (0 when it starts with the account)
    brought_forward: int  # the holding before the page's first line
    closing: int  # the holding at the end of the period (now, when the period is open-ended)
    count: int  # movements in the period


def link(movement: Movement) -> str:
    """Where a line's reference leads: its transfer's or retirement's page, which the holder's members (the
    receiver's too, for a transfer) and the bureau's readers of accounts may open."""
    if movement.reference.startswith("WHCER-T-"):
        return reverse("offsets:transfer", args=[movement.reference])
    if movement.reference.startswith("WHCER-R-"):
        return reverse("offsets:retirement", args=[movement.reference])
    return ""


def _before(account: Account, movement: Movement):
    """The account's movements before this one in the statement's order (at, id)."""
    return account.movements.filter(Q(at__lt=movement.at) | Q(at=movement.at, pk__lt=movement.pk))


def read(account: Account, query: QueryDict, *, size: int = PAGE_SIZE) -> Statement:
    """One page of the account's statement for the period and page key in the query (?from=, ?to=, ?after=,
    ?before=, ?page=last); BadInput for any of them that cannot be read."""
    start, end = period(query)
    movements = account.movements.filter(in_period(start, end)).select_related("counterparty__organisation")
    page = keyset_page(
        movements,
        order="at",
        size=size,
        after=query.get("after", ""),
        before=query.get("before", ""),
        last=query.get("page") == "last",
    )
    opening = balance(account.movements.filter(at__lt=_midnight(start))) if start else 0
    closing = balance(account.movements.filter(in_period(None, end)))
    brought_forward = balance(_before(account, page.rows[0])) if page.rows else closing
    running = brought_forward
    for movement in page.rows:
        running += movement.effect
        movement.balance = running
        movement.link = link(movement)
    return Statement(
        page=page,
        start=start,
        end=end,
        query=period_query(start, end),
        opening=opening,
        brought_forward=brought_forward,
        closing=closing,
        count=movements.count(),
    )


# --- The exports -------------------------------------------------------------------------------------


def table(account: Account, start: date | None, end: date | None) -> tuple[list[str], list[list]]:
    """Every line of the period, with an opening line when the period has a start: headers and rows."""
    headers = [
        _("Date"),
        _("Movement"),
        _("Counterparty account"),
        _("Counterparty"),
        _("Reference"),
        _("Serials"),
        _("Quantity (t)"),
        _("Change in holding (t)"),
        _("Balance (t)"),
    ]
    rows = []
    running = 0
    if start is not None:
        running = balance(account.movements.filter(at__lt=_midnight(start)))
        rows.append([start.isoformat(), _("Opening balance"), "", "", "", "", None, None, running])
    movements = (
        account.movements.filter(in_period(start, end))
        .select_related("counterparty__organisation")
        .order_by("at", "pk")
    )
    for movement in movements.iterator(chunk_size=2000):
        running += movement.effect
        counterparty = movement.counterparty
        rows.append(
            [
                timezone.localtime(movement.at).strftime("%Y-%m-%d %H:%M:%S"),
                movement.get_kind_display(),
                counterparty.number if counterparty else "",
                counterparty.organisation.name if counterparty else "",
                movement.reference,
                "; ".join(movement.serials.splitlines()),
                movement.quantity,
                movement.effect,
                running,
            ]
        )
    return headers, rows


def as_csv(headers: list[str], rows: list[list]) -> bytes:
    """UTF-8 after a byte-order mark (for the Chinese), every text cell neutralised (registry.exports)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in [headers, *rows]:
        writer.writerow([exports.neutralise(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def as_xlsx(headers: list[str], rows: list[list]) -> bytes:
    """One sheet; text is neutralised and stored as strings, never as formulas (registry.exports)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "statement"
    for number, row in enumerate([headers, *rows], start=1):
        exports.write_row(sheet, number, row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def download(account: Account, query: QueryDict, fmt: str) -> HttpResponse:
    """The statement of the period in the query as a CSV or XLSX attachment, private to its reader; 404 for
    another format, BadInput for a period that cannot be read."""
    if fmt not in FORMATS:
        raise Http404
    start, end = period(query)
    headers, rows = table(account, start, end)
    stem = "-".join(["statement", account.number, *(d.isoformat() for d in (start, end) if d is not None)])
    if fmt == "xlsx":
        return attachment(as_xlsx(headers, rows), kind=XLSX, stem=stem)
    response = HttpResponse(as_csv(headers, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{stem}.csv")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


# --- Totals ------------------------------------------------------------------------------------------


def totals(account: Account) -> dict:
    """Tonnes by vintage and live status, the totals of each status and of all, the holding (held +
    reserved) and the part of it free to use (held)."""
    found = (
        SerialBlock.objects.live()
        .filter(account=account)
        .values_list("issuance__vintage", "status")
        .annotate(t=Sum(ledger.UNITS))
        .order_by("issuance__vintage")
    )
    by_vintage: dict[int, dict[str, int]] = {}
    for vintage, status, tonnes in found:
        by_vintage.setdefault(vintage, dict.fromkeys(LIVE_BLOCK_STATUSES, 0))[status] = tonnes
    by_status = ledger.holdings(account)
    return {
        "statuses": [BlockStatus(s).label for s in LIVE_BLOCK_STATUSES],
        "rows": [
            (vintage, [tonnes[s] for s in LIVE_BLOCK_STATUSES], sum(tonnes.values()))
            for vintage, tonnes in by_vintage.items()
        ],
        "by_status": [by_status[s] for s in LIVE_BLOCK_STATUSES],
        "all": sum(by_status.values()),
        "holding": by_status[BlockStatus.HELD] + by_status[BlockStatus.RESERVED],
        "free": by_status[BlockStatus.HELD],
    }
