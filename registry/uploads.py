"""Checks every uploaded file by its content, not its name: kind, size, and its SHA-256.

A file is accepted only if its bytes are a PDF, PNG, JPEG or XLSX workbook (whichever the caller
allows) and it is not larger than UPLOAD_MAX_BYTES. A refused file is never stored.
"""

import hashlib
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
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


@dataclass(frozen=True)
class CheckedUpload:
    kind: str
    size: int
    sha256: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]


def sniff(head: bytes, file) -> str | None:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        try:
            file.seek(0)
            with zipfile.ZipFile(file) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
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
    kind = sniff(file.read(8), file)
    if kind not in allowed:
        names = ", ".join(k.upper() for k in allowed)
        raise ValidationError(
            _("This file is not a %(kinds)s file (checked by its content, not its name)."),
            code="kind",
            params={"kinds": names},
        )
    file.seek(0)
    sha = hashlib.sha256()
    for chunk in file.chunks():
        sha.update(chunk)
    file.seek(0)
    return CheckedUpload(kind=kind, size=size, sha256=sha.hexdigest())
