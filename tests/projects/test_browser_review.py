"""In real Chromium, in each language: a declarant submits; the intake officer accepts; a technical
reviewer returns it with two findings; the declarant answers and resubmits; the reviewer asks an expert,
who gives an opinion; the reviewer forwards; the same reviewer cannot approve; a different approver
approves; the declarant sees and downloads the letter."""

import pytest
from playwright.sync_api import Browser, Page, expect

from projects.models import Declaration, Letter, Stage
from registry.models import OrgRole
from tests.factories import PASSWORD, complete_declaration, make_bureau, make_declaration, make_member
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ACCEPT_LANGUAGE = {"en": "en", "zh-hans": "zh-CN,zh;q=0.9"}
LETTERS_HEADING = {"en": "Letters from the Bureau", "zh-hans": "市生态环境局函件"}


def person(browser: Browser, base: str, language: str, email: str) -> Page:
    page = browser.new_context(extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]}).new_page()
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.locator("main button[type=submit]").click()
    type_login_code(page, email)
    return page


def decide(page: Page, name: str, **fields) -> None:
    form = page.locator(f"form.decision-{name}")
    for field, value in fields.items():
        form.locator(f"[name={field}]").fill(str(value))
    form.locator("button[type=submit]").click()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_whole_review_in_the_browser(browser: Browser, live_server, language, csp_violations):
    base = live_server.url
    declaration = complete_declaration(make_declaration())
    declarant = make_member(
        declaration.project.organisation, OrgRole.DECLARANT, email=f"d-{language}@ex.example"
    )
    intake = make_bureau("intake_officer", email=f"i-{language}@bureau.example")
    reviewer = make_bureau("technical_reviewer", "approver", email=f"r-{language}@bureau.example")
    expert = make_bureau("expert", email=f"e-{language}@bureau.example")
    approver = make_bureau("approver", email=f"a-{language}@bureau.example")
    case_url = f"{base}/office/case/declarations/{declaration.pk}/"

    def stage() -> str:
        return Declaration.objects.get(pk=declaration.pk).stage

    applicant = person(browser, base, language, declarant.email)
    applicant.goto(base + declaration.get_absolute_url())
    applicant.locator("form[action$='/submit/'] button").click()
    expect(applicant.locator("h1 .badge")).to_have_class("badge stage-intake")

    officer = person(browser, base, language, intake.email)
    officer.goto(case_url)
    decide(officer, "accept", note="Complete")
    assert stage() == Stage.TECHNICAL

    technical = person(browser, base, language, reviewer.email)
    technical.goto(case_url)
    decide(technical, "return_case", findings="The September record is missing a page.\nExplain November.")
    assert stage() == Stage.RETURNED

    applicant.goto(base + declaration.get_absolute_url())
    for answer in ("Uploaded again.", "Scheduled maintenance."):
        form = applicant.locator("form[action*='/findings/']").first
        form.locator("textarea[name=answer]").fill(answer)
        form.locator("button[type=submit]").click()
    applicant.locator("form[action$='/resubmit/'] button").click()
    assert stage() == Stage.TECHNICAL

    technical.goto(case_url)
    technical.locator(f"form.decision-request_opinions input[type=checkbox][value='{expert.pk}']").check()
    technical.locator("form.decision-request_opinions button[type=submit]").click()
    assert stage() == Stage.EXPERT

    specialist = person(browser, base, language, expert.email)
    specialist.goto(case_url)
    decide(specialist, "record_opinion", opinion="The metering is adequate.")
    assert stage() == Stage.TECHNICAL

    technical.goto(case_url)
    decide(technical, "forward", verified_t=declaration.claimed_t - 1, note="Checked")
    assert stage() == Stage.APPROVAL
    technical.goto(case_url)
    expect(technical.locator("form.decision-approve")).to_have_count(0)  # four eyes

    deciding = person(browser, base, language, approver.email)
    deciding.goto(case_url)
    decide(deciding, "approve", note="Approved")
    assert stage() == Stage.APPROVED

    applicant.goto(base + declaration.get_absolute_url())
    expect(applicant.get_by_role("heading", name=LETTERS_HEADING[language])).to_be_visible()
    letter = Letter.objects.get(declaration=declaration, kind="approval")
    with applicant.expect_download() as download:
        applicant.get_by_role("link", name=letter.number, exact=False).click()
    path = download.value.path()
    with open(path, "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    assert csp_violations == []
