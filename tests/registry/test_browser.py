"""In real Chromium: the home page in both languages with the switcher, and the skip link. Each page is read
for English on a Chinese page and raw event keys (tests/browser_language.py)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser_language import Reader

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_page_in_both_languages_with_the_switcher(page: Page, live_server):
    english, chinese = Reader("en"), Reader("zh-hans")
    english.watch(page)  # error pages and CSP reports, whichever language
    page.set_extra_http_headers({"Accept-Language": "en"})
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Carbon Inclusion Registry")
    english.read(page)

    page.get_by_role("link", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", level=1)).to_have_text("碳普惠登记平台")
    chinese.read(page)

    # The choice is remembered against the browser's English preference.
    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carbon Inclusion Registry")
    english.read(page)
    english.check()
    chinese.check()


def test_skip_link_moves_focus_to_the_main_content(page: Page, live_server):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    page.goto(live_server.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="跳到主要内容")
    expect(skip).to_be_focused()
    skip.press("Enter")
    expect(page.locator("#main")).to_be_focused()
