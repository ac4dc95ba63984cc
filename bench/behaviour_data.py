"""Batches of residents' behaviour records for `make bench-behaviour` (bench/behaviour.py): gzip CSV files
as two demo platforms would send them to PUT /api/behaviour/v1/batches/<id>.

- A ride-code app (乘车码) reports metro and bus rides; a bike and payment app reports shared-bicycle rides,
  the metro rides paid with it and food orders without disposable tableware. Their shares follow a
  Wuhan-sized day (millions of records a day: metro 4, of which the ride-code app 3 and the payment app 1;
  bus 2; bicycles 1.5; orders 0.5), scaled to the number of records asked for.
- A person is a personal carbon account number for a share of the rows (the accounts the bench opened)
  or the platform's own pseudonym; rides start on a day with morning and evening peaks, on one of the
  last `days` days before today (never today: nothing is in the future), and last as long as their
  distance takes.
- `duplicate_share` of the rows are the payment app's report of a metro ride the ride-code app reports
  too: the same account, overlapping times (shifted by up to 30 s), the payment app's own record id. The
  registry counts one of the two (reason `other_platform` for the other). Otherwise an account holder
  rides the metro with one app only (even account numbers in the list with the ride-code app, odd ones
  with the payment app) and one train at a time (each ride in a 2-hour window of its own), so no other
  rides overlap and exactly one row of each generated pair is rejected.
- `bad_share` of the rows are wrong in one way each, every kind of check in turn at random: too few
  fields, no record id, no person, an unknown or not agreed scenario, a time without its offset or ending
  before it starts, a day in the future or older than the reporting window, a quantity that is not one or
  is implausible, an account number no account has, a record id repeated in the batch (right after its
  first row, so in the same chunk). Each file's tally says what the registry should reject, and why.

Streaming and fast: the two platforms' current files are written side by side (a duplicate goes into
both at once), as CSV text joined in blocks and gzip level 1; memory holds the tables below and the
account numbers, never the records.
"""

import gzip
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from offsets.behaviour.accounts import make_account_number

HEADER = "record_id,person,scenario,started_at,ended_at,quantity\n"
BLOCK_LINES = 4096
# The first of the account numbers used for `unknown_account` rows: far beyond the accounts a bench opens.
UNKNOWN_ACCOUNTS_FROM = 900_000_000


@dataclass(frozen=True)
class Trip:
    """How a scenario's records look: quantity from `low` to `high` units (one decimal), the time it takes
    at `speed_kmh` plus `fixed_minutes`; `instant`: an order, with no end time."""

    low: float
    high: float
    speed_kmh: float = 0
    fixed_minutes: float = 0
    instant: bool = False


TRIPS = {
    "metro": Trip(2, 35, speed_kmh=35, fixed_minutes=6),
    "bus": Trip(1, 20, speed_kmh=15, fixed_minutes=4),
    "bicycle": Trip(0.5, 8, speed_kmh=12, fixed_minutes=1),
    "no_tableware": Trip(1, 1, instant=True),
}
IMPLAUSIBLE = {"metro": "200", "bus": "150", "bicycle": "60", "no_tableware": "3"}


@dataclass(frozen=True)
class PlatformMix:
    key: str
    name_zh: str
    name_en: str
    scenarios: tuple[tuple[str, float], ...]  # code, millions of records on a Wuhan day
    account_share: float  # rows naming a personal carbon account; the others a pseudonym
    pseudonym_prefix: str
    not_agreed: str  # a scenario the platform has not agreed with the bureau

    @property
    def daily(self) -> float:
        return sum(share for _code, share in self.scenarios)

    @property
    def codes(self) -> list[str]:
        return [code for code, _share in self.scenarios]


