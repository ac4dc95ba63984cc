from django import template

from registry import events

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """The translated name of an audit action (registry/events.py); the name itself where it has none."""
    return events.label(action)
