"""Monthly electricity figures of a distributed-PV monitoring period as an XLSX sheet: template and parser.

The template has a header row, then one row per month of the period: column A the month as text
"YYYY-MM", column B the MWh supplied to the grid or self-consumed (left empty for the enterprise).

The parser is strict: it reports every bad cell (row, column letter, translated message) and returns
nothing when anything is wrong. It reads with openpyxl in read-only mode; openpyxl parses the XML with
defusedxml when that is installed (it is a dependency), so entity declarations ("billion laughs") are
refused, and registry.uploads checks the zip first (every member's declared and inflated size, under
any name; no macros or external links; no DTDs). The number of rows is capped while reading, so a small
upload cannot make the server inflate or walk a huge sheet.
"""

import datetime
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from io import BytesIO

import openpyxl
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from openpyxl.styles import Font

from registry.exports import set_cell
from registry.uploads import check_workbook

MONTH_COLUMN, VALUE_COLUMN = "A", "B"
MAX_MWH_PER_MONTH = Decimal(1_000_000)
THOUSANDTH = Decimal("0.001")
# What all members of an uploaded sheet may unpack to together, whatever their names. A filled-in template
# is a few tens of kB; this leaves room for workbooks saved by any spreadsheet program with extra sheets
# and styles, and keeps what openpyxl holds in memory small.
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
# Cells in the whole workbook: the template has two per month; openpyxl takes about 30 µs per cell.
MAX_CELLS = 20_000
# How much of a bad cell's content is quoted back in a message.
MAX_QUOTED_CHARS = 40

MONTH_TEXT = re.compile(r"([0-9]{4})[-/]([0-9]{1,2})")
# Digits with an optional sign and decimal point; a comma only as a thousands separator ("1,234.5").
NUMBER_TEXT = re.compile(r"[+-]?(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+)")


@dataclass(frozen=True)
class CellError:
    row: int  # 1-based spreadsheet row; 0 for sheet-level problems
    column: str  # spreadsheet column letter, "A" or "B"; "" for sheet-level problems
    message: str


class SheetRefused(Exception):
    def __init__(self, errors: list[CellError]):
        super().__init__(errors)
        self.errors = errors


