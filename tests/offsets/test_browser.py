"""In real Chromium, in each language: a registry administrator assembles a phase, an approver approves
it, it is published, a member of the public objects, the objection is dismissed, the notice closes,
the phase is registered, and the owner downloads its certificate. Every page each of them reaches is read
for English on a Chinese page and raw event keys (tests/browser_language.py).

People, the objection and the ruling are Chinese in both languages, as they would be, so that any English
left on a Chinese page is the interface's."""

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from offsets import issuing
from offsets.models import Certificate, IssuancePhase, Objection, PhaseStatus
from registry.models import OrgRole
from tests.browser_language import Reader
from tests.factories import PASSWORD, approved_declaration, make_bureau, make_member, reviewers
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECEIVED = {"en": "Objection received", "zh-hans": "异议已收到"}


def person(browser: Browser, reader: Reader, base: str, email: str | None = None) -> Page:
    page = reader.person(browser)
    if email:
        page.goto(base + "/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", PASSWORD)
        page.locator("main button[type=submit]").click()
        type_login_code(page, email)
    return page


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_phase_from_assembly_to_certificate(browser: Browser, live_server, language, reader):
    base = live_server.url
    people = reviewers()
    declaration = approved_declaration(people)
    owner = make_member(
        declaration.project.organisation,
        OrgRole.DECLARANT,
        email=f"owner-{language}@ex.example",
        full_name="业主",
    )
    registrar = make_bureau("registry_admin", email=f"reg-{language}@bureau.example", full_name="登记管理员")
    approver = make_bureau("approver", email=f"appr-{language}@bureau.example", full_name="审批人")
    reviewer = make_bureau("technical_reviewer", email=f"rev-{language}@bureau.example", full_name="审核员")

    admin = person(browser, reader, base, registrar.email)
    admin.goto(base + "/office/phases/")
    reader.read(admin)
    admin.fill("#id_code", "2023P01")
    admin.fill("#id_title_zh", "2023年第一批")
    admin.fill("#id_title_en", "2023 phase 1")
    admin.locator("main form button[type=submit]").click()
    reader.read(admin)
    admin.locator(f"input[name=declarations][value='{declaration.pk}']").check()
    admin.locator("form[action$='/add/'] button").click()
    reader.read(admin)
    admin.locator("form.phase-submit button").click()
    reader.read(admin)
    assert IssuancePhase.objects.get().status == PhaseStatus.SUBMITTED

    deciding = person(browser, reader, base, approver.email)
    deciding.goto(base + "/office/phases/2023P01/")
    reader.read(deciding)
    deciding.locator("form.phase-approve button").click()
    reader.read(deciding)
    admin.goto(base + "/office/phases/2023P01/")
    admin.locator("form.phase-publish button").click()
    reader.read(admin)
    phase = IssuancePhase.objects.get()
    assert phase.status == PhaseStatus.IN_NOTICE

    public = person(browser, reader, base)
    public.goto(base + "/notices/2023P01/")
    expect(public.locator("main")).to_contain_text(declaration.project.code)
    reader.read(public)
    public.locator(f"a[href$='?declaration={declaration.pk}']").click()
    reader.read(public)
    public.fill("#id_name", "王某")
    public.fill("#id_email", "objector@example.com")
    public.fill("#id_reasons", "同一批组件已在其他机制登记。")
    public.locator("main form button[type=submit]").click()
    expect(public.get_by_role("heading", level=1)).to_have_text(RECEIVED[language])
    expect(public.locator("main")).to_contain_text("OBJ-2023P01-001")
    reader.read(public)

    ruling = person(browser, reader, base, reviewer.email)
    ruling.goto(base + "/office/phases/2023P01/")
    reader.read(ruling)
    form = ruling.locator("form.rule-form")
    form.locator("select[name=outcome]").select_option("dismissed")
    form.locator("textarea[name=reasons]").fill("该项目在其他机制的登记已于2021年注销。")
    form.locator("button[type=submit]").click()
    reader.read(ruling)
    assert Objection.objects.get().status == "dismissed"

    # The scheduled job closes the notice once its last day has passed.
    phase.refresh_from_db()
    assert issuing.close_due_notices(now=issuing.notice_deadline(phase) + timedelta(seconds=1)) == ["2023P01"]

    deciding.goto(base + "/office/phases/2023P01/")
    reader.read(deciding)
    deciding.locator("form.phase-register button").click()
    reader.read(deciding)
    assert IssuancePhase.objects.get().status == PhaseStatus.REGISTERED

    holder = person(browser, reader, base, owner.email)
    holder.goto(base + "/portal/account/")
    certificate = Certificate.objects.get()
    expect(holder.locator("main")).to_contain_text(certificate.issuance.serial)
    reader.read(holder)
    with holder.expect_download() as download:
        holder.get_by_role("link", name=certificate.number).click()
    with open(download.value.path(), "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    reader.check()
