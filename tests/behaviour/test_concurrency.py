"""Behaviour chunks processed at once by several workers, on PostgreSQL with real threads and transactions:
the same ride reported by two platforms counts once, a person's day stops at its limit, and neither a
month's close nor a day's sum misses a chunk in flight."""

import contextlib
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone, translation

from offsets.behaviour import batches, processing, services, totals
from offsets.behaviour.models import (
    AggregationPeriod,
    BatchChunk,
    BehaviourRecord,
    PeriodStatus,
    PersonDay,
    RejectedRow,
)
from offsets.behaviour.reference import ensure_aggregation_methodology
from registry.models import AuditEvent
from tests.behaviour.world import make_platform, make_resident, person_days, recent, row, send
from tests.factories import admin_of, file_project, make_project, reviewers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RENDEZVOUS_SECONDS = 1


@pytest.fixture(autouse=True)
def received_not_processed(monkeypatch):
    """Batches are received and their chunks left for the test's threads to process."""
    monkeypatch.setattr(batches, "_send", lambda ids: None)


def in_threads(*works) -> list:
    results: list = [None] * len(works)

    def run(i: int) -> None:
        translation.activate("en")
        try:
            results[i] = works[i]()
        except Exception as exc:  # returned to the test, which asserts on it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished: a deadlock?"
    return results


def two_platforms_report_the_same_rides(count: int = 20):
    ride_code, payment = make_platform(), make_platform()
    accounts = [make_resident() for _ in range(count)]
    rides = [(account.number, recent(1, 8, n)) for n, account in enumerate(accounts)]
    first, _new = send(
        ride_code, "rc", [row(f"rc-{n}", number, start=at) for n, (number, at) in enumerate(rides)]
    )
    second, _new = send(
        payment, "pay", [row(f"p-{n}", number, start=at) for n, (number, at) in enumerate(rides)]
    )
    return [BatchChunk.objects.get(batch=first).pk, BatchChunk.objects.get(batch=second).pk]


def rendezvous_after(function, barrier):
    """`function`, then a wait for the other thread to get there too (not longer than a moment)."""

    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=RENDEZVOUS_SECONDS)
        return result

    return wrapped


def at_once(monkeypatch, chunks, *, locked: bool = True) -> list:
    """The chunks processed in threads that meet right after the day's lock (or where it would be, with the
    lock taken away), so each goes on only once all are there."""
    lock = processing.lock_days if locked else (lambda cursor, days: None)
    monkeypatch.setattr(processing, "lock_days", rendezvous_after(lock, threading.Barrier(len(chunks))))
    return in_threads(*(lambda pk=pk: processing.process_chunk(pk) for pk in chunks))


def test_two_platforms_reporting_the_same_rides_at_once_count_them_once(monkeypatch):
    chunks = two_platforms_report_the_same_rides()
    results = at_once(monkeypatch, chunks)
    assert results == [True, True]
    assert BehaviourRecord.objects.count() == 20
    assert RejectedRow.objects.filter(reason="other_platform").count() == 20


def test_without_the_days_lock_both_would_count(monkeypatch):
    """The race is real: with the lock taken away, both threads check before either inserts."""
    chunks = two_platforms_report_the_same_rides()
    at_once(monkeypatch, chunks, locked=False)
    assert BehaviourRecord.objects.count() == 40


def one_platform_fills_a_persons_day_twice(rows: int = 8):
    """Two batches of one platform, each with `rows` metro rides of one person on one day (the limit: 12)."""
    platform = make_platform()
    # The month's row as an earlier batch left it: a first chunk's insert of it would make the other wait.
    AggregationPeriod.objects.create(platform=platform, month=recent(1).date().replace(day=1))
    sent = []
    for name, hour in (("morning", 6), ("evening", 17)):
        rides = [row(f"{name}-{n}", "user-1", start=recent(1, hour, n * 3), minutes=2) for n in range(rows)]
        batch, _new = send(platform, name, rides)
        sent.append(BatchChunk.objects.get(batch=batch).pk)
    return sent


