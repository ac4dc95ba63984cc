"""Who hears of phase, objection, issuance, transfer and retirement events."""

from django.contrib.auth.models import Group
from django.urls import reverse

from offsets.models import RetirementKind
from registry import notifications, roles
from registry.models import AuditEvent, Membership

Recipient = notifications.Recipient


def _group(name: str) -> list:
    return list(Group.objects.get(name=name).user_set.filter(is_active=True))


def _members(organisation) -> list:
    return [m.user for m in Membership.objects.filter(organisation=organisation).select_related("user")]


def _as_recipients(users) -> list[Recipient]:
    unique = {u.pk: u for u in users if u.is_active}
    return [Recipient(u.email, u.language, u) for u in unique.values()]


def phase_recipients(event: AuditEvent) -> list[Recipient]:
    phase = notifications.subject_of(event)
    if phase is None:
        return []
    by_action = {
        "phase.submitted": lambda: _group(roles.APPROVER),
        "phase.approved": lambda: _group(roles.REGISTRY_ADMIN),
        "phase.sent_back": lambda: _group(roles.REGISTRY_ADMIN),
        "phase.published": lambda: (
            _group(roles.REGISTRY_ADMIN)
            + [u for e in phase.entries.live() for u in _members(e.declaration.organisation)]
        ),
        "phase.notice_closed": lambda: _group(roles.REGISTRY_ADMIN) + _group(roles.APPROVER),
        "phase.registered": lambda: _group(roles.REGISTRY_ADMIN),
    }
    return _as_recipients(by_action.get(event.action, list)())


def objection_recipients(event: AuditEvent) -> list[Recipient]:
    objection = notifications.subject_of(event)
    if objection is None:
        return []
    declarant = _members(objection.declaration.project.organisation)
    users = declarant + (_group(roles.TECHNICAL_REVIEWER) if event.action == "objection.filed" else [])
    recipients = _as_recipients(users)
    if objection.email:  # the objector has no account: in both languages
        recipients.append(Recipient(objection.email, None))
    return recipients


def issuance_recipients(event: AuditEvent) -> list[Recipient]:
    issuance = notifications.subject_of(event)
    return _as_recipients(_members(issuance.account.organisation)) if issuance else []


def transfer_recipients(event: AuditEvent) -> list[Recipient]:
    """Both sides and the registry administrators hear of every step of a transfer."""
    transfer = notifications.subject_of(event)
    if transfer is None:
        return []
    users = _members(transfer.from_account.organisation) + _group(roles.REGISTRY_ADMIN)
    if event.action != "transfer.requested" or transfer.status == "completed":
        users += _members(transfer.to_account.organisation)
    return _as_recipients(users)


def retirement_recipients(event: AuditEvent) -> list[Recipient]:
    """The holder hears of its retirements; the administrators of offsets to confirm and cancellations."""
    retirement = notifications.subject_of(event)
    if retirement is None:
        return []
    users = _members(retirement.account.organisation)
    if event.action.startswith("offset.") or retirement.kind == "cancellation":
        users += _group(roles.REGISTRY_ADMIN)
    return _as_recipients(users)


# --- Where each recipient acts ------------------------------------------------------------------------


def objection_page(objection, user) -> str:
    """The declarant answers on its declaration's page; the objector, who has no account, reads the notice."""
    if user is None:
        return objection.phase.get_absolute_url()
    return f"{objection.declaration.get_absolute_url()}#objection-{objection.pk}"


def objection_office_url(objection) -> str:
    """A technical reviewer rules on the phase's screen, where the objection has its card."""
    return f"{reverse('offsets:office_phase', args=[objection.phase.code])}#objection-{objection.pk}"


def retirement_office_url(retirement) -> str:
    """An offset to confirm on its own screen; any other retirement on its account's screen."""
    if retirement.kind == RetirementKind.COMPLIANCE:
        return reverse("offsets:office_offset", args=[retirement.reference])
    return reverse("offsets:office_account", args=[retirement.account.number])


def register() -> None:
    from offsets.documents import certificate_attachments

    notifications.RESOLVERS["offsets.issuancephase"] = phase_recipients
    notifications.RESOLVERS["offsets.objection"] = objection_recipients
    notifications.RESOLVERS["offsets.issuance"] = issuance_recipients
    notifications.RESOLVERS["offsets.transfer"] = transfer_recipients
    notifications.RESOLVERS["offsets.retirement"] = retirement_recipients
    notifications.RESOLVERS["offsets.account"] = lambda event: []  # a statement line, not news
    notifications.PREPARERS["offsets.issuance"] = certificate_attachments
    notifications.PREPARERS["offsets.retirement"] = certificate_attachments
    for subject_type in (
        "offsets.issuancephase",
        "offsets.objection",
        "offsets.issuance",
        "offsets.transfer",
        "offsets.retirement",
    ):
        notifications.FALLBACK_TEMPLATES[subject_type] = "offsets/email/event.txt"
    notifications.PAGES["offsets.objection"] = objection_page
    # Registered credits are held, moved and retired from the holding account.
    notifications.PAGES["offsets.issuance"] = lambda issuance, user: reverse("offsets:account")
    notifications.OFFICE_URLS["offsets.issuancephase"] = lambda phase: reverse(
        "offsets:office_phase", args=[phase.code]
    )
    notifications.OFFICE_URLS["offsets.objection"] = objection_office_url
    notifications.OFFICE_URLS["offsets.issuance"] = lambda issuance: reverse(
        "offsets:office_account", args=[issuance.account.number]
    )
    notifications.OFFICE_URLS["offsets.transfer"] = lambda transfer: reverse(
        "offsets:office_transfer", args=[transfer.reference]
    )
    notifications.OFFICE_URLS["offsets.retirement"] = retirement_office_url
