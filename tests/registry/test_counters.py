"""registry.counters: gap-free numbers that people read, one statement per number."""

import threading

import pytest
from django.db import connection, connections, transaction

from registry import counters
from registry.models import Counter

pytestmark = pytest.mark.django_db


def drop_test_sequences() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            ours = "SELECT relname FROM pg_class WHERE relkind = 'S' AND relname LIKE %s"
            cursor.execute(ours, ["counter_test_%"])
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP SEQUENCE IF EXISTS {connection.ops.quote_name(name)}")
    counters._sequences.clear()


@pytest.fixture(autouse=True)
def no_test_sequences_left():
    """A sequence made by a committed transaction outlives the test (a flush keeps it): ours are dropped."""
    drop_test_sequences()
    yield
    drop_test_sequences()


def test_a_new_counter_starts_at_one_and_ranges_follow_each_other():
    with transaction.atomic():
        assert counters.take("test-new") == 1
        assert counters.take("test-new", 5) == 2  # 2..6
        assert counters.take("test-new") == 7
    assert Counter.objects.get(name="test-new").value == 7


def test_a_rolled_back_number_is_given_again():
    with transaction.atomic():
        counters.take("test-rollback")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert counters.take("test-rollback") == 2
        raise RuntimeError
    with transaction.atomic():
        assert counters.take("test-rollback") == 2


def test_one_statement_per_number_once_the_counter_exists():
    with transaction.atomic():
        counters.take("test-one-statement")
    sent = []
    log = connection.execute_wrapper(lambda execute, sql, *args: sent.append(sql) or execute(sql, *args))
    with log, transaction.atomic():
        counters.take("test-one-statement")
    # (The SAVEPOINT and RELEASE are the test's own atomic(), inside the test's transaction.)
    assert [sql.split()[0] for sql in sent if not sql.startswith(("SAVEPOINT", "RELEASE"))] == ["UPDATE"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_takers_at_once_get_twenty_consecutive_numbers():
    counters.take("test-concurrent")  # the row exists: every taker goes through the UPDATE's row lock
    got, errors, start = [], [], threading.Barrier(20)

    def take() -> None:
        try:
            start.wait(timeout=10)
            with transaction.atomic():
                got.append(counters.take("test-concurrent", 2))
        except Exception as error:  # reported below, never lost in a thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(got) == list(range(2, 42, 2))  # ranges 2-3, 4-5, … 40-41: none shared, none skipped


@pytest.mark.postgres
def test_unique_numbers_continue_the_counter_and_increase():
    with transaction.atomic():
        counters.take("test-unique-continues", 41)  # numbers 1..41 given the old way
    with transaction.atomic():
        assert counters.take_unique("test-unique-continues") == 42
        assert counters.take_unique("test-unique-continues") == 43


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_unique_number_is_taken_while_another_transaction_holds_one():
    """take() would wait here for the other transaction's end; take_unique() does not."""
    counters.take_unique("test-unique-no-wait")  # the sequence exists and is committed
    holding, taken, errors = threading.Event(), threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic():
                counters.take_unique("test-unique-no-wait")
                holding.set()
                taken.wait(timeout=15)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(timeout=15)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")  # an error, not a hang, if it had to wait
        second = counters.take_unique("test-unique-no-wait")
    taken.set()
    holder.join(timeout=30)
    assert errors == [] and second == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_first_use_rolled_back_leaves_no_sequence_and_the_next_use_makes_it():
    name = "test-unique-rolled-back"
    with pytest.raises(RuntimeError), transaction.atomic():
        assert counters.take_unique(name) == 1
        raise RuntimeError
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [counters.sequence_name(name)])
        assert cursor.fetchone()[0] is None
    with transaction.atomic():
        assert counters.take_unique(name) == 1
    with transaction.atomic():
        assert counters.take_unique(name) == 2
