"""The compact Chinese fonts of the PDFs (ADR 0016), made once from the system's Noto Serif CJK SC.

Why: WeasyPrint subsets every embedded font keeping its glyph ids, and Noto Serif CJK puts the
simplified-Chinese glyphs at ids up to 63,000, so each PDF carried two subsets of mostly empty glyph
slots (780 KB and 460 KB before compression, 60 ms to make) and each document copied the 26 MB font
collections into memory. The compact fonts hold only what our PDFs write: the GB 2312 characters, ASCII,
Latin-1, general and CJK punctuation, full-width forms, and every character of the templates and of the
translation catalogues; their glyph ids are renumbered from 0. A rarer character (a name with 堃) is
drawn from the system font, the next family in static/css/pdf.css.

`manage.py build_pdf_fonts` (run by `make run` and `make test`) writes them to PDF_FONT_DIR when they
are missing or out of date: the stamp beside them records the source fonts (path, size, mtime, SHA-256),
the characters, fontTools's version and this builder's. The same source fonts give the same bytes.
Without the system font nothing is written, and registry.pdf uses the system fonts as before.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import fontTools
from django.conf import settings
from fontTools import subset
from fontTools.ttLib import TTFont

FAMILY = "Registry Serif SC"
# Bump when the build changes what it writes: the stamp then no longer matches and the fonts are made again.
BUILDER_VERSION = 1
STAMP = "stamp.json"


@dataclass(frozen=True)
class Face:
    source: str  # the system font's PostScript name, as fontconfig lists it
    name: str  # the compact font's PostScript name and file name (without .otf)
    style: str  # its style name (name table), "Regular" or "Bold"
    weight: str  # the CSS font-weight of its @font-face rule

    @property
    def file_name(self) -> str:
        return f"{self.name}.otf"


FACES = (
    Face("NotoSerifCJKsc-Regular", "RegistrySerifSC-Regular", "Regular", "normal"),
    Face("NotoSerifCJKsc-Bold", "RegistrySerifSC-Bold", "Bold", "bold"),
)

# The OpenType features HarfBuzz applies to horizontal text by default (those the font has). The others
# (vertical forms, full- and half-width variants, ruby, Hangul jamo) are never asked for by our PDFs.
LAYOUT_FEATURES = ["ccmp", "locl", "rlig", "calt", "clig", "liga", "kern", "mark", "mkmk"]
# Our PDFs are written in zh-Hans and English. The Japanese, Korean and traditional-Chinese forms that
# `locl` selects for those languages would double the font.
OTHER_LANGUAGES = {"JAN ", "KOR ", "ZHH ", "ZHT "}


def folder() -> Path:
    return Path(settings.PDF_FONT_DIR)


def built() -> list[tuple[Face, Path]]:
    """The compact faces with their files, or [] unless every face is there (PDFs then use the system's)."""
    found = [(face, folder() / face.file_name) for face in FACES]
    return found if all(path.is_file() for _, path in found) else []


def characters() -> str:
    """Every character the compact fonts keep, sorted (those a font lacks are left out when subsetting)."""
    chars = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.update(bytes([row, cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # an unassigned code point of GB 2312
    for first, last in (
        (0x20, 0x7E),  # ASCII
        (0xA0, 0xFF),  # Latin-1
        (0x2000, 0x206F),  # general punctuation: — – ‘ ’ “ ” … ‰
        (0x3000, 0x303F),  # CJK symbols and punctuation: 、。〔〕《》
        (0xFF00, 0xFFEF),  # half-width and full-width forms: （）：，
    ):
        chars.update(map(chr, range(first, last + 1)))
    # What the templates write literally, and every translation (a PDF puts the authority's name, from
    # the catalogue, in its letterhead). Reading whole files keeps more than needed, never less.
    texts = [*Path(settings.BASE_DIR, "templates").rglob("*.html")]
    for locale_path in settings.LOCALE_PATHS:
        texts += Path(locale_path).glob("*/LC_MESSAGES/*.po")
    for path in sorted(texts):
        chars.update(path.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if c.isprintable()))


def find_source(postscript_name: str) -> tuple[Path, int] | None:
    """The system font file (and its index in a collection) fontconfig lists under this PostScript name."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    result = subprocess.run(  # noqa: S603 (a fixed program and pattern)
        [fc_list, "-f", "%{file}\t%{index}\n", f":postscriptname={postscript_name}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # A font listed twice (two directories) is the same font: take the first in a fixed order.
    for line in sorted(result.stdout.splitlines()):
        file, _, index = line.partition("\t")
        if file and Path(file).is_file():
            return Path(file), int(index or 0)
    return None


def _describe(path: Path, index: int) -> dict:
    stat = path.stat()
    return {"path": str(path), "index": index, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def build(*, force: bool = False) -> str:
    """Make the compact fonts if they are missing or out of date; say what was done, in one line."""
    sources = {face.name: find_source(face.source) for face in FACES}
    missing = [face.source for face in FACES if sources[face.name] is None]
    if shutil.which("fc-list") is None:
        problem = "fc-list (Debian package fontconfig) is missing"
    elif missing:
        problem = f"no system font {', '.join(missing)} (Debian package fonts-noto-cjk)"
    else:
        problem = ""
    if problem and built():
        return f"PDF fonts in {folder()} kept as they are, not checked: {problem}."
    if problem:
        return f"PDF fonts not built: {problem}; PDFs use the system fonts."
    chars = characters()
    wanted = {
        "builder": BUILDER_VERSION,
        "fonttools": fontTools.version,  # another version may write other bytes
        "characters_sha256": hashlib.sha256(chars.encode()).hexdigest(),
        "sources": {name: _describe(*source) for name, source in sources.items()},
    }
    stamp_path = folder() / STAMP
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    if not force and built():
        if _same(stamp, wanted, with_hashes=False):
            return f"PDF fonts up to date in {folder()}."
        # Touched but not changed (a package reinstalled): compare the contents before rebuilding.
        for source in wanted["sources"].values():
            source["sha256"] = _sha256(Path(source["path"]))
        if _same(stamp, wanted, with_hashes=True):
            _write(stamp_path, json.dumps(wanted, indent=2, sort_keys=True).encode())
            return f"PDF fonts up to date in {folder()}."
    for source in wanted["sources"].values():
        source.setdefault("sha256", _sha256(Path(source["path"])))
    folder().mkdir(parents=True, exist_ok=True)
    sizes = []
    for face in FACES:
        path, index = sources[face.name]
        data = make_face(path, index, face, chars)
        _write(folder() / face.file_name, data)
        sizes.append(f"{face.file_name} {len(data) / 1e6:.1f} MB")
    # The stamp last: a build stopped half-way is made again next time.
    _write(stamp_path, json.dumps(wanted, indent=2, sort_keys=True).encode())
    return f"PDF fonts built in {folder()}: {', '.join(sizes)}."


def _same(stamp: dict, wanted: dict, *, with_hashes: bool) -> bool:
    def key(info: dict) -> dict:
        fields = ("path", "index", "sha256") if with_hashes else ("path", "index", "size", "mtime_ns")
        return {name: {f: source.get(f) for f in fields} for name, source in info.get("sources", {}).items()}

    return (
        stamp.get("builder") == wanted["builder"]
        and stamp.get("fonttools") == wanted["fonttools"]
        and stamp.get("characters_sha256") == wanted["characters_sha256"]
        and key(stamp) == key(wanted)
    )


def _write(path: Path, data: bytes) -> None:
    # Written beside, then renamed: a worker reading the font never sees half a file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def make_face(path: Path, index: int, face: Face, chars: str) -> bytes:
    """The compact font of one face: subset, renamed, glyph ids from 0 (and CIDs equal to them)."""
    # No timestamps or bounding boxes recomputed: the head table keeps the source's dates (same source,
    # same bytes), and the source's extents still bound the fewer glyphs (recomputing them takes 30 s).
    font = TTFont(path, fontNumber=index, recalcTimestamp=False, recalcBBoxes=False)
    for tag in ("GSUB", "GPOS"):
        for script in font[tag].table.ScriptList.ScriptRecord:
            records = script.Script.LangSysRecord
            script.Script.LangSysRecord = [r for r in records if r.LangSysTag not in OTHER_LANGUAGES]
            script.Script.LangSysCount = len(script.Script.LangSysRecord)
    options = subset.Options()
    options.layout_features = LAYOUT_FEATURES
    options.name_IDs = ["*"]  # keep the copyright, licence and designers
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False  # WeasyPrint drops the hints when it embeds a font anyway
    options.desubroutinize = True  # so that WeasyPrint's own subsetting has nothing to flatten
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    subsetted = io.BytesIO()
    font.save(subsetted)

    # Second pass, reading back only the tables that hold names (the others are copied as they are).
    font = TTFont(subsetted, recalcTimestamp=False, recalcBBoxes=False, lazy=True)
    _rename(font, face)
    _number_cids_as_glyphs(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _rename(font: TTFont, face: Face) -> None:
    """A family name of its own, so that fontconfig never takes it for the system's Noto Serif CJK SC
    (which stays the fallback for rarer characters). Copyright and licence records are kept."""
    names = {
        1: FAMILY,
        3: f"{face.name};{BUILDER_VERSION}",
        4: f"{FAMILY} {face.style}",
        6: face.name,
        16: FAMILY,
        17: face.style,
    }
    for record in font["name"].names:
        if record.nameID in names:
            record.string = names[record.nameID]
    cff = font["CFF "].cff
    cff.fontNames = [face.name]
    top = cff.topDictIndex[0]
    top.FamilyName = FAMILY
    top.FullName = f"{FAMILY} {face.style}"


def _number_cids_as_glyphs(font: TTFont) -> None:
    """Make every glyph's CID its glyph id. The subsetter renumbers the glyphs but a CID-keyed font keeps
    each glyph's CID (its name, cid01234) from the source; WeasyPrint writes glyph ids where a PDF viewer
    reads CIDs, which a viewer following the font's charset (Acrobat, pdf.js) would map to the wrong glyph."""
    top = font["CFF "].cff.topDictIndex[0]
    order = list(top.charset)
    renamed = [".notdef", *(f"cid{gid:05d}" for gid in range(1, len(order)))]
    char_strings = top.CharStrings
    char_strings.charStrings = {
        new: char_strings.charStrings[old] for old, new in zip(order, renamed, strict=True)
    }
    top.charset = renamed
    font.setGlyphOrder(renamed)
