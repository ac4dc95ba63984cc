"""Every uploaded file is parsed, not sniffed; every stored file is served by one helper.

On the way in, check_upload() accepts a file only if it is not empty, not larger than UPLOAD_MAX_BYTES
and really is one of the kinds the caller allows:

- PDF: opens with pypdf, ends at its last %%EOF, and no object reachable from its trailer carries active
  content (scripts, launch or submit actions, additional actions, embedded files, rich media, XFA);
- PNG and JPEG: the chunk or marker structure ends exactly at IEND or EOI, the dimensions stay under
  UPLOAD_MAX_IMAGE_PIXELS, and Pillow decodes every pixel;
- XLSX: a zip whose members, under any name, stay under the declared and the actually inflated size
  caps and a compression ratio, with no macros, external links, embedded objects or data connections,
  and whose XML carries no DTD (so no entity expansion or external entity can be hidden in it).

Whatever the kind, bytes that make a browser or a server treat the file as markup or script (<script,
<html, <svg, <?php ...) refuse it: a real PDF, PNG or JPEG never carries them in clear. A refused file
is never stored, and the message says why in the user's language.

Accepted files are stored under storage_name() (a random name with the extension of the checked kind),
never under the user's name; display_name() keeps a tidy copy of the user's name for display only.
On the way out, attachment() answers with the checked kind's type and a file name we build.
"""

import hashlib
import re
import struct
import unicodedata
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

PDF, PNG, JPEG, XLSX = "pdf", "png", "jpeg", "xlsx"
ALL_KINDS = (PDF, PNG, JPEG, XLSX)
DOCUMENT_KINDS = (PDF, PNG, JPEG)
CONTENT_TYPES = {
    PDF: "application/pdf",
    PNG: "image/png",
    JPEG: "image/jpeg",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", XLSX: ".xlsx"}
KIND_OF_EXTENSION = {ext: kind for kind, ext in EXTENSIONS.items()}
KIND_OF_CONTENT_TYPE = {content_type: kind for kind, content_type in CONTENT_TYPES.items()}

# Markup or script: what makes a browser render a file as a page, or a server run it.
ACTIVE_MARKERS = (
    b"<script",
    b"<html",
    b"<svg",
    b"<?php",
    b"<!doctype html",
    b"<body",
    b"<iframe",
    b"<object",
    b"<embed",
    b"<meta http-equiv",
)

# PDF dictionary keys and action types that run code, open other files or carry files inside.
PDF_ACTIVE_KEYS = frozenset(
    {
        "/JS",
        "/JavaScript",
        "/AA",
        "/Launch",
        "/EmbeddedFiles",
        "/EmbeddedFile",
        "/EF",
        "/RichMedia",
        "/RichMediaContent",
        "/XFA",
    }
)
PDF_ACTIVE_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/SubmitForm",
        "/ImportData",
        "/GoToR",
        "/GoToE",
        "/RichMediaExecute",
        "/Rendition",
    }
)
PDF_ACTIVE_TYPES = frozenset({"/EmbeddedFile", "/RichMedia", "/Filespec"})
# Walking more objects than this is a denial of service, not a document.
PDF_MAX_OBJECTS = 200_000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
ZIP_SIGNATURE = b"PK\x03\x04"

# XLSX members that carry code or reach outside the workbook, by lower-case name prefix or suffix.
XLSX_FORBIDDEN_PREFIXES = ("xl/externallinks/", "xl/activex/", "xl/embeddings/", "xl/connections")
XLSX_FORBIDDEN_SUFFIXES = ("vbaproject.bin", "vbadata.xml", ".bin.rels")
XLSX_FORBIDDEN_CONTENT_TYPES = (b"macroenabled", b"vbaproject", b"externallink", b"activex", b"oleobject")
XLSX_MAX_MEMBERS = 2000
# A member smaller than this is never a bomb, whatever its ratio.
XLSX_RATIO_FLOOR_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CheckedUpload:
    kind: str
    size: int
    sha256: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.kind]


