"""A second "register" or objection never ends in a 500, on PostgreSQL and on the embedded SQLite default;
an objection answers with a redirect to its receipt (post-redirect-get)."""

import json
import os
import subprocess
import sys
from unittest import mock

import pytest
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse

from offsets import issuing
from offsets.models import Issuance, IssuancePhase, Objection, PhaseStatus
from offsets.views import OBJECTION_RECEIPT_SALT
from tests.factories import approved_declaration, closed_phase, phase_in_notice, reviewers

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def notice(people):
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    data = {
        "declaration": declaration.pk,
        "name": "王某",
        "email": "w@example.com",
        "reasons": "Counted twice",
    }
    return phase, data


def test_an_objection_answers_with_a_redirect_to_its_receipt(client, notice):
    phase, data = notice
    response = client.post(reverse("offsets:object", args=[phase.code]), data, headers=EN)
    assert response.status_code == 302
    receipt = client.get(response["Location"], headers=EN)
    assert "OBJ-2023P01-001" in receipt.text
    assert "w@example.com" not in receipt.text and "Counted twice" not in receipt.text
    assert "no-store" in receipt["Cache-Control"]
    client.get(response["Location"])  # F5 on the receipt files nothing
    assert Objection.objects.count() == 1


def test_a_receipt_address_cannot_be_guessed_or_moved(client, notice):
    phase, data = notice
    client.post(reverse("offsets:object", args=[phase.code]), data)
    objection = Objection.objects.get()
    guessed = reverse("offsets:objection_received", args=[phase.code, f"{objection.pk}"])
    forged = signing.dumps(objection.pk, salt="another purpose")
    assert client.get(guessed).status_code == 404
    assert client.get(reverse("offsets:objection_received", args=[phase.code, forged])).status_code == 404
    genuine = signing.dumps(objection.pk, salt=OBJECTION_RECEIPT_SALT)
    assert client.get(reverse("offsets:objection_received", args=["2099P01", genuine])).status_code == 404
    assert client.get(reverse("offsets:objection_received", args=[phase.code, genuine])).status_code == 200


def test_a_second_register_without_a_token_is_refused_with_a_message(client, people):
    phase = closed_phase([approved_declaration(people)], people)
    client.force_login(people["approver"])
    url = reverse("offsets:office_phase_act", args=[phase.code, "register"])
    client.post(url)
    again = client.post(url, headers=EN, follow=True)
    assert again.status_code == 200
    assert "only a phase whose notice has closed can be registered" in again.text
    assert Issuance.objects.filter(phase=phase).count() == 1


def test_a_phase_code_taken_at_the_same_moment_is_refused_with_a_message(people):
    """Both requests passed the "exists?" check before either inserted: the unique index decides."""
    issuing.create_phase(code="2023P01", title_zh="第一批", title_en="Phase 1", by=people["registry_admin"])
    with mock.patch.object(QuerySet, "exists", return_value=False), pytest.raises(ValidationError) as refused:
        issuing.create_phase(
            code="2023P01", title_zh="第一批", title_en="Phase 1", by=people["registry_admin"]
        )
    assert refused.value.messages == ["A phase with the code 2023P01 exists already."]
    assert IssuancePhase.objects.count() == 1


@pytest.mark.e2e
def test_two_registers_at_once_on_sqlite_make_one_registration_and_no_500(tmp_path):
    """The embedded default: both requests in register_phase at once (see sqlite_double_register.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
            "PRIVATE_FILES_ROOT": str(tmp_path / "files"),
            "LOG_LEVEL": "WARNING",
        }
    )
    out = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.offsets.sqlite_double_register", str(out)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result == {
        "statuses": [302, 302],
        "phase_status": PhaseStatus.REGISTERED,
        "issuances": 1,
        "owner_notified": True,
    }, run.stderr[-3000:]
