"""The bureau's letters as PDF: both scripts come back out as text, fonts are embedded, the same input
gives the same bytes whatever was rendered before, and the URL fetcher serves the project's static files
and nothing else."""

import datetime
import os
import re
import shutil
import ssl
import subprocess
import sys
from types import SimpleNamespace

import pytest
from django.conf import settings

from registry import pdf
from registry.pdf import render_pdf, safe_url_fetcher

ORGANISATION = "格林美（武汉）城市矿山产业集团有限公司"

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
    reason="needs pdftotext and pdffonts (apt-get install poppler-utils)",
)


def base_context(**extra) -> dict:
    return {
        "authority_zh": "武汉市生态环境局",
        "authority_en": "Wuhan Municipal Bureau of Ecology and Environment",
        "number": "武环碳〔2026〕37号",
        "date": datetime.date(2026, 11, 24),
        "recipient_zh": ORGANISATION,
        "case_title": "厂区屋顶分布式光伏发电项目 2026年第一季度减排量",
        "case_code": "WH-PV-2026-0012",
        **extra,
    }


def pdf_text(tmp_path, data: bytes) -> str:
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    result = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=30
    )
    return result.stdout.decode()


def flat(text: str) -> str:
    """Layout text without whitespace: a line break inside a long name must not fail a test."""
    return re.sub(r"\s+", "", text)


def assert_letter_basics(text: str, title_zh: str, title_en: str) -> None:
    assert title_zh in text
    assert title_en in text
    assert ORGANISATION in flat(text)
    assert "武环碳〔2026〕37号" in text
    assert "2026年11月24日" in text
    assert "24 November 2026" in text
    assert "Wuhan Municipal Bureau of Ecology and Environment" in text
    assert "武汉市生态环境局" in flat(text)  # letter-spaced in the letterhead
    assert "1/1" in flat(text)  # the page counter in the bottom margin


@needs_poppler
def test_acceptance_letter(tmp_path):
    data = render_pdf(
        "projects/letters/acceptance.html", base_context(submitted_on=datetime.date(2026, 11, 20))
    )
    assert data.startswith(b"%PDF-")
    text = pdf_text(tmp_path, data)
    assert_letter_basics(text, "受理通知书", "Notice of acceptance")
    assert "2026年11月20日" in text
    assert "20 November 2026" in text
    assert "WH-PV-2026-0012" in text


@needs_poppler
def test_return_letter_lists_the_findings(tmp_path):
    findings = [
        SimpleNamespace(number=1, text="监测数据表缺少2026年2月的并网电表读数。"),
        SimpleNamespace(number=2, text="电网排放因子应采用2025年度发布值。"),
    ]
    text = pdf_text(
        tmp_path, render_pdf("projects/letters/return.html", base_context(findings=findings, round=2))
    )
    assert_letter_basics(text, "退回修改通知书", "Notice of return for revision")
    assert "第1条" in text and "Finding 1" in text
    assert "第2条" in text and "Finding 2" in text
    assert "监测数据表缺少2026年2月的并网电表读数。" in flat(text)
    assert "电网排放因子应采用2025年度发布值。" in flat(text)


@needs_poppler
def test_approval_letter_of_a_declaration_shows_the_verified_quantity(tmp_path):
    context = base_context(verified_t=4269, verified_t_display="4,269", project_code="WH-PV-2026-0012")
    text = pdf_text(tmp_path, render_pdf("projects/letters/approval.html", context))
    assert_letter_basics(text, "批准通知书", "Notice of approval")
    assert "核定减排量4,269吨二氧化碳当量" in flat(text)
    assert "Verified reduction: 4,269 tCO" in text


@needs_poppler
def test_approval_letter_of_a_project_shows_its_public_code(tmp_path):
    context = base_context(verified_t=None, project_code="WH-PV-2026-0012", case_code="")
    text = pdf_text(tmp_path, render_pdf("projects/letters/approval.html", context))
    assert_letter_basics(text, "批准通知书", "Notice of approval")
    assert "WH-PV-2026-0012" in text
    assert "核定减排量" not in text


@needs_poppler
def test_rejection_letter_keeps_the_reasons_and_escapes_markup(tmp_path):
    reasons = "项目边界内的电表未经计量检定。\n<b>Monitoring</b> data cannot be verified."
    text = pdf_text(tmp_path, render_pdf("projects/letters/rejection.html", base_context(reasons=reasons)))
    assert_letter_basics(text, "不予批准通知书", "Notice of rejection")
    assert "项目边界内的电表未经计量检定。" in flat(text)
    assert "<b>Monitoring</b> data cannot be verified." in text  # shown as typed, not as markup


@needs_poppler
def test_the_letter_reads_the_same_in_either_language(tmp_path):
    context = base_context(submitted_on=datetime.date(2026, 11, 20))
    text = pdf_text(tmp_path, render_pdf("projects/letters/acceptance.html", context, language="en"))
    assert "2026年11月24日" in text and "24 November 2026" in text
    assert "受理通知书" in text


@needs_poppler
def test_fonts_are_embedded(tmp_path):
    path = tmp_path / "letter.pdf"
    path.write_bytes(render_pdf("projects/letters/rejection.html", base_context(reasons="理由")))
    result = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, timeout=30, text=True)
    fonts = result.stdout.splitlines()[2:]  # after the header and the dashes
    assert fonts
    # The compact Noto Serif CJK SC of `manage.py build_pdf_fonts`, or the system's where it is not built.
    assert any("Registry-Serif-SC" in line or "CJK" in line for line in fonts)
    # Columns: name type encoding emb sub uni object ID; "emb" is the fourth from the right.
    assert all(line.split()[-5] == "yes" for line in fonts), result.stdout


