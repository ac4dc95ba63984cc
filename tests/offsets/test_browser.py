"""In real Chromium, in each language: a registry administrator assembles a phase, an approver approves
it, it is published, a member of the public objects, the objection is dismissed, the notice closes,
the phase is registered, and the owner downloads its certificate."""

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from offsets import issuing
from offsets.models import Certificate, IssuancePhase, Objection, PhaseStatus
from registry.models import OrgRole
from tests.factories import PASSWORD, approved_declaration, make_bureau, make_member, reviewers
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACCEPT_LANGUAGE = {"en": "en", "zh-hans": "zh-CN,zh;q=0.9"}
RECEIVED = {"en": "Objection received", "zh-hans": "异议已收到"}


def person(browser: Browser, base: str, language: str, email: str | None = None) -> Page:
    page = browser.new_context(extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]}).new_page()
    if email:
        page.goto(base + "/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", PASSWORD)
        page.locator("main button[type=submit]").click()
        type_login_code(page, email)
    return page


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_phase_from_assembly_to_certificate(browser: Browser, live_server, language, csp_violations):
    base = live_server.url
    people = reviewers()
    declaration = approved_declaration(people)
    owner = make_member(
        declaration.project.organisation, OrgRole.DECLARANT, email=f"owner-{language}@ex.example"
    )
    registrar = make_bureau("registry_admin", email=f"reg-{language}@bureau.example")
    approver = make_bureau("approver", email=f"appr-{language}@bureau.example")
    reviewer = make_bureau("technical_reviewer", email=f"rev-{language}@bureau.example")

    admin = person(browser, base, language, registrar.email)
    admin.goto(base + "/office/phases/")
    admin.fill("#id_code", "2023P01")
    admin.fill("#id_title_zh", "2023年第一批")
    admin.fill("#id_title_en", "2023 phase 1")
    admin.locator("main form button[type=submit]").click()
    admin.locator(f"input[name=declarations][value='{declaration.pk}']").check()
    admin.locator("form[action$='/add/'] button").click()
    admin.locator("form.phase-submit button").click()
    assert IssuancePhase.objects.get().status == PhaseStatus.SUBMITTED

    deciding = person(browser, base, language, approver.email)
    deciding.goto(base + "/office/phases/2023P01/")
    deciding.locator("form.phase-approve button").click()
    admin.goto(base + "/office/phases/2023P01/")
    admin.locator("form.phase-publish button").click()
    phase = IssuancePhase.objects.get()
    assert phase.status == PhaseStatus.IN_NOTICE

    public = person(browser, base, language)
    public.goto(base + "/notices/2023P01/")
    expect(public.locator("main")).to_contain_text(declaration.project.code)
    public.locator(f"a[href$='?declaration={declaration.pk}']").click()
    public.fill("#id_name", "王某")
    public.fill("#id_email", "objector@example.com")
    public.fill("#id_reasons", "The same panels appear in another scheme.")
    public.locator("main form button[type=submit]").click()
    expect(public.get_by_role("heading", level=1)).to_have_text(RECEIVED[language])
    expect(public.locator("main")).to_contain_text("OBJ-2023P01-001")

    ruling = person(browser, base, language, reviewer.email)
    ruling.goto(base + "/office/phases/2023P01/")
    form = ruling.locator("form.rule-form")
    form.locator("select[name=outcome]").select_option("dismissed")
    form.locator("textarea[name=reasons]").fill("The other registration was cancelled in 2021.")
    form.locator("button[type=submit]").click()
    assert Objection.objects.get().status == "dismissed"

    # The scheduled job closes the notice once its last day has passed.
    phase.refresh_from_db()
    assert issuing.close_due_notices(now=issuing.notice_deadline(phase) + timedelta(seconds=1)) == ["2023P01"]

    deciding.goto(base + "/office/phases/2023P01/")
    deciding.locator("form.phase-register button").click()
    assert IssuancePhase.objects.get().status == PhaseStatus.REGISTERED

    holder = person(browser, base, language, owner.email)
    holder.goto(base + "/portal/account/")
    certificate = Certificate.objects.get()
    expect(holder.locator("main")).to_contain_text(certificate.issuance.serial)
    with holder.expect_download() as download:
        holder.get_by_role("link", name=certificate.number).click()
    with open(download.value.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    assert csp_violations == []
