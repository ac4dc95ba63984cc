"""The PDFs' compact Chinese fonts (registry/pdf_fonts.py, ADR 0016): made once and the same bytes from
the same source, glyph ids from 0 with CIDs equal to them, used by the PDFs, with the system font for a
rarer character and for everything when they are missing."""

import json
import subprocess
import threading

import pytest
from django.conf import settings
from django.core.management import call_command
from fontTools.ttLib import TTFont

from registry import pdf, pdf_fonts
from registry.pdf import render_pdf, safe_url_fetcher
from tests.registry.test_pdf import certificate_context, flat, needs_poppler, pdf_text

FEW = "碳普惠减排量登记证书ABC（）："


def pdf_fonts_of(tmp_path, data: bytes) -> list[str]:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(data)
    result = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, timeout=30, text=True)
    # "ABCDEF+Registry-Serif-SC-Bold": the family without the subset's tag.
    return sorted(line.split()[0].split("+")[-1] for line in result.stdout.splitlines()[2:])


@pytest.fixture(scope="module")
def compact_fonts():
    """The fonts of PDF_FONT_DIR, built now if `make test` has not built them yet."""
    message = pdf_fonts.build()
    assert pdf_fonts.built(), message
    return dict(pdf_fonts.built())


@pytest.fixture
def fresh_thread_fonts(monkeypatch):
    """render_pdf as in a new worker: fonts and stylesheets made again, from PDF_FONT_DIR as it is now."""
    monkeypatch.setattr(pdf, "_KEPT", threading.local())


@pytest.fixture
def small_build(settings, tmp_path, monkeypatch):
    """Builds into a folder of the test's own, with a few characters (a second, not a full build)."""
    settings.PDF_FONT_DIR = tmp_path / "fonts"
    monkeypatch.setattr(pdf_fonts, "characters", lambda: FEW)
    return settings.PDF_FONT_DIR


def test_the_characters_are_gb2312_punctuation_and_what_the_templates_and_catalogue_write():
    chars = set(pdf_fonts.characters())
    hanzi = {c for c in chars if "\u4e00" <= c <= "\u9fff"}
    assert len(hanzi) >= 6763  # GB 2312's two levels of hanzi
    assert set("武汉市生态环境局碳普惠（）：、。〔〕—“”…ABCxyz0123456789éü") <= chars
    assert "硚" in chars  # not in GB 2312: from the Chinese catalogue (硚口区)
    assert "堃" not in chars and "㐂" not in chars  # rarer: from the system font


@pytest.mark.e2e  # a real font build (pyftsubset), seconds each
def test_a_build_gives_the_same_bytes_and_is_made_once(small_build):
    first = pdf_fonts.build()
    assert first.startswith("PDF fonts built")
    files = {face.file_name: (small_build / face.file_name).read_bytes() for face in pdf_fonts.FACES}
    modified = {name: (small_build / name).stat().st_mtime_ns for name in files}
    assert pdf_fonts.build() == f"PDF fonts up to date in {small_build}."
    assert {name: (small_build / name).stat().st_mtime_ns for name in files} == modified
    assert pdf_fonts.build(force=True).startswith("PDF fonts built")
    assert {name: (small_build / name).read_bytes() for name in files} == files


@pytest.mark.e2e  # a real font build (pyftsubset), seconds each
def test_a_touched_source_is_compared_by_content_and_a_changed_one_is_built_again(small_build):
    pdf_fonts.build()
    stamp_path = small_build / pdf_fonts.STAMP
    stamp = json.loads(stamp_path.read_text())
    for source in stamp["sources"].values():
        source["mtime_ns"] = 0  # as after a reinstall of the same package
    stamp_path.write_text(json.dumps(stamp))
    assert pdf_fonts.build() == f"PDF fonts up to date in {small_build}."
    assert json.loads(stamp_path.read_text())["sources"] != stamp["sources"]  # the new mtime, recorded
    stamp = json.loads(stamp_path.read_text())
    for source in stamp["sources"].values():
        source.update(mtime_ns=0, sha256="0" * 64)  # another font
    stamp_path.write_text(json.dumps(stamp))
    assert pdf_fonts.build().startswith("PDF fonts built")


@pytest.mark.e2e  # a real font build (pyftsubset), seconds each
def test_new_characters_build_the_fonts_again(small_build, monkeypatch):
    pdf_fonts.build()
    monkeypatch.setattr(pdf_fonts, "characters", lambda: FEW + "硚")
    assert pdf_fonts.build().startswith("PDF fonts built")
    font = TTFont(small_build / pdf_fonts.FACES[0].file_name)
    assert ord("硚") in font.getBestCmap()


def test_without_the_system_font_nothing_is_written_and_the_command_says_so(small_build, monkeypatch, capsys):
    monkeypatch.setattr(pdf_fonts, "find_source", lambda name: None)
    call_command("build_pdf_fonts")
    out = capsys.readouterr().out
    assert "not built: no system font NotoSerifCJKsc-Regular, NotoSerifCJKsc-Bold" in out
    assert "PDFs use the system fonts" in out
    assert not small_build.exists()
    assert pdf_fonts.built() == []


