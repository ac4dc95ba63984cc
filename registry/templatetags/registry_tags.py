from django import template

from registry import events

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """The translated name of an audit action (registry/events.py); the name itself where it has none."""
    return events.label(action)


@register.filter
def tonnes(value) -> str:
    """A quantity with its unit in the reader's language: 4,269 t, 4,269吨 (the glossary's 吨)."""
    from django.contrib.humanize.templatetags.humanize import intcomma
    from django.utils.translation import gettext

    if value is None or value == "":
        return ""
    return gettext("%(quantity)s t") % {"quantity": intcomma(value)}


@register.filter
def in_reader_language(record: dict, key: str) -> str:
    """`{{ row|in_reader_language:"owner" }}`: of a published record keeping a value in both languages
    (a notice's `owner` and `owner_en`), the English one for an English reader where there is one, else
    the Chinese. Records written before the English value was kept have only the Chinese."""
    from registry.models import in_reader_language as choose

    return choose(record.get(key) or "", record.get(f"{key}_en") or "")
