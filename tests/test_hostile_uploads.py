"""The hostile-upload corpus (tests/hostile_files.py) through every upload endpoint of the portal.

Every endpoint that takes a file, found by grepping for FileField and request.FILES:

- sign-up (anonymous): the business licence;
- the organisation's details (its admin): the business licence;
- a project's documents (its declarant);
- a declaration's documents (its declarant; the assigned verification body for its report);
- a declaration's monthly sheet (its declarant; XLSX, read and not stored);
- an objection during the public notice (anyone): the evidence.

Each file goes through the real view as the user who may upload there. None is stored (rows and
storage files are counted before and after), and each is refused with a message in the visitor's
language: the English message shows in English; with Accept-Language zh-hans the Chinese one shows
and the English one does not. Files take the two languages in turn, so each language meets every
endpoint and half the corpus, and the everyday suite stays quick.
Valid files with hostile names are accepted, stored under our name and served with a name we build.
"""

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from offsets.models import Objection
from projects.models import Document, MonitoringEntry
from registry.forms import OrganisationForm
from registry.models import DocumentType, Organisation, OrgRole
from registry.uploads import DOCUMENT_KINDS, XLSX, check_upload
from tests import hostile_files
from tests.factories import (
    admin_of,
    approved_declaration,
    make_bureau,
    make_declaration,
    make_member,
    make_organisation,
    make_project,
    organisation_data,
    phase_in_notice,
    reviewers,
)

pytestmark = pytest.mark.django_db

OUR_NAME = re.compile(r"[0-9a-f]{32}\.(pdf|png|jpg|xlsx)")
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[sd]")
ZH = "zh-hans"
# Small, so the oversized file stays small; above the largest file of the corpus (a zip bomb, ~60 kB).
LIMIT = 256 * 1024


# --- Language ------------------------------------------------------------------------------------------


def is_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def refusal(content: bytes, allowed: tuple[str, ...], language: str) -> tuple[str, str]:
    """The code and message the checker gives for content, in language."""
    with translation.override(language):
        if not content:
            return "empty", str(forms.FileField.default_error_messages["empty"])
        try:
            check_upload(SimpleUploadedFile("x", content), allowed=allowed)
        except ValidationError as error:
            return error.code, error.messages[0]
    raise AssertionError("the checker accepted it")


def shown_to_user(response) -> str:
    """The page; after a redirect, the message this request left for the next page (rendering that page
    for every file is slow; earlier messages still wait in the store, before this one)."""
    if response.status_code == 302:
        return escape(str(list(get_messages(response.wsgi_request))[-1]))
    return response.content.decode()


def stored_files() -> set[str]:
    def walk(path: str) -> set[str]:
        folders, files = default_storage.listdir(path)
        found = {str(PurePosixPath(path, name)) for name in files}
        for folder in folders:
            found |= walk(str(PurePosixPath(path, folder)))
        return found

    return walk("")


# --- The endpoints -----------------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    allowed: tuple[str, ...]
    client: object
    post: object  # (upload, language) -> response with the page that shows the message
    rows: object  # () -> something that changes whenever a file or its data is kept
    download: object = None  # (client) -> the response serving what was last stored

    def snapshot(self):
        return self.rows(), stored_files()


def _lang(language: str) -> dict:
    return {"HTTP_ACCEPT_LANGUAGE": language}


def sign_up_endpoint(client) -> Endpoint:
    def post(upload, language):
        data = organisation_data()
        data.update(
            admin_name="管理员",
            admin_email=f"admin-{data['identifier'].lower()}@example.com",
            language="en",
            password1="long-enough-Pass-42",
            password2="long-enough-Pass-42",
            business_licence=upload,
        )
        return client.post(reverse("registry:sign_up"), data, **_lang(language))

    def download(staff_client):
        organisation = Organisation.objects.exclude(business_licence="").latest("pk")
        return staff_client.get(reverse("registry:licence", args=[organisation.pk]))

    return Endpoint("sign-up licence", DOCUMENT_KINDS, client, post, Organisation.objects.count, download)


def organisation_endpoint(client) -> Endpoint:
    organisation = make_organisation()
    client.force_login(admin_of(organisation))

    def post(upload, language):
        form = OrganisationForm(instance=Organisation.objects.get(pk=organisation.pk))
        data = {
            name: "" if form[name].value() is None else form[name].value()
            for name in form.fields
            if name != "business_licence"
        }
        data["business_licence"] = upload
        return client.post(reverse("registry:organisation_edit"), data, **_lang(language))

    def rows():
        organisation.refresh_from_db()
        return organisation.business_licence.name, organisation.business_licence_sha256

    def download(staff_client):
        return staff_client.get(reverse("registry:licence", args=[organisation.pk]))

    return Endpoint("organisation licence", DOCUMENT_KINDS, client, post, rows, download)


def _document_endpoint(name, client, case, url_name, doc_type) -> Endpoint:
    def post(upload, language):
        url = reverse(url_name, args=[case.pk])
        return client.post(url, {"doc_type": doc_type, "file": upload}, **_lang(language))

    def download(staff_client):
        return staff_client.get(reverse("projects:document", args=[Document.objects.latest("pk").pk]))

    return Endpoint(name, DOCUMENT_KINDS, client, post, Document.objects.count, download)


def project_documents_endpoint(client) -> Endpoint:
    project = make_project(docs=False)
    client.force_login(make_member(project.organisation, OrgRole.DECLARANT))
    return _document_endpoint("project document", client, project, "projects:project_upload", "other")


