from django.conf import settings


def portal(request):
    """What every page's header needs: the languages for the switcher; for bureau staff the office's
    queue counts, for everyone else their organisation and role."""
    context = {"available_languages": settings.LANGUAGES}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return context
    from registry.models import Delivery, Membership, Organisation

    context["unread_count"] = Delivery.objects.filter(
        user=user, channel=Delivery.Channel.INBOX, read_at__isnull=True
    ).count()

    if user.is_bureau:
        context["office_counts"] = {
            "pending_organisations": Organisation.objects.awaiting_verification().count()
        }
    else:
        context["current_membership"] = (
            Membership.objects.select_related("organisation").filter(user=user).first()
        )
    return context
