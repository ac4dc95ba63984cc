"""Processing one chunk of a batch: the checks with their reasons, the de-duplications, the quantification and
the public daily totals, in one transaction (ADR 0017; the persons' daily totals: ADR 0021).

1. Each row is read and checked in Python: its six fields, the person (a personal carbon account number, by
   its check digit and that the account exists, or the platform's pseudonym), the scenario (agreed with the
   platform), the times (ISO 8601 with offset; not in the future, not older than the reporting window, the
   month not closed), the quantity (thousandths at most, within the factor's limit) and the factor of the
   day. It is quantified: grams = quantity (thousandths) × factor (mg per unit) // 1,000,000, rounded down.
2. The rows go into a temporary table (COPY on PostgreSQL), and set-based statements, the same on both
   databases, reject what is already known: the platform's record id already accepted (`duplicate`), the same
   person's behaviour of the same scenario reported by another platform at an overlapping time
   (`other_platform`: the first accepted counts; the times may differ by OVERLAP_TOLERANCE).
3. Where a person's records of a scenario on a day, those stored and the chunk's own, come to more than a
   person can make in a day (the factor's limit), the chunk's latest rows of them are rejected (`too_many`).
   The stored ones are counted in the records' index of a person's day: while a day can be reported, its
   records are the persons' daily totals; the beat sums them into `PersonDay` once the day is closed to
   reports (ADR 0021, totals.py).
4. The rows accepted are inserted into the records (partitioned by day) and the public daily totals, and
   the rejected rows are written with their reasons.

Two chunks touching the same day take that day's lock (PostgreSQL advisory lock) for steps 2 to 4, so two
platforms' reports of the same ride never both count; everything before it runs side by side, and so does
the `duplicate` check, which only the platform's own chunks can change (a race fails on the records' key,
and the check is made again under the lock: ADR 0023).
"""

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from offsets.behaviour import partitions, totals
from offsets.behaviour.accounts import is_account_number
from offsets.behaviour.models import (
    LOCK_DAYS,
    AggregationPeriod,
    Batch,
    BatchChunk,
    BatchFormat,
    BatchStatus,
    PeriodStatus,
    PersonalAccount,
    PlatformAgreement,
    RejectReason,
    ScenarioFactor,
    account_key,
    pseudonym_key,
)
from registry import audit

OVERLAP_TOLERANCE = timedelta(seconds=60)
FUTURE_TOLERANCE = timedelta(minutes=5)
LARGEST_OFFSET = timedelta(hours=14)  # UTC+14:00, Kiribati's; the westernmost is UTC-12:00
LONGEST_FIELD = 64
R = RejectReason


@dataclass
class Context:
    """What the checks need to know, read once per chunk."""

    platform_id: int
    scenarios: dict  # code -> (scenario id, [factors, newest first])
    now: datetime
    earliest: date
    zone: ZoneInfo
    latest: datetime = field(init=False)  # the latest time that is not in the future
    factors: dict = field(init=False)  # (scenario code, day) -> the factor valid then, as found

    def __post_init__(self):
        self.latest = self.now + FUTURE_TOLERANCE
        self.factors = {}

    def factor(self, code: str, factors: list, day: date):
        """The scenario's factor on that day, or None; looked for once per scenario and day."""
        try:
            return self.factors[code, day]
        except KeyError:
            found = self.factors[code, day] = _factor_on(factors, day)
            return found


def _context(batch: Batch) -> Context:
    agreement = PlatformAgreement.objects.filter(organisation=batch.platform_id).first()
    scenarios = {}
    if agreement is not None:
        for scenario in agreement.scenarios.all():
            factors = list(ScenarioFactor.objects.filter(scenario=scenario).order_by("-valid_from"))
            scenarios[scenario.code] = (scenario.pk, factors)
    now = timezone.now()
    zone = ZoneInfo(settings.TIME_ZONE)
    # A day summed already (totals.py) takes no more records, even if the window says it may.
    window = now.astimezone(zone).date() - timedelta(days=settings.BEHAVIOUR_REPORTING_DAYS)
    earliest = max(window, totals.summed_through() + timedelta(days=1))
    return Context(platform_id=batch.platform_id, scenarios=scenarios, now=now, earliest=earliest, zone=zone)


def _factor_on(factors, day: date):
    for factor in factors:  # newest first
        if factor.valid_from <= day and (factor.valid_until is None or day <= factor.valid_until):
            return factor
    return None


