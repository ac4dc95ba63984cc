from django.conf import settings


def portal(request):
    """What every page's header needs: the languages for the switcher; for bureau staff the office's
    queue counts, for everyone else their organisation and role."""
    context = {"available_languages": settings.LANGUAGES}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    from registry import access
    from registry.models import Organisation

    context["unread_count"] = access.deliveries_visible_to(user).filter(read_at__isnull=True).count()

    if user.is_bureau:
        context["office_counts"] = {
            "pending_organisations": Organisation.objects.awaiting_verification().count()
        }
    else:
        context["current_membership"] = access.current_membership(request)
    return context
