"""Generated hostile input into every URL pattern, query parameter and form field: never a 500.

Nothing here lists the portal's URLs or parameters by hand:
- the URL patterns are walked from config.urls (includes, converters, the admin's regex patterns);
- the parameters and form fields of a pattern are the keys its view reads from request.GET and request.POST,
  recorded while probing it (forms, filters, formsets and plain .get() calls alike);
- the real values put into path segments and fields half of the time (so that views get past their 404)
  are the world's objects and whatever the portal's own pages link to and offer in their forms.

Each pattern is tried as whoever of an anonymous visitor, an enterprise declarant, the enterprise's
administrator and a bureau user holding every role gets into its view (everyone, if nobody does), by GET
(query string) and POST (form body, CSRF checks off as in Django's test client). Every example runs in a
savepoint that is rolled back, so each starts from the same world; a response of 500, or an exception,
fails with the request in the message.

The everyday profile tries a few examples per pattern; the `fuzz` marker runs many more (CI runs both).
"""

import html.parser
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from django.urls import resolve
from django.urls.exceptions import Resolver404
from django.utils.datastructures import MultiValueDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.urls_walk import Route, discover_routes

pytestmark = pytest.mark.django_db

EVERYDAY_EXAMPLES = 3
DEEP_EXAMPLES = 50
IDENTITIES = ("anonymous", "declarant", "org_admin", "bureau")
ROLES = ("intake_officer", "technical_reviewer", "expert", "approver", "registry_admin")


# --- The URL patterns, from the resolver -------------------------------------------------------------


ROUTES = discover_routes()


# --- Generated values --------------------------------------------------------------------------------

# What a number parser meets: str.isdigit() is true of "²" and "¹²", which int() refuses; "١٢" is read.
NUMERIC_TRAPS = [
    "0",
    "-1",
    "1.5",
    " 1",
    "²",
    "¹²",
    "³",
    "١٢",
    "０１",
    "9" * 30,
    "-" + "9" * 30,
    "NaN",
    "inf",
    "1e309",
]
SPECIAL = [
    "",
    " ",
    "Infinity",
    "߃",
    "𝟙",
    "½",
    str(2**63),
    str(2**31),
    "\x00",
    "a\x00b",
    "%00",
    "/",
    "../..",
    "..\\..",
    "a/b",
    "~",
    "NaN~1",
    "1~NaN",
    "~1",
    "2023-02-30",
    "2023-13-45T25:61:00+00:00~1",
    "on",
    "null",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\r\nX-Injected: 1",
    "\u202e",
    "碳普惠",
]
HOSTILE = st.one_of(
    # The known troublemakers first and most often; then anything.
    st.sampled_from(NUMERIC_TRAPS),
    st.sampled_from(SPECIAL),
    st.text(max_size=30),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    # Very long strings of digits, separators, NUL, superscripts and CJK.
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "9", "²", "/", "\x00", "中", "-"]), st.integers(200, 3000)
    ),
)


def values_for(name: str, pool: dict[str, set[str]]) -> st.SearchStrategy[str]:
    """A real value (from the world and the portal's own pages) half of the time, a hostile one otherwise."""
    real = sorted(pool.get(name, ()))
    if not real:
        return HOSTILE
    return st.one_of(st.sampled_from(real), HOSTILE)


# --- What the portal's pages link to and offer, and what a view reads --------------------------------


class _Harvest(html.parser.HTMLParser):
    """Links, and forms with their fields' names and values (a form without action posts to its page)."""

    def __init__(self, page: str):
        super().__init__()
        self.page = page
        self.hrefs: list[str] = []
        self.fields: list[tuple[str, str, str]] = []  # (form action, name, value)
        self._action = ""
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        elif tag == "form":
            self._action = attrs.get("action") or self.page
            self.hrefs.append(self._action)
        elif tag in ("input", "button", "textarea") and attrs.get("name"):
            self.fields.append((self._action, attrs["name"], attrs.get("value") or ""))
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select and attrs.get("value"):
            self.fields.append((self._action, self._select, attrs["value"]))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._action = ""


def _route_of(href: str):
    parts = urlsplit(href)
    if parts.netloc or not parts.path.startswith("/"):
        return None, parts
    try:
        return resolve(parts.path), parts
    except Resolver404:
        return None, parts


