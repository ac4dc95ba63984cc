from django import template

from registry.audit import ACTION_LABELS

register = template.Library()


@register.filter
def action_label(action: str) -> str:
    """The translated name of an audit action; the code itself where none is registered."""
    return ACTION_LABELS.get(action, action)
