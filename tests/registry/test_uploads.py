"""registry.uploads: files are parsed, not sniffed; stored under our names; served with names we build."""

import datetime
import time
from email.message import Message

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from offsets import issuing
from projects.spreadsheets import SheetRefused, read_monthly_sheet
from registry import uploads
from registry.uploads import DOCUMENT_KINDS, XLSX, attachment, check_upload, display_name, storage_name
from tests import hostile_files
from tests.factories import (
    admin_of,
    approved_declaration,
    make_bureau,
    make_member,
    make_organisation,
    phase_in_notice,
    reviewers,
)

CORPUS = hostile_files.corpus()


def refusal_code(content: bytes, allowed) -> str | None:
    try:
        check_upload(SimpleUploadedFile("any.pdf", content), allowed=allowed)
    except ValidationError as error:
        return error.code
    return None


@pytest.mark.parametrize("hostile", CORPUS, ids=[h.key for h in CORPUS])
def test_every_hostile_file_is_refused_for_its_own_reason(hostile):
    assert refusal_code(hostile.content, DOCUMENT_KINDS) == hostile.as_document
    assert refusal_code(hostile.content, (XLSX,)) == hostile.as_workbook


def test_the_first_bytes_no_longer_decide():
    # Each starts like an accepted kind; none is one.
    for key in ("pdf_html_polyglot", "pdf_openaction_js", "png_html_appended", "jpeg_php_appended"):
        content = next(h for h in CORPUS if h.key == key).content
        assert uploads.kind_of(content[:8]) in DOCUMENT_KINDS
        assert refusal_code(content, DOCUMENT_KINDS) is not None


def test_real_pdfs_images_and_a_pdf_with_a_web_link_are_accepted():
    import weasyprint

    web_link = weasyprint.HTML(string='<p>报告 <a href="https://example.org/">link</a></p>').write_pdf()
    for content, kind in (
        (web_link, "pdf"),
        (hostile_files.encrypted_pdf(""), "pdf"),  # restricted by an owner password, opens without one
        (hostile_files.valid_pdf(), "pdf"),
        (hostile_files.valid_png(), "png"),
        (hostile_files.valid_jpeg(), "jpeg"),
    ):
        assert check_upload(SimpleUploadedFile("x", content)).kind == kind
    assert check_upload(SimpleUploadedFile("x", hostile_files.valid_xlsx()), allowed=(XLSX,)).kind == XLSX
    # The same link-bearing PDF with a script that runs on opening is not.
    opener = hostile_files.build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
            hostile_files.PAGES,
            hostile_files.PAGE,
            b"<< /S /URI /URI (https://example.org/) /Next << /S /JavaScript /JS (x) >> >>",
        ]
    )
    assert refusal_code(opener, DOCUMENT_KINDS) == "pdf_active"


def test_a_huge_image_is_refused_before_it_is_decoded():
    began = time.monotonic()
    assert refusal_code(hostile_files.png_bomb(30_000, 30_000), DOCUMENT_KINDS) == "pixels"
    assert time.monotonic() - began < 2


def test_a_worksheet_under_any_name_is_held_to_the_cap_before_openpyxl_reads_it():
    bomb = next(h for h in CORPUS if h.key == "xlsx_bomb_worksheet_under_any_name").content
    assert len(bomb) < 1024 * 1024
    began = time.monotonic()
    with pytest.raises(SheetRefused) as refused:
        read_monthly_sheet(bomb, datetime.date(2022, 1, 1), datetime.date(2022, 12, 31))
    assert time.monotonic() - began < 2
    assert "too large" in refused.value.errors[0].message


def test_a_row_wider_than_excel_is_refused_before_openpyxl_holds_it():
    wide = next(h for h in CORPUS if h.key == "xlsx_row_of_too_many_cells").content
    with pytest.raises(SheetRefused) as refused:
        read_monthly_sheet(wide, datetime.date(2022, 1, 1), datetime.date(2022, 12, 31))
    assert "too many cells" in refused.value.errors[0].message


def test_openpyxl_parses_with_defusedxml():
    import openpyxl.xml
    from defusedxml.ElementTree import iterparse as defused_iterparse
    from openpyxl.worksheet import _reader

    assert openpyxl.xml.DEFUSEDXML is True
    assert _reader.iterparse is defused_iterparse


