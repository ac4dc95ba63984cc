"""A small world of residents' behaviour for the tests: scenarios, two platforms with agreements, residents
with personal accounts, and a way to send batches as a platform would."""

import gzip
import io
import json
from datetime import date, datetime, timedelta

from django.db import connection
from django.utils import timezone

from offsets.behaviour import batches, services, totals
from offsets.behaviour.reference import ensure_scenarios
from registry.models import OrganisationKind
from tests.factories import identity_number, make_bureau, make_organisation, make_user

HEADER = "record_id,person,scenario,started_at,ended_at,quantity"


def make_platform(threshold_g: int = 5_000, codes=("metro", "bus", "bicycle", "no_tableware"), **fields):
    scenarios = ensure_scenarios()
    platform = make_organisation(kind=OrganisationKind.PLATFORM_OPERATOR, **fields)
    services.set_agreement(
        platform,
        by=make_bureau("registry_admin"),
        threshold_g=threshold_g,
        scenarios=[scenarios[c] for c in codes],
        agreed_on=date(2024, 10, 1),
    )
    return platform


def make_resident(n: int | None = None):
    user = make_user(full_name="王小明")
    return services.open_personal_account(user, identity_number=identity_number(n))


def recent(days_ago: int = 1, hour: int = 8, minute: int = 0) -> datetime:
    """A moment `days_ago` days before today, local time."""
    today = timezone.localdate()
    day = today - timedelta(days=days_ago)
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def row(record_id, person, scenario="metro", start=None, minutes=30, quantity="10.5"):
    start = start or recent()
    end = start + timedelta(minutes=minutes) if minutes is not None else None
    return [record_id, person, scenario, start.isoformat(), end.isoformat() if end else "", quantity]


def person_days(**where) -> list[dict]:
    """The persons' daily totals as every reader sees them (totals.py: summed days and records alike), with
    columns equal to `where`'s values (platform, scenario, person, account: objects or ids; day)."""
    ids = {key: getattr(value, "pk", value) for key, value in where.items()}
    columns = {"platform": "platform_id", "scenario": "scenario_id", "account": "account_id"}
    condition = " AND ".join(f"{columns.get(key, key)} = %({key})s" for key in ids) or "1 = 1"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({totals.person_days_sql(condition)}) d ORDER BY day, platform_id, person",  # noqa: S608
            {**ids, "summed": totals.summed_through()},
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def person_day(**where) -> dict:
    """The one daily total with those values (as QuerySet.get)."""
    found = person_days(**where)
    assert len(found) == 1, found
    return found[0]


def gz_csv(rows, header: str = HEADER) -> bytes:
    lines = [header] + [",".join(str(v) for v in r) for r in rows]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def gz_jsonl(rows) -> bytes:
    keys = HEADER.split(",")
    lines = [json.dumps(dict(zip(keys, r, strict=True))) for r in rows]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def send(platform, batch_id, rows, *, fmt="csv", body=None):
    """Receive a batch as the API does, and process it (the chunk tasks run eagerly after commit)."""
    body = body if body is not None else (gz_csv(rows) if fmt == "csv" else gz_jsonl(rows))
    return batches.receive(platform=platform, batch_id=batch_id, stream=io.BytesIO(body), fmt=fmt)
