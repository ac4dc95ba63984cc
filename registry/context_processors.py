from django.conf import settings


def portal(request):
    """What every page's header needs: the languages for the switcher, and the office's queue counts."""
    context = {"available_languages": settings.LANGUAGES}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_bureau:
        from registry.models import Organisation

        context["office_counts"] = {
            "pending_organisations": Organisation.objects.awaiting_verification().count()
        }
    return context