def harvest(response, world) -> None:
    """Add what a page links to (whole paths, by route), the fields its forms send (by route) and the values
    it offers (by name) to the world."""
    if "html" not in response.get("Content-Type", ""):
        return
    parser = _Harvest(response.wsgi_request.path)
    parser.feed(response.content.decode(errors="replace"))
    for href in parser.hrefs:
        match, parts = _route_of(href)
        if match is None:
            continue
        if match.kwargs:
            world.paths.setdefault(match.route, set()).add(
                tuple(sorted((name, str(value)) for name, value in match.kwargs.items()))
            )
        for name, value in parse_qsl(parts.query):
            world.fields.setdefault(match.route, set()).add(name)
            world.pool.setdefault(name, set()).add(value)
    for action, name, value in parser.fields:
        if name == "csrfmiddlewaretoken":
            continue
        world.pool.setdefault(name, set()).add(value)
        match, _ = _route_of(action) if action else (None, None)
        if match is not None:
            world.fields.setdefault(match.route, set()).add(name)


@contextmanager
def recorded_reads():
    """The keys read from any query dict (request.GET, request.POST) while inside. File fields are named by
    the forms that send them (World.fields); other multi-value dicts (the URL resolver's) are not input."""
    keys: set[str] = set()

    def recording(method):
        def read(self, key, *args, **kwargs):
            if isinstance(self, QueryDict) and isinstance(key, str):
                keys.add(key)
            return method(self, key, *args, **kwargs)

        return read

    with (
        mock.patch.object(MultiValueDict, "get", recording(MultiValueDict.get)),
        mock.patch.object(MultiValueDict, "getlist", recording(MultiValueDict.getlist)),
        mock.patch.object(MultiValueDict, "__getitem__", recording(MultiValueDict.__getitem__)),
        mock.patch.object(MultiValueDict, "__contains__", recording(dict.__contains__)),
    ):
        yield keys


# --- The world: demo-like objects, made once for the module ------------------------------------------


@dataclass
class World:
    users: dict
    pool: dict[str, set[str]]  # real values by parameter or field name
    paths: dict[str, set[tuple]] = field(default_factory=dict)  # real path segments by route key
    fields: dict[str, set[str]] = field(
        default_factory=dict
    )  # names the pages' forms and links send, by route
    sessions: dict[str, str] = field(default_factory=dict)


def _build_world() -> World:
    from offsets import issuing
    from projects import workflow
    from registry import services as registry_services
    from registry.models import OrgRole
    from tests.factories import (
        admin_of,
        approved_declaration,
        closed_phase,
        complete_declaration,
        file_project,
        make_bureau,
        make_declaration,
        make_member,
        make_organisation,
        make_project,
        phase_in_notice,
        reviewers,
    )

    people = reviewers()
    organisation = make_organisation()
    users = {
        "anonymous": None,
        "declarant": make_member(organisation, OrgRole.DECLARANT),
        "org_admin": admin_of(organisation),
        "bureau": make_bureau(*ROLES, full_name="Fuzz Bureau"),
    }
    project = file_project(make_project(organisation), people)
    make_project(organisation)  # a draft
    # A registered phase (issuances, blocks, certificates, announcement) and one in notice, objected to.
    registered = approved_declaration(people, project=project)
    issuing.register_phase(closed_phase([registered], people, code="2023P01"), by=people["approver"])
    noticed = approved_declaration(people, project=file_project(make_project(organisation), people))
    in_notice = phase_in_notice([noticed], people, code="2024P01")
    issuing.file_objection(
        in_notice,
        declaration=noticed,
        name="王五",
        organisation="",
        email="objector@example.com",
        phone="",
        reasons="Double counted.",
    )
    issuing.create_phase(
        code="2024P02", title_zh="草稿批次", title_en="Draft phase", by=people["registry_admin"]
    )
    # A declaration at intake, and one returned with a finding to answer.
    at_intake = complete_declaration(make_declaration(project, start=date(2023, 1, 1), end=date(2023, 6, 30)))
    workflow.submit(at_intake, by=users["org_admin"])
    returned = complete_declaration(make_declaration(project, start=date(2023, 7, 1), end=date(2023, 12, 31)))
    workflow.submit(returned, by=users["org_admin"])
    workflow.return_case(returned, by=people["intake_officer"], findings=["Meter photo missing."])
    registry_services.invite_member(
        organisation, by=users["org_admin"], email="invitee@example.com", role=OrgRole.VIEWER
    )
    # What the on-commit jobs would make, made once here (running all of them, letters and e-mails,
    # takes half a minute): the public PDFs and the certificate, so downloads don't render one each time,
    # and an inbox entry.
    from offsets import documents
    from offsets.models import Announcement, Certificate, NoticeVersion
    from registry.models import AuditEvent, Delivery

    for version in NoticeVersion.objects.all():
        documents.make_notice_pdf(version.pk)
    for announcement in Announcement.objects.all():
        documents.make_announcement_pdf(announcement.pk)
    for certificate in Certificate.objects.all():
        documents.make_certificate(certificate.pk)
    for identity in ("declarant", "org_admin", "bureau"):
        user = users[identity]
        Delivery.objects.create(
            event=AuditEvent.objects.latest("seq"),
            channel=Delivery.Channel.INBOX,
            email=user.email,
            user=user,
        )
    return World(users=users, pool={})


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Made once, with a session per identity, inside a transaction rolled back after the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        world = _build_world()
        world.pool = _pool_of_objects()
        world.sessions = _log_in(world.users)
        yield world
        transaction.set_rollback(True)