def test_two_chunks_filling_a_persons_day_at_once_stop_at_the_limit(monkeypatch):
    # ADR 0021: `too_many` counts the stored records under the day's lock, so the second chunk counts the
    # first one's rows.
    chunks = one_platform_fills_a_persons_day_twice()
    results = at_once(monkeypatch, chunks)
    assert results == [True, True]
    assert BehaviourRecord.objects.filter(person="Puser-1").count() == 12
    assert RejectedRow.objects.filter(reason="too_many").count() == 4
    assert [d["records"] for d in person_days(person="Puser-1")] == [12]


def test_without_the_days_lock_a_persons_day_would_pass_the_limit(monkeypatch):
    chunks = one_platform_fills_a_persons_day_twice()
    at_once(monkeypatch, chunks, locked=False)
    assert BehaviourRecord.objects.filter(person="Puser-1").count() == 16


def test_a_platforms_batch_sent_twice_at_once_counts_once_and_the_copy_finds_its_duplicates(monkeypatch):
    """ADR 0023: the duplicate check runs before the days' lock, so two copies of one batch (sent under two
    ids; or one record id in two chunks of a batch) both pass it. The second to get the lock fails on the
    records' key, goes back to before its checks and makes them again, the duplicate check first: every
    row of the copy is a duplicate, in the same attempt."""
    platform, account = make_platform(), make_resident()
    AggregationPeriod.objects.create(platform=platform, month=recent(1).date().replace(day=1))  # as above
    rides = [row(f"r-{n}", account.number, start=recent(1, 6 + n)) for n in range(5)]
    chunks = [BatchChunk.objects.get(batch=send(platform, name, rides)[0]).pk for name in ("sent", "again")]
    checks = processing._decide_and_write
    tries = []

    def counted(cursor, params):
        tries.append(params["batch"])
        return checks(cursor, params)

    monkeypatch.setattr(processing, "_decide_and_write", counted)
    assert at_once(monkeypatch, chunks) == [True, True]
    assert len(tries) == 3  # the copy's first try failed on the key: the race happened
    assert BehaviourRecord.objects.count() == 5
    assert list(RejectedRow.objects.values_list("reason", flat=True)) == ["duplicate"] * 5
    assert list(BatchChunk.objects.filter(pk__in=chunks).values_list("attempts", flat=True)) == [1, 1]


def test_a_day_summed_while_a_chunk_writes_it_waits_and_counts_it(monkeypatch):
    """The day's sum takes the day's lock: a chunk in flight commits first, and its records are summed."""
    platform = make_platform()
    batch, _new = send(platform, "b", [row(f"r{n}", f"user-{n}", start=recent(2, 8, n)) for n in range(5)])
    chunk = BatchChunk.objects.get(batch=batch).pk
    started = threading.Event()
    lock = processing.lock_days

    def locked_then_a_moment(cursor, days):
        lock(cursor, days)
        started.set()
        time.sleep(1.0)  # the sum wants the day now, while this chunk has not committed

    monkeypatch.setattr(processing, "lock_days", locked_then_a_moment)

    def sum_the_day():
        started.wait(timeout=10)
        monkeypatch.setattr(processing, "lock_days", lock)
        return totals.sum_day(recent(2).date())

    processed, summed = in_threads(lambda: processing.process_chunk(chunk), sum_the_day)
    assert processed is True and summed is True
    assert PersonDay.objects.filter(day=recent(2).date()).count() == 5
    assert [d["records"] for d in person_days(platform=platform)] == [1] * 5


