"""The daily overdue reminder goes through the one delivery machinery (registry.notifications)."""

from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from projects import workflow
from projects.models import Declaration, Reminder
from projects.reminders import send_overdue_reminders
from registry import notifications
from registry.audit import events_of
from registry.events import LABELS
from registry.models import Delivery
from tests.factories import admin_of, complete_declaration, make_bureau, make_declaration, reviewers

pytestmark = pytest.mark.django_db

DAY = date(2023, 1, 3)


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def overdue(people):
    """A declaration in technical review, assigned to a technical reviewer, due the day before DAY."""
    declaration = complete_declaration(make_declaration())
    case = workflow.submit(declaration, by=admin_of(declaration.project.organisation))
    case = workflow.accept(case, by=people["intake_officer"])
    workflow.assign(case, by=people["technical_reviewer"], assignee=people["technical_reviewer"])
    Declaration.objects.filter(pk=case.pk).update(due_date=date(2023, 1, 2))
    return Declaration.objects.get(pk=case.pk)


def remind(day, capture):
    with capture(execute=True):
        return send_overdue_reminders(day)


def reminder_mails(mailoutbox):
    return [m for m in mailoutbox if "Overdue" in m.subject or "已超期" in m.subject]


def test_a_reminder_goes_once_a_day_to_the_stage_group_and_the_assignee_only(
    overdue, mailoutbox, django_capture_on_commit_callbacks
):
    group = set(Group.objects.get(name="technical_reviewer").user_set.values_list("email", flat=True))
    mailoutbox.clear()
    assert remind(DAY, django_capture_on_commit_callbacks) == 1
    sent = sorted(m.to[0] for m in mailoutbox)
    assert sent == sorted(group)  # each once; the applicant's members hear nothing of it
    assert admin_of(overdue.project.organisation).email not in sent
    emails = Delivery.objects.filter(event__action="case.overdue_reminded", channel=Delivery.Channel.EMAIL)
    assert sorted(emails.values_list("email", flat=True)) == sent  # remembered, one row per recipient
    assert remind(date(2023, 1, 4), django_capture_on_commit_callbacks) == 1
    assert Reminder.objects.count() == 2
    assert len(mailoutbox) == 2 * len(sent)


def test_a_second_run_the_same_day_sends_nothing_twice(
    overdue, mailoutbox, django_capture_on_commit_callbacks
):
    mailoutbox.clear()
    assert remind(DAY, django_capture_on_commit_callbacks) == 1
    first = len(mailoutbox)
    assert remind(DAY, django_capture_on_commit_callbacks) == 0
    # The task that delivers the day's event, run again (a retry), finds every Delivery row sent.
    event = events_of(overdue).get(action="case.overdue_reminded")
    assert notifications.deliver(event.pk) == 0
    assert len(mailoutbox) == first
    assert events_of(overdue).filter(action="case.overdue_reminded").count() == 1


def test_a_reminder_is_an_inbox_entry_that_leads_to_the_case(
    overdue, people, client, django_capture_on_commit_callbacks
):
    remind(DAY, django_capture_on_commit_callbacks)
    reviewer = people["technical_reviewer"]
    entry = Delivery.objects.get(
        user=reviewer, channel=Delivery.Channel.INBOX, event__action="case.overdue_reminded"
    )
    assert entry.event.subject_id == str(overdue.pk)
    client.force_login(reviewer)
    inbox = client.get(reverse("registry:inbox"), headers={"accept-language": "en"})
    assert str(LABELS["case.overdue_reminded"]) in inbox.text
    opened = client.get(reverse("registry:inbox_open", args=[entry.pk]))
    assert opened.url == reverse("projects:office_case", args=["declarations", overdue.pk])
    applicant = admin_of(overdue.project.organisation)
    assert not Delivery.objects.filter(user=applicant, event__action="case.overdue_reminded").exists()


def test_the_reminder_is_in_each_recipients_language_with_a_link_to_the_case(
    overdue, mailoutbox, django_capture_on_commit_callbacks
):
    english = make_bureau("technical_reviewer", language="en")
    chinese = make_bureau("technical_reviewer", language="zh-hans")
    mailoutbox.clear()
    remind(DAY, django_capture_on_commit_callbacks)
    by_recipient = {m.to[0]: m for m in reminder_mails(mailoutbox)}
    link = reverse("projects:office_case", args=["declarations", overdue.pk])
    assert by_recipient[english.email].subject == f"Overdue: {overdue}"
    assert "past its time limit, which ended on 2023-01-02" in by_recipient[english.email].body
    assert by_recipient[chinese.email].subject.startswith("已超期")
    assert "已于2023-01-02届满" in by_recipient[chinese.email].body
    assert link in by_recipient[english.email].body and link in by_recipient[chinese.email].body


def test_a_reminder_is_on_the_cases_timeline_with_its_own_label(overdue, django_capture_on_commit_callbacks):
    remind(DAY, django_capture_on_commit_callbacks)
    event = events_of(overdue).get(action="case.overdue_reminded")
    assert event.actor is None  # the job, not a person
    assert event.after == {"stage": "technical", "due_date": "2023-01-02", "reminded_on": "2023-01-03"}
    assert "case.overdue_reminded" in LABELS
