"""The monthly-generation XLSX: template, strict parser, and refusal of files that are not workbooks."""

import datetime
import os
import time
import zipfile
from decimal import Decimal
from io import BytesIO

import openpyxl
import openpyxl.xml
import pytest
from defusedxml import EntitiesForbidden
from django.utils import translation
from django.utils.translation import gettext

from projects.spreadsheets import (
    MAX_UNPACKED_BYTES,
    CellError,
    SheetRefused,
    monthly_template,
    months_of,
    read_monthly_sheet,
)

D = datetime.date
START, END = D(2022, 3, 15), D(2022, 5, 2)  # March, April, May
HEADER = ("Month (YYYY-MM)", "Electricity supplied or self-consumed (MWh)")
UNREADABLE = "This file is not an XLSX workbook that can be read. Download the template and fill it in."


def workbook(*rows, header=HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (header, *rows):
        sheet.append(row)
    output = BytesIO()
    book.save(output)
    return output.getvalue()


def refused(data, start=START, end=END, **kwargs) -> list[CellError]:
    with pytest.raises(SheetRefused) as caught:
        read_monthly_sheet(data, start, end, **kwargs)
    return caught.value.errors


def where(errors: list[CellError]) -> list[tuple[int, str]]:
    return [(error.row, error.column) for error in errors]


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
    "</Relationships>"
)
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def hand_made_xlsx(sheet_xml: str) -> bytes:
    """The smallest workbook openpyxl opens, with the given worksheet XML."""
    output = BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return output.getvalue()


def inline_row(number: int, month: str, value: str) -> str:
    return (
        f'<row r="{number}"><c r="A{number}" t="inlineStr"><is><t>{month}</t></is></c>'
        f'<c r="B{number}"><v>{value}</v></c></row>'
    )


# months_of


def test_months_of_a_calendar_year():
    assert months_of(D(2022, 1, 1), D(2022, 12, 31)) == [D(2022, month, 1) for month in range(1, 13)]


def test_months_of_a_partial_period_counts_every_month_it_touches():
    assert months_of(D(2022, 3, 15), D(2022, 5, 2)) == [D(2022, 3, 1), D(2022, 4, 1), D(2022, 5, 1)]


def test_months_of_across_a_new_year_and_within_one_day():
    assert months_of(D(2021, 11, 30), D(2022, 2, 1)) == [
        D(2021, 11, 1),
        D(2021, 12, 1),
        D(2022, 1, 1),
        D(2022, 2, 1),
    ]
    assert months_of(D(2022, 7, 9), D(2022, 7, 9)) == [D(2022, 7, 1)]


# Template


def test_template_lays_out_header_months_as_text_and_a_note():
    with translation.override("en"):
        data = monthly_template(D(2022, 1, 1), D(2022, 12, 31))
    sheet = openpyxl.load_workbook(BytesIO(data)).worksheets[0]
    assert sheet.title == "Monthly generation"
    assert (sheet["A1"].value, sheet["B1"].value) == HEADER
    for row, month in enumerate(range(1, 13), start=2):
        cell = sheet.cell(row=row, column=1)
        assert cell.value == f"2022-{month:02d}"
        assert cell.data_type == "s"
        assert cell.number_format == "@"
        assert sheet.cell(row=row, column=2).value is None
    assert sheet["A14"].value is None and sheet["B14"].value is None
    note = sheet["A15"].value
    assert "three decimal places" in note and "negative" in note and "one row per month" in note
    assert sheet.column_dimensions["A"].width >= 15
    assert sheet.column_dimensions["B"].width >= 40


def test_template_is_translated():
    with translation.override("zh-hans"):
        data = monthly_template(START, END)
        expected_title = gettext("Monthly generation")[:31]
        expected_header = (gettext("Month (YYYY-MM)"), gettext("Electricity supplied or self-consumed (MWh)"))
    sheet = openpyxl.load_workbook(BytesIO(data)).worksheets[0]
    assert sheet.title == expected_title
    assert (sheet["A1"].value, sheet["B1"].value) == expected_header


