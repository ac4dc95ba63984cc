"""Public pages are cached for anonymous visitors only; a page made for one visitor never reaches another."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import Client
from django.urls import reverse

from registry.caching import cache_for_anonymous
from tests.factories import file_project, make_bureau, make_project

pytestmark = pytest.mark.django_db

APPROVER_NAME = "审批人王五 Approver Wang"


@pytest.fixture
def public_urls():
    project = file_project(make_project())
    # The query string makes each URL one nobody opened before (the attacker's ?x=2).
    return [
        "/?x=2",
        "/notices/?x=2",
        "/registry/?x=2",
        f"{reverse('offsets:project', args=[project.code])}?x=2",
    ]


@pytest.fixture
def approver():
    return make_bureau("approver", full_name=APPROVER_NAME)


def logged_in(client, user):
    client.force_login(user)
    return client


def assert_anonymous_page(response):
    assert response.status_code == 200
    text = response.text
    assert APPROVER_NAME not in text
    assert reverse("logout") not in text
    assert "csrfmiddlewaretoken" not in text
    assert reverse("login") in text


def test_a_page_rendered_for_an_approver_is_never_served_to_an_anonymous_visitor(
    client, public_urls, approver
):
    for url in public_urls:
        mine = logged_in(Client(), approver).get(url)
        assert APPROVER_NAME in mine.text, url
        assert_anonymous_page(client.get(url))


def test_an_approver_never_gets_the_anonymous_copy(client, public_urls, approver):
    for url in public_urls:
        assert_anonymous_page(client.get(url))
        assert_anonymous_page(client.get(url))  # now served from the cache
        mine = logged_in(Client(), approver).get(url)
        assert APPROVER_NAME in mine.text, url
        assert reverse("logout") in mine.text, url


def test_pages_of_logged_in_users_say_private_and_no_store(client, public_urls, approver):
    logged_in(client, approver)
    for url in [*public_urls, reverse("registry:office"), reverse("registry:inbox")]:
        directives = {d.strip() for d in client.get(url)["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, url


def test_public_pages_are_still_cached_for_anonymous_visitors(client, public_urls):
    for url in public_urls:
        response = client.get(url)
        assert "max-age=60" in response["Cache-Control"], url
        assert "private" not in response["Cache-Control"], url


def test_a_page_holding_a_csrf_token_says_private_even_to_an_anonymous_visitor(client):
    response = client.get(reverse("login"))
    assert "csrfmiddlewaretoken" in response.text
    assert "private" in response["Cache-Control"]


def test_a_visitor_with_a_session_neither_reads_nor_fills_the_cache(client, rf, settings):
    calls = []

    @cache_for_anonymous(60)
    def view(request):
        calls.append(request)
        return HttpResponse(f"page {len(calls)}")

    def request(**cookies):
        req = rf.get("/anything/")
        req.user = AnonymousUser()
        req.COOKIES.update(cookies)
        return req

    assert view(request()).content == b"page 1"
    assert view(request()).content == b"page 1"  # cached for anonymous visitors
    with_session = view(request(**{settings.SESSION_COOKIE_NAME: "abc"}))
    assert with_session.content == b"page 2"
    assert "no-store" in with_session["Cache-Control"]
    cache.clear()
    view(request(**{settings.SESSION_COOKIE_NAME: "abc"}))
    assert view(request()).content == b"page 4"  # the session visitor's page was not stored


def test_a_page_that_used_a_csrf_token_is_not_stored(rf):
    calls = []

    @cache_for_anonymous(60)
    def view(request):
        calls.append(request)
        return HttpResponse(f"token {get_token(request)}")

    def request():
        req = rf.get("/form/")
        req.user = AnonymousUser()
        return req

    first, second = view(request()), view(request())
    assert len(calls) == 2
    assert first.content != second.content
    assert "private" in first["Cache-Control"]


def test_no_view_uses_djangos_session_blind_page_cache():
    """cache_for_anonymous is the one page cache: Django's cache_page (and the site-wide cache middleware)
    key pages without the session, which served one visitor's page to the next."""
    import re
    from pathlib import Path

    from django.conf import settings as django_settings

    use = re.compile(r"cache_page\(|import .*\bcache_page\b")
    offenders = [
        str(path)
        for app in ("registry", "projects", "offsets", "config")
        for path in (Path(django_settings.BASE_DIR) / app).rglob("*.py")
        if use.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert not any("middleware.cache" in name for name in django_settings.MIDDLEWARE)
