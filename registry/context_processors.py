from django.conf import settings


def portal(request):
    """What every page's header needs: the languages for the switcher."""
    return {"available_languages": settings.LANGUAGES}