def test_template_round_trip():
    start, end = D(2021, 11, 10), D(2022, 2, 20)
    figures = {
        D(2021, 11, 1): Decimal("0.1"),
        D(2021, 12, 1): Decimal("1234.567"),
        D(2022, 1, 1): Decimal("0"),
        D(2022, 2, 1): Decimal("98765"),
    }
    book = openpyxl.load_workbook(BytesIO(monthly_template(start, end)))
    sheet = book.worksheets[0]
    for row in range(2, 6):
        month = D(*(int(part) for part in sheet.cell(row=row, column=1).value.split("-")), 1)
        sheet.cell(row=row, column=2, value=float(figures[month]))
    output = BytesIO()
    book.save(output)
    assert read_monthly_sheet(output.getvalue(), start, end) == figures


def test_unfilled_template_reports_every_month_without_a_value():
    errors = refused(monthly_template(START, END))
    assert where(errors) == [(2, "B"), (3, "B"), (4, "B")]
    assert {error.message for error in errors} == {gettext("No value for this month.")}


# Accepted forms


def test_text_months_in_every_accepted_form_and_a_file_object():
    data = workbook(("2022-03", 1), ("2022-4", 2), ("2022/05", 3))
    assert read_monthly_sheet(BytesIO(data), START, END) == {
        D(2022, 3, 1): Decimal(1),
        D(2022, 4, 1): Decimal(2),
        D(2022, 5, 1): Decimal(3),
    }


def test_file_object_already_read_is_rewound():
    handle = BytesIO(workbook(("2022-03", 1), ("2022-04", 2), ("2022-05", 3)))
    handle.read()
    assert len(read_monthly_sheet(handle, START, END)) == 3


def test_date_cells_and_full_width_text():
    data = workbook(
        (datetime.datetime(2022, 3, 1), 1),  # What Excel makes of "2022-03" typed in a General cell.
        (D(2022, 4, 17), 2),
        ("２０２２－０５", "１２．５"),  # Typed with a Chinese input method.
    )
    assert read_monthly_sheet(data, START, END) == {
        D(2022, 3, 1): Decimal(1),
        D(2022, 4, 1): Decimal(2),
        D(2022, 5, 1): Decimal("12.5"),
    }


def test_numeric_text_with_spaces_and_thousands_commas():
    data = workbook(("2022-03", " 1,234.5 "), ("2022-04", "999,999.000"), ("2022-05", "+42"))
    assert read_monthly_sheet(data, START, END) == {
        D(2022, 3, 1): Decimal("1234.5"),
        D(2022, 4, 1): Decimal("999999"),
        D(2022, 5, 1): Decimal("42"),
    }


def test_floats_become_the_decimal_that_was_typed():
    data = workbook(("2022-03", 0.1), ("2022-04", 1234.567), ("2022-05", 999999.999))
    result = read_monthly_sheet(data, START, END)
    assert result == {
        D(2022, 3, 1): Decimal("0.1"),
        D(2022, 4, 1): Decimal("1234.567"),
        D(2022, 5, 1): Decimal("999999.999"),
    }
    assert str(result[D(2022, 3, 1)]) == "0.1"
    assert str(result[D(2022, 4, 1)]) == "1234.567"


def test_limits_are_inclusive_and_trailing_zeros_are_not_extra_decimals():
    data = workbook(("2022-03", 0), ("2022-04", 1_000_000), ("2022-05", "2.5000"))
    assert read_monthly_sheet(data, START, END) == {
        D(2022, 3, 1): Decimal(0),
        D(2022, 4, 1): Decimal(1_000_000),
        D(2022, 5, 1): Decimal("2.5"),
    }


