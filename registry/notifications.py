"""Who hears of an audit event, and delivering it to them by e-mail in their language, exactly once.

One Delivery row per (event, channel, recipient), unique: a second run of the task finds the row with
`sent_at` set and sends nothing; the row is locked while its e-mail goes, so two runs at once send it once.
The event's NotificationJob, written with the event, is done once everyone is told; until then the
reconciliation (registry/reconcile.py) sends the job again. Delivery state lives here, never on the audit
event.
"""

from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core import mail
from django.core.signing import TimestampSigner
from django.db import transaction
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone, translation

from registry.models import (
    AuditEvent,
    Delivery,
    Invitation,
    Membership,
    NotificationJob,
    Organisation,
    OrgRole,
    User,
)

EMAIL_CONFIRMATION_SALT = "registry.confirm-email"


@dataclass(frozen=True)
class Recipient:
    email: str
    language: str | None  # None: we do not know it yet, so the e-mail is in both languages
    user: User | None = None


def _users(users) -> list[Recipient]:
    return [Recipient(u.email, u.language, u) for u in users if u.is_active or u.last_login is None]


def organisation_admins(organisation: Organisation) -> list[Recipient]:
    members = Membership.objects.filter(organisation=organisation, role=OrgRole.ADMIN).select_related("user")
    return _users(m.user for m in members)


# Other apps add who hears of the events about their models: {subject_type: resolver(event)}.
RESOLVERS: dict = {}
# ... and what the e-mail says, where the action has no template of its own: {subject_type: template}.
FALLBACK_TEMPLATES: dict = {}
# ... and what to make before telling anyone (a formal letter), as attachments:
# {subject_type: preparer(event) -> [(file name, bytes, MIME type)]}.
PREPARERS: dict = {}
# ... and where bureau staff look at the subject: {subject_type: url(subject)}.
OFFICE_URLS: dict = {}
# ... and where everyone else acts on a subject whose own page (get_absolute_url) is not that place, or that
# has none: {subject_type: url(subject, user)}; `user` is None for a recipient without an account.
PAGES: dict = {}
# ... and the actions whose e-mail carries the recipient's e-mail confirmation link (a sign-up's).
CONFIRMATION_ACTIONS: set = {"organisation.signed_up"}


def recipients_of(event: AuditEvent) -> list[Recipient]:
    if event.subject_type in RESOLVERS:
        return RESOLVERS[event.subject_type](event)
    if event.action in {
        "organisation.signed_up",
        "organisation.verified",
        "organisation.rejected",
        "organisation.suspended",
        "organisation.reinstated",
        "organisation.updated",
        "organisation.kind_changed",
        "organisation.covered_emitter_changed",
        "organisation.sign_up_repeated",
    }:
        organisation = Organisation.objects.get(pk=event.subject_id)
        return organisation_admins(organisation)
    if event.action == "user.sign_up_repeated":
        return _users(User.objects.filter(pk=event.subject_id))
    if event.action == "membership.invited":
        invitation = Invitation.objects.get(pk=event.subject_id)
        return [Recipient(invitation.email, None)]
    if event.action in {"membership.role_changed", "membership.admin_handed_over"}:
        membership = Membership.objects.select_related("user").filter(pk=event.subject_id).first()
        return _users([membership.user]) if membership else []
    return []


def email_confirmation_link(user: User) -> str:
    token = TimestampSigner(salt=EMAIL_CONFIRMATION_SALT).sign(str(user.pk))
    return settings.SITE_URL + reverse("registry:confirm_email", args=[token])


def subject_of(event: AuditEvent):
    from django.apps import apps

    model = apps.get_model(event.subject_type)
    return model.objects.filter(pk=event.subject_id).first()


def context_for(event: AuditEvent, recipient: Recipient) -> dict:
    subject = subject_of(event)
    context = {
        "event": event,
        "recipient": recipient,
        "site_url": settings.SITE_URL,
        "subject": subject,
        # Where this recipient looks at the subject: the inbox entry leads to the same page.
        "subject_url": settings.SITE_URL + _page_of(event, subject, recipient.user),
    }
    if event.action == "membership.invited":
        invitation = Invitation.objects.select_related("organisation", "invited_by").get(pk=event.subject_id)
        context["invitation"] = invitation
        context["link"] = settings.SITE_URL + reverse("registry:accept_invitation", args=[invitation.token])
    elif event.subject_type == "registry.membership":
        context["membership"] = Membership.objects.filter(pk=event.subject_id).first()
    elif event.subject_type == "registry.organisation":
        context["organisation"] = Organisation.objects.get(pk=event.subject_id)
    if event.action in CONFIRMATION_ACTIONS and recipient.user is not None:
        context["link"] = email_confirmation_link(recipient.user)
    return context


def render_email(event: AuditEvent, recipient: Recipient) -> tuple[str, str]:
    """Subject (first line of the template) and body, in the recipient's language or, unknown, in both."""
    app_label = event.subject_type.split(".")[0]
    names = [f"{app_label}/email/{event.action.replace('.', '_')}.txt"]
    if event.subject_type in FALLBACK_TEMPLATES:
        names.append(FALLBACK_TEMPLATES[event.subject_type])
    template = select_template(names)
    context = context_for(event, recipient)
    parts = []
    for language in [recipient.language] if recipient.language else [code for code, _ in settings.LANGUAGES]:
        with translation.override(language):
            subject, _, body = template.render(context).strip().partition("\n")
        parts.append((subject.strip(), body.strip()))
    return " / ".join(s for s, _ in parts), "\n\n————————\n\n".join(b for _, b in parts) + "\n"


