"""What a person reads on each page of a browser story (issue 13): on a Chinese page no English interface
text, and in either language no raw event key such as "transfer.requested".

A story test takes the `reader` fixture (tests/conftest.py; it needs the test's `language` parameter),
passes every page it opens through `reader.watch(page)` and calls `reader.read(page)` on each page a person
reaches; `reader.check()` at the end fails with every finding at once, page by page.

Text inside an element marked with another language than the page's (lang="en" on the language switcher's
"English") is meant to be so and is not read. Codes, numbers, dates, e-mail addresses and paths are not
words. Data stored in English that a page shows as it is (a name typed in English) is not the interface's:
a test allows it with `reader.allow(text)` and says why where it does.
"""

import re

import pytest
from playwright.sync_api import Page

from registry.events import LABELS

ACCEPT_LANGUAGE = {"en": "en", "zh-hans": "zh-CN,zh;q=0.9"}

# Data, not interface, that tests/factories.py stores in English and pages show as it is: the users' and the
# organisations' admins' names, and a grid emission factor's source ("2022年电网排放因子：test。").
FACTORY_DATA = ("Org Admin", "Test User", "test")

# Every text a person reads or hears on the page: text nodes (with the element that holds them), the
# title, and the attributes read aloud or shown.
PAGE_TEXTS = """() => {
  const texts = [["title", document.title]];
  const pageLang = document.documentElement.lang.toLowerCase();
  // Code (field names, file formats shown as they are) and what is marked translate="no" are no language.
  const NOT_LANGUAGE = "script, style, code, kbd, samp, pre, [translate=no]";
  const ownLanguage = (el) => {
    const marked = el.closest("[lang]");
    return !marked || marked.lang.toLowerCase() === pageLang;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    const text = walker.currentNode.nodeValue.trim();
    if (!text || !el || el.closest(NOT_LANGUAGE) || !ownLanguage(el)) continue;
    const classes = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    texts.push([el.tagName.toLowerCase() + classes, text]);
  }
  const named = "[aria-label], [title], [placeholder], [alt], input[type=submit]";
  for (const el of document.body.querySelectorAll(named)) {
    if (!ownLanguage(el) || el.closest(NOT_LANGUAGE)) continue;
    for (const name of ["aria-label", "title", "placeholder", "alt", "value"]) {
      if (name === "value" && el.type !== "submit") continue;
      const value = (el.getAttribute(name) || "").trim();
      if (value) texts.push([el.tagName.toLowerCase() + "@" + name, value]);
    }
  }
  return texts;
}"""

# Words of Latin letters that Chinese pages use as they are: file formats, units, the registry's codes and
# the names of other schemes (CCER, VCS).
LATIN_IN_CHINESE = {
    *("PDF", "PNG", "JPEG", "CSV", "XLSX", "JSON", "QR", "UTC", "BOM", "ISO"),
    *("CO", "MWh", "kW", "kWh"),
    *("WHCER", "WHA", "PV", "WH", "ETS", "CCER", "VCS"),
}
# A run of printable ASCII (Chinese text has no spaces: runs end at a Chinese character) holding a digit, "@",
# "/" or "_" is a code, a date, a number, an e-mail address, a path or an identifier, and one ending in a
# file's extension is a file's name (an upload's, a download's): not words.
CODE = re.compile(r"[!-~]*[\d@/_][!-~]*|[!-~]+\.(?:pdf|png|jpe?g|csv|xlsx|json|zip)\b", re.IGNORECASE)
WORD = re.compile(r"[A-Za-z][A-Za-z'’]*[A-Za-z]")
EVENT_KEYS = re.compile("|".join(re.escape(key) for key in sorted(LABELS, key=len, reverse=True)))


def english_on(texts: list[list[str]], allowed: tuple[str, ...] = ()) -> list[str]:
    """The texts holding an English word, each as "element: 'text'"."""
    found = []
    for where, text in texts:
        shown = text
        for data in allowed:
            shown = shown.replace(data, "_")  # as an identifier: "phases.json" stays a file's name
        words = [w for w in WORD.findall(CODE.sub(" ", shown)) if w not in LATIN_IN_CHINESE]
        if words:
            found.append(f"{where}: {text!r}")
    return found


class Reader:
    """Reads each page a person reaches: its language and raw event keys; and, of every page watched, the
    documents answered with an error and the Content Security Policy reports."""

    def __init__(self, language: str):
        self.language = language
        self.accept_language = ACCEPT_LANGUAGE[language]
        self.problems: dict[str, list[str]] = {}
        self.console: list[str] = []
        self.failed: list[str] = []
        self.contexts: list = []
        self.allowed: tuple[str, ...] = ()
        self.pages_read = 0

    def allow(self, *texts: str) -> None:
        """Data stored in English that pages show as it is, not interface text."""
        self.allowed = (*self.allowed, *(t for t in texts if t))

    def person(self, browser) -> Page:
        """A new browser context (a person of its own, with their own cookies) in the reader's language."""
        context = browser.new_context(extra_http_headers={"Accept-Language": self.accept_language})
        self.contexts.append(context)
        return self.watch(context.new_page())

    def watch(self, page: Page) -> Page:
        page.on(
            "console", lambda m: self.console.append(m.text) if "Content Security Policy" in m.text else None
        )
        page.on(
            "response",
            lambda r: (
                self.failed.append(f"{r.status} {r.url}")
                if r.request.resource_type == "document" and r.status >= 400
                else None
            ),
        )
        return page

    def read(self, page: Page) -> None:
        page.wait_for_load_state()
        texts = page.evaluate(PAGE_TEXTS)
        self.pages_read += 1
        where = "/" + page.url.split("//", 1)[1].split("/", 1)[1]
        raw = sorted({m.group(0) for _, text in texts for m in EVENT_KEYS.finditer(text)})
        if raw:
            self.problems.setdefault(where, []).append(f"raw event keys: {raw}")
        english = english_on(texts, self.allowed)
        if self.language == "en":
            # The same reading finds the English of an English page: a Chinese page's empty list means
            # something.
            assert english, f"no text read on {where}"
        else:
            self.problems.setdefault(where, []).extend(english)

    def report(self) -> str:
        return "\n".join(
            f"{url}\n  " + "\n  ".join(dict.fromkeys(lines)) for url, lines in self.problems.items() if lines
        )

    def check(self) -> None:
        """Fails on a page answered with an error, a CSP report, English on a Chinese page or a raw event
        key; each finding named with its page."""
        assert self.pages_read, "no page was read"
        assert self.failed == [], self.failed
        assert self.console == [], self.console
        if any(self.problems.values()):
            pytest.fail("Pages of the story show:\n" + self.report(), pytrace=False)

    def close(self) -> None:
        for context in self.contexts:
            context.close()
