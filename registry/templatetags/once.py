"""`{% once_token %}`: the once-only token of a state-changing form (OnceOnlyMiddleware, ADR 0008).

A built-in tag (settings.TEMPLATES), written inside every `<form method="post">` that changes something,
next to `{% csrf_token %}`.
"""

import uuid

from django import template
from django.middleware.csrf import get_token
from django.utils.html import format_html

from registry.middleware import OnceOnlyMiddleware

register = template.Library()


@register.simple_tag(takes_context=True)
def once_token(context) -> str:
    request = context.get("request")
    if request is not None:
        # Marks the page as holding visitor state, so it is never stored in a shared cache (registry.caching):
        # a token served to two visitors would make the second one's form a "duplicate" of the first's.
        get_token(request)
    return format_html(
        '<input type="hidden" name="{}" value="{}">', OnceOnlyMiddleware.FIELD, uuid.uuid4().hex
    )
