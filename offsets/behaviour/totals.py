"""The persons' daily totals: a person's records and grams of one scenario on one day, as one platform
reported them (ADR 0021).

A chunk no longer writes them. While a day may still be reported (`BEHAVIOUR_REPORTING_DAYS`), its totals are
its records, found by the records' index of a person's day (person, scenario, platform, day): the chunk's
`too_many` check counts them there, a month's close sums them, a resident's page groups them. Once no record
can come for the day any more, the beat sums the day's records into `PersonDay`, once, and marks the day
summed (`SummedDay`); the records may then be dropped after the retention period (partitions.retire) and
the totals stay.

The days are summed in order, so the latest summed day divides the two: `PersonDay` up to it, the records
after it. Every reader takes both sides through `person_days_sql`, bounded by the same day, so a day is
counted once even when it is summed while the reader reads.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from offsets.behaviour.models import BehaviourRecord, SummedDay

# One day's records summed into the persons' daily totals.
SUM_DAY = """INSERT INTO behaviour_personday
        (day, platform_id, scenario_id, person, account_id, records, grams)
    SELECT day, platform_id, scenario_id, person, MAX(account_id), COUNT(*), SUM(grams)
    FROM behaviour_behaviourrecord WHERE day = %(day)s GROUP BY day, platform_id, scenario_id, person"""
MARGIN = timedelta(days=2)  # a chunk that began before midnight, with the day before's reporting window


def person_days_sql(where: str) -> str:
    """The persons' daily totals (day, platform_id, scenario_id, person, account_id, records, grams) meeting
    `where` (conditions on those columns, the same on both sides), for a statement's FROM (…); its
    parameters need `summed`: the value of `summed_through()`."""
    return f"""SELECT day, platform_id, scenario_id, person, account_id, records, grams
        FROM behaviour_personday WHERE day <= %(summed)s AND {where}
        UNION ALL
        SELECT day, platform_id, scenario_id, person, MAX(account_id), COUNT(*), SUM(grams)
        FROM behaviour_behaviourrecord WHERE day > %(summed)s AND {where}
        GROUP BY day, platform_id, scenario_id, person"""  # noqa: S608 (our own conditions)


def summed_through() -> date:
    """The latest summed day (date.min if none is)."""
    return SummedDay.objects.aggregate(last=Max("day"))["last"] or date.min


def last_final_day(today: date | None = None) -> date:
    """The latest day that no chunk can load a record for any more (processing: `too_old` before the
    reporting window), with a margin for a chunk that read the clock before midnight."""
    today = today or timezone.localdate()
    return today - timedelta(days=settings.BEHAVIOUR_REPORTING_DAYS) - MARGIN


def sum_final_days(today: date | None = None) -> list[date]:
    """Each day not summed yet, up to the last final day, summed in order; returns them. The first time, the
    days from the earliest record (or only the last final day, if there is none)."""
    last = last_final_day(today)
    summed = summed_through()
    if summed == date.min:
        first = BehaviourRecord.objects.aggregate(first=Min("day"))["first"]
        day = min(first, last) if first else last
    else:
        day = summed + timedelta(days=1)
    done = []
    while day <= last:
        if sum_day(day):
            done.append(day)
        day += timedelta(days=1)
    return done


def sum_day(day: date) -> bool:
    """The day's records summed into `PersonDay`, and the day marked summed, in one transaction; False if it
    was summed already (two beats at once: the second waits for the day's lock, then finds it summed)."""
    from offsets.behaviour.processing import lock_days

    with transaction.atomic(), connection.cursor() as cursor:
        lock_days(cursor, [day])  # a chunk still writing the day commits first
        if SummedDay.objects.filter(day__gte=day).exists():
            return False
        cursor.execute(SUM_DAY, {"day": day})
        SummedDay.objects.create(day=day, person_days=max(cursor.rowcount, 0))
    return True
