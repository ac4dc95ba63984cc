"""The daily reminder of overdue cases: to the case's assignee and the group of its stage, once a day.

A reminder is an audit event of the case ("case.overdue_reminded"), delivered by registry.notifications
like every other one: an inbox entry and an e-mail in each recipient's language, once per recipient. The
Reminder row (one per case, stage and day) makes a second run of the job on the same day remind nobody.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.models import REVIEW_STAGES, CaseRecord, Declaration, Project, Reminder
from registry import audit
from registry.services import notify_after_commit


def send_overdue_reminders(today=None) -> int:
    """Remind about every case past its due date; a second run the same day sends nothing. Returns the
    number of cases reminded about now."""
    today = today or timezone.localdate()
    reminded = 0
    for model in (Project, Declaration):
        for case in model.objects.filter(stage__in=REVIEW_STAGES, due_date__lt=today):
            try:
                # The day's Reminder row and the event stand or fall together.
                with transaction.atomic():
                    Reminder.objects.create(**CaseRecord.of(case), stage=case.stage, sent_on=today)
                    event = audit.record(
                        actor=None,
                        action="case.overdue_reminded",
                        subject=case,
                        after={"stage": case.stage, "due_date": case.due_date, "reminded_on": today},
                    )
                    notify_after_commit(event)
            except IntegrityError:  # already reminded today
                continue
            reminded += 1
    return reminded
