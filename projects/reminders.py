"""The daily reminder of overdue cases: to the case's assignee and the group of its stage, once a day."""

from django.contrib.auth.models import Group
from django.core import mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from projects.models import REVIEW_STAGES, CaseRecord, Declaration, Project, Reminder
from projects.notifications import STAGE_GROUPS


def _recipients(case) -> list:
    users = list(Group.objects.get(name=STAGE_GROUPS[case.stage]).user_set.filter(is_active=True))
    if case.assignee_id and case.assignee.is_active:
        users.append(case.assignee)
    return list({u.pk: u for u in users}.values())


def send_overdue_reminders(today=None) -> int:
    """Remind about every case past its due date; a second run the same day sends nothing. Returns the
    number of cases reminded about now."""
    today = today or timezone.localdate()
    reminded = 0
    for model in (Project, Declaration):
        overdue = model.objects.filter(stage__in=REVIEW_STAGES, due_date__lt=today).select_related("assignee")
        for case in overdue:
            try:
                # The row and the e-mails stand or fall together: a failed send is retried next run.
                with transaction.atomic():
                    Reminder.objects.create(**CaseRecord.of(case), stage=case.stage, sent_on=today)
                    for user in _recipients(case):
                        with translation.override(user.language):
                            text = render_to_string(
                                "projects/email/overdue_reminder.txt", {"case": case, "today": today}
                            ).strip()
                        subject, _, body = text.partition("\n")
                        mail.send_mail(subject.strip(), body.strip() + "\n", None, [user.email])
            except IntegrityError:  # already reminded today
                continue
            reminded += 1
    return reminded
