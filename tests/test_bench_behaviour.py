"""bench/behaviour.py (`make bench-behaviour`) and its generator, bench/behaviour_data.py, at a tiny scale:
the batches are the gzip CSV the API takes, every bad row fails the registry's own check with the reason its
file's tally says, the cross-platform duplicates are the only overlapping rides of one account on two
platforms, and the report's memory summary and targets. No database, no timing asserted."""

import csv
import gzip
import itertools
from collections import Counter
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bench import behaviour
from bench import behaviour_data as data
from offsets.behaviour import batches, processing
from offsets.behaviour.accounts import make_account_number
from offsets.behaviour.reference import SCENARIOS

TODAY = date(2026, 11, 30)
ZONE = ZoneInfo("Asia/Shanghai")
ACCOUNTS = [make_account_number(n) for n in range(1, 201)]
CHUNK_ROWS = 500


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("behaviour")
    files = data.generate(
        folder,
        records=12_000,
        batch_rows=3_000,
        accounts=ACCOUNTS,
        today=TODAY,
        days=3,
        duplicate_share=0.02,
        bad_share=0.05,
        chunk_rows=CHUNK_ROWS,
    )
    return files, {f.batch_id: read(f.path) for f in files}


def read(path) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="ascii") as handle:
        lines = handle.read().splitlines()
    assert lines[0].encode() == batches.CSV_HEADER
    return list(csv.reader(lines[1:]))


def context(codes: list[str]) -> processing.Context:
    """What processing.check_row knows of a platform: its agreed scenarios with the reference factors."""
    scenarios = {}
    for n, (code, _zh, _en, _category, _unit, mg, largest, most) in enumerate(SCENARIOS, start=1):
        if code in codes:
            factor = SimpleNamespace(
                valid_from=date(2024, 9, 1),
                valid_until=None,
                milligrams_per_unit=mg,
                max_quantity_milli=largest * 1000,
                max_records_per_day=most,
            )
            scenarios[code] = (n, [factor])
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 0, tzinfo=ZONE)
    return processing.Context(
        platform_id=1, scenarios=scenarios, now=now, earliest=TODAY - timedelta(days=62), zone=ZONE
    )


def test_the_batches_are_gzip_csv_with_the_apis_header_the_rows_asked_for_and_both_platforms(generated):
    files, rows = generated

    assert {f.platform for f in files} == {"ridecode", "bikepay"}
    assert 12_000 <= sum(f.rows for f in files) <= 12_001
    assert all(len(rows[f.batch_id]) == f.rows for f in files)
    assert all(f.rows <= 3_001 for f in files)
    assert len({f.batch_id for f in files}) == len(files)
    assert all(batches.BATCH_ID.match(f.batch_id) for f in files)


def test_every_row_meets_the_registrys_checks_as_its_files_tally_says(generated):
    files, rows = generated
    checked_in_python = {"fields", "record_id", "person", "scenario", "time", "future", "too_old"}
    checked_in_python |= {"quantity", "implausible"}
    known = set(ACCOUNTS)

    for f in files:
        mix = next(m for m in data.PLATFORMS if m.key == f.platform)
        ctx = context(mix.codes)
        reasons, unknown, ids, days = Counter(), 0, Counter(), set()
        for fields in rows[f.batch_id]:
            reason, values = processing.check_row(fields, ctx)
            if reason is not None:
                reasons[reason.value] += 1
                continue
            ids[values[0]] += 1
            days.add(values[5])
            if values[1].startswith("CA") and values[1] not in known:
                unknown += 1

        assert reasons == Counter({k: v for k, v in f.bad.items() if k in checked_in_python})
        assert unknown == f.bad["unknown_account"]
        assert sum(n - 1 for n in ids.values()) == f.bad["repeated"]
        assert days <= {TODAY - timedelta(days=n) for n in (1, 2, 3)}
    assert all(sum(f.bad[k] for f in files) for k in data.BAD_KINDS), "every kind of bad row is made"


