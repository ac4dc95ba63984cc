"""Who hears of a case's transitions: the applicant's members on every change of their case, the bureau
group of the stage the case enters, and the case's assignee. Of an overdue reminder, only the bureau
group of the case's stage and its assignee. Of a verification body named on a declaration, the body's
members: they upload its verification report, which the applicant cannot."""

from django.contrib.auth.models import Group

from registry import notifications, roles
from registry.models import AuditEvent, Membership, Organisation

STAGE_GROUPS = {
    "intake": roles.INTAKE_OFFICER,
    "technical": roles.TECHNICAL_REVIEWER,
    "expert": roles.EXPERT,
    "approval": roles.APPROVER,
}


def case_recipients(event: AuditEvent) -> list[notifications.Recipient]:
    if not event.action.startswith("case."):
        return []
    case = notifications.subject_of(event)
    if case is None:
        return []
    if event.action == "case.assigned":  # internal to the bureau: only the new assignee hears of it
        user = case.assignee
        return [notifications.Recipient(user.email, user.language, user)] if user and user.is_active else []
    users = []
    if event.action != "case.overdue_reminded":  # the bureau's own deadline: the applicant is not told
        users += [
            m.user for m in Membership.objects.filter(organisation=case.organisation).select_related("user")
        ]
    group = STAGE_GROUPS.get(event.after.get("stage", ""))
    if group:
        users += list(Group.objects.get(name=group).user_set.filter(is_active=True))
    if case.assignee_id:
        users.append(case.assignee)
    unique = {u.pk: u for u in users if u.is_active}
    return [notifications.Recipient(u.email, u.language, u) for u in unique.values()]


def verification_body_recipients(event: AuditEvent) -> list[notifications.Recipient]:
    """The members of the body the event names (the one named then, even if another is named later)."""
    body = Organisation.objects.filter(pk=(event.after or {}).get("verification_body")).first()
    if body is None:
        return []
    users = {m.user.pk: m.user for m in Membership.objects.filter(organisation=body).select_related("user")}
    return [notifications.Recipient(u.email, u.language, u) for u in users.values() if u.is_active]


def declaration_recipients(event: AuditEvent) -> list[notifications.Recipient]:
    if event.action == "declaration.verification_body_named":
        return verification_body_recipients(event)
    return case_recipients(event)


def register() -> None:
    from projects import letters
    from projects.office_views import office_url

    notifications.RESOLVERS["projects.project"] = case_recipients
    notifications.RESOLVERS["projects.declaration"] = declaration_recipients
    for subject_type in ("projects.project", "projects.declaration"):
        notifications.FALLBACK_TEMPLATES[subject_type] = "projects/email/case_event.txt"
        notifications.PREPARERS[subject_type] = letters.attachments
        notifications.OFFICE_URLS[subject_type] = office_url
    # A declaration names itself in the reader's language ("WH-PV-0001, 2022-01-01 to 2022-12-31").
    notifications.SUBJECT_LABELS["projects.declaration"] = (str, ("project",))
