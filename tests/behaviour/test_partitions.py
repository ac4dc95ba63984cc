"""The day partitions of the behaviour records on PostgreSQL: made ahead, dropped after the retention period,
and a record always finds its day's partition."""

from datetime import date, timedelta

import pytest
from django.db import connection, transaction

from offsets.behaviour import partitions, totals
from offsets.behaviour.models import BehaviourRecord, PersonDay
from tests.behaviour.world import make_platform, recent, row, send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_the_window_and_a_week_ahead_are_made():
    today = date(2026, 11, 30)
    partitions.ensure(partitions.window(today))
    have = partitions.existing()
    assert today - timedelta(days=62) in have and today + timedelta(days=7) in have
    assert today - timedelta(days=63) not in have


def test_partitions_past_the_retention_period_are_dropped_and_their_rows_with_them_but_not_their_totals(
    settings,
):
    settings.BEHAVIOUR_RETENTION_DAYS = 30
    old, kept = date(2026, 9, 1), date(2026, 11, 1)
    partitions.ensure([old, kept])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO behaviour_behaviourrecord (day, platform_id, record_id, batch_id, person, "
            "scenario_id, started_at, ended_at, quantity_milli, grams) "
            "VALUES (%s, 1, 'old', 1, 'Px', 1, now(), now(), 1, 1)",
            [old],
        )
    totals.sum_final_days(date(2026, 11, 30))  # as the beat does first: the days closed to reports summed
    dropped = partitions.retire(date(2026, 11, 30))
    assert old in dropped and all(day < date(2026, 10, 31) for day in dropped)
    assert old not in partitions.existing() and kept in partitions.existing()
    assert not BehaviourRecord.objects.filter(day=old).exists()
    assert list(PersonDay.objects.values_list("day", "records")) == [(old, 1)]


def test_a_record_goes_into_its_days_partition(django_capture_on_commit_callbacks):
    platform = make_platform()
    with django_capture_on_commit_callbacks(execute=True):
        send(platform, "p", [row("r1", "user-1", start=recent(3))])
    day = recent(3).date()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.name_of(day)}")  # noqa: S608 (a date)
        assert cursor.fetchone()[0] == 1


def test_the_behaviour_keys_compare_bytes():
    # ADR 0020: the columns are collation "C" on PostgreSQL, in a day's partition too.
    day = recent(1).date()
    partitions.ensure([day])
    keys = [
        ("behaviour_behaviourrecord", "record_id"),
        ("behaviour_behaviourrecord", "person"),
        (partitions.name_of(day), "record_id"),
        (partitions.name_of(day), "person"),
        ("behaviour_personday", "person"),
    ]
    with connection.cursor() as cursor:
        collations = {}
        for table, column in keys:
            cursor.execute(
                "SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
                "WHERE a.attrelid = %s::regclass AND a.attname = %s",
                [table, column],
            )
            collations[table, column] = cursor.fetchone()[0]
    assert collations == dict.fromkeys(keys, "C")


def test_a_partition_made_in_a_transaction_that_rolled_back_is_made_again():
    # A chunk loaded inside a larger transaction (the demo, a task run in the web process) that then
    # rolled back: the day's partition went with it, and this process must not go on believing in it.
    day = date(2030, 5, 17)

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        partitions.ensure([day])
        assert day in partitions.existing()
        raise Undone
    assert day not in partitions.existing()
    platform = make_platform()
    partitions.ensure([day])
    assert day in partitions.existing()
    with connection.cursor() as cursor:  # a record of that day finds its partition
        cursor.execute(
            "INSERT INTO behaviour_behaviourrecord (day, platform_id, record_id, batch_id, person, "
            "scenario_id, started_at, ended_at, quantity_milli, grams) "
            "VALUES (%s, %s, 'r', 1, 'Px', 1, now(), now(), 1, 1)",
            [day, platform.pk],
        )
