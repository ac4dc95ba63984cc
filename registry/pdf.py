"""The one way the portal makes PDFs: a Django template rendered to HTML, then to PDF by WeasyPrint.

Callers pass a template name and a context, never HTML: autoescaping stays on, so text typed by
applicants (organisation names, findings, reasons) cannot add markup, stylesheets or links.
"""

import mimetypes
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.template.loader import render_to_string
from django.utils import translation
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

# Relative URLs in the HTML are joined to this base. The host is never contacted (".invalid" cannot
# resolve, and the fetcher below never opens a network connection); only the URL's path is used.
BASE_URL = "https://pdf.invalid/"


def render_pdf(template_name: str, context: dict, *, language: str | None = None) -> bytes:
    """Render a template to HTML (autoescaped), then to PDF bytes. Raises ValueError if the HTML asks
    for a resource the fetcher refuses, rather than producing a letter without its stylesheet."""
    if language:
        with translation.override(language):
            html = render_to_string(template_name, context)
    else:
        html = render_to_string(template_name, context)
    try:
        return HTML(string=html, base_url=BASE_URL, url_fetcher=_StaticFilesFetcher()).write_pdf()
    except FatalURLFetchingError as exc:
        # A BaseException in WeasyPrint: turn it into an ordinary error that views and tasks handle.
        raise ValueError(f"PDF rendering refused a resource: {exc.__cause__ or exc}") from exc


def safe_url_fetcher(url: str, *args, **kwargs) -> URLFetcherResponse:
    """Serve a URL WeasyPrint asks for, but only from the project's own static files.

    Why restricted: WeasyPrint's default fetcher follows any URL in the document, so a template (or a
    value that ever reached one unescaped) could read file:///etc/passwd or the settings module into
    the PDF, or make the server request internal addresses (SSRF). Here only paths under STATIC_URL,
    looked up with the staticfiles finders, are served, plus data: URLs (inline, nothing to fetch).
    Anything else raises ValueError. Returns what WeasyPrint 70 requires: a URLFetcherResponse
    (its fetch() asserts that type; the plain dicts of older versions are no longer accepted).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "data":
        # WeasyPrint 70 passes data: URLs to the fetcher too; decode them with its own fetcher limited
        # to the data: protocol, so it cannot be talked into opening anything else.
        return URLFetcher(allowed_protocols={"data"}, allow_redirects=False).fetch(url)
    if scheme not in ("", "http", "https"):
        raise ValueError(f"PDF resources must be static files, not {scheme}: URLs: {url!r}")
    path = unquote(parts.path)
    if not path.startswith("/"):
        path = "/" + path  # "static/css/pdf.css", a relative form
    static_prefix = urlsplit(settings.STATIC_URL).path  # "/static/", also if STATIC_URL is absolute
    if not path.startswith(static_prefix):
        raise ValueError(f"PDF resources must be under {static_prefix}: {url!r}")
    name = path.removeprefix(static_prefix)
    # No way out of the static directories: no "..", no absolute path ("/static//etc/passwd").
    if (
        not name
        or name.startswith("/")
        or ".." in PurePosixPath(name).parts
        or "\\" in name
        or "\x00" in name
    ):
        raise ValueError(f"PDF resource path leaves the static files: {url!r}")
    found = finders.find(name) or _find_hashed(name)
    if not found or not Path(found).is_file():
        raise ValueError(f"No such static file: {url!r}")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return URLFetcherResponse(url, Path(found).read_bytes(), {"Content-Type": content_type})


def _find_hashed(name: str) -> str | None:
    """With the manifest storage of production, {% static %} gives hashed names (css/pdf.1a2b3c.css);
    map one back to its source name through the manifest, then find that with the finders."""
    hashed_files = getattr(staticfiles_storage, "hashed_files", None) or {}
    originals = {hashed: original for original, hashed in hashed_files.items()}
    return finders.find(originals[name]) if name in originals else None


class _StaticFilesFetcher(URLFetcher):
    """WeasyPrint 70 wants a URLFetcher instance (it reads its fail_on_errors flag); every fetch goes
    through safe_url_fetcher. fail_on_errors: a refused or missing resource stops the rendering."""

    def __init__(self):
        super().__init__(allowed_protocols=set(), allow_redirects=False, fail_on_errors=True)

    def fetch(self, url, headers=None):
        return safe_url_fetcher(url)
