"""The one way the portal makes PDFs: a Django template rendered to HTML, then to PDF by WeasyPrint.

Callers pass a template name and a context, never HTML: autoescaping stays on, so text typed by
applicants (organisation names, findings, reasons) cannot add markup, stylesheets or links.

Every PDF gets the one stylesheet, static/css/pdf.css; templates do not link it. Its Chinese font is
the compact one `manage.py build_pdf_fonts` makes (registry/pdf_fonts.py, ADR 0016), declared by the
@font-face rules below when its files are there; characters it lacks come from the system's Noto Serif
CJK SC, the next family in pdf.css. What WeasyPrint can reuse between documents is made once per thread
and kept (a worker makes a phase's thousand certificates one after another): the URL fetcher (building
one loads the system's TLS certificates, 27 ms), the font configuration (its fonts stay loaded and
shaped text cached) and the parsed stylesheets (11 ms). None of them changes what a document looks like:
the same input gives the same bytes, in a fresh process or after a thousand other documents
(tests/registry/test_pdf.py). An edited pdf.css, or fonts built after the worker started, are read when
the worker restarts, as edited code is. Measured: docs/performance.md, "Certificates (issue 15)".
"""

import mimetypes
import threading
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import translation
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from registry import pdf_fonts

# Relative URLs in the HTML are joined to this base. The host is never contacted (".invalid" cannot
# resolve, and the fetcher below never opens a network connection); only the URL's path is used.
BASE_URL = "https://pdf.invalid/"
STYLESHEET = "css/pdf.css"  # a static file, served by the fetcher below
FONT_PREFIX = "/pdf-fonts/"  # the compact fonts' URLs: this and a file name of pdf_fonts.FACES


def render_pdf(template_name: str, context: dict, *, language: str | None = None) -> bytes:
    """Render a template to HTML (autoescaped), then to PDF bytes. Raises ValueError if the HTML asks
    for a resource the fetcher refuses, rather than producing a letter without its stylesheet."""
    if language:
        with translation.override(language):
            html = render_to_string(template_name, context)
    else:
        html = render_to_string(template_name, context)
    try:
        return HTML(string=html, base_url=BASE_URL, url_fetcher=_kept("fetcher")).write_pdf(
            stylesheets=_kept("stylesheets"), font_config=_kept("fonts")
        )
    except FatalURLFetchingError as exc:
        # A BaseException in WeasyPrint: turn it into an ordinary error that views and tasks handle.
        raise ValueError(f"PDF rendering refused a resource: {exc.__cause__ or exc}") from exc


def safe_url_fetcher(url: str, *args, **kwargs) -> URLFetcherResponse:
    """Serve a URL WeasyPrint asks for, but only from the project's own static files (and the compact
    fonts of PDF_FONT_DIR, by their exact names).

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
        return _kept("data_fetcher").fetch(url)
    if scheme not in ("", "http", "https"):
        raise ValueError(f"PDF resources must be static files, not {scheme}: URLs: {url!r}")
    path = unquote(parts.path)
    if not path.startswith("/"):
        path = "/" + path  # "static/css/pdf.css", a relative form
    fonts = {FONT_PREFIX + face.file_name: file for face, file in pdf_fonts.built()}
    if path in fonts:
        return URLFetcherResponse(url, fonts[path].read_bytes(), {"Content-Type": "font/otf"})
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


# Kept per thread: fontconfig and Pango objects must not be shared between threads (a threaded server
# running tasks eagerly); each of a worker's processes has one thread.
_KEPT = threading.local()
_MAKERS = {
    "fetcher": _StaticFilesFetcher,
    "data_fetcher": lambda: URLFetcher(allowed_protocols={"data"}, allow_redirects=False),
    "fonts": FontConfiguration,
    "stylesheets": lambda: [
        *_font_faces(),
        CSS(
            url=urljoin(BASE_URL, static(STYLESHEET)),
            url_fetcher=_kept("fetcher"),
            font_config=_kept("fonts"),
        ),
    ],
}


def _font_faces() -> list[CSS]:
    """The compact fonts' @font-face rules, if `manage.py build_pdf_fonts` has made them: parsing them
    loads the fonts into this thread's font configuration. Without them pdf.css's next family is used."""
    rules = [
        f'@font-face {{ font-family: "{pdf_fonts.FAMILY}"; font-weight: {face.weight}; '
        f'src: url("{FONT_PREFIX}{face.file_name}"); }}'
        for face, _ in pdf_fonts.built()
    ]
    if not rules:
        return []
    return [
        CSS(
            string="\n".join(rules),
            base_url=BASE_URL,
            url_fetcher=_kept("fetcher"),
            font_config=_kept("fonts"),
        )
    ]


def _kept(name: str):
    """This thread's fetcher, font configuration or parsed stylesheets, made on first use."""
    kept = getattr(_KEPT, name, None)
    if kept is None:
        kept = _MAKERS[name]()
        setattr(_KEPT, name, kept)
    return kept