def test_a_repeated_record_id_follows_its_first_row_in_the_same_chunk(generated):
    files, rows = generated

    for f in files:
        first_seen = {}
        for index, fields in enumerate(rows[f.batch_id]):
            if len(fields) == 6 and fields[0] in first_seen:
                assert first_seen[fields[0]] == index - 1
                assert (index - 1) // CHUNK_ROWS == index // CHUNK_ROWS
            elif fields and fields[0]:
                first_seen[fields[0]] = index


def moments(fields: list[str]) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(fields[3])
    return start, datetime.fromisoformat(fields[4]) if fields[4] else start


def test_the_generated_duplicates_are_the_only_overlapping_metro_rides_of_an_account_on_two_platforms(
    generated,
):
    files, rows = generated
    tolerance = processing.OVERLAP_TOLERANCE
    ctx = {m.key: context(m.codes) for m in data.PLATFORMS}
    rides = {key: {} for key in ctx}  # platform -> account -> [(start, end)]
    for f in files:
        for fields in rows[f.batch_id]:
            reason, _values = processing.check_row(fields, ctx[f.platform])
            if reason is None and fields[2] == "metro" and fields[1] in ACCOUNTS:
                rides[f.platform].setdefault(fields[1], []).append(moments(fields))

    overlapping = 0
    for account, theirs in rides["bikepay"].items():
        for start, end in theirs:
            overlapping += any(
                s < end + tolerance and e > start - tolerance for s, e in rides["ridecode"].get(account, [])
            )

    assert overlapping == sum(f.duplicates for f in files) > 0
    for account, own in rides["ridecode"].items():  # one train at a time
        ordered = sorted(own)
        assert all(a[1] + 2 * tolerance < b[0] for a, b in itertools.pairwise(ordered)), account


def test_memory_that_peaks_higher_in_the_second_half_grows():
    flat = behaviour.summary(
        "celery pool", [(0, 100 * 1024), (1, 120 * 1024), (2, 110 * 1024), (3, 121 * 1024)], None
    )
    growing = behaviour.summary(
        "gunicorn worker", [(0, 100 * 1024), (1, 100 * 1024), (2, 140 * 1024)], 150 * 1024
    )

    assert flat["growth_percent"] == pytest.approx(0.8)
    assert flat["peak_mib"] == 121.0
    assert growing["growth_percent"] == pytest.approx(40.0)
    assert growing["hwm_mib"] == 150.0


def results_of(rate: int, hwm: float, p95: float) -> dict:
    memory = {"1": behaviour.summary("celery pool", [(0, 1024), (1, 1024)], 1024)}
    return {
        "ingestion": {
            "rows": 1_000,
            "rate": rate,
            "seconds": 1,
            "memory": memory,
            "memory_flat": True,
            "checked": {"as_generated": True},
        },
        "api": {"rows": 1_000, "hwm_mib": {"1": hwm, "2": 90.0}, "seconds": 1.0, "status": 202},
        "fill": {"stored": 5_000},
        "pages": {
            "account_query": {"p50_ms": p95 / 2, "p95_ms": p95, "n": 2},
            "public_pages": {"registry:home": {"skipped": "no URL"}},
        },
        "scaling": {"runs": [{"processes": 1, "rate": 100}, {"processes": 2, "rate": 180}], "ratio": 1.8},
    }


def test_targets_are_met_or_not_by_the_figures():
    met = {t["target"]: t["met"] for t in behaviour.targets(results_of(60_000, 150.0, 20.0))}
    missed = {t["target"]: t["met"] for t in behaviour.targets(results_of(40_000, 250.0, 120.0))}

    assert met["ingestion of 1,000 records end to end"] is True
    assert missed["ingestion of 1,000 records end to end"] is False
    api = "the API taking a 1,000-row batch: a gunicorn worker's peak RSS (VmHWM)"
    assert (met[api], missed[api]) == (True, False)
    query = "account query, 5,000 records stored"
    assert (met[query], missed[query]) == (True, False)
    assert met["throughput, 1 worker process → 2"] is None  # a ratio, no target
    assert not any("registry:home" in name for name in met)  # a skipped page has no figure


def test_the_results_file_is_named_after_the_run():
    assert (
        behaviour.results_path("20261130-101500", quick=True).name == "behaviour-20261130-101500-quick.json"
    )
    assert behaviour.results_path("20261130-101500", quick=False).name == "behaviour-20261130-101500.json"
