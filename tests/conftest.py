"""Shared fixtures. Services a test needs are declared with markers: postgres, redis, browser.

Outside CI a missing service skips its tests with a message saying what to install. With CI=true the
same absence fails the test, and any skip at all fails the run (see pytest_sessionfinish).
"""

import os
import shutil

import pytest
from django.conf import settings
from django.db import connection

# Playwright's sync API runs an event loop in the test thread; the ORM must still be usable there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

STRICT = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def need(available: bool, message: str) -> None:
    if available:
        return
    if STRICT:
        pytest.fail(f"CI requires it: {message}", pytrace=False)
    pytest.skip(message)


def redis_available() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(settings.TEST_REDIS_URL, socket_connect_timeout=1)
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, created or reused (--reuse-db), starts empty. A transactional test commits its rows
    and removes them when it ends; a run killed during one (a timeout, ^C, a CI job cancelled) leaves them,
    and every later run reusing that database would find them: tests asserting that nothing was written
    failed by the hundred. Emptied as a transactional test's end empties it (flush, post_migrate again)."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        need(
            connection.vendor == "postgresql",
            "needs PostgreSQL on 127.0.0.1:5432 (apt-get install postgresql; or set TEST_DATABASE_URL)",
        )
    if item.get_closest_marker("redis"):
        need(
            redis_available(),
            "needs Redis on 127.0.0.1:6379 (apt-get install redis-server; or TEST_REDIS_URL)",
        )
    if item.get_closest_marker("browser"):
        need(CHROMIUM is not None, "needs Chromium for browser tests (apt-get install chromium)")


class _SkipCounter:
    skipped = 0

    def pytest_runtest_logreport(self, report):
        if report.skipped:
            self.skipped += 1


_skips = _SkipCounter()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A browser test is an end-to-end test: marked before `-m` selects, so `-m 'not e2e'` leaves it out."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config):
    config.pluginmanager.register(_skips, "carbon-registry-skip-counter")
    # The PDFs' compact font (ADR 0016), made here if `make test` has not made it yet, before any PDF: a
    # font appearing half-way through a run would make PDFs of one process differ from another's.
    from registry import pdf_fonts

    pdf_fonts.build()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if STRICT and _skips.skipped and session.exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(
                f"CI=true: {_skips.skipped} test(s) skipped; a skip fails the run in CI.", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def english_by_default():
    """Messages raised outside a request come out in English, whatever an earlier request activated.
    Tests of Chinese output say so with translation.override or an Accept-Language header."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttle counters and cached pages live in the cache: each test starts without another's (nor a
    checkpoint another test's retirement asked for), nor a day partition another test made and rolled back."""
    from django.core.cache import cache

    from offsets.behaviour import partitions
    from registry import checkpoints

    cache.clear()
    checkpoints._asked_until = 0.0
    partitions._known.clear()


@pytest.fixture(autouse=True)
def force_login_passes_the_second_factor():
    """client.force_login(user) stands for a whole login: the password and, for a user with an
    authenticator (make_bureau sets one up for every bureau user), the code. Two-factor login stays
    enforced: a login through the form, or a bureau user without an authenticator, still meets it."""
    from django.contrib.auth.signals import user_logged_in
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def verify(sender, request, user, **kwargs):
        # Only force_login's stand-in request has no user attribute: real requests all pass through
        # AuthenticationMiddleware.
        if hasattr(request, "user"):
            return
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            request.session[DEVICE_ID_SESSION_KEY] = device.persistent_id

    user_logged_in.connect(verify, dispatch_uid="tests.force_login_passes_the_second_factor")
    yield
    user_logged_in.disconnect(dispatch_uid="tests.force_login_passes_the_second_factor")


# --- Browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-dev-shm-usage",
        ],
    }


@pytest.fixture
def csp_violations(page):
    """Console messages about Content Security Policy violations seen during a browser test."""
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    return seen


@pytest.fixture
def reader(language):
    """A story test's reader of the pages a person reaches in `language` (its parameter): no English on a
    Chinese page, no raw event key, no error page, no CSP report (tests/browser_language.py). Each person
    the test opens with reader.person(browser) is closed after it: one browser serves every test."""
    from tests.browser_language import Reader

    reader = Reader(language)
    yield reader
    reader.close()
