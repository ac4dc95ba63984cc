"""Tags of the bureau's ledger screens: tonnes as the rules state them, and the boundary-link form that the
office's case screen (projects) shows without projects importing offsets."""

from decimal import Decimal

from django import template
from django.utils.formats import localize

from offsets.models import BoundaryLink
from offsets.office_forms import BoundaryLinkForm

register = template.Library()


@register.filter
def tonnes(value) -> str:
    """A quantity of tonnes without trailing zeros (12.500 → 12.5), in the reader's format."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        value = value.normalize()
    return localize(value)


@register.inclusion_tag("offsets/office/includes/boundary_link.html", takes_context=True)
def boundary_link(context, project) -> dict:
    """The covered emitter whose boundary the project lies in, and for the technical reviewer the form
    that changes it (offsets.office_ledger_views.link_boundary)."""
    request = context["request"]
    link = BoundaryLink.objects.filter(project=project).select_related("emitter", "installation").first()
    form = None
    if request.user.has_perm("offsets.link_boundary"):
        initial = {"emitter": link.emitter_id, "installation": link.installation_id} if link else {}
        form = BoundaryLinkForm(initial=initial, auto_id=f"boundary-{project.pk}-%s")
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "project": project,
        "link": link,
        "form": form,
        "next": request.get_full_path(),
    }
