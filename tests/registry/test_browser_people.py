"""In real Chromium, in each language: an enterprise signs up, a registry administrator verifies it,
and its admin invites a declarant who joins."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from registry.models import Membership, Organisation, OrganisationStatus, OrgRole
from tests.factories import PASSWORD, credit_code, make_bureau
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "en": {
        "accept": "en",
        "register": "Register",
        "check_mail": "Check your e-mail",
        "confirmed": "Your e-mail address is confirmed",
        "log_in": "Log in",
        "verify": "Verify",
        "verified": "Verified",
        "invite": "Send invitation",
        "accept_invitation": "Accept the invitation",
        "members": "Members",
        "declarant": "Declarant",
    },
    "zh-hans": {
        "accept": "zh-CN,zh;q=0.9",
        "register": "注册",
        "check_mail": "请查收邮件",
        "confirmed": "您的电子邮箱已确认",
        "log_in": "登录",
        "verify": "核验通过",
        "verified": "已核验",
        "invite": "发送邀请",
        "accept_invitation": "接受邀请",
        "members": "成员",
        "declarant": "申报员",
    },
}


def log_in(page: Page, base: str, email: str, password: str, text: dict) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.get_by_role("main").get_by_role("button", name=text["log_in"]).click()
    type_login_code(page, email)


def link_in_last_mail(pattern: str) -> str:
    return re.search(pattern, mail.outbox[-1].body).group(0)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_sign_up_verification_and_invitation(
    browser: Browser, live_server, language, csp_violations, page: Page
):
    text = TEXT[language]
    base = live_server.url
    code = credit_code()

    def new_page() -> Page:
        context = browser.new_context(extra_http_headers={"Accept-Language": text["accept"]})
        return context.new_page()

    # An enterprise signs up.
    applicant = new_page()
    applicant.goto(base + "/signup/")
    applicant.select_option("#id_kind", "enterprise")
    applicant.fill("#id_name", "浏览器测试光伏有限公司")
    applicant.fill("#id_identifier", code.lower())
    applicant.fill("#id_legal_representative", "王五")
    applicant.fill("#id_address", "武汉市新洲区测试路8号")
    applicant.select_option("#id_district", "xinzhou")
    applicant.fill("#id_contact_name", "王五")
    applicant.fill("#id_contact_phone", "027-88888888")
    applicant.fill("#id_contact_email", "contact@solar.example")
    applicant.fill("#id_admin_name", "王五")
    applicant.fill("#id_admin_email", "founder@solar.example")
    applicant.select_option("#id_language", language)
    applicant.fill("#id_password1", "long-enough-Pass-42")
    applicant.fill("#id_password2", "long-enough-Pass-42")
    applicant.get_by_role("button", name=text["register"], exact=True).click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text(text["check_mail"])
    applicant.goto(link_in_last_mail(r"http\S+/signup/confirm/\S+/").replace("http://127.0.0.1:8000", base))
    expect(applicant.get_by_role("heading", level=1)).to_have_text(text["confirmed"])

    # A registry administrator verifies it.
    registrar = make_bureau("registry_admin", email=f"registrar-{language}@bureau.example", password=PASSWORD)
    office = new_page()
    log_in(office, base, registrar.email, PASSWORD, text)
    organisation = Organisation.objects.get(identifier=code)
    office.goto(base + "/office/organisations/?status=pending")
    office.get_by_role("link", name="浏览器测试光伏有限公司").click()
    office.get_by_role("button", name=text["verify"], exact=True).click()
    expect(office.locator("h1 .badge")).to_have_text(text["verified"])
    organisation.refresh_from_db()
    assert organisation.status == OrganisationStatus.VERIFIED

    # Its admin invites a declarant, who accepts and lands in the portal.
    log_in(applicant, base, "founder@solar.example", "long-enough-Pass-42", text)
    applicant.goto(base + "/portal/members/")
    applicant.fill("#id_email", "declarant@solar.example")
    applicant.select_option("#id_role", "declarant")
    applicant.get_by_role("button", name=text["invite"]).click()
    invitee = new_page()
    invitee.goto(link_in_last_mail(r"http\S+/invitation/\S+/").replace("http://127.0.0.1:8000", base))
    invitee.fill("#id_full_name", "赵六")
    invitee.select_option("#id_language", language)
    invitee.fill("#id_password1", "another-Pass-4242")
    invitee.fill("#id_password2", "another-Pass-4242")
    invitee.get_by_role("button", name=text["accept_invitation"]).click()
    expect(invitee.get_by_role("heading", level=1)).to_be_visible()
    invitee.goto(base + "/portal/members/")
    expect(invitee.get_by_role("cell", name="declarant@solar.example")).to_be_visible()
    expect(invitee.get_by_role("cell", name=text["declarant"], exact=True)).to_be_visible()
    membership = Membership.objects.get(user__email="declarant@solar.example")
    assert (membership.organisation, membership.role) == (organisation, OrgRole.DECLARANT)
    assert csp_violations == []
