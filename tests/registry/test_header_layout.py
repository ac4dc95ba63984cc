"""At 1366 px, a common laptop width, the header holds on at most two rows in both languages, for a person
with a long name and the longest menu of each face; its menus open by mouse and by keyboard."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from registry.models import OrgRole
from tests.factories import make_bureau, make_member, make_organisation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "欧阳明远 Mingyuan Ouyang-Fairweather"

# Rows of the header: the distinct vertical centres of its visible links and buttons.
HEADER_ROWS = """() => {
  const centres = [...document.querySelectorAll('.site-header a, .site-header button')]
    .filter(el => el.offsetParent !== null)
    .map(el => el.getBoundingClientRect())
    .filter(box => box.width > 0 && box.height > 0)
    .map(box => box.top + box.height / 2)
    .sort((a, b) => a - b);
  const rows = [];
  for (const centre of centres) {
    if (!rows.length || centre - rows[rows.length - 1] > 12) rows.push(centre);
  }
  return rows.length;
}"""


def log_in(page: Page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def enterprise_admin():
    return make_member(make_organisation(), OrgRole.ADMIN, full_name=LONG_NAME)


@pytest.mark.parametrize("accept_language", ["en", "zh-CN,zh;q=0.9"])
@pytest.mark.parametrize(
    "who, path",
    [
        ("anonymous", "/"),
        ("enterprise", "/"),
        ("enterprise", "/methodologies/"),
        ("enterprise", "/portal/"),
        ("bureau", "/office/"),
    ],
)
def test_the_header_holds_on_two_rows_at_1366_px(page: Page, live_server, accept_language, who, path):
    if who == "enterprise":
        log_in(page, live_server, enterprise_admin())
    elif who == "bureau":
        log_in(page, live_server, make_bureau("registry_admin", full_name=LONG_NAME))
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_extra_http_headers({"Accept-Language": accept_language})
    page.goto(live_server.url + path)
    assert page.evaluate(HEADER_ROWS) <= 2


def test_the_organisation_and_account_menus_open_by_mouse_and_keyboard(
    page: Page, live_server, csp_violations
):
    log_in(page, live_server, enterprise_admin())
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_extra_http_headers({"Accept-Language": "en"})
    page.goto(live_server.url + "/portal/")
    header = page.locator(".site-header")
    members = header.get_by_role("link", name="Members")
    expect(members).to_be_hidden()
    header.get_by_role("button", name="Organisation").click()
    members.click()
    expect(page).to_have_url(live_server.url + "/portal/members/")

    account = header.get_by_role("button", name=LONG_NAME)
    account.focus()
    page.keyboard.press("Enter")
    log_out = header.get_by_role("button", name="Log out")
    expect(log_out).to_be_visible()
    page.keyboard.press("Escape")
    expect(log_out).to_be_hidden()
    account.click()
    log_out.click()
    expect(header.get_by_role("link", name="Log in")).to_be_visible()
    assert csp_violations == []
