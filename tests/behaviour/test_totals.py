"""The persons' daily totals (ADR 0021): the records while a day can be reported, summed into PersonDay once
it cannot, the same totals for every reader before and after; a summed day takes no more records, and its
partition may go only once it is summed."""

from datetime import date, timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from offsets.behaviour import partitions, services, totals
from offsets.behaviour.models import BehaviourRecord, PersonDay, RejectedRow, SummedDay
from tests.behaviour.world import make_platform, make_resident, person_days, recent, row

pytestmark = pytest.mark.django_db


def the_day_it_is_final(day: date) -> date:
    """The first today on which `day` is summed by the beat."""
    return day + timedelta(days=settings.BEHAVIOUR_REPORTING_DAYS) + totals.MARGIN


@pytest.fixture
def two_days(processed):
    """Two platforms' records on two days: a resident's metro rides and bicycle trips, a pseudonym's."""
    ride, bike = make_platform(), make_platform()
    account = make_resident()
    processed(
        ride,
        "r",
        [row("r1", account.number, start=recent(4, 8)), row("r2", account.number, start=recent(4, 18))],
    )
    later = [row("r3", account.number, start=recent(3, 8)), row("r4", "user-1", start=recent(3, 9))]
    processed(ride, "r2", later)
    processed(bike, "b", [row("b1", account.number, "bicycle", start=recent(4, 12), quantity="3")])
    return ride, bike, account


def test_a_day_is_summed_once_when_it_can_no_longer_be_reported_and_reads_the_same(two_days):
    ride, _bike, account = two_days
    older, newer = recent(4).date(), recent(3).date()
    before, page = person_days(), services.person_days(account, 100)
    assert {(d["day"], d["person"], d["records"]) for d in before} == {
        (older, f"A{account.number}", 2),
        (older, f"A{account.number}", 1),
        (newer, f"A{account.number}", 1),
        (newer, "Puser-1", 1),
    }
    # The resident's page: both platforms' records of the account, by day and scenario, not the pseudonym's.
    assert [(d["day"], d["scenario__code"], d["records"]) for d in page] == [
        (newer, "metro", 1),
        (older, "bicycle", 1),
        (older, "metro", 2),
    ]
    # The day before the older one is final: the older one is not, and nothing is stored yet.
    day_before = older - timedelta(days=1)
    assert totals.sum_final_days(the_day_it_is_final(day_before))[-1] == day_before
    assert not PersonDay.objects.exists()
    assert totals.sum_final_days(the_day_it_is_final(older)) == [older]
    assert totals.summed_through() == older
    stored = PersonDay.objects.filter(day=older)
    assert sorted(stored.values_list("platform_id", "records", "grams")) == sorted(
        (d["platform_id"], d["records"], d["grams"]) for d in before if d["day"] == older
    )
    assert SummedDay.objects.get(day=older).person_days == 2
    # Every reader sees the same totals, one day stored, the other still the records'.
    assert person_days() == before
    assert services.person_days(account, 100) == page
    # Summed once: the same day again, or the beat twice, changes nothing.
    assert totals.sum_day(older) is False
    assert totals.sum_final_days(the_day_it_is_final(older)) == []
    assert PersonDay.objects.count() == 2 and person_days() == before
    # The next day in its turn.
    assert totals.sum_final_days(the_day_it_is_final(newer)) == [newer]
    assert person_days() == before and PersonDay.objects.count() == 4
    assert ride.pk in PersonDay.objects.values_list("platform_id", flat=True)


def test_the_first_sum_starts_at_the_earliest_record_and_an_empty_registry_marks_one_day(two_days):
    today = the_day_it_is_final(recent(3).date())
    assert totals.sum_final_days(today) == [recent(4).date(), recent(3).date()]
    SummedDay.objects.all().delete()
    PersonDay.objects.all().delete()
    BehaviourRecord.objects.all().delete()
    assert totals.sum_final_days(today) == [totals.last_final_day(today)]


def test_a_summed_day_takes_no_more_records(processed):
    platform = make_platform()
    processed(platform, "first", [row("r1", "user-1", start=recent(5))])
    assert totals.sum_day(recent(5).date())  # as if its window had closed
    batch = processed(
        platform, "late", [row("r2", "user-2", start=recent(5)), row("r3", "user-3", start=recent(2))]
    )
    assert dict(RejectedRow.objects.filter(batch=batch).values_list("record_id", "reason")) == {
        "r2": "too_old"
    }
    assert list(BehaviourRecord.objects.filter(day=recent(5).date()).values_list("record_id", flat=True)) == [
        "r1"
    ]
    assert [d["records"] for d in person_days(day=recent(5).date())] == [1]


def test_the_too_many_check_counts_the_records_of_the_platform_and_the_day_only(processed, settings):
    ride, bike = make_platform(), make_platform()
    account = make_resident()
    full = [row(f"m{n}", account.number, start=recent(2, 6, n * 2), minutes=1) for n in range(12)]
    processed(ride, "full", full)
    # Another platform's rides, and the same platform's the next day, are other totals.
    other = processed(bike, "other", [row("x1", account.number, start=recent(2, 20), minutes=1)])
    next_day = processed(ride, "next", [row("n1", account.number, start=recent(1, 6), minutes=1)])
    late = processed(ride, "late", [row("m99", account.number, start=recent(2, 21), minutes=1)])
    assert (other.accepted, next_day.accepted, late.accepted) == (1, 1, 0)
    assert RejectedRow.objects.get(batch=late).reason == "too_many"


@pytest.mark.postgres
def test_a_partition_goes_only_once_its_day_is_summed(settings):
    settings.BEHAVIOUR_RETENTION_DAYS = 30
    old = date(2026, 9, 1)
    partitions.ensure([old])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO behaviour_behaviourrecord (day, platform_id, record_id, batch_id, person, "
            "scenario_id, started_at, ended_at, quantity_milli, grams) "
            "VALUES (%s, 1, 'old', 1, 'Px', 1, now(), now(), 1, 7)",
            [old],
        )
    SummedDay.objects.create(day=old - timedelta(days=1), person_days=0)  # the days before it are summed
    assert partitions.retire(date(2026, 11, 30)) == []
    assert old in partitions.existing()
    assert totals.sum_day(old)
    assert partitions.retire(date(2026, 11, 30)) == [old]
    assert old not in partitions.existing()
    assert list(PersonDay.objects.values_list("day", "person", "records", "grams")) == [(old, "Px", 1, 7)]


def test_the_migration_keeps_the_totals_of_dropped_days_and_leaves_the_kept_ones_to_the_records(two_days):
    migration = __import__(
        "offsets.behaviour.migrations.0009_person_days_summed_from_records", fromlist=["split_days"]
    )
    ride, _bike, _account = two_days
    dropped, kept = recent(30).date(), recent(4).date()
    # As the chunks wrote them before: a total for a day whose records are gone, one for a kept day.
    for day in (dropped, kept):
        PersonDay.objects.create(
            day=day, platform=ride, scenario_id=1, person="Pold", account=None, records=3, grams=30
        )
    migration.split_days(apps, None)
    assert list(SummedDay.objects.values_list("day", "person_days")) == [(dropped, 1)]
    assert list(PersonDay.objects.values_list("day", flat=True)) == [dropped]
    assert sum(d["records"] for d in person_days(platform=ride)) == 3 + 4
