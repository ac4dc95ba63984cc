"""In real Chromium, in each language: a declarant submits; the intake officer accepts; a technical
reviewer returns it with two findings; the declarant answers and resubmits; the reviewer asks an expert,
who gives an opinion; the reviewer forwards; the same reviewer cannot approve; a different approver
approves; the declarant sees and downloads the letter. Every page each of them reaches is read for English
on a Chinese page and raw event keys (tests/browser_language.py): the case's timeline shows every step.

People and notes are Chinese in both languages, as they would be, so that any English left on a Chinese
page is the interface's."""

import pytest
from playwright.sync_api import Browser, Page, expect

from projects.models import Declaration, Letter, Stage
from registry.models import OrgRole
from tests.browser_language import FACTORY_DATA, Reader
from tests.factories import PASSWORD, complete_declaration, make_bureau, make_declaration, make_member
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LETTERS_HEADING = {"en": "Letters from the Bureau", "zh-hans": "市生态环境局函件"}


def person(browser: Browser, reader: Reader, base: str, email: str) -> Page:
    page = reader.person(browser)
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.locator("main button[type=submit]").click()
    type_login_code(page, email)
    return page


def visit(page: Page, reader: Reader, url: str) -> None:
    page.goto(url)
    reader.read(page)


def decide(page: Page, reader: Reader, name: str, **fields) -> None:
    form = page.locator(f"form.decision-{name}")
    for field, value in fields.items():
        form.locator(f"[name={field}]").fill(str(value))
    form.locator("button[type=submit]").click()
    expect(page.locator(".messages .alert-success")).to_be_visible()
    reader.read(page)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_whole_review_in_the_browser(browser: Browser, live_server, language, reader):
    base = live_server.url
    declaration = complete_declaration(make_declaration())
    declarant = make_member(
        declaration.project.organisation,
        OrgRole.DECLARANT,
        email=f"d-{language}@ex.example",
        full_name="申报员",
    )
    intake = make_bureau("intake_officer", email=f"i-{language}@bureau.example", full_name="受理员")
    reviewer = make_bureau(
        "technical_reviewer", "approver", email=f"r-{language}@bureau.example", full_name="技术审核员"
    )
    expert = make_bureau("expert", email=f"e-{language}@bureau.example", full_name="专家")
    approver = make_bureau("approver", email=f"a-{language}@bureau.example", full_name="审批人")
    reader.allow(*FACTORY_DATA)
    case_url = f"{base}/office/case/declarations/{declaration.pk}/"

    def stage() -> str:
        return Declaration.objects.get(pk=declaration.pk).stage

    applicant = person(browser, reader, base, declarant.email)
    visit(applicant, reader, base + declaration.get_absolute_url())
    applicant.locator("form[action$='/submit/'] button").click()
    expect(applicant.locator("h1 .badge")).to_have_class("badge stage-intake")
    reader.read(applicant)

    officer = person(browser, reader, base, intake.email)
    visit(officer, reader, case_url)
    decide(officer, reader, "accept", note="材料齐全")
    assert stage() == Stage.TECHNICAL

    technical = person(browser, reader, base, reviewer.email)
    visit(technical, reader, case_url)
    decide(technical, reader, "return_case", findings="九月的抄表记录缺一页。\n请说明十一月的电量。")
    assert stage() == Stage.RETURNED

    visit(applicant, reader, base + declaration.get_absolute_url())
    for answer in ("已重新上传。", "十一月为计划检修。"):
        form = applicant.locator("form[action*='/findings/']").first
        form.locator("textarea[name=answer]").fill(answer)
        form.locator("button[type=submit]").click()
    reader.read(applicant)
    applicant.locator("form[action$='/resubmit/'] button").click()
    expect(applicant.locator("h1 .badge")).to_have_class("badge stage-technical")
    reader.read(applicant)
    assert stage() == Stage.TECHNICAL

    visit(technical, reader, case_url)
    technical.locator(f"form.decision-request_opinions input[type=checkbox][value='{expert.pk}']").check()
    technical.locator("form.decision-request_opinions button[type=submit]").click()
    expect(technical.locator(".messages .alert-success")).to_be_visible()
    reader.read(technical)
    assert stage() == Stage.EXPERT

    specialist = person(browser, reader, base, expert.email)
    visit(specialist, reader, case_url)
    decide(specialist, reader, "record_opinion", opinion="计量方式适当。")
    assert stage() == Stage.TECHNICAL

    visit(technical, reader, case_url)
    decide(technical, reader, "forward", verified_t=declaration.claimed_t - 1, note="已核查")
    assert stage() == Stage.APPROVAL
    visit(technical, reader, case_url)
    expect(technical.locator("form.decision-approve")).to_have_count(0)  # four eyes

    deciding = person(browser, reader, base, approver.email)
    visit(deciding, reader, case_url)
    decide(deciding, reader, "approve", note="同意")
    assert stage() == Stage.APPROVED

    visit(applicant, reader, base + declaration.get_absolute_url())
    expect(applicant.get_by_role("heading", name=LETTERS_HEADING[language])).to_be_visible()
    letter = Letter.objects.get(declaration=declaration, kind="approval")
    with applicant.expect_download() as download:
        applicant.get_by_role("link", name=letter.number, exact=False).click()
    path = download.value.path()
    with open(path, "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    reader.check()
