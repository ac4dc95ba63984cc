"""Who hears of the behaviour app's events (registry/notifications.py delivers them): a resident's sign-up
tells the resident, with the e-mail confirmation link; a batch given up tells its platform's administrators,
and the person who uploaded it; a month's close done by a worker, or not done, tells the platform's
administrators and the declarant who asked for it. Other events are statement lines or progress shown on the
pages, not news."""

from django.urls import reverse

from offsets.behaviour.models import AggregationPeriod, Batch, PersonalAccount
from registry import notifications

SIGNED_UP = "resident.signed_up"
BATCH_FAILED = "batch.failed"
CLOSE_DONE = {"platform.period_closed", "platform.period_close_failed"}


def account_holder(event) -> list[notifications.Recipient]:
    if event.action != SIGNED_UP:
        return []
    account = PersonalAccount.objects.select_related("user").filter(pk=event.subject_id).first()
    if account is None:
        return []
    user = account.user
    return [notifications.Recipient(user.email, user.language, user)]


def _admins_and(platform, user) -> list[notifications.Recipient]:
    """The platform's administrators, and the user who acted, if still active and not one of them."""
    people = notifications.organisation_admins(platform)
    if user is not None and user.is_active and all(p.user != user for p in people):
        people.append(notifications.Recipient(user.email, user.language, user))
    return people


def batch_people(event) -> list[notifications.Recipient]:
    if event.action != BATCH_FAILED:
        return []
    batch = Batch.objects.select_related("platform", "sent_by").filter(pk=event.subject_id).first()
    return _admins_and(batch.platform, batch.sent_by) if batch else []


def period_people(event) -> list[notifications.Recipient]:
    if event.action not in CLOSE_DONE:
        return []  # the close asked for: the declarant who asked knows
    period = AggregationPeriod.objects.select_related("platform", "close_requested_by")
    period = period.filter(pk=event.subject_id).first()
    return _admins_and(period.platform, period.close_requested_by) if period else []


def register() -> None:
    notifications.RESOLVERS["behaviour.personalaccount"] = account_holder
    notifications.RESOLVERS["behaviour.batch"] = batch_people
    notifications.RESOLVERS["behaviour.aggregationperiod"] = period_people
    notifications.CONFIRMATION_ACTIONS.add(SIGNED_UP)
    notifications.PAGES["behaviour.personalaccount"] = lambda account, user: reverse(
        "behaviour:account", args=[account.number]
    )
    notifications.PAGES["behaviour.batch"] = lambda batch, user: reverse(
        "behaviour:platform_batch", args=[batch.batch_id]
    )
    notifications.PAGES["behaviour.aggregationperiod"] = lambda period, user: reverse(
        "behaviour:platform_months"
    )