def _clean_text(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    # Printable only: no control, format (zero-width, bidi) or lone surrogate characters in an id.
    if not value or len(value) > LONGEST_FIELD or not value.isprintable():
        return None
    return value


NO_TIME = (None, None)


def _time(value) -> tuple[datetime | None, str | None]:
    """(the moment, its text for the database) of an ISO 8601 date and time with its UTC offset, the offset
    within what the world's clocks use (PostgreSQL refuses a larger one); (None, None) if it is not one. The
    text is the value itself where PostgreSQL reads it exactly as Python does (2026-11-29T08:12:33+08:00, as
    the platforms write), or None: the moment is then written out (slower)."""
    if not isinstance(value, str) or len(value) > 40:
        return NO_TIME
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return NO_TIME
    offset = moment.utcoffset()
    if offset is None or not -LARGEST_OFFSET <= offset <= LARGEST_OFFSET:
        return NO_TIME
    usual = (
        len(value) == 25
        and value[4] == value[7] == "-"
        and value[10] == "T"
        and value[13] == value[16] == value[22] == ":"
        and value[19] in "+-"
        and value[23] in "012345"  # Python takes +08:60 for +09:00; PostgreSQL refuses it
    )
    return moment, value if usual else None


def _milli(value) -> int | None:
    """A positive quantity with at most three decimals, in thousandths; None if it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = repr(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    whole, dot, fraction = value.partition(".")
    if not whole.isascii() or not whole.isdigit() or len(whole) > 12:
        return None
    if dot and (not fraction.isascii() or not fraction.isdigit() or len(fraction) > 3):
        return None
    milli = int(whole) * 1000 + (int(fraction.ljust(3, "0")) if fraction else 0)
    return milli or None


def check_row(fields, ctx: Context):
    """(reason, None) or (None, the accepted row's values) for one row's six fields."""
    if fields is None or len(fields) != 6:
        return R.FIELDS, None
    record_id, person, scenario, started, ended, quantity = fields
    record_id = _clean_text(record_id)
    if record_id is None:
        return R.RECORD_ID, None
    person = _clean_text(person)
    if person is None:
        return R.PERSON, None
    scenario = scenario.strip() if isinstance(scenario, str) else None
    known = ctx.scenarios.get(scenario)
    if known is None:
        return R.SCENARIO, None
    start, start_text = _time(started)
    end, end_text = _time(ended) if ended not in ("", None) else (start, start_text)
    if start is None or end is None or end < start:
        return R.TIME, None
    if end > ctx.latest:  # and so is the start, which is not after it
        return R.FUTURE, None
    try:
        day = start.astimezone(ctx.zone).date()
    except OverflowError:  # the year 1 at +14:00, say
        return R.TIME, None
    if day < ctx.earliest:
        return R.TOO_OLD, None
    milli = _milli(quantity)
    if milli is None:
        return R.QUANTITY, None
    scenario_id, factors = known
    factor = ctx.factor(scenario, factors, day)
    if factor is None:
        return R.NO_FACTOR, None
    if milli > factor.max_quantity_milli:
        return R.IMPLAUSIBLE, None
    grams = milli * factor.milligrams_per_unit // 1_000_000
    most = factor.max_records_per_day
    return None, (record_id, person, scenario_id, start, end, day, milli, grams, most, start_text, end_text)


def _csv_fields(line: str) -> list | None:
    """A CSV line's fields, read on its own: a record is one line (a quoted field never spans two)."""
    if '"' not in line:
        return line.split(",")  # the usual row, without quotes: the same fields, several times faster
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error:
        return None


def _rows(chunk: BatchChunk, fmt: str):
    """(line number, fields or None) of each row of the chunk file."""
    with default_storage.open(chunk.file.name, "rb") as handle:
        data = handle.read()
    text = data.decode("utf-8", errors="replace").split("\n")
    if text and text[-1] == "":
        text.pop()
    first = chunk.first_line
    if fmt == BatchFormat.CSV:
        for offset, line in enumerate(text):
            yield first + offset, _csv_fields(line)
        return
    for offset, line in enumerate(text):
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested beyond reason
            yield first + offset, None
            continue
        if not isinstance(item, dict):
            yield first + offset, None
            continue
        yield (
            first + offset,
            [
                item.get(name)
                for name in ("record_id", "person", "scenario", "started_at", "ended_at", "quantity")
            ],
        )


COLUMNS = (
    "line",
    "record_id",
    "reason",
    "day",
    "day_before",
    "account_id",
    "person",
    "scenario_id",
    "started_at",
    "ended_at",
    "quantity_milli",
    "grams",
    "max_per_day",
)
DDL = """
CREATE TEMP TABLE incoming (
    line bigint NOT NULL, record_id varchar(64), reason varchar(16), day date, day_before date,
    account_id bigint, person varchar(65), scenario_id bigint, started_at timestamp with time zone,
    ended_at timestamp with time zone, quantity_milli bigint, grams bigint, max_per_day integer
)"""
# The keys take the database's default collation here: compared with a stored key, they compare as the stored
# one does (collation "C" on PostgreSQL, ADR 0020), so its index is searched whatever the collation.


def _prepare(chunk: BatchChunk, ctx: Context, fmt: str):
    """Each row checked: (line, reason, values, the record id as given for a rejected row), and the ids of
    the personal accounts named."""
    checked, numbers = [], set()
    seen_ids = set()
    for line, fields in _rows(chunk, fmt):
        reason, values = check_row(fields, ctx)
        if reason is None:
            if values[0] in seen_ids:
                reason = R.REPEATED
            else:
                seen_ids.add(values[0])
                if is_account_number(values[1]):
                    numbers.add(values[1])
                checked.append((line, None, values, None))
                continue
        record_id = fields[0] if fields and isinstance(fields[0], str) else ""
        raw = record_id.replace("\x00", "")[:LONGEST_FIELD].encode("utf-8", "replace").decode()
        checked.append((line, reason, values, raw))
    return checked, _account_ids(numbers)


def _account_ids(numbers: set[str]) -> dict[str, int]:
    """Account number -> id of the accounts that exist, in one statement with the numbers as one array."""
    if not numbers:
        return {}
    table = PersonalAccount._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT number, id FROM {table} WHERE number = ANY(%s)", [list(numbers)])  # noqa: S608
            return dict(cursor.fetchall())
    return dict(PersonalAccount.objects.filter(number__in=numbers).values_list("number", "pk"))


def _incoming_rows(checked, accounts, text, moment, null):
    """The temporary table's rows, texts as `text` puts them for the database, times as `moment` does (from
    the time and the platform's text where that will do) and `null` for no value; days as ISO dates; the
    person key (models.account_key or pseudonym_key)."""
    nothing = (null,) * 10  # the columns after the reason of a rejected row
    days = {}  # day -> its text and the day before's
    for line, reason, values, raw_id in checked:
        if reason is not None:
            yield (line, text(raw_id), reason.value, *nothing)
            continue
        record_id, person, scenario_id, start, end, day, milli, grams, most, start_text, end_text = values
        account_id = accounts.get(person, null)
        if account_id is not null:
            key = account_key(person)
        elif is_account_number(person):
            yield (line, text(record_id), R.UNKNOWN_ACCOUNT.value, *nothing)
            continue
        else:
            key = pseudonym_key(person)
        day_texts = days.get(day) or days.setdefault(day, (day.isoformat(), (day - ONE_DAY).isoformat()))
        yield (
            line,
            text(record_id),
            null,
            *day_texts,
            account_id,
            text(key),
            scenario_id,
            moment(start, start_text),
            moment(end, end_text),
            milli,
            grams,
            most,
        )


ONE_DAY = timedelta(days=1)


# The platform's record already accepted (an earlier batch, or an earlier chunk of this one). Checked before
# the days' lock: a chunk of the same platform committing the same record id meanwhile makes this chunk's
# insert fail on the key, and process_chunk checks again under the lock (ADR 0023).
DUPLICATE = """UPDATE incoming SET reason = 'duplicate' WHERE reason IS NULL AND EXISTS (
        SELECT 1 FROM behaviour_behaviourrecord r
        WHERE r.day = incoming.day AND r.platform_id = %(platform)s AND r.record_id = incoming.record_id)"""
CHECKS = [
    # The same behaviour from another platform: one person, one scenario, overlapping time (ADR 0017). An
    # account holder's person key is the same on every platform ("A" + the number), so the records' index
    # of a person's day answers it (ADR 0023).
    """UPDATE incoming SET reason = 'other_platform'
        WHERE reason IS NULL AND account_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM behaviour_behaviourrecord r
        WHERE r.person = incoming.person AND r.scenario_id = incoming.scenario_id
          AND r.platform_id <> %(platform)s AND r.day BETWEEN incoming.day_before AND incoming.day
          AND r.started_at < {end_tolerated} AND r.ended_at > {start_tolerated})""",
]
# More of the scenario's records of a person on a day than a person can make (the factor's limit): the
# records stored for that day of the person and the chunk's own rows left by the checks above, counted
# (`{over}`: day, scenario, person, excess), and that many of the chunk's rows go, the latest first. So the
# stored ones never grow past the limit (nor, if a lowered limit left them above it, at all).
TOO_MANY = """UPDATE incoming SET reason = 'too_many' WHERE line IN (
        SELECT line FROM (
            SELECT i.line, o.excess, ROW_NUMBER() OVER (
                PARTITION BY i.person, i.scenario_id, i.day ORDER BY i.started_at DESC, i.line DESC) AS back
            FROM incoming i JOIN {over} o
              ON o.day = i.day AND o.scenario_id = i.scenario_id AND o.person = i.person
            WHERE i.reason IS NULL AND o.excess > 0) ranked
        WHERE back <= excess)"""
# The stored records are probed once per person's day of the chunk, in the index of a person's day.
OVER_LIMIT = """(SELECT g.day, g.scenario_id, g.person, g.records - g.most + (
            SELECT COUNT(*) FROM behaviour_behaviourrecord r
            WHERE r.platform_id = %(platform)s AND r.day = g.day AND r.scenario_id = g.scenario_id
              AND r.person = g.person) AS excess
        FROM (SELECT day, scenario_id, person, COUNT(*) AS records, MAX(max_per_day) AS most FROM incoming
              WHERE reason IS NULL GROUP BY day, scenario_id, person) g)"""
WRITES = [
    """INSERT INTO behaviour_behaviourrecord (day, platform_id, record_id, batch_id, account_id, person,
            scenario_id, started_at, ended_at, quantity_milli, grams)
        SELECT day, %(platform)s, record_id, %(batch)s, account_id, person, scenario_id, started_at, ended_at,
            quantity_milli, grams
        FROM incoming WHERE reason IS NULL""",
    """INSERT INTO behaviour_scenarioday (day, platform_id, scenario_id, records, grams)
        SELECT day, %(platform)s, scenario_id, COUNT(*), SUM(grams)
        FROM incoming WHERE reason IS NULL GROUP BY day, scenario_id
        ON CONFLICT (day, platform_id, scenario_id) DO UPDATE
        SET records = behaviour_scenarioday.records + excluded.records,
            grams = behaviour_scenarioday.grams + excluded.grams""",
    """INSERT INTO behaviour_rejectedrow (batch_id, line, record_id, reason)
        SELECT %(batch)s, line, COALESCE(record_id, ''), reason FROM incoming WHERE reason IS NOT NULL""",
]
TOTALS = """SELECT COUNT(*), SUM(CASE WHEN reason IS NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN reason IS NULL THEN grams ELSE 0 END) FROM incoming"""


COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})
COPY_BLOCK = 5000  # rows written to COPY at once


