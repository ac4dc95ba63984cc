"""In real Chromium, in each language: an enterprise drafts a PV project with its documents and submits
it; for a filed project it declares a period by XLSX upload, sees the calculation and submits. Every page
is read for English on a Chinese page and raw event keys (tests/browser_language.py)."""

from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect

from projects.models import Declaration, Project, Stage
from registry.models import DocumentType
from tests.browser_language import FACTORY_DATA, Reader
from tests.factories import (
    PASSWORD,
    PDF,
    admin_of,
    file_project,
    make_factor,
    make_organisation,
    make_project,
    make_pv_methodology,
    pdf_upload,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


TEXT = {
    "en": {
        "log_in": "Log in",
        "new_project": "New project",
        "save_draft": "Save the draft",
        "upload": "Upload",
        "submit": "Submit to the Bureau",
        "intake": "Intake",
        "declare": "Declare reductions",
        "save": "Save",
        "read_sheet": "Read the sheet",
        "rounded": "Rounded down to whole tonnes",
    },
    "zh-hans": {
        "log_in": "登录",
        "new_project": "新建项目",
        "save_draft": "保存草稿",
        "upload": "上传",
        "submit": "提交至市生态环境局",
        "intake": "形式审查",
        "declare": "申报减排量",
        "save": "保存",
        "read_sheet": "读取表格",
        "rounded": "向下取整至整吨",
    },
}


def log_in(page: Page, base: str, email: str, text: dict, reader: Reader) -> None:
    page.goto(base + "/accounts/login/")
    reader.read(page)
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("main").get_by_role("button", name=text["log_in"]).click()


def upload_document(page: Page, doc_type: str, path, text: dict) -> None:
    page.select_option("#id_doc_type", doc_type)
    page.set_input_files("#id_file", str(path))
    page.get_by_role("button", name=text["upload"], exact=True).click()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_draft_a_pv_project_with_documents_and_submit(
    browser: Browser, live_server, language, tmp_path, reader
):
    text = TEXT[language]
    page = reader.person(browser)
    methodology = make_pv_methodology()
    organisation = make_organisation(admin_email=f"pv-{language}@solar.example")
    reader.allow(*FACTORY_DATA)
    pdf = tmp_path / "document.pdf"
    pdf.write_bytes(PDF)

    log_in(page, live_server.url, f"pv-{language}@solar.example", text, reader)
    reader.read(page)
    page.goto(live_server.url + "/portal/cases/")
    reader.read(page)
    page.get_by_role("link", name=text["new_project"]).click()
    reader.read(page)
    page.select_option("#id_methodology", str(methodology.pk))
    page.fill("#id_title", "浏览器屋顶光伏项目")
    page.fill("#id_site_address", "武汉市新洲区测试路1号")
    page.select_option("#id_district", "xinzhou")
    page.fill("#id_crediting_start", "2021-01-01")
    page.fill("#id_crediting_end", "2030-12-31")
    page.fill("#id_points-0-meter_number", f"BR-{language}-01")
    page.fill("#id_points-0-capacity_kw", "480")
    page.check("#id_not_registered_elsewhere")
    page.check("#id_outside_covered_boundary")
    page.get_by_role("button", name=text["save_draft"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("浏览器屋顶光伏项目")
    reader.read(page)

    for doc_type in methodology.project_documents:
        upload_document(page, doc_type, pdf, text)
    reader.read(page)
    page.get_by_role("button", name=text["submit"]).click()
    expect(page.locator("h1 .badge")).to_have_text(text["intake"])
    reader.read(page)
    project = Project.objects.get(organisation=organisation)
    assert project.stage == Stage.INTAKE
    assert project.documents.count() == len(methodology.project_documents)
    reader.check()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_declare_by_xlsx_upload_see_the_calculation_and_submit(
    browser: Browser, live_server, language, tmp_path, reader
):
    text = TEXT[language]
    page = reader.person(browser)
    make_factor(2022, "0.5703")
    project = file_project(make_project(make_organisation(admin_email=f"decl-{language}@solar.example")))
    body = make_organisation(kind="verification_body")
    reader.allow(*FACTORY_DATA)

    log_in(page, live_server.url, f"decl-{language}@solar.example", text, reader)
    page.goto(live_server.url + project.get_absolute_url())
    reader.read(page)
    page.get_by_role("link", name=text["declare"]).click()
    reader.read(page)
    page.fill("#id_period_start", "2022-01-01")
    page.fill("#id_period_end", "2022-12-31")
    page.select_option("#id_verification_body", str(body.pk))
    page.get_by_role("main").get_by_role("button", name=text["save"], exact=True).click()
    reader.read(page)

    # Fill the downloaded template and upload it.
    with page.expect_download() as download:
        page.get_by_role("link", name="XLSX").click()
    template = tmp_path / "template.xlsx"
    download.value.save_as(template)
    workbook = openpyxl.load_workbook(template)
    for row in range(2, 14):
        workbook.active.cell(row=row, column=2, value=623.84)
    filled = tmp_path / "filled.xlsx"
    workbook.save(filled)
    page.set_input_files("#id_sheet", str(filled))
    page.get_by_role("button", name=text["read_sheet"]).click()

    calculation = page.locator("table.calculation")
    expect(calculation).to_contain_text("7,486.08")
    expect(calculation).to_contain_text("0.5703")
    expect(calculation.get_by_role("row", name=text["rounded"])).to_contain_text("4,269")
    reader.read(page)

    declaration = Declaration.objects.get(project=project)
    assert declaration.claimed_t == 4269 and declaration.activity_mwh == Decimal("7486.080")
    from projects import services

    applicant = admin_of(project.organisation)
    services.upload_document(
        declaration, by=applicant, doc_type=DocumentType.MONITORING_REPORT, upload=pdf_upload()
    )
    services.upload_document(
        declaration, by=admin_of(body), doc_type=DocumentType.VERIFICATION_REPORT, upload=pdf_upload()
    )
    page.reload()
    reader.read(page)
    page.get_by_role("button", name=text["submit"]).click()
    expect(page.locator("h1 .badge")).to_have_text(text["intake"])
    reader.read(page)
    declaration.refresh_from_db()
    assert declaration.stage == Stage.INTAKE and declaration.period_start == date(2022, 1, 1)
    reader.check()
