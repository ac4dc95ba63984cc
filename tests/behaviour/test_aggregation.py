"""A platform's month: the threshold split between the platform and its users' personal accounts, the whole
tonnes declared and taken through review, notice and registration to serial credits, the rest carried."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone, translation
from django.utils.translation import gettext

from offsets.behaviour import reconcile, services, totals
from offsets.behaviour.models import AggregationPeriod, GramEntry, PeriodStatus, PersonalAccount, RejectedRow
from offsets.behaviour.reference import ensure_aggregation_methodology
from offsets.models import SerialBlock
from projects import workflow
from projects.models import Stage
from registry.models import AuditEvent, Delivery, DocumentType, Membership, OrgRole
from registry.transitions import TransitionRefused
from tests.behaviour.world import make_platform, make_resident, row
from tests.factories import admin_of, file_project, make_member, make_project, reviewers

pytestmark = pytest.mark.django_db


def last_month_day(n: int, hour: int = 8):
    first = timezone.localdate().replace(day=1)
    day = first - timedelta(days=n)
    from datetime import datetime

    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


@pytest.fixture
def people():
    return reviewers()


def with_project(platform, people):
    project = make_project(platform, methodology=ensure_aggregation_methodology(), meters=())
    return file_project(project, people)


@pytest.mark.parametrize("summed", [0, 1, 2])
def test_the_threshold_splits_each_persons_grams(processed, closed, people, summed):
    # The same split whether the month's days are summed into the stored totals yet or not (ADR 0021).
    platform = make_platform(threshold_g=1_000)
    with_project(platform, people)
    a, b = make_resident(), make_resident()
    # metro 45 g per passenger-km: a 1,500 g, b 450 g, a pseudonymous user 2,250 g
    processed(
        platform,
        "m",
        [
            row("a1", a.number, start=last_month_day(3), quantity="20"),
            row("a2", a.number, start=last_month_day(2), quantity="13.333"),
            row("b1", b.number, start=last_month_day(3), quantity="10"),
            row("c1", "user-c", start=last_month_day(3), quantity="50"),
        ],
    )
    for day in [last_month_day(3).date(), last_month_day(2).date()][:summed]:
        assert totals.sum_day(day)
    month = last_month_day(3).date().replace(day=1)
    period = closed(platform, month, admin_of(platform))
    # a: 900 + 599 (13.333 × 45 = 599.985, rounded down) = 1,499 g: 1,000 the platform's, 499 a's own
    assert (period.persons, period.total_g) == (3, 1_499 + 450 + 2_250)
    assert period.platform_g == 1_000 + 450 + 1_000
    assert period.personal_g == 499
    assert period.unassigned_g == 1_250  # the pseudonymous user's grams beyond the threshold: no account
    assert period.status == PeriodStatus.CLOSED and period.declared_t == 0
    assert period.carried_out_g == period.platform_g and period.declaration is None
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.balance_g, b.balance_g) == (499, 0)
    assert GramEntry.objects.get(account=a).grams == 499


def test_a_closed_month_is_closed_once_and_takes_no_more_records(processed, closed, people):
    platform = make_platform(threshold_g=1_000)
    with_project(platform, people)
    account = make_resident()
    processed(platform, "m1", [row("r1", account.number, start=last_month_day(3), quantity="30")])
    month = last_month_day(3).date().replace(day=1)
    closed(platform, month, admin_of(platform))
    with pytest.raises(TransitionRefused):
        services.close_period(platform, month, by=admin_of(platform))
    late = processed(platform, "late", [row("r2", account.number, start=last_month_day(2), quantity="1")])
    assert RejectedRow.objects.get(batch=late).reason == "period_closed"
    account.refresh_from_db()
    assert account.balance_g == 350  # once: 30 × 45 = 1,350 g, 350 beyond the threshold


def test_only_the_platforms_declarants_close_and_only_ended_months(processed, people):
    platform = make_platform()
    with_project(platform, people)
    viewer = make_member(platform, OrgRole.VIEWER)
    month = last_month_day(3).date().replace(day=1)
    with pytest.raises(PermissionDenied):
        services.close_period(platform, month, by=viewer)
    with pytest.raises(PermissionDenied):
        services.close_period(platform, month, by=admin_of(make_platform()))
    with pytest.raises(TransitionRefused):
        services.close_period(platform, timezone.localdate().replace(day=1), by=admin_of(platform))
    assert not AggregationPeriod.objects.exclude(status=PeriodStatus.OPEN).exists()


def test_a_close_asked_for_stops_the_month_at_once_and_a_worker_does_it(
    processed, people, django_capture_on_commit_callbacks
):
    platform = make_platform(threshold_g=1_000)
    with_project(platform, people)
    account = make_resident()
    declarant = make_member(platform, OrgRole.DECLARANT)
    processed(platform, "m1", [row("r1", account.number, start=last_month_day(3), quantity="30")])
    month = last_month_day(3).date().replace(day=1)
    with django_capture_on_commit_callbacks() as sent:
        period = services.close_period(platform, month, by=declarant)
    assert len(sent) == 1  # the worker's task, sent once the request commits
    assert (period.status, period.close_requested_by) == (PeriodStatus.CLOSING, declarant)
    assert AuditEvent.objects.get(action="platform.period_closing").actor == declarant
    # Nothing split yet; a batch of the month that arrives now is refused, and it asks for no second close.
    assert not GramEntry.objects.exists()
    late = processed(platform, "late", [row("r2", account.number, start=last_month_day(2), quantity="1")])
    assert RejectedRow.objects.get(batch=late).reason == "period_closed"
    with pytest.raises(TransitionRefused):
        services.close_period(platform, month, by=declarant)

    with django_capture_on_commit_callbacks(execute=True):
        done = services.settle_period(period.pk)
    assert done.status == PeriodStatus.CLOSED and done.total_g == 1_350 and done.personal_g == 350
    event = AuditEvent.objects.get(action="platform.period_closed")
    assert event.actor == declarant and event.after["personal_g"] == 350
    # The platform's administrator and the declarant who asked are told, each once, in their language.
    told = sorted(d.email for d in Delivery.objects.filter(event=event, channel=Delivery.Channel.EMAIL))
    assert told == sorted([admin_of(platform).email, declarant.email])
    assert any("350" in m.body and f"{month:%Y-%m}" in m.subject for m in mail.outbox)
    assert services.settle_period(period.pk) is None  # sent again: done already, nothing more
    account.refresh_from_db()
    assert account.balance_g == 350 and GramEntry.objects.count() == 1


def test_a_close_that_can_no_longer_be_done_opens_the_month_again_with_its_reason(processed, people):
    platform = make_platform(threshold_g=0)
    with_project(platform, people)
    account = make_resident()
    declarant = make_member(platform, OrgRole.DECLARANT)
    declarant.language = "zh-hans"
    declarant.save()
    processed(platform, "m1", [row("r1", account.number, start=last_month_day(3), quantity="30")])
    month = last_month_day(3).date().replace(day=1)
    period = services.close_period(platform, month, by=declarant)
    Membership.objects.filter(user=declarant).update(role=OrgRole.VIEWER)  # before the worker came to it

    again = services.settle_period(period.pk)
    assert again.status == PeriodStatus.OPEN
    with translation.override("zh-hans"):  # the reason in the declarant's language
        assert again.close_problem == gettext("Only the platform's declarants may close its months.")
    assert again.close_problem.isascii() is False
    failed = AuditEvent.objects.get(action="platform.period_close_failed")
    assert failed.after["reason"] == again.close_problem
    assert not GramEntry.objects.exists() and not AuditEvent.objects.filter(action="platform.period_closed")
    account.refresh_from_db()
    assert account.balance_g == 0
    # Open again: the platform's administrator closes it, and the reason is gone.
    period = services.close_period(platform, month, by=admin_of(platform))
    period = services.settle_period(period.pk)
    assert period.status == PeriodStatus.CLOSED and period.close_problem == ""
    account.refresh_from_db()
    assert account.balance_g == 1_350


def test_the_reconciliation_sends_a_close_left_undone_again(processed, people):
    platform = make_platform()
    with_project(platform, people)
    month = last_month_day(3).date().replace(day=1)
    period = services.close_period(platform, month, by=admin_of(platform))  # its task lost with the broker
    soon = timezone.now() + timedelta(seconds=1)
    assert list(reconcile.periods_closing(soon)) == [period.pk]
    assert list(reconcile.periods_closing(period.close_requested_at)) == []  # not before it was asked for
    services.settle_period(period.pk)
    assert list(reconcile.periods_closing(soon)) == []


def test_whole_tonnes_are_declared_reviewed_and_registered_as_credits(processed, closed, people):
    platform = make_platform(threshold_g=10**9, codes=("second_hand",))
    with_project(platform, people)
    # 25 kg a phone, three a day a person at most: 42 phones, 1.05 t
    rows = [
        row(
            f"p{n}-{k}",
            f"user-{n}",
            "second_hand",
            start=last_month_day(3, 9 + k),
            minutes=None,
            quantity="1",
        )
        for n in range(14)
        for k in range(3)
    ]
    batch = processed(platform, "phones", rows)
    assert batch.accepted == 42 and batch.grams == 1_050_000
    month = last_month_day(3).date().replace(day=1)
    period = closed(platform, month, admin_of(platform))
    assert (period.declared_t, period.carried_out_g) == (1, 50_000)
    declaration = period.declaration
    assert declaration.claimed_t == 1 and declaration.stage == Stage.DRAFT
    assert declaration.documents.get().doc_type == DocumentType.BEHAVIOUR_REPORT
    report = declaration.documents.get().file.read().decode("utf-8-sig")
    assert "phones" in report and "1050000" in report

    # Through the staged review like any other declaration.
    declaration = workflow.submit(declaration, by=admin_of(platform))
    workflow.accept(declaration, by=people["intake_officer"])
    workflow.forward(declaration, by=people["technical_reviewer"], recommendation="approve", verified_t=1)
    declaration = workflow.approve(declaration, by=people["approver"])
    assert declaration.stage == Stage.APPROVED

    # Then into a phase, the public notice and registration: one serial credit in the platform's account.
    from offsets import issuing
    from tests.factories import closed_phase

    phase = issuing.register_phase(closed_phase([declaration], people), by=people["approver"])
    blocks = SerialBlock.objects.filter(account__organisation=platform)
    assert phase and sum(b.last_unit - b.first_unit + 1 for b in blocks) == 1


def test_the_remainder_carries_to_the_next_month(processed, closed, people, settings):
    settings.BEHAVIOUR_REPORTING_DAYS = 100  # the month before last is within reach whatever the date
    platform = make_platform(threshold_g=10**9, codes=("second_hand",))
    with_project(platform, people)
    first_month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    before = (first_month - timedelta(days=1)).replace(day=1)
    # The month before last, 0.6 t; last month 0.6 t: 0 t then 1 t with 0.2 t carried.
    from datetime import datetime

    def at(month, n):
        return timezone.make_aware(datetime(month.year, month.month, 1 + n % 20, 9 + n // 20))

    processed(
        platform,
        "m0",
        [
            row(f"a{n}", f"u{n}", "second_hand", start=at(before, n), minutes=None, quantity="1")
            for n in range(24)
        ],
    )
    processed(
        platform,
        "m1",
        [
            row(f"b{n}", f"u{n}", "second_hand", start=at(first_month, n), minutes=None, quantity="1")
            for n in range(24)
        ],
    )
    first = closed(platform, before, admin_of(platform))
    second = closed(platform, first_month, admin_of(platform))
    assert (first.declared_t, first.carried_out_g) == (0, 600_000)
    assert (second.carried_in_g, second.declared_t, second.carried_out_g) == (600_000, 1, 200_000)
    assert PersonalAccount.objects.count() == 0