def _copy_escaped(value: str) -> str:
    """A text in COPY's text format. An accepted row's texts have no control characters; a rejected row's
    record id may hold anything."""
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(COPY_ESCAPES)


def _copy_time(moment: datetime, text: str | None) -> str:
    """The platform's text if it has the usual shape, else the moment in UTC (an offset Python reads may
    have seconds and fractions, +08:00:00.5, which PostgreSQL refuses)."""
    return text or str(moment.astimezone(UTC))


def _load(cursor, checked, accounts) -> None:
    names = ", ".join(COLUMNS)
    if connection.vendor == "postgresql":
        # COPY's text format: dates in ISO, times as _copy_time writes them, \\N for no value.
        rows = _incoming_rows(checked, accounts, _copy_escaped, _copy_time, "\\N")
        with cursor.cursor.copy(f"COPY incoming ({names}) FROM STDIN") as copy:
            while block := list(islice(rows, COPY_BLOCK)):
                copy.write(("\n".join(["\t".join(map(str, row)) for row in block]) + "\n").encode())
        cursor.execute("CREATE INDEX ON incoming (line)")  # for the too_many step's own join
        # Each check probes the indexes row by row, whatever the statistics of a partition filled since its
        # last ANALYZE say (a day's partition is made empty, ahead of time, and fills faster than autovacuum
        # looks): a hash or merge join, or a nested loop over a sequential scan, would read whole partitions,
        # millions of rows, per chunk; so would materialising the rows of a range. Only probes remain: the
        # stored rows' index searched with each incoming row's values (the partitions pruned at run time).
        cursor.execute("SET LOCAL enable_hashjoin = off")
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_material = off")
        cursor.execute("SET LOCAL jit = off")  # the disabled plans' costs would compile every statement
        return
    adapt = connection.ops.adapt_datetimefield_value
    rows = list(_incoming_rows(checked, accounts, lambda text: text, lambda time, _text: adapt(time), None))
    marks = ", ".join(["%s"] * len(COLUMNS))
    cursor.executemany(f"INSERT INTO incoming ({names}) VALUES ({marks})", rows)  # noqa: S608 (our columns)


