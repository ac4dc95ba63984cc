"""A failed form does not silently lose the chosen file (issue 13).

Browsers cannot fill a file input in again. The business licence (sign-up, the organisation's details)
is kept after an error if it passed its checks, and the next submit uses it, checked again; every other
file field says after an error that the file must be chosen again.
"""

import hashlib
import re

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from offsets.models import Objection
from projects.models import Document
from registry import kept_uploads
from registry.forms import OrganisationForm
from registry.models import DocumentType, Organisation, OrgRole
from tests.factories import (
    PDF,
    admin_of,
    approved_declaration,
    make_declaration,
    make_member,
    make_organisation,
    make_project,
    organisation_data,
    phase_in_notice,
    reviewers,
)
from tests.hostile_files import valid_pdf

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
CHOOSE_AGAIN = "Choose the file again: for your security, files are not kept after an error."
KEPT = "Kept from your last attempt"
TOKEN = re.compile(r'name="business_licence-kept" value="([^"]+)"')


def sign_up_data(**overrides) -> dict:
    data = organisation_data()
    data.update(
        admin_name="新管理员",
        admin_email="founder@example.com",
        language="en",
        password1="long-enough-Pass-42",
        password2="long-enough-Pass-42",
    )
    data.update(overrides)
    return data


def sign_up(client, data):
    return client.post(reverse("registry:sign_up"), data, headers=EN)


def kept_token(response) -> str:
    match = TOKEN.search(response.text)
    assert match, "no kept file on the page"
    return match.group(1)


def held_entries() -> int:
    return sum(1 for key in cache._cache if "kept-upload:" in key)  # LocMemCache, the test cache


def licence(content=PDF, name="营业执照.pdf"):
    return SimpleUploadedFile(name, content)


# --- Sign-up: the licence is kept ----------------------------------------------------------------------


def stored_licences() -> set[str]:
    """Every licence file in storage now (other tests of this process may have stored some)."""
    if not default_storage.exists("licences"):
        return set()
    years = default_storage.listdir("licences")[0]
    return {f"{year}/{name}" for year in years for name in default_storage.listdir(f"licences/{year}")[1]}


def test_a_checked_licence_is_kept_after_an_error_and_used_by_the_next_submit(client):
    before = stored_licences()
    data = sign_up_data(password2="something-else-99")
    failed = sign_up(client, {**data, "business_licence": licence()})
    assert failed.status_code == 200
    assert "differ" in failed.text
    assert KEPT in failed.text and "营业执照.pdf" in failed.text
    assert CHOOSE_AGAIN not in failed.text
    # Held out of storage: nothing is stored before the sign-up succeeds.
    assert stored_licences() == before
    assert not Organisation.objects.filter(identifier=data["identifier"]).exists()

    # The browser sends the hidden token back, without a file.
    done = sign_up(
        client, {**data, "password2": data["password1"], "business_licence-kept": kept_token(failed)}
    )
    assert done.status_code == 302
    organisation = Organisation.objects.get(identifier=data["identifier"])
    assert organisation.business_licence_sha256 == hashlib.sha256(PDF).hexdigest()
    assert re.fullmatch(r"licences/\d{4}/[0-9a-f]{32}\.pdf", organisation.business_licence.name)
    assert organisation.business_licence.read() == PDF
    assert held_entries() == 0  # used once, then gone


def test_a_kept_licence_is_used_once_only(client):
    data = sign_up_data(password2="something-else-99")
    token = kept_token(sign_up(client, {**data, "business_licence": licence()}))
    sign_up(client, {**data, "password2": data["password1"], "business_licence-kept": token})
    again = sign_up(
        client,
        sign_up_data(admin_email="second@example.com", **{"business_licence-kept": token}),
    )
    assert again.status_code == 200
    assert "no longer kept" in again.text
    assert Organisation.objects.filter(business_licence_sha256=hashlib.sha256(PDF).hexdigest()).count() == 1


def test_a_failed_submit_again_keeps_the_kept_licence_again(client):
    data = sign_up_data(password2="something-else-99")
    token = kept_token(sign_up(client, {**data, "business_licence": licence()}))
    second = sign_up(client, {**data, "business_licence-kept": token})
    assert second.status_code == 200 and KEPT in second.text
    done = sign_up(
        client, {**data, "password2": data["password1"], "business_licence-kept": kept_token(second)}
    )
    assert done.status_code == 302
    assert Organisation.objects.get(identifier=data["identifier"]).business_licence_sha256