# --- Names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\evil.pdf", "evil.pdf"),
        ("nul\x00byte.pdf", "nulbyte.pdf"),
        ("line\r\nbreak\u202egnp.pdf", "linebreakgnp.pdf"),
        ("营业执照.pdf", "营业执照.pdf"),
    ],
)
def test_display_names_keep_no_folders_or_control_characters(name, shown):
    assert display_name(name) == shown


def test_display_names_are_capped_keeping_the_extension():
    shown = display_name("x" * 300 + ".pdf", max_length=200)
    assert len(shown) == 200 and shown.endswith(".pdf")


def test_storage_names_are_random_with_the_checked_kinds_extension():
    checked = check_upload(SimpleUploadedFile("photo.pdf.exe", hostile_files.valid_png()))
    first, second = storage_name(checked), storage_name(checked)
    assert first != second
    assert first.endswith(".png") and len(first) == 32 + 4


# --- Serving ----------------------------------------------------------------------------------------


def _filename(response) -> str:
    message = Message()
    message["Content-Disposition"] = response.headers["Content-Disposition"]
    return message.get_filename()


def test_attachment_names_chinese_files_with_rfc_5987_and_sets_the_safety_headers():
    response = attachment(b"%PDF-", kind="pdf", stem="营业执照-WH-PV-0001 v1")
    assert response.headers["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    assert _filename(response) == "营业执照-WH-PV-0001-v1.pdf"
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_attachment_of_an_unknown_kind_is_opaque_bytes():
    response = attachment(b"<html>", kind=None, stem='a"b/../c.html')
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert _filename(response) == "a-b-.-c.html.bin"


@pytest.mark.django_db
class TestServedFiles:
    def test_a_licence_under_an_old_html_name_is_served_as_opaque_bytes_under_our_name(self, client):
        organisation = make_organisation()
        organisation.business_licence.save("evil.html", ContentFile(b"<script>alert(1)</script>"))
        client.force_login(admin_of(organisation))
        response = client.get(reverse("registry:licence", args=[organisation.pk]))
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert _filename(response) == f"business-licence-{organisation.identifier}.bin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    def test_an_uploaded_png_licence_is_served_as_png_under_our_name(self, client):
        organisation = make_organisation()
        upload = SimpleUploadedFile("logo.svg.png", hostile_files.valid_png())
        checked = check_upload(upload)
        upload.name = storage_name(checked)
        organisation.business_licence = upload
        organisation.save()
        client.force_login(admin_of(organisation))
        response = client.get(reverse("registry:licence", args=[organisation.pk]))
        assert response.headers["Content-Type"] == "image/png"
        assert _filename(response) == f"business-licence-{organisation.identifier}.png"


@pytest.mark.django_db
def test_objection_evidence_is_served_to_those_who_rule_and_to_nobody_else(client):
    people = reviewers()
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    objection = issuing.file_objection(
        phase,
        declaration=declaration,
        name="王五",
        organisation="",
        email="objector@example.com",
        phone="",
        reasons="Readings differ.",
        attachment=ContentFile(hostile_files.valid_jpeg(), name="../evidence.php.jpg"),
    )
    assert objection.attachment.name.endswith(".jpg") and "evidence" not in objection.attachment.name
    url = reverse("offsets:objection_attachment", args=[objection.pk])
    assert client.get(url).status_code == 404  # the public
    owner = declaration.project.organisation
    for user in (admin_of(owner), make_member(owner), make_bureau("intake_officer"), make_bureau("approver")):
        client.force_login(user)
        assert client.get(url).status_code == 404, user
    client.force_login(people["technical_reviewer"])
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert _filename(response) == f"objection-{objection.reference}.jpg"
    assert b"".join(response.streaming_content) == hostile_files.valid_jpeg()
    page = client.get(reverse("offsets:office_phase", args=[phase.code])).content.decode()
    assert url in page


def test_pdfs_that_only_start_right_are_refused_with_a_reason_a_person_understands():
    with pytest.raises(ValidationError) as caught:
        check_upload(SimpleUploadedFile("a.pdf", next(h for h in CORPUS if h.key == "pdf_launch").content))
    assert "scripts, actions" in caught.value.messages[0]
