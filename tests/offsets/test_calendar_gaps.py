"""A notice published on 24 December 2026 ends on 1 January 2027, New Year's Day, when the holiday calendar
knows no 2027: the registry administrator is told on the phase screen before publishing, and the calendar
days entered for 2027 close the gap (issue 13)."""

from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from offsets import issuing
from registry import workdays
from registry.models import CalendarDay
from tests.factories import approved_declaration, phase_in_notice, reviewers

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
CHRISTMAS_EVE = date(2026, 12, 24)


@pytest.fixture(autouse=True)
def library_knows_up_to_2026(monkeypatch):
    """The chinese-calendar package of this writing (1.11) knows 2004 to 2026; a later one may know 2027."""
    monkeypatch.setattr(workdays, "library_knows", lambda year: 2004 <= year <= 2026)


@pytest.fixture
def people():
    return reviewers()


def approved_phase(people):
    phase = issuing.create_phase(
        code="2026P09", title_zh="批次", title_en="Phase", by=people["registry_admin"]
    )
    issuing.add_to_phase(phase, by=people["registry_admin"], declarations=[approved_declaration(people)])
    issuing.submit_phase(phase, by=people["registry_admin"])
    return issuing.approve_for_notice(phase, by=people["approver"])


def test_years_without_an_official_calendar():
    assert workdays.years_without_calendar(date(2026, 1, 1), date(2026, 12, 31)) == []
    assert workdays.years_without_calendar(CHRISTMAS_EVE, date(2028, 1, 3)) == [2027, 2028]
    # The registry administrator's calendar days for 2027 make it a year with a calendar.
    CalendarDay.objects.create(date=date(2027, 1, 1), is_working_day=False, note="元旦")
    assert workdays.years_without_calendar(CHRISTMAS_EVE, date(2028, 1, 3)) == [2028]


def test_the_gap_before_publishing_and_how_calendar_days_close_it(people):
    phase = approved_phase(people)
    gap = issuing.notice_calendar_gap(phase, today=CHRISTMAS_EVE)
    assert gap == {"end": date(2027, 1, 1), "years": "2027", "published": False}
    assert issuing.notice_calendar_gap(phase, today=date(2026, 12, 1)) is None  # ends on 9 December

    CalendarDay.objects.create(date=date(2027, 1, 1), is_working_day=False, note="元旦")
    assert issuing.notice_calendar_gap(phase, today=CHRISTMAS_EVE) is None
    assert issuing.notice_dates(CHRISTMAS_EVE) == (CHRISTMAS_EVE, date(2027, 1, 4))


def test_the_phase_screen_warns_before_publishing_and_while_in_notice(client, people, monkeypatch):
    phase = approved_phase(people)
    real_localdate = timezone.localdate
    monkeypatch.setattr(
        timezone,
        "localdate",
        lambda value=None, tz=None: CHRISTMAS_EVE if value is None else real_localdate(value, tz),
    )
    client.force_login(people["registry_admin"])
    url = reverse("offsets:office_phase", args=[phase.code])

    page = client.get(url, headers=EN).content.decode()
    assert "Published today, the notice period would end on 2027-01-01" in page
    assert reverse("admin:registry_calendarday_changelist") in page
    assert 'class="phase-publish"' in page  # the warning stands beside the button it is about

    client.post(reverse("offsets:office_phase_act", args=[phase.code, "publish"]), headers=EN)
    phase.refresh_from_db()
    assert phase.notice_end == date(2027, 1, 1)
    page = client.get(url, headers=EN).content.decode()
    assert "The notice period ends on 2027-01-01, counted without an official working-day calendar" in page

    # Once 2027's calendar days are entered, the screen says nothing more.
    CalendarDay.objects.create(date=date(2027, 1, 1), is_working_day=False, note="元旦")
    assert "calendar-gap" not in client.get(url, headers=EN).content.decode()


def test_no_warning_for_a_phase_in_a_known_year(client, people):
    phase = phase_in_notice([approved_declaration(people)], people, code="2026P08", today=date(2026, 3, 2))
    client.force_login(people["registry_admin"])
    assert (
        "calendar-gap" not in client.get(reverse("offsets:office_phase", args=[phase.code])).content.decode()
    )
