"""In real Chromium, in each language: a member of the public finds the article's PV project, opens its
page, follows a serial to the verification page, and downloads the open data. Every page is read for
English on a Chinese page and raw event keys (tests/browser_language.py)."""

import json

import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, expect

from offsets import issuing
from tests.factories import (
    approved_declaration,
    closed_phase,
    file_project,
    make_organisation,
    make_project,
    reviewers,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GENUINE = {"en": "Genuine", "zh-hans": "真实有效"}
DATASETS = ("phases", "projects", "issuances", "retirements", "checkpoints", "behaviour")
SEARCH = {"en": "Search", "zh-hans": "检索"}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_find_the_project_follow_a_serial_and_download_open_data(
    browser: Browser, live_server, language, reader
):
    cache.clear()
    people = reviewers()
    gem = make_organisation(name="格林美（武汉）城市矿山产业集团有限公司")
    project = file_project(make_project(gem, title="武汉格林美城市矿产循环产业园分布式光伏发电项目"), people)
    declaration = approved_declaration(people, project=project)
    issuing.register_phase(closed_phase([declaration], people), by=people["approver"])
    serial = declaration.project.issuances.get().serial

    page = reader.person(browser)
    # The open data's page documents the files as they are, the same in every language: the datasets' names
    # (phases.csv), the JSON format and its null, and the checkpoints' field "seq".
    # The datasets' names and the behaviour scenarios' codes are identifiers, the same in both languages.
    reader.allow(*DATASETS, '{"dataset": "…", "count": N, "rows": […]}', "null", "seq")
    reader.allow("metro", "bus", "bicycle", "carpool", "nev")
    page.goto(live_server.url + "/")
    expect(page.locator("header nav a[href='/notices/']")).to_be_visible()
    reader.read(page)
    page.goto(live_server.url + "/registry/")
    reader.read(page)
    page.fill("#id_q", "城市矿产")
    page.get_by_role("button", name=SEARCH[language], exact=True).click()
    reader.read(page)
    page.get_by_role("link", name=project.code).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("城市矿产循环产业园")
    reader.read(page)

    page.get_by_role("link", name=serial).first.click()
    expect(page.locator("main .alert-success")).to_contain_text(GENUINE[language])
    expect(page.locator("main")).to_contain_text(serial)
    reader.read(page)

    page.goto(live_server.url + "/open-data/")
    reader.read(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="issuances.csv").click()
    with open(download.value.path(), encoding="utf-8-sig") as handle:
        text = handle.read()
    assert serial in text and "格林美" in text
    response = page.request.get(live_server.url + "/open-data/phases.json")
    assert json.loads(response.text())["rows"][0]["issued_t"] == declaration.verified_t
    reader.check()