def test_blank_rows_notes_and_other_columns_are_ignored():
    data = workbook(
        (None, None),
        ("2022-03", 1, "a remark in column C"),
        ("   ", "  "),
        ("2022-04", 2),
        ("Subtotal", None),
        ("2022-05", 3),
        (None, None),
        ("Note: one row per month.", None),
        header=("月份", "电量"),  # The other language's template.
    )
    assert len(read_monthly_sheet(data, START, END)) == 3


def test_rows_beyond_a_wrong_dimension_are_still_read():
    rows = [
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Month</t></is></c></row>',
        inline_row(2, "2022-03", "1"),
        inline_row(3, "2022-04", "2"),
        inline_row(4, "2022-05", "3"),
        inline_row(5, "2022-06", "4"),
    ]
    sheet = (
        f'<worksheet xmlns="{SHEET_NS}"><dimension ref="A1:B2"/>'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )
    errors = refused(hand_made_xlsx(sheet))
    assert where(errors) == [(5, "A")]
    expected = gettext("%(month)s is outside the monitoring period (%(start)s to %(end)s).")
    assert errors[0].message == expected % {"month": "2022-06", "start": "2022-03-15", "end": "2022-05-02"}


# Errors, each with its row and column


def test_month_that_is_not_a_month():
    errors = refused(workbook(("2022-03", 1), ("March 2022", 2), ("2022-13", 3), (202205, 4), ("2022-05", 5)))
    assert where(errors) == [(3, "A"), (4, "A"), (5, "A"), (0, "")]
    assert errors[0].message == gettext("“%(value)s” is not a month; write it as YYYY-MM.") % {
        "value": "March 2022"
    }
    assert errors[1].message == gettext("“%(value)s” is not a month; write it as YYYY-MM.") % {
        "value": "2022-13"
    }
    assert errors[2].message == gettext("“%(value)s” is not a month; write it as YYYY-MM.") % {
        "value": "202205"
    }
    assert errors[3].message == gettext("No row for %(month)s.") % {"month": "2022-04"}


def test_value_without_a_month():
    errors = refused(workbook(("2022-03", 1), (None, 7), ("2022-04", 2), ("2022-05", 3)))
    assert where(errors) == [(3, "A")]
    assert errors[0].message == gettext("This row has a value but no month; write it as YYYY-MM.")


def test_month_outside_the_period():
    errors = refused(
        workbook(("2022-02", 9), ("2022-03", 1), ("2022-04", 2), ("2022-05", 3), ("2022-06", None))
    )
    assert where(errors) == [(2, "A"), (6, "A")]
    expected = gettext("%(month)s is outside the monitoring period (%(start)s to %(end)s).")
    assert errors[0].message == expected % {"month": "2022-02", "start": "2022-03-15", "end": "2022-05-02"}
    assert errors[1].message == expected % {"month": "2022-06", "start": "2022-03-15", "end": "2022-05-02"}


def test_same_month_twice_is_reported_on_the_second():
    errors = refused(workbook(("2022-03", 1), ("2022-04", 2), ("2022/3", 5), ("2022-05", 3)))
    assert where(errors) == [(4, "A")]
    assert errors[0].message == gettext("%(month)s appears twice.") % {"month": "2022-03"}


def test_month_without_a_value():
    errors = refused(workbook(("2022-03", 1), ("2022-04", None), ("2022-05", "  ")))
    assert where(errors) == [(3, "B"), (4, "B")]
    assert errors[0].message == gettext("No value for this month.")


def test_missing_months_are_sheet_level_and_last():
    errors = refused(workbook(("2022-04", "x")))
    assert where(errors) == [(2, "B"), (0, ""), (0, "")]
    assert errors[1] == CellError(0, "", gettext("No row for %(month)s.") % {"month": "2022-03"})
    assert errors[2] == CellError(0, "", gettext("No row for %(month)s.") % {"month": "2022-05"})


@pytest.mark.parametrize("value", ["abc", "1.2.3", "1,23", "12,34.5", "1e3", "NaN", "Infinity", "--1", True])
def test_value_that_is_not_a_number(value):
    errors = refused(workbook(("2022-03", value), ("2022-04", 2), ("2022-05", 3)))
    assert where(errors) == [(2, "B")]
    shown = str(value)
    message = gettext("“%(value)s” is not a number; enter the MWh in digits, for example 1234.567.")
    assert errors[0].message == message % {"value": shown}