def test_a_new_file_replaces_the_kept_one(client):
    data = sign_up_data(password2="something-else-99")
    token = kept_token(sign_up(client, {**data, "business_licence": licence()}))
    other = valid_pdf(b"another licence")
    done = sign_up(
        client,
        {
            **data,
            "password2": data["password1"],
            "business_licence": licence(other),
            "business_licence-kept": token,
        },
    )
    assert done.status_code == 302
    organisation = Organisation.objects.get(identifier=data["identifier"])
    assert organisation.business_licence_sha256 == hashlib.sha256(other).hexdigest()
    assert held_entries() == 0


def test_a_token_is_worthless_in_another_browser(client):
    data = sign_up_data(password2="something-else-99")
    token = kept_token(sign_up(client, {**data, "business_licence": licence()}))
    stranger = Client()
    theirs = sign_up_data(admin_email="thief@example.com", **{"business_licence-kept": token})
    response = sign_up(stranger, theirs)
    assert response.status_code == 200
    assert "no longer kept" in response.text
    assert not Organisation.objects.filter(identifier=theirs["identifier"]).exists()
    assert held_entries() == 1  # still there for its owner


@pytest.mark.parametrize("token", ["forged", "x" * 5000, "", "WyJhYmMiXQ:1u2v3w:abc"])
def test_a_forged_or_missing_token_is_refused_and_creates_nothing(client, token):
    sign_up(client, {**sign_up_data(password2="something-else-99"), "business_licence": licence()})
    data = sign_up_data(admin_email="other@example.com", **{"business_licence-kept": token})
    response = sign_up(client, data)
    if token:
        assert response.status_code == 200
        assert "no longer kept" in response.text
        assert not Organisation.objects.filter(identifier=data["identifier"]).exists()
    else:  # an empty hidden field is no token: the sign-up goes on without a licence
        assert response.status_code == 302
        assert Organisation.objects.get(identifier=data["identifier"]).business_licence_sha256 == ""


def test_an_expired_kept_licence_asks_for_the_file_again(client):
    data = sign_up_data(password2="something-else-99")
    token = kept_token(sign_up(client, {**data, "business_licence": licence()}))
    for key in client.session[kept_uploads.SESSION_KEY]:  # as the cache does after KEEP_SECONDS
        cache.delete(f"kept-upload:{key}")
    response = sign_up(client, {**data, "password2": data["password1"], "business_licence-kept": token})
    assert response.status_code == 200
    assert "no longer kept" in response.text
    assert not Organisation.objects.filter(identifier=data["identifier"]).exists()


def test_a_kept_file_is_checked_again_like_a_new_one(client, monkeypatch):
    data = sign_up_data(password2="something-else-99")
    token = kept_token(sign_up(client, {**data, "business_licence": licence()}))
    # Whatever happened to the held bytes meanwhile, they pass the same checks as an upload.
    real_take = kept_uploads.UploadHolder.take
    monkeypatch.setattr(
        kept_uploads.UploadHolder,
        "take",
        lambda self, t: (
            real_take(self, t) and SimpleUploadedFile("x.pdf", b"%PDF-1.7 <script>alert(1)</script>")
        ),
    )
    response = sign_up(client, {**data, "password2": data["password1"], "business_licence-kept": token})
    assert response.status_code == 200
    assert "web page or script code" in response.text
    assert not Organisation.objects.filter(identifier=data["identifier"]).exists()


def test_a_refused_licence_is_not_kept_and_the_field_says_choose_again(client):
    data = sign_up_data(password2="something-else-99")
    response = sign_up(client, {**data, "business_licence": licence(b"MZ\x90\x00 not a pdf", "licence.pdf")})
    assert response.status_code == 200
    assert KEPT not in response.text and not TOKEN.search(response.text)
    assert CHOOSE_AGAIN in response.text
    assert held_entries() == 0


def test_no_note_without_an_error_or_without_a_file(client):
    assert CHOOSE_AGAIN not in client.get(reverse("registry:sign_up"), headers=EN).text
    without_file = sign_up(client, sign_up_data(password2="something-else-99"))
    assert without_file.status_code == 200
    assert CHOOSE_AGAIN not in without_file.text and KEPT not in without_file.text