RIDE_CODE = PlatformMix(
    "ridecode",
    "江城乘车码（演示）",
    "Jiangcheng Ride Code (demo)",
    (("metro", 3.0), ("bus", 2.0)),
    account_share=0.35,
    pseudonym_prefix="rc",
    not_agreed="bicycle",
)
BIKE_PAY = PlatformMix(
    "bikepay",
    "楚天单车支付（演示）",
    "Chutian Bike & Pay (demo)",
    (("bicycle", 1.5), ("metro", 1.0), ("no_tableware", 0.5)),
    account_share=0.30,
    pseudonym_prefix="bp",
    not_agreed="bus",
)
PLATFORMS = (RIDE_CODE, BIKE_PAY)
# Riders by hour of the day (relative): the morning and evening peaks of a metro line.
HOURLY = (0, 0, 0, 0, 0, 1, 4, 12, 16, 9, 6, 6, 7, 6, 6, 7, 9, 14, 15, 9, 6, 5, 3, 1)
# The 2-hour windows (their first hour) of an account holder's metro rides of a day, peaks first.
WINDOWS = (7, 17, 9, 15, 11, 13, 19, 5, 21)
BAD_KINDS = (
    "fields",
    "record_id",
    "person",
    "scenario",
    "time",
    "future",
    "too_old",
    "quantity",
    "implausible",
    "unknown_account",
    "repeated",
)


@dataclass
class BatchFile:
    """One generated batch and what the registry should make of it."""

    platform: str
    batch_id: str
    path: Path
    rows: int = 0
    bad: Counter = field(default_factory=Counter)  # expected reason -> rows
    duplicates: int = 0  # rows that are another platform's ride (one of each pair is rejected)
    days: set = field(default_factory=set)

    @property
    def size(self) -> int:
        return self.path.stat().st_size


class _Writer:
    """A platform's current batch file: lines gathered in blocks, gzip level 1; a new file every
    `batch_rows` rows."""

    def __init__(self, folder: Path, mix: PlatformMix, *, prefix: str, batch_rows: int, done: list):
        self.folder, self.mix, self.prefix, self.batch_rows, self.done = folder, mix, prefix, batch_rows, done
        self.number, self.handle, self.current, self.lines = 0, None, None, []

    def start(self) -> None:
        self.number += 1
        batch_id = f"{self.prefix}-{self.mix.key}-{self.number:04d}"
        path = self.folder / f"{batch_id}.csv.gz"
        self.current = BatchFile(self.mix.key, batch_id, path)
        self.handle = gzip.open(path, "wb", compresslevel=1)  # noqa: SIM115 (closed by close())
        self.lines = [HEADER]

    def room(self) -> int:
        """Rows left in the current file (starting one if none is open)."""
        if self.handle is None:
            self.start()
        return self.batch_rows - self.current.rows

    def flush(self) -> None:
        self.handle.write("".join(self.lines).encode("ascii"))
        self.lines = []

    def close(self) -> None:
        if self.handle is None:
            return
        self.flush()
        self.handle.close()
        self.done.append(self.current)
        self.handle = self.current = None


def _profile(rng: random.Random, size: int = 4096) -> list[int]:
    """Start seconds of the day drawn from HOURLY, as a table to pick from."""
    total = sum(HOURLY)
    seconds = []
    for hour, weight in enumerate(HOURLY):
        seconds += [hour * 3600 + rng.randrange(3600) for _ in range(round(size * weight / total))]
    return seconds


def _trips(rng: random.Random, trip: Trip, size: int = 1024) -> list[tuple[int, str]]:
    """(seconds it takes, quantity text) pairs to pick from: distances skewed to the short ones."""
    table = []
    for _ in range(size):
        quantity = trip.low + (trip.high - trip.low) * rng.random() ** 2
        seconds = 0 if trip.instant else int((quantity / trip.speed_kmh * 60 + trip.fixed_minutes) * 60)
        table.append((seconds, f"{quantity:.1f}" if not trip.instant else "1"))
    return table


def _weighted(items: list[tuple[str, float]], size: int = 1024) -> list[str]:
    total = sum(weight for _item, weight in items)
    table = []
    for item, weight in items:
        table += [item] * round(size * weight / total)
    return (table + [items[0][0]] * size)[:size]