def test_without_fc_list_the_command_says_what_to_install(small_build, monkeypatch):
    monkeypatch.setattr(pdf_fonts.shutil, "which", lambda name: None)
    assert "fc-list (Debian package fontconfig) is missing" in pdf_fonts.build()
    assert not small_build.exists()


def test_fonts_already_built_are_kept_when_their_source_cannot_be_checked(small_build, monkeypatch):
    pdf_fonts.build()
    monkeypatch.setattr(pdf_fonts, "find_source", lambda name: None)
    assert pdf_fonts.build() == (
        f"PDF fonts in {small_build} kept as they are, not checked: no system font "
        "NotoSerifCJKsc-Regular, NotoSerifCJKsc-Bold (Debian package fonts-noto-cjk)."
    )
    assert len(pdf_fonts.built()) == 2


def test_the_compact_font_is_renamed_renumbered_and_its_cids_are_its_glyph_ids(compact_fonts):
    for face, path in compact_fonts.items():
        font = TTFont(path)
        cmap = font.getBestCmap()
        assert all(ord(c) in cmap for c in "碳普惠减排量武汉市生态环境局（）：硚")
        assert ord("堃") not in cmap
        assert font["maxp"].numGlyphs < 10_000  # the source has 65,535
        assert font["name"].getDebugName(1) == "Registry Serif SC"
        assert font["name"].getDebugName(6) == face.name
        assert "Open Font License" in font["name"].getDebugName(13)
        top = font["CFF "].cff.topDictIndex[0]
        # A PDF viewer maps the CIDs WeasyPrint writes (glyph ids) through this charset.
        assert top.charset == [".notdef", *(f"cid{gid:05d}" for gid in range(1, len(top.charset)))]
        # No Japanese, Korean or traditional forms selected by `locl`.
        languages = {
            record.LangSysTag
            for script in font["GSUB"].table.ScriptList.ScriptRecord
            for record in script.Script.LangSysRecord
        }
        assert not languages & pdf_fonts.OTHER_LANGUAGES


@needs_poppler
def test_a_certificate_embeds_the_compact_fonts_only(compact_fonts, fresh_thread_fonts, tmp_path):
    data = render_pdf("offsets/certificate.html", certificate_context())
    assert pdf_fonts_of(tmp_path, data) == ["DejaVu-Sans-Mono", "Registry-Serif-SC", "Registry-Serif-SC-Bold"]
    assert "碳普惠减排量登记证书" in pdf_text(tmp_path, data)
    # 240 KiB with the system font, whose glyph ids reach 63,000.
    assert len(data) < 120 * 1024


@needs_poppler
def test_a_name_outside_gb2312_is_drawn_from_the_system_font(compact_fonts, fresh_thread_fonts, tmp_path):
    name = "王喆、张堃与㐂记（武汉）商贸有限公司"
    data = render_pdf("offsets/certificate.html", certificate_context() | {"holder_zh": name})
    assert name in flat(pdf_text(tmp_path, data))
    assert "Noto-Serif-CJK-SC" in pdf_fonts_of(tmp_path, data)
    assert "Registry-Serif-SC" in pdf_fonts_of(tmp_path, data)


@needs_poppler
def test_without_the_compact_fonts_pdfs_use_the_system_fonts(settings, fresh_thread_fonts, tmp_path):
    settings.PDF_FONT_DIR = tmp_path / "nothing"
    data = render_pdf("offsets/certificate.html", certificate_context())
    assert pdf_fonts_of(tmp_path, data) == ["DejaVu-Sans-Mono", "Noto-Serif-CJK-SC", "Noto-Serif-CJK-SC-Bold"]
    assert "碳普惠减排量登记证书" in pdf_text(tmp_path, data)


def test_the_fetcher_serves_the_compact_fonts_by_their_names(compact_fonts):
    for face, path in compact_fonts.items():
        response = safe_url_fetcher(f"https://pdf.invalid/pdf-fonts/{face.file_name}")
        assert response.content_type == "font/otf"
        assert response.read() == path.read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        "/pdf-fonts/stamp.json",
        "/pdf-fonts/../config/settings.py",
        "/pdf-fonts/%2e%2e/stamp.json",
        "/pdf-fonts/RegistrySerifSC-Regular.otf/../stamp.json",
        "/pdf-fonts/",
        "file:///usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    ],
)
def test_the_fetcher_serves_nothing_else_from_the_font_folder(compact_fonts, url):
    with pytest.raises(ValueError):
        safe_url_fetcher(url)


def test_the_stylesheet_names_the_compact_family_first_then_the_system_font():
    css = (settings.BASE_DIR / "static" / "css" / "pdf.css").read_text()
    assert f'font-family: "{pdf_fonts.FAMILY}", "Noto Serif CJK SC",' in css
