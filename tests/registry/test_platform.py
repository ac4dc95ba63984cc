import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from registry import views
from tests.factories import make_bureau, make_user

ROOT = Path(settings.BASE_DIR)

pytestmark = pytest.mark.django_db

PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "x7#kP2@vQ9!mZ4$wL8^nR3&tY6*bH1(cJ5)dF0-gS2+eA7=uW4_iO9",
    "DJANGO_ALLOWED_HOSTS": "registry.example.gov.cn",
    "REDIS_URL": "",
    "MAIL_HOST": "smtp.example.gov.cn",
    # base64 of 32 bytes: the Ed25519 key that signs the published checkpoints (registry.checkpoints)
    "CHECKPOINT_SIGNING_KEY": "n4Lh0bVd3Gq9yX2wKc7tJm5sZ1rE8uA6oPiT0fYgHkM=",
    "IDENTITY_HASH_KEY": "a-test-identity-hash-key-of-32-or-more-characters",
}


def run_manage(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e  # manage.py in a subprocess, with the environment under test
class TestDeploySettings:
    def test_deploy_check_passes_with_production_values(self, tmp_path):
        env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
        result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_deploy_check_fails_without_a_secret_key(self, tmp_path):
        env = {
            **PRODUCTION_ENV,
            "DJANGO_SECRET_KEY": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
        result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
        assert result.returncode != 0

    def test_deploy_check_fails_without_a_checkpoint_signing_key(self, tmp_path):
        env = {
            **PRODUCTION_ENV,
            "CHECKPOINT_SIGNING_KEY": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
        result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
        assert result.returncode != 0
        assert "registry.E002" in result.stderr + result.stdout

    def test_deploy_check_fails_without_an_identity_hash_key(self, tmp_path):
        env = {
            **PRODUCTION_ENV,
            "IDENTITY_HASH_KEY": "short",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
        result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
        assert result.returncode != 0
        assert "registry.E004" in result.stderr + result.stdout

    def test_seed_demo_is_refused_with_debug_off(self, tmp_path):
        env = {**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
        result = run_manage("seed_demo", env=env)
        assert result.returncode != 0
        assert "DEBUG off" in result.stderr


class TestSecurityHeaders:
    def test_csp_allows_only_our_own_origin(self, client):
        response = client.get(reverse("registry:home"))
        policy = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert "unsafe-inline" not in policy and "http" not in policy

    def test_pages_forbid_framing_and_sniffing(self, client):
        response = client.get(reverse("registry:home"))
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"

    def test_templates_contain_no_inline_script_or_style(self):
        offenders = []
        for path in (ROOT / "templates").rglob("*.html"):
            text = path.read_text()
            if "<script>" in text or " style=" in text or "<style" in text or "onclick=" in text:
                offenders.append(str(path.relative_to(ROOT)))
        assert offenders == []

    def test_static_assets_are_vendored_not_fetched(self):
        for path in (ROOT / "templates").rglob("*.html"):
            text = path.read_text()
            assert "https://" not in text and "http://" not in text, path


class TestHealthz:
    def test_reports_database_and_no_redis_when_not_configured(self, client):
        with override_settings(REDIS_URL=""):
            response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() | {"worker_last_seen": None} == {
            "status": "ok",
            "database": "ok",
            "redis": "not configured",
            "worker_last_seen": None,
        }

    @pytest.mark.redis
    def test_reports_redis_ok_when_reachable(self, client):
        with override_settings(REDIS_URL=settings.TEST_REDIS_URL):
            response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["redis"] == "ok"

    def test_answers_503_when_redis_is_configured_but_down(self, client):
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["status"] == "error"
        assert response.json()["redis"] == "error"

    def test_is_exempt_from_the_https_redirect(self, client):
        with override_settings(SECURE_SSL_REDIRECT=True):
            assert client.get("/healthz").status_code == 200
            assert client.get(reverse("registry:home")).status_code == 301

    def test_shows_the_last_worker_heartbeat(self, client):
        from registry.services import record_heartbeat

        beat = record_heartbeat("worker")
        assert client.get("/healthz").json()["worker_last_seen"] == beat.last_seen.isoformat()


class TestLanguage:
    def test_follows_the_browser(self, client):
        english = client.get(reverse("registry:home"), headers={"accept-language": "en"})
        chinese = client.get(reverse("registry:home"), headers={"accept-language": "zh-CN,zh;q=0.9"})
        assert "Carbon Inclusion Registry" in english.text
        assert 'lang="en"' in english.text
        assert "碳普惠" in chinese.text
        assert 'lang="zh-Hans"' in chinese.text

    def test_defaults_to_chinese(self, client):
        assert 'lang="zh-Hans"' in client.get(reverse("registry:home")).text

    def test_switcher_choice_is_remembered_over_the_browser(self, client):
        response = client.get(reverse("registry:switch_language"), {"language": "en", "next": "/notices/"})
        assert response.status_code == 302 and response.url == "/notices/"
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
        page = client.get(reverse("registry:home"), headers={"accept-language": "zh-CN"})
        assert 'lang="en"' in page.text

    def test_switcher_never_redirects_off_site_or_sets_an_unknown_language(self, client):
        response = client.get(
            reverse("registry:switch_language"), {"language": "xx", "next": "https://evil.example/"}
        )
        assert response.url == "/"
        assert settings.LANGUAGE_COOKIE_NAME not in response.cookies

    def test_cached_public_pages_carry_no_csrf_token(self, client):
        from django.core.cache import cache

        cache.clear()
        for url in ["/", "/notices/", "/registry/", "/verify/"]:
            assert "csrfmiddlewaretoken" not in client.get(url).text, url

    def test_switcher_is_on_every_face(self, client):
        bureau = make_bureau()
        client.force_login(bureau)
        for name in ["registry:home", "registry:office", "login"]:
            text = client.get(reverse(name)).text
            assert "/language/?language=en" in text and "/language/?language=zh-hans" in text, name

    def test_dates_and_numbers_are_formatted_per_language(self):
        from datetime import date

        from django.template import engines

        template = engines["django"].from_string("{% load humanize %}{{ d|date }}|{{ n|intcomma }}")
        with translation.override("en"):
            english = template.render({"d": date(2023, 12, 18), "n": 7609})
        with translation.override("zh-hans"):
            chinese = template.render({"d": date(2023, 12, 18), "n": 7609})
        assert english == "Dec. 18, 2023|7,609"
        assert chinese == "2023年12月18日|7,609"


class TestErrorPages:
    @pytest.mark.parametrize(("language", "text"), [("en", "Page not found"), ("zh-hans", "页面不存在")])
    def test_404_in_both_languages(self, client, language, text):
        response = client.get("/no-such-page/", headers={"accept-language": language})
        assert response.status_code == 404
        assert text in response.text

    @pytest.mark.parametrize(("language", "text"), [("en", "Access denied"), ("zh-hans", "无权访问")])
    def test_403_in_both_languages(self, client, language, text):
        client.force_login(make_user())
        response = client.get(reverse("registry:office"), headers={"accept-language": language})
        assert response.status_code == 403
        assert text in response.text

    @pytest.mark.parametrize(("language", "text"), [("en", "Server error"), ("zh-hans", "服务器错误")])
    def test_500_in_both_languages(self, rf, language, text):
        with translation.override(language):
            response = views.server_error(rf.get("/"))
        assert response.status_code == 500
        assert text in response.content.decode()


class TestSessions:
    def test_bureau_sessions_end_after_eight_idle_hours(self, client):
        client.force_login(make_bureau())
        client.get(reverse("registry:office"))
        assert client.session.get_expiry_age() == 8 * 3600

    def test_enterprise_sessions_keep_the_default_age(self, client):
        client.force_login(make_user())
        client.get(reverse("registry:portal"))
        assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE

    def test_login_lands_on_the_right_face(self, client):
        client.force_login(make_bureau())
        assert client.get(reverse("registry:dashboard")).url == reverse("registry:office")
        client.force_login(make_user())
        assert client.get(reverse("registry:dashboard")).url == reverse("registry:portal")


class TestTrustedProxy:
    def _seen_address(self, client, **headers):
        captured = {}

        def capture(request):
            captured["addr"] = request.META["REMOTE_ADDR"]
            return views.home(request)

        from registry.middleware import TrustedProxyMiddleware

        middleware = TrustedProxyMiddleware(capture)
        from django.test import RequestFactory

        middleware(RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", headers=headers))
        return captured["addr"]

    def test_takes_the_client_from_the_trusted_proxy_header(self, client):
        with override_settings(TRUSTED_PROXY_HEADER="X-Forwarded-For", TRUSTED_PROXY_COUNT=1):
            assert self._seen_address(client, x_forwarded_for="6.6.6.6, 203.0.113.7") == "203.0.113.7"

    def test_ignores_the_header_when_no_proxy_is_trusted(self, client):
        with override_settings(TRUSTED_PROXY_HEADER=""):
            assert self._seen_address(client, x_forwarded_for="203.0.113.7") == "10.0.0.2"