def test_date_in_the_value_column_is_not_a_number():
    errors = refused(workbook(("2022-03", D(2022, 3, 1)), ("2022-04", 2), ("2022-05", 3)))
    assert where(errors) == [(2, "B")]
    assert "is not a number" in errors[0].message


@pytest.mark.parametrize(("value", "shown"), [(-1, "-1"), (-0.5, "-0.5"), ("-1,234.5", "-1,234.5")])
def test_negative_value(value, shown):
    errors = refused(workbook(("2022-03", value), ("2022-04", 2), ("2022-05", 3)))
    assert errors == [
        CellError(2, "B", gettext("“%(value)s” is negative; enter zero or more MWh.") % {"value": shown})
    ]


def test_negative_zero_is_zero():
    result = read_monthly_sheet(workbook(("2022-03", -0.0), ("2022-04", "-0"), ("2022-05", 3)), START, END)
    assert str(result[D(2022, 3, 1)]) == "0"
    assert str(result[D(2022, 4, 1)]) == "0"


@pytest.mark.parametrize(("value", "shown"), [(1.2345, "1.2345"), ("0.0001", "0.0001"), (1e-7, "1e-07")])
def test_more_than_three_decimal_places(value, shown):
    errors = refused(workbook(("2022-03", 1), ("2022-04", value), ("2022-05", 3)))
    message = gettext("“%(value)s” has more than three decimal places; round it to three at most.")
    assert errors == [CellError(3, "B", message % {"value": shown})]


@pytest.mark.parametrize(
    ("value", "shown"), [(1_000_001, "1000001"), (2_500_000.5, "2500000.5"), ("12,345,678", "12,345,678")]
)
def test_absurdly_large_value(value, shown):
    errors = refused(workbook(("2022-03", 1), ("2022-04", 2), ("2022-05", value)))
    message = gettext(
        "“%(value)s” is larger than any single grid-connected project produces in a month; check the "
        "unit (MWh, not kWh)."
    )
    assert errors == [CellError(4, "B", message % {"value": shown})]


def test_long_bad_text_is_shortened_in_the_message():
    errors = refused(workbook(("2022-03", "x" * 500), ("2022-04", 2), ("2022-05", 3)))
    assert len(errors[0].message) < 200
    assert "…" in errors[0].message


def test_every_error_is_reported_together_in_row_order():
    data = workbook(
        ("2022-03", "abc"),  # 2 B
        ("2022-02", 1),  # 3 A
        ("soon", 4),  # 4 A
        ("2022-03", -2),  # 5 A twice, 5 B negative
        ("2022-04", 1.23456),  # 6 B
        (None, 5),  # 7 A
    )
    errors = refused(data)
    assert where(errors) == [(2, "B"), (3, "A"), (4, "A"), (5, "A"), (5, "B"), (6, "B"), (7, "A"), (0, "")]
    assert errors[-1].message == gettext("No row for %(month)s.") % {"month": "2022-05"}


def test_error_messages_in_english():
    with translation.override("en"):
        errors = refused(workbook(("2022-03", "lots"), ("2022-04", 2), ("2022-05", 3)))
    assert errors == [
        CellError(2, "B", "“lots” is not a number; enter the MWh in digits, for example 1234.567.")
    ]


def test_error_messages_in_chinese_come_from_the_catalogue():
    with translation.override("zh-hans"):
        errors = refused(workbook(("2022-03", 1), ("2022-04", 2)))
        expected = gettext("No row for %(month)s.") % {"month": "2022-05"}
    assert errors == [CellError(0, "", expected)]


def test_sheet_refused_carries_its_errors():
    error = CellError(3, "B", "bad")
    refusal = SheetRefused([error])
    assert refusal.errors == [error]
    with pytest.raises(AttributeError):
        error.row = 4  # type: ignore[misc]