def test_a_month_closed_while_a_chunk_is_in_flight_counts_it(monkeypatch):
    """The close waits for the chunk that holds the month (shared) and splits its grams too."""
    platform = make_platform(threshold_g=1_000)
    file_project(make_project(platform, methodology=ensure_aggregation_methodology(), meters=()), reviewers())
    account = make_resident()
    first = timezone.localdate().replace(day=1)
    day = first - timedelta(days=3)
    start = timezone.make_aware(timezone.datetime(day.year, day.month, day.day, 8))
    AggregationPeriod.objects.create(platform=platform, month=day.replace(day=1))  # an earlier batch made it
    checked = threading.Event()
    checks = services.close_problems

    def checks_then_a_moment(*args, **kwargs):
        problems = checks(*args, **kwargs)
        checked.set()  # no batch in flight: the close goes on, and now one comes
        time.sleep(0.5)
        return problems

    monkeypatch.setattr(services, "close_problems", checks_then_a_moment)
    hold = processing._hold_periods

    def holding_a_while(*args):
        closed = hold(*args)
        time.sleep(1.0)  # the close wants the month now, while this chunk has not committed
        return closed

    monkeypatch.setattr(processing, "_hold_periods", holding_a_while)

    def process():  # a batch arrives after the close found none in flight, and is processed at once
        checked.wait(timeout=10)
        rows = [row(f"r{n}", account.number, start=start + timedelta(hours=n)) for n in range(5)]
        batch, _new = send(platform, "late", rows)
        return processing.process_chunk(BatchChunk.objects.get(batch=batch).pk)

    def close():  # asked for, then done as the worker does it (if the commit did not run it already)
        period = services.close_period(platform, day.replace(day=1), by=admin_of(platform))
        return services.settle_period(period.pk) or AggregationPeriod.objects.get(pk=period.pk)

    processed, period = in_threads(process, close)
    assert processed is True and not isinstance(period, Exception)
    month_total = sum(d["grams"] for d in person_days(platform=platform) if d["day"] >= day.replace(day=1))
    assert period.total_g == month_total > 0
    account.refresh_from_db()
    assert account.balance_g == period.personal_g == period.total_g - 1_000


def test_a_close_under_way_is_not_waited_for_by_its_copy(monkeypatch):
    """The reconciliation sends a long close again: the copy returns at once, leaving the worker free, and
    the month is closed once."""
    platform = make_platform(threshold_g=0)
    file_project(make_project(platform, methodology=ensure_aggregation_methodology(), meters=()), reviewers())
    month = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    monkeypatch.setattr(services, "_send_settle", lambda pk: None)  # the worker's task, run by hand below
    period = services.close_period(platform, month, by=admin_of(platform))
    started, copy_returned = threading.Event(), threading.Event()
    settle = services._settle
    waited = []

    def slow_settle(*args, **kwargs):
        started.set()
        waited.append(copy_returned.wait(timeout=5))  # the copy runs now; it must not wait for this one
        return settle(*args, **kwargs)

    monkeypatch.setattr(services, "_settle", slow_settle)

    def first():
        return services.settle_period(period.pk)

    def copy():
        started.wait(timeout=5)
        try:
            return services.settle_period(period.pk)
        finally:
            copy_returned.set()

    done, copied = in_threads(first, copy)
    assert waited == [True] and copied is None
    assert done.status == PeriodStatus.CLOSED
    assert AuditEvent.objects.filter(action="platform.period_closed").count() == 1


def test_two_workers_making_the_same_days_partition_at_once_both_go_on():
    from datetime import date

    from offsets.behaviour import partitions

    days = [date(2031, 1, 1) + timedelta(days=n) for n in range(5)]
    barrier = threading.Barrier(2)

    def make():
        barrier.wait(timeout=10)
        partitions.ensure(days)
        return True

    try:
        assert in_threads(make, make) == [True, True]
        assert set(days) <= partitions.existing()
    finally:
        with connection.cursor() as cursor:
            for day in days:
                cursor.execute(f"DROP TABLE IF EXISTS {partitions.name_of(day)}")