def _pool_of_objects() -> dict[str, set[str]]:
    """Every object's id, code, number and token, by the names path segments give them."""
    from django.apps import apps

    pool: dict[str, set[str]] = {}
    for model in apps.get_models():
        if model._meta.app_label not in ("registry", "projects", "offsets"):
            continue
        for row in model.objects.all()[:50]:
            for name in ("pk", "object_id"):
                pool.setdefault(name, set()).add(str(row.pk))
            for attr in ("code", "number", "token"):
                value = getattr(row, attr, None)
                if isinstance(value, str) and value:
                    pool.setdefault(attr, set()).add(value)
    return pool


@contextmanager
def rolled_back():
    with transaction.atomic():
        cache.clear()
        yield
        transaction.set_rollback(True)


def _log_in(users: dict) -> dict[str, str]:
    """A session per identity. Like tests/conftest.py's stand-in for the login form, a user with an
    authenticator counts as having passed the second factor (the bureau user must reach the office)."""
    from django.apps import apps

    sessions = {}
    for identity, user in users.items():
        if user is None:
            continue
        client = Client()
        client.force_login(user)
        if apps.is_installed("django_otp"):
            from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user

            device = next(devices_for_user(user, confirmed=True), None)
            if device is not None:
                session = client.session
                session[DEVICE_ID_SESSION_KEY] = device.persistent_id
                session.save()
        sessions[identity] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    office = client_as(sessions, "bureau").get("/office/")
    assert office.status_code == 200, "the bureau user must reach the office to fuzz it"
    return sessions


def client_as(sessions: dict[str, str], identity: str) -> Client:
    """A fresh client in the identity's session: whatever a request does to its cookies stays with it."""
    client = Client(raise_request_exception=True)
    if identity in sessions:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = sessions[identity]
    return client


# --- The property ------------------------------------------------------------------------------------


def _path(route: Route, segments: dict[str, str]) -> str:
    return "/" + route.template % {name: quote(value, safe="") for name, value in segments.items()}


def _real_segments(world: World, route: Route) -> list[dict[str, str]]:
    """Path segments that lead somewhere: those of the portal's own links to this route, else the world's
    values of the same name (an id, a code, a token)."""
    linked = [dict(kwargs) for kwargs in sorted(world.paths.get(route.key, ()))]
    if linked:
        return linked
    values = {name: sorted(v for v in world.pool.get(name, ()) if v) for name in route.params}
    if all(values.values()):
        return [{name: found[i % len(found)] for name, found in values.items()} for i in range(3)]
    return []