def certificate_context(n: int = 40) -> dict:
    """A registration certificate's context, as offsets.documents builds it, without the database."""
    from offsets.documents import qr_svg

    number = f"WHCER-C-2026-{n:06d}"
    return {
        "authority_zh": "武汉市生态环境局",
        "authority_en": "Wuhan Municipal Bureau of Ecology and Environment",
        "number": number,
        "date": datetime.date(2026, 11, 3),
        "holder_zh": ORGANISATION,
        "holder_en": "GEM (Wuhan) Urban Mining Industry Group Co., Ltd.",
        "account": f"WHCER-ACC-{n:05d}",
        "project_code": "WH-PV-0041",
        "project_title": "厂区屋顶分布式光伏发电项目",
        "methodology": "WHCER-M-PV 1.0 分布式光伏发电",
        "quantity": f"{1000 + n:,}",
        "serial": f"WHCER-2026P01-WH-PV-0041-2021-{n * 3000 + 1:09d}-{n * 3000 + 1000 + n:09d}",
        "first_unit": f"{n * 3000 + 1:09d}",
        "last_unit": f"{n * 3000 + 1000 + n:09d}",
        "vintage": 2021,
        "phase": SimpleNamespace(code="2026P01", title_zh="2026年第一批", title_en="2026, first phase"),
        "registered_on": datetime.date(2026, 11, 3),
        "qr": qr_svg(f"https://registry.example/verify/?q={number}"),
        "verify_url": f"https://registry.example/verify/?q={number}",
    }


FRESH_PROCESS = """
import sys
import django
django.setup()
from registry.pdf import render_pdf
from tests.registry.test_pdf import certificate_context
sys.stdout.buffer.write(render_pdf("offsets/certificate.html", certificate_context()))
"""


@pytest.mark.e2e  # a fresh Python process
def test_a_certificate_is_the_same_bytes_after_other_pdfs_as_in_a_fresh_process():
    """render_pdf keeps fonts, stylesheet and fetcher between documents (issue 15); that changes no byte."""
    render_pdf("projects/letters/rejection.html", base_context(reasons="项目边界内的电表未经计量检定。"))
    render_pdf("offsets/certificate.html", certificate_context(7))
    here = render_pdf("offsets/certificate.html", certificate_context())
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
    ).stdout
    assert fresh.startswith(b"%PDF-")
    assert here == fresh


def test_a_second_pdf_loads_no_tls_certificates(monkeypatch):
    """The fetcher is made once per thread: building one loads the system's TLS certificates (27 ms)."""
    render_pdf("offsets/certificate.html", certificate_context())
    loaded = []
    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", lambda *args, **kwargs: loaded.append(args))
    render_pdf("offsets/certificate.html", certificate_context(8))
    assert loaded == []


@needs_poppler
def test_the_stylesheet_applies_without_a_link_in_the_template(tmp_path):
    """pdf.css comes from render_pdf: the page counter of its @page rule is on the certificate."""
    text = pdf_text(tmp_path, render_pdf("offsets/certificate.html", certificate_context()))
    assert "1/1" in flat(text)
    assert "碳普惠减排量登记证书" in text and ORGANISATION in flat(text)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://example.com/x.css",
        "/static/../settings.py",
        "/static/css/../../config/settings.py",
        "https://pdf.invalid/static/%2e%2e/config/settings.py",
        "/static//etc/passwd",
        "/static/%2Fetc/passwd",
        "/static/css/no-such-file.css",
        "/static/css/",
        "/media/letters/2026/x.pdf",
        "ftp://example.com/static/css/pdf.css",
    ],
)
def test_the_fetcher_refuses_anything_but_static_files(url):
    with pytest.raises(ValueError):
        safe_url_fetcher(url)


@pytest.mark.parametrize(
    "url", ["/static/css/pdf.css", "https://pdf.invalid/static/css/pdf.css", "static/css/pdf.css"]
)
def test_the_fetcher_serves_static_files(url):
    response = safe_url_fetcher(url)
    assert response.content_type == "text/css"
    assert b"@page" in response.read()


def test_the_fetcher_decodes_data_urls():
    response = safe_url_fetcher("data:text/css;base64,Ym9keSB7fQ==")
    assert response.read() == b"body {}"


def test_the_fetcher_maps_hashed_names_of_the_manifest_storage(monkeypatch):
    storage = SimpleNamespace(hashed_files={"css/pdf.css": "css/pdf.0123456789ab.css"})
    monkeypatch.setattr(pdf, "staticfiles_storage", storage)
    assert b"@page" in safe_url_fetcher("/static/css/pdf.0123456789ab.css").read()


def test_a_refused_resource_stops_the_rendering(settings, tmp_path):
    template_dir = tmp_path / "templates"
    template_dir.mkdir()
    (template_dir / "evil.html").write_text('<link rel="stylesheet" href="file:///etc/passwd"><p>x</p>')
    settings.TEMPLATES = [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [template_dir]}
    ]
    with pytest.raises(ValueError, match="passwd"):
        render_pdf("evil.html", {})
