"""In real Chromium, in each language: an enterprise signs up, a registry administrator verifies it,
and its admin invites a declarant who joins. Every page each of them reaches is read for English on a
Chinese page and raw event keys (tests/browser_language.py)."""

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from registry.models import Membership, Organisation, OrganisationStatus, OrgRole
from tests.browser_language import Reader
from tests.factories import PASSWORD, credit_code, make_bureau
from tests.second_factor import type_login_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "en": {
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


def log_in(page: Page, base: str, email: str, password: str, text: dict, reader: Reader) -> None:
    page.goto(base + "/accounts/login/")
    reader.read(page)
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.get_by_role("main").get_by_role("button", name=text["log_in"]).click()
    type_login_code(page, email)


def link_in_last_mail(pattern: str) -> str:
    return re.search(pattern, mail.outbox[-1].body).group(0)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_sign_up_verification_and_invitation(browser: Browser, live_server, language, reader):
    text = TEXT[language]
    base = live_server.url
    code = credit_code()

    # An enterprise signs up.
    applicant = reader.person(browser)
    applicant.goto(base + "/signup/")
    reader.read(applicant)
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
    reader.read(applicant)
    applicant.goto(link_in_last_mail(r"http\S+/signup/confirm/\S+/").replace("http://127.0.0.1:8000", base))
    expect(applicant.get_by_role("heading", level=1)).to_have_text(text["confirmed"])
    reader.read(applicant)

    # A registry administrator verifies it.
    registrar = make_bureau(
        "registry_admin",
        email=f"registrar-{language}@bureau.example",
        password=PASSWORD,
        full_name="登记管理员",
    )
    office = reader.person(browser)
    log_in(office, base, registrar.email, PASSWORD, text, reader)
    organisation = Organisation.objects.get(identifier=code)
    office.goto(base + "/office/organisations/?status=pending")
    reader.read(office)
    office.get_by_role("link", name="浏览器测试光伏有限公司").click()
    reader.read(office)
    office.get_by_role("button", name=text["verify"], exact=True).click()
    expect(office.locator("h1 .badge")).to_have_text(text["verified"])
    reader.read(office)
    organisation.refresh_from_db()
    assert organisation.status == OrganisationStatus.VERIFIED

    # Its admin invites a declarant, who accepts and lands in the portal.
    log_in(applicant, base, "founder@solar.example", "long-enough-Pass-42", text, reader)
    reader.read(applicant)
    applicant.goto(base + "/portal/members/")
    reader.read(applicant)
    applicant.fill("#id_email", "declarant@solar.example")
    applicant.select_option("#id_role", "declarant")
    applicant.get_by_role("button", name=text["invite"]).click()
    expect(applicant.locator(".messages")).to_be_visible()
    reader.read(applicant)
    invitee = reader.person(browser)
    invitee.goto(link_in_last_mail(r"http\S+/invitation/\S+/").replace("http://127.0.0.1:8000", base))
    reader.read(invitee)
    invitee.fill("#id_full_name", "赵六")
    invitee.select_option("#id_language", language)
    invitee.fill("#id_password1", "another-Pass-4242")
    invitee.fill("#id_password2", "another-Pass-4242")
    invitee.get_by_role("button", name=text["accept_invitation"]).click()
    expect(invitee.get_by_role("heading", level=1)).to_be_visible()
    reader.read(invitee)
    invitee.goto(base + "/portal/members/")
    expect(invitee.get_by_role("cell", name="declarant@solar.example")).to_be_visible()
    expect(invitee.get_by_role("cell", name=text["declarant"], exact=True)).to_be_visible()
    membership = Membership.objects.get(user__email="declarant@solar.example")
    assert (membership.organisation, membership.role) == (organisation, OrgRole.DECLARANT)
    reader.read(invitee)
    reader.check()