def generate(
    folder: Path,
    *,
    records: int,
    batch_rows: int,
    accounts: list[str],
    today: date,
    utc_offset: str = "+08:00",
    days: int = 3,
    duplicate_share: float = 0.02,
    bad_share: float = 0.01,
    chunk_rows: int = 20_000,
    prefix: str = "b",
    seed: int = 14,
    platforms: tuple[PlatformMix, ...] = PLATFORMS,
) -> list[BatchFile]:
    """Write about `records` rows (a repeated row comes with its first, so one more at most) into gzip CSV
    batch files of `batch_rows` rows in `folder`; returns the files in the order they were finished.
    `accounts`: the account numbers that exist. `chunk_rows`: the registry's chunk size (a repeated
    record id stays in its first's chunk). `platforms`: both (the default), or one alone (no duplicates)."""
    if not accounts:
        raise ValueError("at least one personal carbon account is needed")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    done: list[BatchFile] = []
    writers = {
        mix.key: _Writer(folder, mix, prefix=prefix, batch_rows=batch_rows, done=done) for mix in PLATFORMS
    }
    daily = sum(mix.daily for mix in platforms)
    first_share = RIDE_CODE.daily / daily if RIDE_CODE in platforms else 0.0
    # Each ride-code metro ride of an account holder is also reported by the payment app with this chance.
    account_metro = (
        first_share * dict(RIDE_CODE.scenarios)["metro"] / RIDE_CODE.daily * RIDE_CODE.account_share
    )
    copy_chance = min(1.0, duplicate_share / account_metro) if len(platforms) == 2 else 0.0
    # Pseudonyms: about two records a day each, as the account holders have.
    pseudonyms = {
        mix.key: max(100, int(records * mix.daily / daily * (1 - mix.account_share) / days / 2))
        for mix in platforms
    }
    day_texts = [(today - timedelta(days=n)).isoformat() for n in range(1, days + 1)]
    future_day = (today + timedelta(days=1)).isoformat()
    old_day = (today - timedelta(days=90)).isoformat()
    clock = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{utc_offset}" for s in range(86_400)]
    starts = _profile(rng)
    trips = {code: _trips(rng, trip) for code, trip in TRIPS.items()}
    tables = {mix.key: _weighted(list(mix.scenarios)) for mix in platforms}
    serial = Counter()
    rides = bytearray(len(accounts))  # metro rides of each account so far (mod 256)
    unknown = 0
    n_accounts, n_days, n_starts = len(accounts), len(day_texts), len(starts)
    random_, bits = rng.random, rng.getrandbits
    total = 0

    def good_row(mix: PlatformMix, code: str | None = None):
        """(record id, person, scenario, start text, end text, quantity, day, start s, seconds)."""
        serial[mix.key] += 1
        record_id = f"{prefix}{mix.pseudonym_prefix}{serial[mix.key]}"
        code = code or tables[mix.key][bits(10)]
        seconds, quantity = trips[code][bits(10)]
        account = random_() < mix.account_share
        if account and code == "metro" and n_accounts > 1:
            # A person rides the metro with one app (the ride-code app's riders are the even-numbered
            # accounts, the payment app's the odd ones: only the generated duplicates cross over), and never
            # on two trains at once: the k-th ride of an account is on day k % days, in the 2-hour window
            # WINDOWS[k // days], starting in its first 40 minutes (a ride takes 66 minutes at most).
            index = 2 * int(random_() * (n_accounts // 2)) + (mix is BIKE_PAY)
            person, k = accounts[index], rides[index]
            rides[index] = (k + 1) & 255
            day = day_texts[k % n_days]
            start = WINDOWS[(k // n_days) % len(WINDOWS)] * 3600 + int(random_() * 2400)
        else:
            if account:
                person = accounts[int(random_() * n_accounts)]
            else:
                person = f"{mix.pseudonym_prefix}-{int(random_() * pseudonyms[mix.key])}"
            start = starts[int(random_() * n_starts)]
            if start + seconds > 86_399:
                start = 86_399 - seconds
            day = day_texts[int(random_() * n_days)]
        start_text = day + clock[start]
        end_text = "" if TRIPS[code].instant else day + clock[start + seconds]
        return record_id, person, code, start_text, end_text, quantity, day, start, seconds

    def bad_row(writer: _Writer) -> tuple[list[str], str]:
        """The lines of one bad row (two for a repeated id: its first, accepted, then the repeat)."""
        nonlocal unknown
        mix = writer.mix
        kind = BAD_KINDS[int(random_() * len(BAD_KINDS))]
        if kind == "repeated" and (writer.current.rows + 1) % chunk_rows == 0:
            kind = "fields"  # the repeat would open the next chunk
        record_id, person, code, start, end, quantity, _day, _s, _secs = good_row(mix)
        if kind == "fields":
            return [f"{record_id},{person},{code},{start}\n"], kind
        if kind == "record_id":
            return [f",{person},{code},{start},{end},{quantity}\n"], kind
        if kind == "person":
            return [f"{record_id},,{code},{start},{end},{quantity}\n"], kind
        if kind == "scenario":
            other = "taxi" if random_() < 0.5 else mix.not_agreed
            return [f"{record_id},{person},{other},{start},{end},{quantity}\n"], kind
        if kind == "time":
            if random_() < 0.5 or not end:
                return [f"{record_id},{person},{code},{start[:19]},{end[:19]},{quantity}\n"], kind
            return [f"{record_id},{person},{code},{end},{start},{quantity}\n"], kind
        if kind in ("future", "too_old"):
            day = future_day if kind == "future" else old_day
            start, end = day + start[10:], (day + end[10:]) if end else ""
            return [f"{record_id},{person},{code},{start},{end},{quantity}\n"], kind
        if kind == "quantity":
            wrong = ("-2.5", "3.1415", "abc", "0")[int(random_() * 4)]
            return [f"{record_id},{person},{code},{start},{end},{wrong}\n"], kind
        if kind == "implausible":
            return [f"{record_id},{person},{code},{start},{end},{IMPLAUSIBLE[code]}\n"], kind
        if kind == "unknown_account":
            unknown += 1
            nobody = make_account_number(UNKNOWN_ACCOUNTS_FROM + unknown)
            return [f"{record_id},{nobody},{code},{start},{end},{quantity}\n"], kind
        # repeated: the first row is good; its id again with another ride is rejected
        first = f"{record_id},{person},{code},{start},{end},{quantity}\n"
        _id, person2, code2, start2, end2, quantity2, *_rest = good_row(mix)
        return [first, f"{record_id},{person2},{code2},{start2},{end2},{quantity2}\n"], kind

    ride_code, bike_pay = writers[RIDE_CODE.key], writers[BIKE_PAY.key]
    while total < records:
        writer = ride_code if random_() < first_share else bike_pay
        writer.room()
        batch = writer.current
        if random_() < bad_share:
            lines, kind = bad_row(writer)
            writer.lines += lines
            batch.rows += len(lines)
            batch.bad[kind] += 1
            total += len(lines)
        else:
            record_id, person, code, start, end, quantity, day, start_s, seconds = good_row(writer.mix)
            writer.lines.append(f"{record_id},{person},{code},{start},{end},{quantity}\n")
            batch.rows += 1
            batch.days.add(day)
            total += 1
            if (
                writer is ride_code
                and code == "metro"
                and person[:2] == "CA"
                and random_() < copy_chance
                and total < records
            ):
                # The payment app reports the same ride: its own record id, times off by up to 30 s.
                bike_pay.room()
                serial[BIKE_PAY.key] += 1
                shift = bits(6) - 30
                begin = max(0, min(86_399 - seconds, start_s + shift))
                copy = (
                    f"{prefix}{BIKE_PAY.pseudonym_prefix}{serial[BIKE_PAY.key]},{person},metro,"
                    f"{day}{clock[begin]},{day}{clock[begin + seconds]},{quantity}\n"
                )
                bike_pay.lines.append(copy)
                bike_pay.current.rows += 1
                bike_pay.current.duplicates += 1
                bike_pay.current.days.add(day)
                total += 1
                if len(bike_pay.lines) >= BLOCK_LINES:
                    bike_pay.flush()
                if bike_pay.current.rows >= batch_rows:
                    bike_pay.close()
        if len(writer.lines) >= BLOCK_LINES:
            writer.flush()
        if writer.handle is not None and writer.current.rows >= batch_rows:
            writer.close()
    for writer in writers.values():
        writer.close()
    return done