def test_an_address_keeps_a_limited_number_of_files(client, monkeypatch):
    monkeypatch.setattr(kept_uploads, "KEEPS_PER_ADDRESS_PER_HOUR", 2)
    data = sign_up_data(password2="something-else-99")
    pages = [sign_up(Client(), {**data, "business_licence": licence()}) for _ in range(3)]
    assert [KEPT in page.text for page in pages] == [True, True, False]
    assert CHOOSE_AGAIN in pages[-1].text
    assert held_entries() == 2


def test_a_session_holds_a_limited_number_of_files(client, monkeypatch):
    monkeypatch.setattr(kept_uploads, "KEEPS_PER_SESSION", 2)
    data = sign_up_data(password2="something-else-99")
    tokens = [kept_token(sign_up(client, {**data, "business_licence": licence()})) for _ in range(3)]
    assert held_entries() == 2
    oldest = sign_up(client, {**data, "password2": data["password1"], "business_licence-kept": tokens[0]})
    assert "no longer kept" in oldest.text


# --- The organisation's details: the same form, the same keeping -----------------------------------------


def test_the_organisations_licence_is_kept_after_an_error(client):
    organisation = make_organisation()
    client.force_login(admin_of(organisation))
    form = OrganisationForm(instance=organisation)
    data = {name: "" if form[name].value() is None else form[name].value() for name in form.fields}
    data.pop("business_licence")
    url = reverse("registry:organisation_edit")
    failed = client.post(url, {**data, "identifier": "9142010", "business_licence": licence()}, headers=EN)
    assert failed.status_code == 200 and KEPT in failed.text
    done = client.post(url, {**data, "business_licence-kept": kept_token(failed)}, headers=EN)
    assert done.status_code == 302
    organisation.refresh_from_db()
    assert organisation.business_licence_sha256 == hashlib.sha256(PDF).hexdigest()


# --- Every other file field says the file must be chosen again ------------------------------------------


def test_the_objection_form_says_the_evidence_must_be_chosen_again(client):
    people = reviewers()
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    data = {"declaration": declaration.pk, "name": "王五", "reasons": "The readings do not match."}
    url = reverse("offsets:object", args=[phase.code])
    # No e-mail and no telephone: the form fails on another field than the file.
    with_file = client.post(url, {**data, "attachment": licence()}, headers=EN)
    assert with_file.status_code == 200
    assert CHOOSE_AGAIN in with_file.text
    without_file = client.post(url, data, headers=EN)
    assert CHOOSE_AGAIN not in without_file.text
    assert not Objection.objects.exists()


@pytest.mark.parametrize("body", [False, True], ids=["declarant", "verification body"])
def test_a_refused_document_says_choose_again(client, body):
    declaration = make_declaration()
    if body:
        client.force_login(admin_of(declaration.verification_body))
        doc_type = DocumentType.VERIFICATION_REPORT
    else:
        client.force_login(make_member(declaration.project.organisation, OrgRole.DECLARANT))
        doc_type = DocumentType.MONITORING_REPORT
    before = Document.objects.count()
    response = client.post(
        reverse("projects:declaration_upload", args=[declaration.pk]),
        {"doc_type": doc_type, "file": licence(b"MZ\x90\x00 not a pdf")},
        headers=EN,
    )
    assert response.status_code == 302
    message = str(list(get_messages(response.wsgi_request))[-1])
    assert "not a PDF, PNG, JPEG file" in message and message.endswith(CHOOSE_AGAIN)
    assert Document.objects.count() == before


def test_a_project_document_without_a_file_says_choose_again(client):
    project = make_project(docs=False)
    client.force_login(make_member(project.organisation, OrgRole.DECLARANT))
    response = client.post(
        reverse("projects:project_upload", args=[project.pk]), {"doc_type": "other"}, headers=EN
    )
    assert CHOOSE_AGAIN in str(list(get_messages(response.wsgi_request))[-1])


def test_a_refused_monitoring_sheet_says_choose_again(client):
    declaration = make_declaration()
    client.force_login(make_member(declaration.project.organisation, OrgRole.DECLARANT))
    big = SimpleUploadedFile("sheet.xlsx", b"PK\x03\x04" + b"0" * (2 * 1024 * 1024 + 1))
    response = client.post(
        reverse("projects:declaration_sheet", args=[declaration.pk]), {"sheet": big}, headers=EN
    )
    assert response.status_code == 302
    message = str(list(get_messages(response.wsgi_request))[-1])
    assert message == f"A monitoring sheet is at most 2 MB. {CHOOSE_AGAIN}"
