"""Who hears of the behaviour app's events (registry/notifications.py delivers them): a resident's sign-up
tells the resident, with the e-mail confirmation link; a batch given up tells its platform's administrators,
and the person who uploaded it. Other events are statement lines or progress shown on the pages, not news."""

from django.urls import reverse

from offsets.behaviour.models import Batch, PersonalAccount
from registry import notifications

SIGNED_UP = "resident.signed_up"
BATCH_FAILED = "batch.failed"


def account_holder(event) -> list[notifications.Recipient]:
    if event.action != SIGNED_UP:
        return []
    account = PersonalAccount.objects.select_related("user").filter(pk=event.subject_id).first()
    if account is None:
        return []
    user = account.user
    return [notifications.Recipient(user.email, user.language, user)]


def batch_people(event) -> list[notifications.Recipient]:
    if event.action != BATCH_FAILED:
        return []
    batch = Batch.objects.select_related("platform", "sent_by").filter(pk=event.subject_id).first()
    if batch is None:
        return []
    people = notifications.organisation_admins(batch.platform)
    sender = batch.sent_by
    if sender is not None and sender.is_active and all(p.user != sender for p in people):
        people.append(notifications.Recipient(sender.email, sender.language, sender))
    return people


def register() -> None:
    notifications.RESOLVERS["behaviour.personalaccount"] = account_holder
    notifications.RESOLVERS["behaviour.batch"] = batch_people
    notifications.CONFIRMATION_ACTIONS.add(SIGNED_UP)
    notifications.PAGES["behaviour.personalaccount"] = lambda account, user: reverse(
        "behaviour:account", args=[account.number]
    )
    notifications.PAGES["behaviour.batch"] = lambda batch, user: reverse(
        "behaviour:platform_batch", args=[batch.batch_id]
    )