class _Refused(Exception):
    """A kind checker found the file unacceptable; code names the reason (see _message)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _message(code: str, allowed: tuple[str, ...], limit: int | None = None) -> str:
    kinds = ", ".join(k.upper() for k in allowed)
    messages = {
        "kind": _("This file is not a %(kinds)s file (checked by its content, not its name).")
        % {"kinds": kinds},
        "damaged": _("This file is damaged or incomplete and cannot be opened. Save or export it again."),
        "markup": _(
            "This file contains web page or script code, which is not allowed in an uploaded document."
        ),
        "trailing": _(
            "This file has extra data after its end, which can hide other content. Save or export it "
            "again, without anything appended."
        ),
        "pdf_active": _(
            "This PDF contains scripts, actions, attached files or interactive forms, which are not "
            "allowed. Print it to a new PDF or export it without them."
        ),
        "encrypted": _("This file is password-protected or encrypted. Upload a copy without protection."),
        "pixels": _(
            "This image is too large (more than %(pixels)s million pixels). Reduce its resolution and upload "
            "it again."
        )
        % {"pixels": settings.UPLOAD_MAX_IMAGE_PIXELS // 1_000_000},
        "xlsx_large": _(
            "This workbook is too large: it unpacks to more than %(limit)s, or is compressed suspiciously "
            "much. Keep only the sheet you need and save it again."
        )
        % {"limit": filesizeformat(limit or settings.UPLOAD_XLSX_MAX_UNPACKED_BYTES)},
        "xlsx_cells": _(
            "This workbook has too many cells for what it is uploaded for. Keep only the sheet you need "
            "and save it again."
        ),
        "xlsx_active": _(
            "This workbook contains macros, external links, embedded objects or data connections, which "
            "are not allowed. Save it as a plain Excel workbook (.xlsx) without them."
        ),
        "xlsx_xml": _(
            "This workbook contains XML that is not allowed (a document type declaration or entities). "
            "Save it again in a spreadsheet program."
        ),
    }
    return messages[code]


def kind_of(head: bytes) -> str | None:
    """The kind a file claims to be by its first bytes; only a starting point for parsing it."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(PNG_SIGNATURE):
        return PNG
    if head.startswith(JPEG_SOI):
        return JPEG
    if head.startswith(ZIP_SIGNATURE):
        return XLSX
    return None


def check_upload(file, *, allowed: tuple[str, ...] = DOCUMENT_KINDS) -> CheckedUpload:
    """Return the file's kind, size and SHA-256, or raise ValidationError with a message for the user."""
    limit = settings.UPLOAD_MAX_BYTES
    size = file.size
    if not size:
        raise ValidationError(_("The file is empty."), code="empty")
    if size > limit:
        raise ValidationError(
            _("The file is larger than the limit of %(limit)s."),
            code="too_large",
            params={"limit": filesizeformat(limit)},
        )
    file.seek(0)
    content = file.read()
    file.seek(0)
    kind = kind_of(content[:8])
    try:
        if kind not in allowed:
            raise _Refused("kind")
        CHECKERS[kind](content)
    except _Refused as refused:
        raise ValidationError(_message(refused.code, allowed), code=refused.code) from None
    return CheckedUpload(kind=kind, size=size, sha256=hashlib.sha256(content).hexdigest())


def _refuse_markup(content: bytes) -> None:
    lowered = content.lower()
    if any(marker in lowered for marker in ACTIVE_MARKERS):
        raise _Refused("markup")


# --- PDF ----------------------------------------------------------------------------------------------


def _check_pdf(content: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    _refuse_markup(content)
    end = content.rfind(b"%%EOF")
    if end < 0:
        raise _Refused("damaged")
    if content[end + 5 :].strip(b" \t\r\n\x00\x0c"):
        raise _Refused("trailing")
    try:
        reader = PdfReader(BytesIO(content), strict=False)
        # Only an owner password (printing or copying restricted) opens with the empty user password;
        # a file that needs a password to open cannot be checked, nor read by the bureau.
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise _Refused("encrypted")
            except PyPdfError:
                raise _Refused("encrypted") from None
        if len(reader.pages) < 1:
            raise _Refused("damaged")
        # Every object a viewer can reach starts at the trailer: walk them all, once each.
        seen: set[tuple[int, int]] = set()
        stack: list = [reader.trailer]
        walked = 0
        while stack:
            item = stack.pop()
            if isinstance(item, IndirectObject):
                key = (item.idnum, item.generation)
                if key in seen:
                    continue
                seen.add(key)
                item = item.get_object()
            walked += 1
            if walked > PDF_MAX_OBJECTS:
                raise _Refused("damaged")
            if isinstance(item, DictionaryObject):
                for name, value in item.items():
                    if name in PDF_ACTIVE_KEYS:
                        raise _Refused("pdf_active")
                    if name == "/S" and value in PDF_ACTIVE_ACTIONS:
                        raise _Refused("pdf_active")
                    if name == "/Type" and value in PDF_ACTIVE_TYPES:
                        raise _Refused("pdf_active")
                    stack.append(value)
            elif isinstance(item, ArrayObject):
                stack.extend(item)
    except _Refused:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError):
        raise _Refused("damaged") from None