def months_of(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """First day of each calendar month touched by [start, end], in order. start <= end assumed."""
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(datetime.date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def month_label(month: datetime.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def monthly_template(start: datetime.date, end: datetime.date) -> bytes:
    """An XLSX workbook with a header row and one row per month of the period, column B left empty."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    # Excel limits sheet titles to 31 characters.
    sheet.title = _("Monthly generation")[:31]
    headers = (_("Month (YYYY-MM)"), _("Electricity supplied or self-consumed (MWh)"))
    # Every cell goes through registry.exports, like every spreadsheet the portal writes.
    for column, text in zip((MONTH_COLUMN, VALUE_COLUMN), headers, strict=True):
        cell = sheet[f"{column}1"]
        set_cell(cell, text)
        cell.font = Font(bold=True)
    months = months_of(start, end)
    for row, month in enumerate(months, start=2):
        cell = sheet.cell(row=row, column=1)
        set_cell(cell, month_label(month))
        # Text, so that a spreadsheet program does not turn "2022-03" into a date.
        cell.number_format = "@"
    note = sheet.cell(row=len(months) + 3, column=1)
    set_cell(
        note,
        _(
            "Enter the MWh of each month in column B with up to three decimal places and no negative "
            "numbers. Keep exactly one row per month of the monitoring period."
        ),
    )
    note.font = Font(italic=True)
    sheet.column_dimensions[MONTH_COLUMN].width = 20
    sheet.column_dimensions[VALUE_COLUMN].width = 48
    sheet.freeze_panes = "A2"
    output = BytesIO()
    workbook.save(output)
    return output.getvalue()


def read_monthly_sheet(
    data, start: datetime.date, end: datetime.date, *, max_rows: int = 400
) -> dict[datetime.date, Decimal]:
    """Parse an uploaded XLSX (a file-like object or bytes) into {first of month: MWh} for the period.

    Raises SheetRefused with every error found, in row order, sheet-level errors last.
    """
    rows = _read_rows(_content_of(data), max_rows)
    period = months_of(start, end)
    in_period = set(period)
    values: dict[datetime.date, Decimal] = {}
    seen: set[datetime.date] = set()
    errors: list[CellError] = []

    for number, (month_cell, value_cell) in enumerate(rows, start=1):
        if number == 1:
            continue  # The header, in whichever language the template was downloaded.
        month_empty, value_empty = _is_empty(month_cell), _is_empty(value_cell)
        if month_empty and value_empty:
            continue
        month = None if month_empty else _parse_month(month_cell)
        if value_empty and month is None:
            continue  # A note or a label, not a data row.

        month_ok = False
        if month_empty:
            errors.append(
                CellError(number, MONTH_COLUMN, _("This row has a value but no month; write it as YYYY-MM."))
            )
        elif month is None:
            errors.append(
                CellError(
                    number,
                    MONTH_COLUMN,
                    _("“%(value)s” is not a month; write it as YYYY-MM.") % {"value": _quote(month_cell)},
                )
            )
        elif month not in in_period:
            errors.append(
                CellError(
                    number,
                    MONTH_COLUMN,
                    _("%(month)s is outside the monitoring period (%(start)s to %(end)s).")
                    % {"month": month_label(month), "start": start.isoformat(), "end": end.isoformat()},
                )
            )
        elif month in seen:
            errors.append(
                CellError(number, MONTH_COLUMN, _("%(month)s appears twice.") % {"month": month_label(month)})
            )
        else:
            seen.add(month)
            month_ok = True

        if value_empty:
            # Only worth saying for a row that belongs in the sheet; other rows are already reported.
            if month_ok:
                errors.append(CellError(number, VALUE_COLUMN, _("No value for this month.")))
            continue
        value, message = _parse_value(value_cell)
        if message:
            errors.append(CellError(number, VALUE_COLUMN, message))
        elif month_ok:
            values[month] = value

    for month in period:
        if month not in seen:
            errors.append(CellError(0, "", _("No row for %(month)s.") % {"month": month_label(month)}))
    if errors:
        raise SheetRefused(errors)
    return {month: values[month] for month in period}


def _content_of(data) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if hasattr(data, "seek"):
        data.seek(0)
    return data.read()


def _sheet_refused(message: str) -> SheetRefused:
    return SheetRefused([CellError(0, "", message)])


def _unreadable() -> SheetRefused:
    return _sheet_refused(
        _("This file is not an XLSX workbook that can be read. Download the template and fill it in.")
    )


def _read_rows(content: bytes, max_rows: int) -> list[tuple[object, object]]:
    """The values of columns A and B of each row of the first worksheet, at most max_rows rows."""
    # The one upload checker: every member, under whatever name, is held to the cap (declared and
    # inflated size, compression ratio); macros, external links and DTDs are refused before openpyxl.
    try:
        check_workbook(content, max_unpacked=MAX_UNPACKED_BYTES, max_cells=MAX_CELLS)
    except ValidationError as error:
        if error.code in ("kind", "damaged"):
            raise _unreadable() from None
        raise _sheet_refused(error.messages[0]) from None

    workbook = None
    rows: list[tuple[object, object]] = []
    too_many = False
    try:
        workbook = openpyxl.load_workbook(BytesIO(content), read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        # The <dimension> a program writes may be wrong; trusting it could silently drop rows.
        sheet.reset_dimensions()
        for row in sheet.iter_rows(min_row=1, min_col=1, max_col=2, values_only=True):
            if len(rows) == max_rows:
                too_many = True
                break
            rows.append((row[0], row[1]) if len(row) == 2 else (None, None))
    except Exception:
        raise _unreadable() from None
    finally:
        if workbook is not None:
            workbook.close()
    if too_many:
        raise _sheet_refused(
            _(
                "The sheet has more than %(max)d rows. Keep one row per month of the monitoring period and "
                "delete the other rows."
            )
            % {"max": max_rows}
        )
    return rows


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _normalise_text(value: str) -> str:
    # NFKC turns full-width digits and punctuation typed with a Chinese input method into ASCII.
    return unicodedata.normalize("NFKC", value).strip().replace("\u2212", "-")


def _quote(value) -> str:
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_QUOTED_CHARS:
        text = text[: MAX_QUOTED_CHARS - 1] + "…"
    return text


def _parse_month(value) -> datetime.date | None:
    """First of the month in a text "YYYY-MM", "YYYY-M" or "YYYY/MM", or in a date cell; else None."""
    if isinstance(value, datetime.datetime | datetime.date):
        return datetime.date(value.year, value.month, 1)
    if not isinstance(value, str):
        return None
    match = MONTH_TEXT.fullmatch(_normalise_text(value))
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if year < 1 or not 1 <= month <= 12:
        return None
    return datetime.date(year, month, 1)


def _parse_value(value) -> tuple[Decimal | None, str | None]:
    """The MWh of a cell, or an error message."""
    quoted = _quote(repr(value) if isinstance(value, float) else value)
    number = None
    if isinstance(value, bool):
        number = None  # TRUE/FALSE cells: bool is an int in Python, but not a quantity.
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr gives the shortest text that reads back as the same float: 0.1 stays 0.1.
        number = Decimal(repr(value)) if math.isfinite(value) else None
    elif isinstance(value, str):
        text = _normalise_text(value)
        if NUMBER_TEXT.fullmatch(text):
            try:
                number = Decimal(text.replace(",", ""))
            except InvalidOperation:
                number = None
    if number is None:
        return None, _("“%(value)s” is not a number; enter the MWh in digits, for example 1234.567.") % {
            "value": quoted
        }
    if number < 0:
        return None, _("“%(value)s” is negative; enter zero or more MWh.") % {"value": quoted}
    if number > MAX_MWH_PER_MONTH:
        return None, _(
            "“%(value)s” is larger than any single grid-connected project produces in a month; check the "
            "unit (MWh, not kWh)."
        ) % {"value": quoted}
    if number != number.quantize(THOUSANDTH):
        return None, _("“%(value)s” has more than three decimal places; round it to three at most.") % {
            "value": quoted
        }
    if number == 0:
        number = Decimal(0)  # No "-0".
    return number, None
