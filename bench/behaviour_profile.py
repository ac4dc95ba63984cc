"""Where a behaviour chunk's time goes: chunks processed in this process, statement by statement.

`make bench-behaviour` measures the whole path (API, broker, worker processes); this looks inside one
chunk. It makes its database (the name must end in `_bench_behaviour`) as `make bench-behaviour` does
(bench.behaviour.setup, --accounts personal accounts), writes --records rows with the benchmark's generator
(bench/behaviour_data.py, on the last 3 days), receives them with `batches.receive` (no task is sent), then
calls `processing.process_chunk` for each chunk in turn and prints: the wall time and this process's CPU
time per row (the rest of the wall time is PostgreSQL's), then each SQL statement's time (Django's
execute wrapper; COPY is inside `_load`) and the Python steps `_prepare` (read and check the rows, the
accounts' query) and `_load` (the temporary table's rows and COPY), per row. The rejections by reason are
printed too, so two versions of the code can be shown to decide alike. Run it twice in turn with the code
before and after a change: the machine's speed varies from one run to the next.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_profile_bench_behaviour \\
        .venv/bin/python -m bench.behaviour_profile [--records 400000] [--accounts 100000]
"""

import argparse
import gc
import os
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import django

STEPS = ("_prepare", "_load")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400_000, help="rows generated and processed (400,000)")
    parser.add_argument("--accounts", type=int, default=100_000, help="personal carbon accounts (100,000)")
    parser.add_argument("--top", type=int, default=12, help="lines of the table (12)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from bench import behaviour, behaviour_data
    from offsets.behaviour import batches, processing
    from offsets.behaviour.models import BatchChunk, RejectedRow

    behaviour.bench_database()
    settings.DEBUG = False
    size = replace(behaviour.QUICK_SIZE, accounts=args.accounts, days=3)
    world = behaviour.setup(size)
    folder = Path(tempfile.mkdtemp(prefix="behaviour-profile-"))
    files = behaviour_data.generate(
        folder, records=args.records, batch_rows=200_000, accounts=world.accounts, today=timezone.localdate()
    )
    batches._send = lambda chunk_ids: None  # the chunks are processed below, in this process
    chunk_ids, batch_ids = [], []
    for f in files:
        with f.path.open("rb") as body:
            batch, _new = batches.receive(
                platform=world.platforms[f.platform], batch_id=f.batch_id, stream=body, fmt="csv"
            )
        batch_ids.append(batch.pk)
        chunk_ids += BatchChunk.objects.filter(batch=batch).order_by("number").values_list("pk", flat=True)
    rows = sum(f.rows for f in files)

    seconds, calls = Counter(), Counter()

    def timed(key: str, call, *a, **kw):
        started = time.perf_counter()
        try:
            return call(*a, **kw)
        finally:
            seconds[key] += time.perf_counter() - started
            calls[key] += 1

    def timed_statement(execute, sql, params, many, context):
        return timed(" ".join(sql.split())[:72], execute, sql, params, many, context)

    for name in STEPS:
        step = getattr(processing, name)
        setattr(
            processing, name, lambda *a, _step=step, _key=f"Python {name}", **kw: timed(_key, _step, *a, **kw)
        )
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timed_statement):
        for pk in chunk_ids:
            processing.process_chunk(pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    reasons = Counter(RejectedRow.objects.filter(batch__in=batch_ids).values_list("reason", flat=True))
    print(f"Rejected by reason: {dict(sorted(reasons.items()))}")
    print(
        f"{len(chunk_ids)} chunks, {rows:,} rows: {rows / wall:,.0f} rows/s in one process; per row "
        f"{wall / rows * 1e6:.1f} µs wall, {cpu / rows * 1e6:.1f} µs of this process's CPU."
    )
    print("| µs a row | s | calls | statement or step |\n|---:|---:|---:|---|")
    for key, spent in seconds.most_common(args.top):
        print(f"| {spent / rows * 1e6:.1f} | {spent:.2f} | {calls[key]} | `{key}` |")


if __name__ == "__main__":
    main()