# --- Images -------------------------------------------------------------------------------------------


def _png_end(content: bytes) -> int:
    """Where the PNG's IEND chunk ends, walking the chunks; a broken chunk list is damage."""
    position = len(PNG_SIGNATURE)
    while position + 12 <= len(content):
        (length,) = struct.unpack(">I", content[position : position + 4])
        chunk_type = content[position + 4 : position + 8]
        position += 12 + length
        if position > len(content):
            break
        if chunk_type == b"IEND":
            return position
    raise _Refused("damaged")


def _jpeg_end(content: bytes) -> int:
    """Where the JPEG's EOI marker ends, walking the segments and entropy-coded scans."""
    position, size = 2, len(content)
    while position < size:
        if content[position] != 0xFF:
            raise _Refused("damaged")
        while position < size and content[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            break
        marker = content[position]
        position += 1
        if marker == 0xD9:  # EOI
            return position
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            continue
        if position + 2 > size:
            break
        (length,) = struct.unpack(">H", content[position : position + 2])
        if length < 2:
            raise _Refused("damaged")
        position += length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while True:
                position = content.find(b"\xff", position)
                if position < 0 or position + 1 >= size:
                    raise _Refused("damaged")
                following = content[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    position += 1 if following == 0xFF else 2
                    continue
                break
    raise _Refused("damaged")


def _check_image(content: bytes, end: int, pil_format: str) -> None:
    from PIL import Image

    _refuse_markup(content)
    if content[end:]:
        raise _Refused("trailing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(content), formats=[pil_format]) as image:
                width, height = image.size
                if width * height > settings.UPLOAD_MAX_IMAGE_PIXELS:
                    raise _Refused("pixels")
                image.verify()
            # verify() leaves the image unusable; decode every pixel from a fresh open.
            with Image.open(BytesIO(content), formats=[pil_format]) as image:
                image.load()
    except _Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Refused("pixels") from None
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError, TypeError):
        raise _Refused("damaged") from None


def _check_png(content: bytes) -> None:
    _check_image(content, _png_end(content), "PNG")


def _check_jpeg(content: bytes) -> None:
    _check_image(content, _jpeg_end(content), "JPEG")


# --- XLSX ---------------------------------------------------------------------------------------------


# Excel's own limit of columns: a row with more cells is made to exhaust a reader, not written by one.
XLSX_MAX_CELLS_PER_ROW = 16_384


class _CountingTarget:
    """Keeps nothing of what the XML parser finds, in constant memory; counts cells per row and in all.

    openpyxl builds a whole row in memory even when asked for two columns, so one row of a million
    cells is refused here, before it gets there.
    """

    def __init__(self, max_cells: int | None):
        self.max_cells = max_cells
        self.cells = 0
        self.in_row = 0

    def start(self, tag: str, attrib) -> None:
        name = tag.rpartition("}")[2]
        if name == "row":
            self.in_row = 0
        elif name == "c":
            self.in_row += 1
            self.cells += 1
            if self.in_row > XLSX_MAX_CELLS_PER_ROW or (self.max_cells and self.cells > self.max_cells):
                raise _Refused("xlsx_cells")

    def close(self):
        return None


def _check_workbook(content: bytes, *, max_unpacked: int | None = None, max_cells: int | None = None) -> None:
    """Raise _Refused unless the zip is an XLSX without active parts, inside the size caps, with safe XML.

    Every member counts, whatever its name: the declared sizes are checked first (cheap), then each
    member is inflated in chunks and counted, so a member that lies about its size is caught too.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser, ParseError

    cap = max_unpacked if max_unpacked is not None else settings.UPLOAD_XLSX_MAX_UNPACKED_BYTES
    ratio = settings.UPLOAD_XLSX_MAX_RATIO
    try:
        archive = zipfile.ZipFile(BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _Refused("damaged") from None
    with archive:
        members = archive.infolist()
        names = {info.filename for info in members}
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise _Refused("kind")
        if len(members) > XLSX_MAX_MEMBERS or sum(info.file_size for info in members) > cap:
            raise _Refused("xlsx_large")
        for info in members:
            lowered = info.filename.lower()
            if lowered.startswith(XLSX_FORBIDDEN_PREFIXES) or lowered.endswith(XLSX_FORBIDDEN_SUFFIXES):
                raise _Refused("xlsx_active")
            if info.flag_bits & 0x1:
                raise _Refused("encrypted")
            if info.file_size > XLSX_RATIO_FLOOR_BYTES and info.file_size > ratio * max(
                info.compress_size, 1
            ):
                raise _Refused("xlsx_large")
        try:
            types = archive.read("[Content_Types].xml").lower()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            raise _Refused("damaged") from None
        if any(marker in types for marker in XLSX_FORBIDDEN_CONTENT_TYPES):
            raise _Refused("xlsx_active")
        unpacked = 0
        cells = _CountingTarget(max_cells)  # one count for the whole workbook
        try:
            for info in members:
                parser = None
                with archive.open(info) as member:
                    first = True
                    while chunk := member.read(64 * 1024):
                        unpacked += len(chunk)
                        if unpacked > cap:
                            raise _Refused("xlsx_large")
                        # A member is XML (and parsed) if it starts like XML; images and the like are not.
                        if first and _looks_like_xml(chunk):
                            parser = DefusedXMLParser(target=cells, forbid_dtd=True, forbid_entities=True)
                        first = False
                        if parser is not None:
                            parser.feed(chunk)
                if parser is not None:
                    parser.close()
        except DefusedXmlException:
            raise _Refused("xlsx_xml") from None
        except (
            ParseError,
            zipfile.BadZipFile,
            OSError,
            ValueError,
            EOFError,
            NotImplementedError,
            RuntimeError,
        ):
            raise _Refused("damaged") from None


def _looks_like_xml(chunk: bytes) -> bool:
    head = chunk.lstrip(b" \t\r\n")
    return head.startswith((b"<", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))


def _check_xlsx(content: bytes) -> None:
    _check_workbook(content)


def check_workbook(content: bytes, *, max_unpacked: int | None = None, max_cells: int | None = None) -> None:
    """For readers that do not store the file: raise ValidationError (with a code) unless it is a safe XLSX
    that unpacks to at most max_unpacked bytes and holds at most max_cells cells (None: the defaults)."""
    try:
        if kind_of(content[:8]) != XLSX:
            raise _Refused("kind")
        _check_workbook(content, max_unpacked=max_unpacked, max_cells=max_cells)
    except _Refused as refused:
        raise ValidationError(_message(refused.code, (XLSX,), max_unpacked), code=refused.code) from None


CHECKERS = {PDF: _check_pdf, PNG: _check_png, JPEG: _check_jpeg, XLSX: _check_xlsx}


# --- Names --------------------------------------------------------------------------------------------


def storage_name(checked: CheckedUpload) -> str:
    """The name a checked upload is stored under: random, with the extension of its checked kind."""
    return f"{uuid.uuid4().hex}{checked.extension}"


def display_name(name: str, *, max_length: int = 200) -> str:
    """The user's file name for display only: no folders, no control characters, at most max_length."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if len(name) > max_length:
        _stem, dot, extension = name.rpartition(".")
        extension = f".{extension}" if dot and len(extension) <= 10 else ""
        name = name[: max_length - len(extension)] + extension
    return name


def kind_of_stored_name(name: str) -> str | None:
    """The checked kind of a file we stored, from the extension we gave it (None for older, foreign names)."""
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return KIND_OF_EXTENSION.get(extension)


def _safe_stem(stem: str) -> str:
    # Letters (any script), digits, dot, dash and underscore; anything else becomes a dash.
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.UNICODE)
    return re.sub(r"\.{2,}", ".", stem).strip("-.") or "file"


# --- Serving ------------------------------------------------------------------------------------------


def attachment(content, *, kind: str | None, stem: str) -> HttpResponse:
    """The one way a stored or generated file leaves the portal.

    content is a stored FieldFile (streamed) or bytes made for this response; kind is the checked kind
    (None: an older file whose kind is not known, served as opaque bytes). The file name is ours: stem,
    tidied, plus the kind's extension; non-ASCII names go out as RFC 5987 filename*.
    """
    if not content:
        raise Http404
    content_type = CONTENT_TYPES.get(kind, "application/octet-stream")
    filename = _safe_stem(stem) + EXTENSIONS.get(kind, ".bin")
    if isinstance(content, bytes):
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(True, filename)
    else:
        response = FileResponse(
            content.open("rb"), as_attachment=True, filename=filename, content_type=content_type
        )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