def declaration_documents_endpoint(client) -> Endpoint:
    declaration = make_declaration()
    client.force_login(make_member(declaration.project.organisation, OrgRole.DECLARANT))
    return _document_endpoint(
        "declaration document",
        client,
        declaration,
        "projects:declaration_upload",
        DocumentType.MONITORING_REPORT,
    )


def verification_report_endpoint(client) -> Endpoint:
    declaration = make_declaration()
    client.force_login(admin_of(declaration.verification_body))
    return _document_endpoint(
        "verification report",
        client,
        declaration,
        "projects:declaration_upload",
        DocumentType.VERIFICATION_REPORT,
    )


def monthly_sheet_endpoint(client) -> Endpoint:
    declaration = make_declaration()
    client.force_login(make_member(declaration.project.organisation, OrgRole.DECLARANT))

    def post(upload, language):
        url = reverse("projects:declaration_sheet", args=[declaration.pk])
        return client.post(url, {"sheet": upload}, **_lang(language))

    def rows():
        return sorted(
            MonitoringEntry.objects.filter(declaration=declaration).values_list("month", "value_mwh")
        )

    return Endpoint("monthly sheet", (XLSX,), client, post, rows)


def objection_endpoint(client) -> Endpoint:
    people = reviewers()
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)

    def post(upload, language):
        data = {
            "declaration": declaration.pk,
            "name": "王五",
            "email": "objector@example.com",
            "reasons": "The meter readings do not match the grid company's settlement records.",
            "attachment": upload,
        }
        return client.post(reverse("offsets:object", args=[phase.code]), data, **_lang(language))

    def download(staff_client):
        objection = Objection.objects.latest("pk")
        return staff_client.get(reverse("offsets:objection_attachment", args=[objection.pk]))

    return Endpoint("objection evidence", DOCUMENT_KINDS, client, post, Objection.objects.count, download)


ENDPOINTS = [
    sign_up_endpoint,
    organisation_endpoint,
    project_documents_endpoint,
    declaration_documents_endpoint,
    verification_report_endpoint,
    monthly_sheet_endpoint,
    objection_endpoint,
]
STORING = [e for e in ENDPOINTS if e is not monthly_sheet_endpoint]


def _ids(functions):
    return [f.__name__.removesuffix("_endpoint") for f in functions]


# --- Tests ---------------------------------------------------------------------------------------------


def test_the_corpus_is_large_enough_and_made_by_code():
    files = hostile_files.corpus()
    assert len(files) >= 25
    assert len({f.key for f in files}) == len(files)


@pytest.mark.parametrize("make_endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
@override_settings(OBJECTIONS_PER_HOUR=10_000, UPLOAD_MAX_BYTES=LIMIT)
def test_every_hostile_file_is_refused_in_the_visitors_language_and_nothing_is_kept(make_endpoint, client):
    endpoint = make_endpoint(client)
    expected_code = "as_workbook" if endpoint.allowed == (XLSX,) else "as_document"
    files = [*hostile_files.corpus(), hostile_files.oversized(LIMIT)]
    problems = []
    before = endpoint.snapshot()
    for number, hostile in enumerate(files):
        code, english = refusal(hostile.content, endpoint.allowed, "en")
        assert code == getattr(hostile, expected_code), hostile.key
        _code, chinese = refusal(hostile.content, endpoint.allowed, ZH)
        assert is_chinese(chinese) and not is_chinese(english), hostile.key
        in_turn = (("en", english, None), (ZH, chinese, english))[number % 2]
        for language, shown, hidden in (in_turn,):
            upload = SimpleUploadedFile(hostile.filename, hostile.content)
            response = endpoint.post(upload, language)
            page = shown_to_user(response)
            if response.status_code >= 500 or escape(shown) not in page:
                problems.append(f"{hostile.key} ({language}): message {shown!r} not shown")
            if hidden is not None and escape(hidden) in page:
                problems.append(f"{hostile.key} ({language}): English message shown")
            if endpoint.snapshot() != before:
                problems.append(f"{hostile.key} ({language}): something was stored")
                before = endpoint.snapshot()
    assert problems == []


@pytest.mark.parametrize("make_endpoint", STORING, ids=_ids(STORING))
@override_settings(OBJECTIONS_PER_HOUR=10_000)
def test_hostile_names_on_a_valid_file_are_stored_and_served_under_our_names(make_endpoint, client):
    endpoint = make_endpoint(client)
    staff = client.__class__()
    staff.force_login(make_bureau("technical_reviewer"))
    content = hostile_files.valid_pdf()
    for name in hostile_files.HOSTILE_NAMES:
        before = stored_files()
        response = endpoint.post(SimpleUploadedFile(name, content), "en")
        assert response.status_code in (200, 302), name
        new = stored_files() - before
        assert len(new) == 1, (name, response.status_code)
        stored = PurePosixPath(new.pop())
        assert OUR_NAME.fullmatch(stored.name), stored
        assert ".." not in stored.parts
        served = endpoint.download(staff)
        assert served.status_code == 200
        disposition = served.headers["Content-Disposition"]
        assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+\.pdf"', disposition), disposition
        for part in ("passwd", "exe", "script", "system32", "xxxx", "营业执照", "\x00"):
            assert part not in disposition
        assert served.headers["Content-Type"] == "application/pdf"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert {"private", "no-store"} <= {
            part.strip() for part in served.headers["Cache-Control"].split(",")
        }
        assert b"".join(served.streaming_content) == content