def deliver(event_id: int) -> int:
    """Put the event in the recipients' inboxes and send the e-mails not sent yet; return how many
    e-mails were sent now. Safe to run twice, even at once: the unique Delivery rows remember what was
    done, and the event's NotificationJob that all was."""
    if NotificationJob.objects.filter(event_id=event_id, done_at__isnull=False).exists():
        return 0  # a copy of a finished job (the reconciliation sent it again while the first was queued)
    event = AuditEvent.objects.get(pk=event_id)
    preparer = PREPARERS.get(event.subject_type)
    attachments = preparer(event) if preparer else []
    sent = 0
    for recipient in recipients_of(event):
        if recipient.user is not None:
            Delivery.objects.get_or_create(
                event=event,
                channel=Delivery.Channel.INBOX,
                email=recipient.email,
                defaults={"user": recipient.user, "sent_at": timezone.now()},
            )
        delivery, _ = Delivery.objects.get_or_create(
            event=event,
            channel=Delivery.Channel.EMAIL,
            email=recipient.email,
            defaults={"user": recipient.user},
        )
        if not delivery.sent_at:
            sent += _send(delivery, event, recipient, attachments)
    NotificationJob.objects.filter(event_id=event_id, done_at=None).update(done_at=timezone.now())
    return sent


@transaction.atomic
def _send(delivery: Delivery, event: AuditEvent, recipient: Recipient, attachments) -> int:
    """One e-mail, unless another run sent it. The row stays locked from the check to the COMMIT, so a
    second run of the same job at the same moment waits, then finds it sent. A worker killed between the
    send and the COMMIT leaves it unsent, and the next run sends it again: with the same Message-ID and
    Date, so a mail client (and registry.mail's folder) keeps it once."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.sent_at:
        return 0
    subject, body = render_email(event, recipient)
    message = mail.EmailMessage(subject, body, None, [recipient.email], headers=_identity(delivery))
    for attachment in attachments:
        message.attach(*attachment)
    message.send()
    delivery.sent_at = timezone.now()
    delivery.save(update_fields=["sent_at"])
    return 1


def _identity(delivery: Delivery) -> dict:
    """Message-ID and Date of a delivery's e-mail: the same each time it is sent."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return {
        "Message-ID": f"<notification-{delivery.pk}.{delivery.created_at:%Y%m%d%H%M%S%f}@{domain}>",
        "Date": delivery.created_at,
    }


def _page_of(event: AuditEvent, subject, user: User | None) -> str:
    """Where the recipient acts on the subject: the office's screen of it for bureau staff, else the page
    its app names for it, else its own page; failing all, the recipient's portal or back office."""
    fallback = reverse("registry:dashboard") if user is not None else "/"
    if subject is None:
        return fallback
    office_url = OFFICE_URLS.get(event.subject_type)
    if user is not None and user.is_bureau and office_url:
        return office_url(subject)
    page = PAGES.get(event.subject_type)
    if page is not None:
        return page(subject, user)
    return subject.get_absolute_url() if hasattr(subject, "get_absolute_url") else fallback


# The registry's own subjects. Events about an organisation reach its administrators (the bureau acts on it
# in the office); about a membership, the member; about a user, that user.
PAGES["registry.organisation"] = lambda organisation, user: reverse("registry:organisation")
PAGES["registry.membership"] = lambda membership, user: reverse("registry:members")
PAGES["registry.user"] = lambda subject, user: reverse("registry:dashboard") if user is not None else "/"
OFFICE_URLS["registry.organisation"] = lambda organisation: reverse(
    "registry:office_organisation", args=[organisation.pk]
)


# ... and how the inbox names a subject whose recorded name (subject_repr, frozen with the event in the
# language it was recorded in) has a form in the reader's language: {subject_type: (label(subject), the
# relations the label reads)}.
SUBJECT_LABELS: dict = {
    "registry.organisation": (lambda organisation: organisation.localized_name, ()),
    "registry.membership": (
        lambda membership: " · ".join(
            [str(membership.user), membership.organisation.localized_name, str(membership.get_role_display())]
        ),
        ("user", "organisation"),
    ),
}


def subject_labels(events) -> dict[int, str]:
    """{event id: its subject named in the reader's language} where it can be (an organisation's English
    name for an English reader); otherwise, or once the subject is gone, as the event recorded it. One
    query per kind of subject."""
    from django.apps import apps

    labels = {event.pk: event.subject_repr for event in events}
    by_type: dict[str, list] = {}
    for event in events:
        if event.subject_type in SUBJECT_LABELS:
            by_type.setdefault(event.subject_type, []).append(event)
    for subject_type, typed in by_type.items():
        label, related = SUBJECT_LABELS[subject_type]
        model = apps.get_model(subject_type)
        pk = model._meta.pk
        queryset = model.objects.select_related(*related) if related else model.objects.all()
        subjects = queryset.in_bulk({pk.to_python(e.subject_id) for e in typed})
        for event in typed:
            subject = subjects.get(pk.to_python(event.subject_id))
            if subject is not None:
                labels[event.pk] = label(subject)
    return labels


def link_for(delivery: Delivery) -> str:
    """Where an inbox entry leads: the office's screen for bureau staff, else the subject's own page."""
    return _page_of(delivery.event, subject_of(delivery.event), delivery.user)