def _checks() -> list[str]:
    """The checks, with the overlap's tolerance in the database's own date arithmetic."""
    seconds = int(OVERLAP_TOLERANCE.total_seconds())
    if connection.vendor == "postgresql":
        end, start = (
            f"incoming.{c} {sign} interval '{seconds} seconds'"
            for c, sign in (("ended_at", "+"), ("started_at", "-"))
        )
    else:  # SQLite: the text Django stores compares in time order with datetime()'s
        end, start = (
            f"datetime(incoming.{c}, '{sign}{seconds} seconds')"
            for c, sign in (("ended_at", "+"), ("started_at", "-"))
        )
    return [check.format(end_tolerated=end, start_tolerated=start) for check in CHECKS]


def _too_many(cursor, params) -> None:
    """The rows beyond what a person can make in a day rejected (`too_many`)."""
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        # The joins here are of this chunk's own rows; the stored records are only probed, per person's day,
        # in the subquery: hashing is right.
        cursor.execute("SET LOCAL enable_hashjoin = on")
    cursor.execute(TOO_MANY.format(over=OVER_LIMIT), params)
    if postgresql:
        cursor.execute("SET LOCAL enable_hashjoin = off")


def _decide_and_write(cursor, params) -> None:
    """Under the days' lock: the checks against what other chunks stored, then the writes."""
    for statement in _checks():
        cursor.execute(statement, params)
    _too_many(cursor, params)
    for statement in WRITES:
        cursor.execute(statement, params)


