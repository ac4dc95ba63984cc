"""The day partitions of the behaviour records on PostgreSQL: made ahead, dropped after the retention period.

The beat runs `keep_partitions` daily (config/celery.py): partitions made ahead, the days closed to reports
summed into the persons' daily totals (totals.py), and the partitions past retention dropped, never one
whose day is not summed. The chunk tasks call `ensure` for the days they load, so a first run or a late
beat never stops a batch. On SQLite the table is not partitioned and both do
nothing. A partition is created by its own short transaction: CREATE TABLE … PARTITION OF locks the parent.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from offsets.behaviour import totals
from offsets.behaviour.models import LOCK_DAYS

TABLE = "behaviour_behaviourrecord"
_known: set[date] = set()  # partitions this process has seen exist, committed


def name_of(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _partitioned() -> bool:
    return connection.vendor == "postgresql"


def existing() -> set[date]:
    """The days that have a partition."""
    if not _partitioned():
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = len(TABLE) + 2
    return {
        date(int(n[prefix : prefix + 4]), int(n[prefix + 4 : prefix + 6]), int(n[prefix + 6 :]))
        for n in names
    }


def ensure(days) -> None:
    """Make the partitions of `days` that do not exist yet (each in its own transaction)."""
    if not _partitioned():
        return
    wanted = set(days) - _known
    if not wanted:
        return
    have = existing()
    _remember(have & wanted)
    for day in sorted(wanted - have):
        with transaction.atomic(), connection.cursor() as cursor:
            # Two workers making the same day at once: IF NOT EXISTS alone is no guard (both pass it, one
            # fails on the catalogue's unique index), so the makers take turns.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_DAYS, -1])
            # DDL takes no bound parameters (connections bind on the server, ADR 0018): the bounds are
            # written in, from date objects (ISO digits only).
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name_of(day)} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"
            )
        _remember({day})


def _remember(days: set[date]) -> None:
    """Remembered once they are committed: a partition made (or seen) inside a transaction that then rolls
    back would otherwise be taken for there, and every later insert of its day by this process would fail
    ("no partition of relation found for row"). Outside a transaction this is at once."""
    transaction.on_commit(lambda: _known.update(days))


def window(today: date | None = None) -> list[date]:
    """The days records may be reported for now, and a week ahead for the beat's sake."""
    today = today or timezone.localdate()
    first = today - timedelta(days=settings.BEHAVIOUR_REPORTING_DAYS)
    return [first + timedelta(days=n) for n in range((today - first).days + 8)]


def retire(today: date | None = None) -> list[date]:
    """Detach and drop the partitions older than the retention period whose days are summed (their totals
    stay in PersonDay); returns their days."""
    if not _partitioned():
        return []
    today = today or timezone.localdate()
    limit = today - timedelta(days=settings.BEHAVIOUR_RETENTION_DAYS)
    summed = totals.summed_through()
    gone = sorted(day for day in existing() if day < limit and day <= summed)
    for day in gone:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name_of(day)}")
            cursor.execute(f"DROP TABLE {name_of(day)}")
        _known.discard(day)
    return gone


def keep() -> dict:
    ensure(window())
    summed = totals.sum_final_days()
    return {"summed": [day.isoformat() for day in summed], "dropped": [day.isoformat() for day in retire()]}
