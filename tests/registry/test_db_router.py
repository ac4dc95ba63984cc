"""The replica router's rule (registry/db_router.py, ADR 0015). The real replica is in tests/test_topology.py;
here the rule itself, request by request, with the "replica" alias present in the settings."""

import runpy
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpResponse
from django.urls import resolve

from registry.db_router import (
    PIN_COOKIE,
    PRIMARY,
    REPLICA,
    PrimaryReplicaRouter,
    ReplicaReadsMiddleware,
    replica_reads,
)
from registry.models import User

router = PrimaryReplicaRouter()


@pytest.fixture
def replica_configured(monkeypatch):
    monkeypatch.setitem(settings.DATABASES, REPLICA, {**settings.DATABASES[PRIMARY]})


@replica_reads
def public_page(request):
    return HttpResponse()


def portal_page(request):
    return HttpResponse()


def read_during(request, view) -> tuple[str, HttpResponse]:
    """The database the router picks for a read inside `view`, with the middleware around it as Django
    calls it (process_view, then the view), and the response."""
    seen = {}

    def handler(request):
        middleware.process_view(request, view, (), {})
        seen["db"] = router.db_for_read(User)
        return view(request)

    middleware = ReplicaReadsMiddleware(handler)
    response = middleware(request)
    return seen["db"], response


def anonymous(request):
    request.user = AnonymousUser()
    return request


def test_an_anonymous_visitor_reads_a_public_page_from_the_replica(replica_configured, rf):
    assert read_during(anonymous(rf.get("/registry/")), public_page)[0] == REPLICA
    assert read_during(anonymous(rf.head("/registry/")), public_page)[0] == REPLICA


def test_the_replica_is_only_open_during_the_view(replica_configured, rf):
    read_during(anonymous(rf.get("/registry/")), public_page)
    assert router.db_for_read(User) == PRIMARY


def test_pages_that_are_not_marked_public_read_the_primary(replica_configured, rf):
    assert read_during(anonymous(rf.get("/portal/cases/")), portal_page)[0] == PRIMARY


def test_a_logged_in_user_reads_the_primary_even_on_public_pages(replica_configured, rf):
    request = rf.get("/registry/")
    request.user = SimpleNamespace(is_authenticated=True)
    assert read_during(request, public_page)[0] == PRIMARY


def test_a_visitor_with_a_session_or_a_message_reads_the_primary(replica_configured, rf):
    for cookie in (settings.SESSION_COOKIE_NAME, "messages"):
        request = anonymous(rf.get("/registry/"))
        request.COOKIES[cookie] = "something of theirs"
        assert read_during(request, public_page)[0] == PRIMARY


def test_a_form_sent_pins_the_browser_to_the_primary_for_a_while(replica_configured, rf, settings):
    settings.REPLICA_PIN_SECONDS = 17
    db, response = read_during(anonymous(rf.post("/registry/")), public_page)
    assert db == PRIMARY
    assert response.cookies[PIN_COOKIE]["max-age"] == 17
    assert response.cookies[PIN_COOKIE]["httponly"]
    # Its next page, while the cookie lasts: the primary, so the visitor reads what they just wrote.
    request = anonymous(rf.get("/registry/"))
    request.COOKIES[PIN_COOKIE] = "1"
    assert read_during(request, public_page)[0] == PRIMARY


def test_reading_a_page_pins_nothing(replica_configured, rf):
    assert PIN_COOKIE not in read_during(anonymous(rf.get("/registry/")), public_page)[1].cookies


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_transaction_on_the_primary_stay_there(replica_configured, rf):
    def writing_page(request):
        seen["before"] = router.db_for_read(User)
        with transaction.atomic():
            seen["inside"] = router.db_for_read(User)
        return HttpResponse()

    seen = {}
    read_during(anonymous(rf.get("/registry/")), replica_reads(writing_page))
    assert seen == {"before": REPLICA, "inside": PRIMARY}


def test_without_a_replica_alias_every_read_goes_to_the_primary(rf):
    assert REPLICA not in settings.DATABASES
    assert read_during(anonymous(rf.get("/registry/")), public_page)[0] == PRIMARY


def test_every_write_goes_to_the_primary_and_the_replica_is_never_migrated():
    assert router.db_for_write(User) == PRIMARY
    assert router.allow_migrate(REPLICA, "registry") is False
    assert router.allow_migrate(PRIMARY, "registry") is None


@pytest.mark.parametrize(
    "path",
    [
        *("/", "/registry/", "/registry/WH-PV-0001/", "/notices/", "/notices/2026P01/", "/verify/"),
        *("/retirements/", "/open-data/projects.json", "/open-data/registry.xlsx"),
    ],
)
def test_the_public_pages_may_read_the_replica(path):
    assert resolve(path).func.replica_reads is True


@pytest.mark.parametrize(
    "path",
    ["/portal/cases/", "/office/phases/", "/dashboard/", "/notices/2026P01/object/", "/accounts/login/"],
)
def test_the_portal_office_and_forms_do_not(path):
    assert not getattr(resolve(path).func, "replica_reads", False)


def settings_with(monkeypatch, **env) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(settings.BASE_DIR / "config" / "settings.py"))


def test_settings_add_the_replica_router_and_middleware_only_with_replica_database_url(monkeypatch):
    monkeypatch.delenv("REPLICA_DATABASE_URL", raising=False)
    plain = settings_with(monkeypatch)
    assert list(plain["DATABASES"]) == ["default"]
    assert "DATABASE_ROUTERS" not in plain
    assert "registry.db_router.ReplicaReadsMiddleware" not in plain["MIDDLEWARE"]

    replicated = settings_with(
        monkeypatch,
        DATABASE_URL="postgres://portal@db-primary:5432/registry",
        REPLICA_DATABASE_URL="postgres://portal@db-replica:5432/registry",
    )
    assert replicated["DATABASES"]["replica"]["HOST"] == "db-replica"
    assert replicated["DATABASES"]["default"]["HOST"] == "db-primary"
    assert replicated["DATABASE_ROUTERS"] == ["registry.db_router.PrimaryReplicaRouter"]
    middleware = replicated["MIDDLEWARE"]
    # After authentication (it asks whether the visitor is logged in); django-axes stays last.
    assert middleware.index("registry.db_router.ReplicaReadsMiddleware") > middleware.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )
    assert middleware[-1] == "axes.middleware.AxesMiddleware"