def lock_days(cursor, days) -> None:
    """The days' locks until commit (PostgreSQL): a chunk's checks and writes, and a day's sum (totals.py)."""
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time anyway
    for day in sorted(days):  # always in the same order: two chunks never wait on each other in a circle
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_DAYS, day.toordinal()])


def _hold_periods(batch: Batch, months) -> set[date]:
    """The months of the chunk whose period is closed or closing. The others' rows are made if need be and
    held shared until commit, so a close asked for waits for this chunk, and a chunk after it sees it."""
    if not months:
        return set()
    AggregationPeriod.objects.bulk_create(
        [AggregationPeriod(platform_id=batch.platform_id, month=month) for month in months],
        ignore_conflicts=True,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT month, status FROM behaviour_aggregationperiod WHERE platform_id = %s "
                "AND month = ANY(%s) FOR SHARE",
                [batch.platform_id, list(months)],
            )
            return {month for month, status in cursor.fetchall() if status != PeriodStatus.OPEN}
    periods = AggregationPeriod.objects.filter(platform_id=batch.platform_id, month__in=months)
    return set(periods.exclude(status=PeriodStatus.OPEN).values_list("month", flat=True))


def process_chunk(chunk_id: int) -> bool:
    """Process one chunk once; False if it was done already (a task sent again)."""
    chunk = BatchChunk.objects.select_related("batch").filter(pk=chunk_id).first()
    if chunk is None or chunk.done_at is not None or chunk.failed_at is not None:
        return False
    # Counted before the work, on its own: an attempt that kills its worker counts too.
    BatchChunk.objects.filter(pk=chunk_id).update(attempts=F("attempts") + 1)
    if chunk.attempts >= settings.BEHAVIOUR_CHUNK_ATTEMPTS:
        give_up(chunk_id)
        return False
    batch = chunk.batch
    ctx = _context(batch)
    checked, accounts = _prepare(chunk, ctx, batch.format)
    days = {values[5] for _line, reason, values, _raw in checked if reason is None}
    partitions.ensure(days)
    # Before the chunk's transaction, on its own: inside it, the batch's row would stay locked until the
    # commit and the batch's other chunks would wait for this one.
    Batch.objects.filter(pk=batch.pk, status=BatchStatus.RECEIVED).update(status=BatchStatus.PROCESSING)
    with transaction.atomic():
        locked = BatchChunk.objects.select_for_update().get(pk=chunk_id)
        if locked.done_at is not None or locked.failed_at is not None:  # done meanwhile, or given up
            return False
        closed = _hold_periods(batch, {day.replace(day=1) for day in days})
        if closed:
            checked = [
                (line, R.PERIOD_CLOSED, None, values[0])
                if reason is None and values[5].replace(day=1) in closed
                else (line, reason, values, raw)
                for line, reason, values, raw in checked
            ]
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS incoming")
            cursor.execute(DDL + (" ON COMMIT DROP" if connection.vendor == "postgresql" else ""))
            _load(cursor, checked, accounts)
            params = {"platform": batch.platform_id, "batch": batch.pk}
            cursor.execute(DUPLICATE, params)
            lock_days(cursor, days)
            try:
                with transaction.atomic():
                    _decide_and_write(cursor, params)
            except IntegrityError:
                # A chunk of the same platform (a copy of the batch, or this batch's record id repeated in
                # another chunk) committed one of these record ids after the check above. Under the lock no
                # chunk can any more: checked again, and the rest done again on it (ADR 0023).
                cursor.execute(DUPLICATE, params)
                _decide_and_write(cursor, params)
            cursor.execute(TOTALS)
            rows, accepted, grams = cursor.fetchone()
            if connection.vendor != "postgresql":
                cursor.execute("DROP TABLE incoming")
        locked.done_at = timezone.now()
        locked.save(update_fields=["done_at"])
        spans = {}
        if days:
            first, last = Value(min(days)), Value(max(days))
            spans = {
                "first_day": Least(Coalesce("first_day", first), first),
                "last_day": Greatest(Coalesce("last_day", last), last),
            }
        Batch.objects.filter(pk=batch.pk).update(
            **spans,
            chunks_done=F("chunks_done") + 1,
            accepted=F("accepted") + (accepted or 0),
            rejected=F("rejected") + (rows - (accepted or 0)),
            grams=F("grams") + (grams or 0),
        )
        _finish_if_last(batch.pk)
    default_storage.delete(chunk.file.name)
    return True