def _probe(world: World, route: Route) -> tuple[list[str], list[str], list[str]]:
    """The keys the view reads from the query and the form, who gets into it, and by which methods.

    Read keys are recorded by GET (by POST where GET is not allowed) as an anonymous visitor, the bureau
    and an enterprise admin; the names that the portal's own forms and links send to this route are added.
    Whoever is answered 200 (or has keys read) gets in (the declarant with the admin); if nobody does, all
    are tried. None of these probes may be a 500 either.
    """
    real = _real_segments(world, route)
    path = _path(route, real[0] if real else dict.fromkeys(route.params, "1"))
    keys, inside, get_refused = set(world.fields.get(route.key, ())), set(), True
    for identity in ("anonymous", "bureau", "org_admin"):
        for method in ("get", "post"):
            with rolled_back(), recorded_reads() as read:
                response = getattr(client_as(world.sessions, identity), method)(path)
            assert response.status_code < 500, f"{method.upper()} {path} as {identity}"
            keys |= read
            if response.status_code == 200 or read:
                inside |= {identity, "declarant"} if identity == "org_admin" else {identity}
            if method == "get":
                harvest(response, world)
                if response.status_code != 405:
                    get_refused = False
                    break
    keys |= world.fields.get(route.key, set())  # the fields of the forms on the pages just read
    # A formset reads its forms' fields only once its management form says how many there are.
    if any(key.endswith("TOTAL_FORMS") for key in keys):
        with rolled_back(), recorded_reads() as read:
            client_as(world.sessions, "org_admin").post(path, dict.fromkeys(keys, "1"))
        keys |= read
    identities = [identity for identity in IDENTITIES if identity in inside]
    methods = ["post"] if get_refused else ["get", "post"]
    return sorted(keys), identities or list(IDENTITIES), methods


def fuzz(world: World, route: Route, examples: int) -> None:
    keys, identities, methods = _probe(world, route)
    real = _real_segments(world, route)
    segments_strategy = st.fixed_dictionaries(
        {
            # An <int:…> segment takes only digits: huge and zero ones get past the resolver, others 404.
            name: st.one_of(values_for(name, world.pool), st.integers(min_value=0).map(str))
            if name in route.integers
            else values_for(name, world.pool)
            for name in route.params
        }
    )
    if real:
        # Half of the time a real path (past the 404), else each segment real or hostile by itself.
        segments_strategy = st.one_of(st.sampled_from(real), segments_strategy)
    # Each key sent or not; when sent, one value or two (a list where the view expects one).
    fields_strategy = st.fixed_dictionaries(
        {},
        optional={name: st.lists(values_for(name, world.pool), min_size=1, max_size=2) for name in keys},
    )

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=False,
    )
    @given(st.data())
    def no_500(data):
        identity = data.draw(st.sampled_from(identities), label="identity")
        method = data.draw(st.sampled_from(methods), label="method")
        path = _path(route, data.draw(segments_strategy, label="path segments"))
        if keys and data.draw(st.booleans(), label="one value for every key"):
            # One troublemaker in every parameter at once: whichever the view parses first meets it.
            value = data.draw(st.one_of(st.sampled_from(NUMERIC_TRAPS), HOSTILE), label="the value")
            fields = {key: [value] for key in keys}
        else:
            fields = data.draw(fields_strategy, label="fields")
        # Now and then a key no view reads.
        fields.update(
            data.draw(st.dictionaries(HOSTILE, st.lists(HOSTILE, max_size=1), max_size=1), label="extra")
        )
        try:
            with rolled_back():
                response = getattr(client_as(world.sessions, identity), method)(path, fields)
        except Exception:
            raise AssertionError(
                f"{method.upper()} {path} as {identity} with {fields!r} raised:\n{traceback.format_exc()}"
            ) from None
        assert response.status_code < 500, f"{method.upper()} {path} as {identity} with {fields!r}"
        if response.status_code == 200:
            harvest(response, world)  # for the patterns tested after this one

    no_500()


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_no_generated_input_gives_a_500(world, route):
    fuzz(world, route, EVERYDAY_EXAMPLES)


@pytest.mark.fuzz
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_no_generated_input_gives_a_500_deep(world, route):
    fuzz(world, route, DEEP_EXAMPLES)


def test_the_walk_finds_every_kind_of_pattern():
    """A guard on the discovery itself: includes, converters and the admin's regex patterns are all seen."""
    found = {str(route) for route in ROUTES}
    assert {"/", "/notices/<code>/v<version>.pdf", "/office/case/<kind>/<pk>/<decision>/"} <= found
    assert "/admin/<app_label>/" in found
    assert any(route.integers for route in ROUTES)
    assert len(ROUTES) > 100
    assert django_settings.ROOT_URLCONF == "config.urls"
