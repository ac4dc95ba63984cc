"""Who hears of a personal carbon account's events (registry/notifications.py delivers them): a resident's
sign-up tells the resident, with the e-mail confirmation link; the other events are the account's statement
lines, not news."""

from django.urls import reverse

from offsets.behaviour.models import PersonalAccount
from registry import notifications

SIGNED_UP = "resident.signed_up"


def account_holder(event) -> list[notifications.Recipient]:
    if event.action != SIGNED_UP:
        return []
    account = PersonalAccount.objects.select_related("user").filter(pk=event.subject_id).first()
    if account is None:
        return []
    user = account.user
    return [notifications.Recipient(user.email, user.language, user)]


def register() -> None:
    notifications.RESOLVERS["behaviour.personalaccount"] = account_holder
    notifications.CONFIRMATION_ACTIONS.add(SIGNED_UP)
    notifications.PAGES["behaviour.personalaccount"] = lambda account, user: reverse(
        "behaviour:account", args=[account.number]
    )
