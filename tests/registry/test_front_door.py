"""The front door (issue 13): what `make run` shows a newcomer: mail a person can read, the portal's own
error pages, and the development defaults it keeps without DEBUG (ADR 0011)."""

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from django.urls import path

from config import urls as portal_urls

ROOT = Path(settings.BASE_DIR)

pytestmark = pytest.mark.django_db


# --- The embedded demo's settings, as `make run` computes them ---------------------------------------


def make_run_environment() -> dict[str, str]:
    """The variables the Makefile's `run` target exports (`run: export NAME ?= value`)."""
    found = re.findall(r"^run: export (\w+) \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "the Makefile's run target no longer exports the embedded demo's settings"
    return dict(found)


PROBE = """
import json
import django
from django.conf import settings
from django.core import checks

django.setup()
from registry.checkpoints import public_key

print(json.dumps({
    "DEBUG": settings.DEBUG,
    "EMBEDDED_DEMO": settings.EMBEDDED_DEMO,
    "SECRET_KEY": bool(settings.SECRET_KEY),
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_PROXY_SSL_HEADER": settings.SECURE_PROXY_SSL_HEADER,
    "mailer": settings.MAILERS["default"],
    "checkpoints_signed": public_key() is not None,
    "deploy_errors": sorted(
        m.id for m in checks.run_checks(include_deployment_checks=True) if m.level >= checks.ERROR
    ),
}, default=str))
"""


@pytest.mark.e2e  # manage.py in a subprocess
def test_make_run_is_the_embedded_demo_debug_off_yet_local(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MAIL_", "REDIS"))}
    env.pop("CHECKPOINT_SIGNING_KEY", None)
    env |= make_run_environment() | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    run = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    # Django's debug pages are off: visitors get the portal's own error pages.
    assert seen["DEBUG"] is False and seen["EMBEDDED_DEMO"] is True
    # Yet it still runs on a bare machine: plain HTTP on 127.0.0.1, development keys.
    assert seen["SECRET_KEY"] and "127.0.0.1" in seen["ALLOWED_HOSTS"]
    assert seen["SECURE_SSL_REDIRECT"] is False and seen["SESSION_COOKIE_SECURE"] is False
    assert seen["SECURE_HSTS_SECONDS"] == 0 and seen["SECURE_PROXY_SSL_HEADER"] is None
    assert seen["checkpoints_signed"] is True
    # Mail is kept where a person can read it.
    assert seen["mailer"]["BACKEND"] == "registry.mail.MailFolderBackend"
    assert Path(seen["mailer"]["OPTIONS"]["file_path"]) == ROOT / "var" / "mail"
    # And `check --deploy` refuses it, so the demo never passes for production.
    assert "registry.E003" in seen["deploy_errors"]


# --- Mail kept as files -------------------------------------------------------------------------------


def embedded_mailer(folder: Path):
    return override_settings(
        MAILERS={"default": {"BACKEND": "registry.mail.MailFolderBackend", "OPTIONS": {"file_path": folder}}}
    )


def test_a_mail_lands_as_a_file_with_its_attachment_and_prints_one_short_line(tmp_path, capsys):
    pdf = b"%PDF-1.7\n" + os.urandom(300_000)  # the size of a certificate: 400 KB once in base64
    message = mail.EmailMessage("登记证书 Registration certificate", "正文", None, ["gem.admin@demo.example"])
    message.attach("certificate-2023P01.pdf", pdf, "application/pdf")
    with embedded_mailer(tmp_path / "mail"):
        assert message.send() == 1

    [kept] = (tmp_path / "mail").glob("*.eml")
    opened = email.message_from_bytes(kept.read_bytes(), policy=email.policy.default)
    assert opened["To"] == "gem.admin@demo.example"
    assert opened["Subject"] == "登记证书 Registration certificate"
    assert opened.get_body(("plain",)).get_content().strip() == "正文"
    [attachment] = opened.iter_attachments()
    assert attachment.get_filename() == "certificate-2023P01.pdf"
    assert attachment.get_content() == pdf

    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and len(printed) < 300
    assert "gem.admin@demo.example" in printed and "登记证书 Registration certificate" in printed
    assert kept.name in printed and "1 attached" in printed
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", printed)


def test_mails_sent_together_each_keep_their_own_file_and_line(tmp_path, capsys):
    messages = [mail.EmailMessage(f"Notice {n}", "body", None, [f"user{n}@demo.example"]) for n in range(3)]
    with embedded_mailer(tmp_path):
        assert mail.mailers.default.send_messages(messages) == 3

    subjects = sorted(
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default)["Subject"]
        for f in tmp_path.glob("*.eml")
    )
    assert subjects == ["Notice 0", "Notice 1", "Notice 2"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("attached" not in line for line in lines)


# --- The portal's own error pages ---------------------------------------------------------------------


def boom(request):
    raise RuntimeError("a bug in a view")


# This module is also the URLconf of the tests below: the portal's URLs plus one view that fails.
urlpatterns = [path("front-door/boom/", boom), *portal_urls.urlpatterns]
handler404 = portal_urls.handler404
handler500 = portal_urls.handler500

TECHNICAL = ["URLconf", "DEBUG = True", "Traceback", "Request Method"]
PAGES = [
    ("/no-such-page/", 404, "zh-hans", "页面不存在"),
    ("/no-such-page/", 404, "en", "Page not found"),
    ("/front-door/boom/", 500, "zh-hans", "服务器错误"),
    ("/front-door/boom/", 500, "en", "Server error"),
]


@pytest.mark.parametrize(("url", "status", "language", "title"), PAGES)
def test_the_demo_answers_errors_with_the_portals_own_page(url, status, language, title):
    client = Client(raise_request_exception=False)
    with override_settings(DEBUG=False, EMBEDDED_DEMO=True, ROOT_URLCONF=__name__):
        response = client.get(url, headers={"accept-language": language})
    assert response.status_code == status
    text = response.text
    assert title in text
    assert f'lang="{"zh-Hans" if language == "zh-hans" else "en"}"' in text
    assert "css/portal.css" in text  # the portal's look, not Django's
    assert [word for word in TECHNICAL if word in text] == []


@pytest.mark.parametrize(
    ("url", "status", "marker"), [("/no-such-page/", 404, "URLconf"), ("/front-door/boom/", 500, "Traceback")]
)
def test_developers_still_get_djangos_debug_pages_with_debug_on(url, status, marker):
    client = Client(raise_request_exception=False)
    with override_settings(DEBUG=True, ROOT_URLCONF=__name__):
        response = client.get(url, headers={"accept-language": "en"})
    assert response.status_code == status
    assert marker in response.text
