"""The portal's URL patterns, walked from config.urls: includes, converters and the admin's regex patterns.

Tests that must cover every view (tests/test_fuzz_urls.py, tests/test_other_organisations.py) take their
patterns from here, so a new view is covered without editing them.
"""

from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter
from django.utils.regex_helper import normalize


@dataclass(frozen=True)
class Route:
    template: str  # "notices/%(code)s/v%(version)s.pdf"
    params: tuple[str, ...]
    key: str  # as ResolverMatch.route spells it: "notices/<str:code>/v<int:version>.pdf"
    integers: frozenset[str] = field(default_factory=frozenset)  # the params an <int:…> converter reads
    name: str = field(default="", compare=False)  # the namespaced URL name: "offsets:notice_pdf"
    callback: object = field(default=None, compare=False, repr=False)  # the view function

    def __str__(self) -> str:
        return "/" + self.template.replace("%(", "<").replace(")s", ">")


def _walk(patterns, prefix: str = "", key: str = "", converters: dict | None = None, namespace: str = ""):
    for pattern in patterns:
        regex = pattern.pattern.regex.pattern
        regex = regex[1:] if regex.startswith("^") else regex
        # Django joins the routes of nested patterns this way in ResolverMatch.route.
        joined = key + str(pattern.pattern).removeprefix("^") if key else str(pattern.pattern)
        known = {**(converters or {}), **getattr(pattern.pattern, "converters", {})}
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + regex, joined, known, inner)
        elif isinstance(pattern, URLPattern):
            # normalize() is what Django's own reverse() uses to turn a pattern into a format string.
            template, params = normalize(prefix + regex)[0]
            integers = frozenset(name for name, c in known.items() if isinstance(c, IntConverter))
            name = f"{namespace}{pattern.name}" if pattern.name else ""
            yield Route(template, tuple(params), joined, integers, name, pattern.callback)


def discover_routes() -> list[Route]:
    return list(dict.fromkeys(_walk(get_resolver().url_patterns)))
