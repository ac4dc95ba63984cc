"""In real Chromium: a double click on a state-changing button sends the form twice, makes exactly one
change and shows its result (ADR 0008). Register a phase, file an objection, submit a declaration."""

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from offsets.models import Issuance, IssuancePhase, Objection, PhaseStatus
from projects.models import Declaration, Stage
from registry import audit
from registry.models import AuditEvent, OrgRole
from tests.factories import (
    PASSWORD,
    approved_declaration,
    closed_phase,
    complete_declaration,
    make_bureau,
    make_declaration,
    make_member,
    phase_in_notice,
    reviewers,
)
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def person(browser: Browser, base: str, email: str | None = None) -> Page:
    page = browser.new_context(extra_http_headers={"Accept-Language": "en"}).new_page()
    if email:
        page.goto(base + "/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", PASSWORD)
        page.locator("main button[type=submit]").click()
        type_login_code(page, email)
    return page


def double_click(page: Page, selector: str, path: str) -> None:
    """Click, and click again while the first answer is still on its way: the first answer is held back (as
    a slow network holds it) until the second click; the server has acted on the first request by then.
    Chromium drops the first navigation and shows the answer to the second request, as it does for a
    person's double click on a slow page."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    answered = []

    def hold_the_first_answer(route: Route) -> None:
        if answered or route.request.method != "POST":
            route.continue_()
            return
        answered.append(route.fetch(max_redirects=0))  # the server acts on the first request
        page.mouse.click(x, y)  # raw input: Playwright's own click would wait for the first navigation

    page.route(lambda url: path in url, hold_the_first_answer)
    page.mouse.click(x, y)


def posts_to(page: Page, path: str) -> list[str]:
    """The POST requests the page sends to `path`, as they are sent."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and path in r.url else None)
    return sent


def test_a_double_click_on_register_registers_once(browser: Browser, live_server):
    people = reviewers()
    phase = closed_phase([approved_declaration(people)], people)
    approver = make_bureau("approver", email="registrar@bureau.example")
    page = person(browser, live_server.url, approver.email)
    page.goto(f"{live_server.url}/office/phases/{phase.code}/")
    sent = posts_to(page, "/register/")

    double_click(page, "form.phase-register button", "/register/")

    expect(page.locator(".alert", has_text="Recorded.")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("only a phase whose notice has closed")
    assert len(sent) == 2
    assert IssuancePhase.objects.get(pk=phase.pk).status == PhaseStatus.REGISTERED
    assert Issuance.objects.filter(phase=phase).count() == 1
    assert AuditEvent.objects.filter(action="phase.registered").count() == 1


def test_a_double_click_on_send_the_objection_files_one(browser: Browser, live_server):
    people = reviewers()
    declaration = approved_declaration(people)
    phase = phase_in_notice([declaration], people)
    page = person(browser, live_server.url)
    page.goto(f"{live_server.url}/notices/{phase.code}/object/?declaration={declaration.pk}")
    page.fill("#id_name", "王某")
    page.fill("#id_email", "objector@example.com")
    page.fill("#id_reasons", "The same panels appear in another scheme.")
    sent = posts_to(page, "/object/")

    double_click(page, "main form button[type=submit]", "/object/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Objection received")
    expect(page.locator("main")).to_contain_text("OBJ-2023P01-001")
    assert len(sent) == 2
    assert Objection.objects.count() == 1
    page.reload()  # F5 on the receipt: a GET, nothing more is filed
    expect(page.locator("main")).to_contain_text("OBJ-2023P01-001")
    assert Objection.objects.count() == 1


def test_a_double_click_on_submit_submits_the_declaration_once(browser: Browser, live_server):
    declaration = complete_declaration(make_declaration())
    declarant = make_member(
        declaration.project.organisation, OrgRole.DECLARANT, email="declarant@enterprise.example"
    )
    page = person(browser, live_server.url, declarant.email)
    page.goto(f"{live_server.url}/portal/declarations/{declaration.pk}/")
    sent = posts_to(page, "/submit/")

    double_click(page, "form[action$='/submit/'] button", "/submit/")

    expect(page.locator(".alert", has_text="Submitted to the Bureau for intake.")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("this step is not possible now")
    assert len(sent) == 2
    assert Declaration.objects.get(pk=declaration.pk).stage == Stage.INTAKE
    assert audit.events_of(declaration).filter(action="case.submitted").count() == 1
