"""Where a declaration is in the issuance (offsets.progress), on the screens of projects: the declaration
page and the case lists load these tags, so projects never imports offsets."""

from django import template

from offsets.progress import progress_of, progress_of_many

register = template.Library()


@register.inclusion_tag("offsets/includes/issuance_progress.html", takes_context=True)
def issuance_progress(context, declaration) -> dict:
    """The declaration's place in the issuance, with its links; nothing before it is approved."""
    return {"progress": progress_of(declaration, context["request"].user)}


@register.simple_tag(takes_context=True)
def with_issuance_progress(context, rows) -> list[tuple]:
    """Each row of a list, a declaration or a tuple that starts with one, with the declaration's progress
    (or None) appended; one batch of queries for the whole list."""
    rows = [row if isinstance(row, tuple) else (row,) for row in rows]
    progress = progress_of_many([row[0] for row in rows], context["request"].user)
    return [(*row, progress.get(row[0].pk)) for row in rows]