def give_up(chunk_id: int) -> None:
    """A chunk whose task failed BEHAVIOUR_CHUNK_ATTEMPTS times (a file lost from the shared storage, a worker
    killed by it each time): its rows are not counted and its batch is failed, with its audit event once and
    the platform's administrators told; the batch's other chunks still count. The reconciliation no longer
    sends it, so the platform's months can close; the platform sends those rows again under a new batch id."""
    from registry.transitions import notify_after_commit

    with transaction.atomic():
        chunk = BatchChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.done_at is not None or chunk.failed_at is not None:
            return
        chunk.failed_at = timezone.now()
        chunk.save(update_fields=["failed_at"])
        batch = Batch.objects.select_for_update().get(pk=chunk.batch_id)
        if batch.status == BatchStatus.FAILED:
            return
        before = batch.status
        batch.status, batch.finished_at = BatchStatus.FAILED, chunk.failed_at
        batch.save(update_fields=["status", "finished_at"])
        event = audit.record(
            actor=None,
            action="batch.failed",
            subject=batch,
            before={"status": before},
            after={"status": BatchStatus.FAILED, "lines": failed_lines(batch)},
        )
        notify_after_commit(event)


def failed_lines(batch: Batch) -> list[tuple[int, int | None]]:
    """The lines of the file in its given-up chunks, as (first, last); last None: to the end of the file.
    Empty for a batch that has not failed."""
    if batch.status != BatchStatus.FAILED:
        return []
    starts = list(batch.chunk_rows.order_by("number").values_list("first_line", "failed_at"))
    return [
        (first, starts[n + 1][0] - 1 if n + 1 < len(starts) else None)
        for n, (first, failed_at) in enumerate(starts)
        if failed_at is not None
    ]


def _finish_if_last(batch_pk: int) -> None:
    """The last chunk done: the batch is done, with its audit event (counted once: the row is locked)."""
    batch = Batch.objects.select_for_update().get(pk=batch_pk)
    if batch.chunks_done < batch.chunks or batch.status == BatchStatus.DONE:
        return
    batch.status, batch.finished_at = BatchStatus.DONE, timezone.now()
    batch.save(update_fields=["status", "finished_at"])
    audit.record(
        actor=None,
        action="batch.processed",
        subject=batch,
        before={"status": BatchStatus.PROCESSING},
        after={
            "status": BatchStatus.DONE,
            "accepted": batch.accepted,
            "rejected": batch.rejected,
            "grams": batch.grams,
        },
    )