# Files that are not workbooks, or are hostile


def not_a_workbook_zip() -> bytes:
    output = BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr("hello.txt", "not a spreadsheet")
    return output.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n",
        b"",
        os.urandom(4096),
        b"PK\x03\x04" + os.urandom(200),
        not_a_workbook_zip(),
    ],
    ids=["pdf", "empty", "random", "truncated-zip", "zip-not-a-workbook"],
)
def test_file_that_is_not_a_workbook(data):
    assert refused(data) == [CellError(0, "", gettext(UNREADABLE))]


def test_file_that_is_not_a_workbook_in_english():
    with translation.override("en"):
        assert refused(not_a_workbook_zip()) == [CellError(0, "", UNREADABLE)]


def test_workbook_with_broken_sheet_xml():
    sheet = f'<worksheet xmlns="{SHEET_NS}"><sheetData>{inline_row(1, "x", "1")}<row r="2"><c'
    assert refused(hand_made_xlsx(sheet)) == [CellError(0, "", gettext(UNREADABLE))]


def test_too_many_rows():
    rows = [(f"note {number}", None) for number in range(20)]
    errors = refused(workbook(("2022-03", 1), ("2022-04", 2), ("2022-05", 3), *rows), max_rows=10)
    assert len(errors) == 1
    assert (errors[0].row, errors[0].column) == (0, "")
    assert "more than 10 rows" in errors[0].message


def test_rows_up_to_the_limit_are_fine():
    data = workbook(("2022-03", 1), ("2022-04", 2), ("2022-05", 3))
    assert len(read_monthly_sheet(data, START, END, max_rows=4)) == 3
    assert len(refused(data, max_rows=3)) == 1


def test_a_far_away_cell_is_too_many_rows_and_quick():
    rows = [
        inline_row(2, "2022-03", "1"),
        inline_row(3, "2022-04", "2"),
        inline_row(4, "2022-05", "3"),
        inline_row(1_048_576, "2022-06", "4"),
    ]
    sheet = f'<worksheet xmlns="{SHEET_NS}"><sheetData>{"".join(rows)}</sheetData></worksheet>'
    began = time.monotonic()
    errors = refused(hand_made_xlsx(sheet))
    assert time.monotonic() - began < 5
    assert len(errors) == 1 and "more than 400 rows" in errors[0].message


def test_defusedxml_is_active():
    assert openpyxl.xml.DEFUSEDXML is True


def test_entity_expansion_is_refused_not_expanded():
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{level} "{("&lol" + (str(level - 1) if level > 1 else "") + ";") * 10}">'
        for level in range(1, 10)
    ]
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<!DOCTYPE worksheet [{''.join(entities)}]>"
        f'<worksheet xmlns="{SHEET_NS}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    data = hand_made_xlsx(sheet)
    began = time.monotonic()
    errors = refused(data)
    assert time.monotonic() - began < 5
    # The upload checker stops it at the document type declaration, before openpyxl sees it ...
    assert len(errors) == 1 and "document type declaration" in errors[0].message
    # ... and openpyxl alone would stop it too: defusedxml, at the entity declarations.
    with pytest.raises(ValueError) as caught:
        openpyxl.load_workbook(BytesIO(data), read_only=True, data_only=True)
    assert isinstance(caught.value.__context__, EntitiesForbidden)


def test_zip_that_inflates_to_a_huge_sheet_is_refused_before_reading():
    padding = " " * (MAX_UNPACKED_BYTES + 1)
    sheet = f'<worksheet xmlns="{SHEET_NS}"><sheetData>{padding}</sheetData></worksheet>'
    data = hand_made_xlsx(sheet)
    assert len(data) < MAX_UNPACKED_BYTES // 100
    errors = refused(data)
    assert len(errors) == 1 and (errors[0].row, errors[0].column) == (0, "")
    assert "too large" in errors[0].message
