"""The once-only token of state-changing forms (registry.middleware.OnceOnlyMiddleware, ADR 0008).

Exercised through real forms: a public objection (anonymous) and "register the phase" (the bureau).
"""

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from offsets import issuing
from offsets.models import Issuance, IssuancePhase, Objection, PhaseStatus
from registry.middleware import OnceOnlyMiddleware
from tests.factories import approved_declaration, closed_phase, phase_in_notice, reviewers

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ALREADY_SENT = "This form had already been sent; it was acted on once. Here is the result."


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def notice(people):
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    url = reverse("offsets:object", args=[phase.code])
    data = {
        "declaration": declaration.pk,
        "name": "王某",
        "email": "w@example.com",
        "reasons": "Counted twice",
    }
    return url, data


def token() -> str:
    return uuid.uuid4().hex


def test_the_same_objection_sent_twice_is_filed_once_and_both_see_its_receipt(client, notice):
    url, data = notice
    data = {**data, "_once": token()}
    first = client.post(url, data, headers=EN)
    second = client.post(url, data, headers=EN, follow=True)
    assert Objection.objects.count() == 1
    assert second.redirect_chain == [(first["Location"], 302)]
    assert "OBJ-2023P01-001" in second.text
    assert ALREADY_SENT in second.text


def test_different_tokens_are_different_submissions(client, notice):
    url, data = notice
    client.post(url, {**data, "_once": token()})
    client.post(url, {**data, "_once": token()})
    assert Objection.objects.count() == 2


def test_a_post_without_a_token_runs_as_before(client, notice):
    """Chosen: no token, no replay. Logins and API clients post without one; services still refuse a second
    transition (test_double_submission), and every form the portal renders carries a token (below)."""
    url, data = notice
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302
    assert Objection.objects.count() == 2


def test_a_form_refused_for_its_content_frees_its_token(client, notice):
    url, data = notice
    once = token()
    refused = client.post(url, {**data, "reasons": "", "_once": once}, headers=EN)
    assert refused.status_code == 200 and not Objection.objects.exists()
    corrected = client.post(url, {**data, "_once": once}, headers=EN)
    assert corrected.status_code == 302
    assert Objection.objects.count() == 1


@pytest.mark.parametrize("bad", ["x", "' OR 1=1 --", "A" * 32, "5a206d0f4fc4489a8672a21bad06294000"])
def test_a_malformed_token_is_refused_with_a_message_and_changes_nothing(client, notice, bad):
    url, data = notice
    response = client.post(url, {**data, "_once": bad}, headers=EN)
    assert response.status_code == 400
    assert "This form could not be read. Reload the page and send it again." in response.text
    assert not Objection.objects.exists()


def test_a_duplicate_of_a_request_still_running_says_so(client, notice, monkeypatch):
    """The first request holds the token and has not answered yet (here: for longer than the wait)."""
    url, data = notice
    monkeypatch.setattr(OnceOnlyMiddleware, "WAIT_SECONDS", 0)
    monkeypatch.setattr("registry.middleware.cache.add", lambda *args, **kwargs: False)
    monkeypatch.setattr("registry.middleware.cache.get", lambda *args, **kwargs: {"location": None})
    response = client.post(
        url, {**data, "_once": token()}, headers={**EN, "referer": "https://evil.example/"}
    )
    assert response.status_code == 409
    assert "The first request is still being processed" in response.text
    assert 'href="https://evil.example/' not in response.text
    assert not Objection.objects.exists()


def test_register_sent_twice_registers_once_and_shows_the_first_result(client, people):
    phase = closed_phase([approved_declaration(people)], people)
    client.force_login(people["approver"])
    url = reverse("offsets:office_phase_act", args=[phase.code, "register"])
    once = token()
    client.post(url, {"_once": once}, headers=EN)
    again = client.post(url, {"_once": once}, headers=EN, follow=True)
    assert IssuancePhase.objects.get(pk=phase.pk).status == PhaseStatus.REGISTERED
    assert Issuance.objects.filter(phase=phase).count() == 1
    assert again.redirect_chain == [(reverse("offsets:office_phase", args=[phase.code]), 302)]
    text = again.text
    assert ALREADY_SENT in text and "Recorded." in text  # the first answer's own message, replayed
    assert "only a phase whose notice has closed" not in text


def test_tokens_are_kept_per_browser(client, notice, people):
    """The same token value from another browser (another CSRF secret) is not a duplicate."""
    url, data = notice
    once = token()
    client.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
    client.post(url, {**data, "_once": once})
    client.cookies[settings.CSRF_COOKIE_NAME] = "b" * 32
    client.post(url, {**data, "_once": once})
    assert Objection.objects.count() == 2


def test_every_rendered_form_carries_a_fresh_token(client, people):
    first, second = approved_declaration(people), approved_declaration(people)
    phase = issuing.create_phase(
        code="2023P01", title_zh="第一批", title_en="Phase 1", by=people["registry_admin"]
    )
    issuing.add_to_phase(phase, by=people["registry_admin"], declarations=[first])
    client.force_login(people["registry_admin"])
    page = client.get(reverse("offsets:office_phase", args=[phase.code])).text
    forms = [
        form
        for form in re.findall(r"<form\b[^>]*>.*?</form>", page, flags=re.S)
        if 'method="post"' in form and "/logout/" not in form
    ]
    tokens = [re.search(r'name="_once" value="([0-9a-f]{32})"', form) for form in forms]
    assert len(forms) == 3  # remove the first declaration, add the second, submit the phase
    assert all(tokens)
    assert len({t.group(1) for t in tokens}) == len(tokens)
    assert str(second.pk) in page


# The forms that change nothing the registry records, or whose first answer replaces the session (a replay
# could not bring the new session back): logging in and out, and the second step of a login.
WITHOUT_TOKEN = {
    "base.html": "logout",
    "registration/login.html": "log in",
    "registration/mfa_verify.html": "second step, and logout",
    "registration/mfa_enrol.html": "second step, and logout",
}


def test_every_state_changing_form_in_the_templates_has_a_once_token():
    root = Path(settings.BASE_DIR) / "templates"
    missing = []
    for path in sorted(root.rglob("*.html")):
        name = path.relative_to(root).as_posix()
        if name in WITHOUT_TOKEN:
            continue
        for form in re.findall(r"<form\b[^>]*>.*?</form>", path.read_text(), flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I) and "{% once_token %}" not in form:
                missing.append(f"{name}: {form[:80]}")
    assert not missing, "\n".join(missing)
