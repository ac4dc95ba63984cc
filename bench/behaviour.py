"""`make bench-behaviour`: residents' behaviour records at city scale (issue 14, "Benchmark").

The claims measured, on the project's 2-core machine with PostgreSQL: ingesting 10 million records end to
end at 50,000 records/s or more, the memory of every process flat; the API taking a 1-million-row batch
with the server's memory never above 200 MB; a person's account page and the public aggregates with 50
million records stored, p95 under 100 ms; and how the throughput grows from one worker process to two.

What it does, on a database of its own whose name must end in `_bench_behaviour`:

1. setup: drops and creates the database, migrates it; the scenarios (reference.ensure_scenarios), a
   registry administrator, two verified platform operators (a ride-code app reporting metro and bus, a
   bike and payment app reporting bicycle, metro and orders without tableware), their agreements
   (services.set_agreement) and API keys (services.issue_credential); then --accounts personal carbon
   accounts with their users, made with bulk_create (bench data: no audit event, no identity check; the
   numbers taken from the real counter, the identity numbers valid and stored hashed and masked as
   open_personal_account stores them);
2. generate: gzip CSV batches (bench/behaviour_data.py: the Wuhan-like mix, ~2 % cross-platform
   duplicates, ~1 % bad rows of every kind, dated on the last --days days), one set per step, kept in a
   temporary folder for the run;
3. scaling: the --scaling-records set uploaded through the API with no worker running, then one Celery
   worker (prefork, --concurrency 1, then 2: one worker node with that many pool processes) starts
   consuming (control.add_consumer, after it answered a ping): records/s from then to the last batch's
   `finished_at`, for 1 process and for --workers processes, and their ratio. The records and their
   totals are emptied (TRUNCATE) before each run, so both start alike (as a fresh deployment's first
   day: empty partitions, no statistics yet). A sampler reads pg_stat_activity every 50 ms: the share
   of the workers' busy time spent running statements, waiting for a day's advisory lock or for
   another transaction's row;
4. ingestion: after a TRUNCATE, the --records set uploaded through the HTTP API (PUT
   /api/behaviour/v1/batches/<id>, `Authorization: Bearer`, text/csv, Content-Encoding gzip) to gunicorn
   as in production (the Procfile's web line, 2 sync workers) by --uploaders client threads, while one
   Celery worker with --workers prefork processes processes the chunks: records/s from the first upload's
   start to the last batch's `finished_at` (polled in the database every 0.5 s; each batch's status is
   read through the API at the end); the RSS of every gunicorn and Celery process sampled every second,
   and its VmHWM (kernel peak) at the end; the rejected rows by reason against what was generated (the
   generator's tallies: every bad row, and one row of each cross-platform pair, exactly);
5. api: a fresh gunicorn, no worker: one --api-rows batch uploaded alone; its time, and each gunicorn
   worker's RSS before, sampled every 0.2 s during, and its VmHWM after. Its chunk tasks are then
   deleted from the queue (that batch stays `received`);
6. pages: the records table filled up to --stored records by INSERT … SELECT generate_series into the
   day partitions of the last 60 days, with their ScenarioDay rows (a fill, not an ingestion: it bypasses
   the checks; the days are all within the reporting window, so the records are the persons' daily totals,
   ADR 0021), then VACUUM ANALYZE; then, in-process, --repeat times each: a
   person's account query (services.person_days(account, 50), a different account each time) and the
   public aggregates over ScenarioDay for the last 30 days (by day and scenario, by platform); and the
   pages themselves, if their URL names (--account-url, --public-urls) exist: django.test.Client, no web
   server, the account page logged in as its owner, the public page with a unique `_=` each time.

A step that is not done within --timeout seconds is measured as it is (the rows of the batches done, to
that moment), its leftover chunk tasks are deleted from the queue, and the report names it a problem.
It prints each step and a Markdown table of the figures and the issue's targets, and writes the figures as
JSON to bench/results/behaviour-<date>-<time>.json (`-quick` added for --quick). Only 127.0.0.1 is
contacted. The database is kept after the run (recreated by the next one).

Run it with `make bench-behaviour` (BENCH_ARGS="--quick" for a small try: 200,000 records), or:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_behaviour \\
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python -m bench.behaviour [--quick] [--records N]
"""

import argparse
import http.client
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import django

from bench import behaviour_data as data
from bench.page_times import p95

BENCH_SUFFIX = "_bench_behaviour"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SETTINGS = "bench.settings_public"  # production-like (DEBUG off), the portal's URLs plus /bench/bare/
ADMIN_EMAIL = "bench-behaviour-admin@example.com"
API = "/api/behaviour/v1/batches/"
STEPS = ("scaling", "ingestion", "api", "pages")
FILL_DAYS = 60  # the stored records lie on the last 60 days, inside the 62-day reporting window
FILL_BATCH = 0  # the batch id of filled records (no batch has it)
POLL_SECONDS = 0.5
TARGET_RATE = 50_000
TARGET_WEB_MIB = 200
TARGET_P95_MS = 100
FLAT_PERCENT = 10


@dataclass(frozen=True)
class Size:
    records: int  # ingestion, end to end
    batch_rows: int
    scaling_records: int  # each of the 1-process and the n-process runs
    api_rows: int  # the one batch the API takes alone
    stored: int  # records stored for the pages
    accounts: int
    days: int  # the records lie on the last `days` days
    repeat: int  # timed calls per query or page


DEFAULT_SIZE = Size(
    records=10_000_000,
    batch_rows=1_000_000,
    scaling_records=2_000_000,
    api_rows=1_000_000,
    stored=50_000_000,
    accounts=500_000,
    days=3,
    repeat=200,
)
QUICK_SIZE = Size(
    records=200_000,
    batch_rows=50_000,
    scaling_records=100_000,
    api_rows=200_000,
    stored=1_000_000,
    accounts=20_000,
    days=2,
    repeat=200,
)


@dataclass
class World:
    admin: object
    platforms: dict  # key -> Organisation
    tokens: dict  # key -> bearer token
    accounts: list  # account numbers
    today: date
    utc_offset: str


# --- Setup ---------------------------------------------------------------------------------------------


def setup(size: Size) -> World:
    from django.core.management import call_command
    from django.utils import timezone

    from bench.registration import bureau_user, recreate_database
    from offsets.behaviour import services
    from offsets.behaviour.reference import ensure_scenarios
    from registry import roles

    db = bench_database()
    recreate_database(db)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"Migrated in {time.perf_counter() - started:.1f} s.", flush=True)
    admin = bureau_user(ADMIN_EMAIL, "Bench Behaviour Admin", roles.REGISTRY_ADMIN)
    scenarios = ensure_scenarios()
    today = timezone.localdate()
    platforms, tokens = {}, {}
    for n, mix in enumerate(data.PLATFORMS, start=1):
        platform = platform_operator(n, mix)
        services.set_agreement(
            platform,
            by=admin,
            threshold_g=5_000,
            scenarios=[scenarios[code] for code in mix.codes],
            agreed_on=today - timedelta(days=FILL_DAYS + 30),
        )
        _credential, token = services.issue_credential(platform, by=admin, label="bench-behaviour")
        platforms[mix.key], tokens[mix.key] = platform, token
    started = time.perf_counter()
    accounts = open_accounts(size.accounts)
    print(f"{len(accounts):,} personal accounts in {time.perf_counter() - started:.1f} s.", flush=True)
    offset = timezone.localtime().strftime("%z")
    return World(admin, platforms, tokens, accounts, today, f"{offset[:3]}:{offset[3:]}")


def bench_database() -> dict:
    from bench.common import bench_database as guarded

    return guarded(BENCH_SUFFIX)


def platform_operator(n: int, mix: data.PlatformMix):
    from django.utils import timezone

    from registry.identifiers import make_credit_code
    from registry.models import District, Organisation, OrganisationKind, OrganisationStatus

    return Organisation.objects.create(
        kind=OrganisationKind.PLATFORM_OPERATOR,
        name=mix.name_zh,
        name_en=mix.name_en,
        identifier=make_credit_code(f"91420100BH{n:07d}"),
        legal_representative="张三",
        address=f"武汉市江汉区数据路{n}号",
        district=District.JIANGHAN,
        contact_name="李四",
        contact_phone="027-12345678",
        contact_email=f"platform{n}@bench.example.com",
        status=OrganisationStatus.VERIFIED,
        verified_at=timezone.now(),
    )


def identity_of(n: int) -> str:
    """A valid resident identity number, distinct for each n < 20 million (birth day, then sequence)."""
    from registry.identifiers import make_identity_number

    born = date(1950, 1, 1) + timedelta(days=n // 1000)
    return make_identity_number(f"420102{born:%Y%m%d}{n % 1000:03d}")


def open_accounts(count: int, batch: int = 10_000) -> list[str]:
    """`count` users with a personal carbon account each, by bulk_create (no audit events, no checks): the
    numbers from the real counter (counters.take), so open_personal_account goes on after them."""
    from django.db import transaction

    from offsets.behaviour.accounts import identity_hash, make_account_number, mask_identity
    from offsets.behaviour.models import PersonalAccount
    from registry import counters
    from registry.models import User

    numbers = []
    with transaction.atomic():
        first = counters.take("personal_account", count)
    for start in range(0, count, batch):
        with transaction.atomic():
            users = User.objects.bulk_create(
                User(
                    email=f"resident{n}@bench.example.com",
                    full_name=f"居民{n}",
                    password="!bench",  # noqa: S106 (unusable: "!" first; no hashing for each of them)
                )
                for n in range(start, min(count, start + batch))
            )
            made = []
            for n, user in enumerate(users, start=start):
                identity = identity_of(n)
                made.append(
                    PersonalAccount(
                        number=make_account_number(first + n),
                        user=user,
                        identity_hash=identity_hash(identity),
                        identity_masked=mask_identity(identity),
                    )
                )
            PersonalAccount.objects.bulk_create(made)
            numbers += [account.number for account in made]
    return numbers


def truncate() -> None:
    """Empty the records and their totals (the batches stay: each run sends its own batch ids)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE behaviour_behaviourrecord, behaviour_personday, behaviour_scenarioday, "
            "behaviour_summedday, behaviour_rejectedrow"
        )


# --- Processes: gunicorn, the Celery worker, their memory ------------------------------------------------


def status_kib(pid: int, key: str) -> int | None:
    """A /proc/<pid>/status value in KiB (VmRSS, VmHWM), or None if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in path.read_text().split()]
        except OSError:
            continue
    return sorted(found)


class Memory(threading.Thread):
    """Every `every` seconds, the RSS of the processes each source names: {pid: (role, [(t, KiB)])}."""

    def __init__(self, sources: list[tuple[str, object]], every: float = 1.0):
        super().__init__(daemon=True)
        self.sources, self.every = sources, every
        self.samples: dict[int, tuple[str, list]] = {}
        self.halt = threading.Event()
        self.started = time.perf_counter()

    def sample(self) -> None:
        now = round(time.perf_counter() - self.started, 2)
        for role, pids in self.sources:
            for pid in pids():
                rss = status_kib(pid, "VmRSS")
                if rss is not None:
                    self.samples.setdefault(pid, (role, []))[1].append((now, rss))

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(self.every):
                return

    def stop(self) -> dict:
        """Stop sampling; each process's summary, with its VmHWM now (the kernel's peak RSS)."""
        self.halt.set()
        self.join(timeout=10)
        self.sample()
        return {
            str(pid): summary(role, series, status_kib(pid, "VmHWM"))
            for pid, (role, series) in self.samples.items()
        }


def summary(role: str, series: list[tuple[float, int]], hwm_kib: int | None) -> dict:
    """Peak RSS in the first and the second half of the samples: memory that grows peaks later."""
    values = [kib for _t, kib in series]
    half = max(1, len(values) // 2)
    first, second = max(values[:half]), max(values[half:] or values[:half])
    step = max(1, len(series) // 120)  # at most about 120 points each in the JSON
    return {
        "role": role,
        "samples": len(values),
        "first_mib": mib(values[0]),
        "peak_mib": mib(max(values)),
        "last_mib": mib(values[-1]),
        "peak_first_half_mib": mib(first),
        "peak_second_half_mib": mib(second),
        "growth_percent": round(100 * (second / first - 1), 1),
        "hwm_mib": mib(hwm_kib) if hwm_kib is not None else None,
        "series_mib": [[t, mib(kib)] for t, kib in series[::step]],
    }


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


class Web:
    """gunicorn from the Procfile's web line (bench/run.py), with this run's queue and files."""

    def __init__(self, workers: int):
        from bench import run

        self.server = run.ProductionServer(workers, run.web_env(shared_cache=True))
        self.server.wait_ready()
        self.port = self.server.port
        self.command = self.server.command[2:]

    def workers(self) -> list[int]:
        return self.server.workers()

    def served(self) -> Counter:
        """Requests per worker pid, from the access log."""
        from bench import run

        return run.AccessLog(self.server.log.name).read()[0]

    def problems(self) -> list[str]:
        log = self.server.output()
        return [
            line[:300]
            for line in log.splitlines()
            if "Traceback" in line or "[ERROR]" in line or "CRITICAL" in line
        ]

    def stop(self) -> None:
        self.server.stop()


def start_worker(queue: str, processes: int, log: Path, listen: str | None = None):
    """A Celery worker (bench/registration.py's Worker: prefork, `processes` pool processes) with this
    run's settings; it listens to `listen` (default: `queue`) and answered a ping."""
    from bench.registration import Worker
    from config.celery import app

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS}
    worker = Worker(queue=listen or queue, concurrency=processes, env=env, log=log)
    try:
        worker.wait_ready(app)
    except BaseException:
        worker.stop()
        raise
    return worker


class Activity(threading.Thread):
    """Every 50 ms, what the bench database's other connections are doing (pg_stat_activity), counted:
    where the workers' time goes (a statement, a day's advisory lock, Python inside a transaction)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: Counter = Counter()
        self.halt = threading.Event()

    @staticmethod
    def kind(state: str, wait_type: str | None, wait: str | None) -> str:
        if state == "active" and wait_type == "Lock":
            return "waiting for a day's lock" if wait == "advisory" else f"waiting for a lock ({wait})"
        if state == "active":
            return "running a statement"
        if state.startswith("idle in transaction"):
            return "in a transaction, Python running"
        return "idle"

    def run(self) -> None:
        import psycopg

        db = bench_database()
        with psycopg.connect(
            dbname=db["NAME"],
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            autocommit=True,
        ) as conn:
            while not self.halt.wait(0.05):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = %s "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state IS NOT NULL",
                    [db["NAME"]],
                ).fetchall()
                self.seen.update(self.kind(*row) for row in rows)

    def stop(self) -> dict:
        self.halt.set()
        self.join(timeout=10)
        busy = {k: n for k, n in self.seen.items() if k != "idle"}
        total = sum(busy.values())
        return {k: round(100 * n / total, 1) for k, n in sorted(busy.items())} if total else {}


def memory_sources(web: Web | None, worker) -> list:
    sources = []
    if web is not None:
        sources += [("gunicorn master", lambda: [web.server.process.pid]), ("gunicorn worker", web.workers)]
    if worker is not None:
        sources += [
            ("celery main", lambda: [worker.process.pid]),
            ("celery pool", lambda: children(worker.process.pid)),
        ]
    return sources


# --- Uploads and waiting ----------------------------------------------------------------------------------


def upload(port: int, token: str, batch_id: str, path: Path) -> dict:
    """PUT one gzip CSV file through the API, streamed from disk."""
    size = path.stat().st_size
    started, wall = time.perf_counter(), time.time()
    outcome = {"batch_id": batch_id, "bytes": size, "started": wall}
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900, blocksize=256 * 1024)
        with path.open("rb") as body:
            conn.request(
                "PUT",
                API + batch_id,
                body=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "text/csv",
                    "Content-Encoding": "gzip",
                    "Content-Length": str(size),
                },
            )
            response = conn.getresponse()
            answer = response.read()
        conn.close()
        outcome["status"] = response.status
        try:
            outcome["answer"] = json.loads(answer)
        except ValueError:
            outcome["answer"] = answer[:300].decode("utf-8", "replace")
    except OSError as error:
        outcome["status"], outcome["answer"] = None, repr(error)
    outcome["seconds"] = round(time.perf_counter() - started, 3)
    outcome["ended"] = time.time()
    return outcome


def send_all(port: int, world: World, files: list, *, suffix: str, uploaders: int):
    """Every file uploaded, `uploaders` at a time, in the order generated; returns the executor's futures
    (the batch id sent is the file's plus `suffix`)."""
    pool = ThreadPoolExecutor(max_workers=uploaders, thread_name_prefix="upload")
    futures = [
        pool.submit(upload, port, world.tokens[f.platform], f.batch_id + suffix, f.path) for f in files
    ]
    pool.shutdown(wait=False)
    return futures


def wait_done(futures, *, timeout: float, worker=None) -> tuple[list[dict], float | None]:
    """Until every upload has answered and every accepted batch is done (or failed), or `timeout` seconds;
    polls the database. Returns the uploads' outcomes, each with its batch's status, counts and
    `finished_at` (epoch s), and the moment it gave up waiting (None if all were done)."""
    from offsets.behaviour.models import Batch, BatchStatus

    deadline, gave_up = time.perf_counter() + timeout, None
    while True:
        if worker is not None:
            worker.check_alive()
        sent = [f.result() for f in futures if f.done()]
        ids = [u["batch_id"] for u in sent if u["status"] in (200, 202)]
        open_ = Batch.objects.filter(batch_id__in=ids).exclude(
            status__in=[BatchStatus.DONE, BatchStatus.FAILED]
        )
        if len(sent) == len(futures) and not open_.exists():
            break
        if time.perf_counter() > deadline:
            gave_up = time.time()
            print(f"  Not done within {timeout:.0f} s: {open_.count()} batches open; measured as they are.")
            break
        time.sleep(POLL_SECONDS)
    found = {b.batch_id: b for b in Batch.objects.filter(batch_id__in=[u["batch_id"] for u in sent])}
    for outcome in sent:
        batch = found.get(outcome["batch_id"])
        if batch is not None:
            outcome.update(
                pk=batch.pk,
                status_after=batch.status,
                rows=batch.rows,
                accepted=batch.accepted,
                rejected=batch.rejected,
                grams=batch.grams,
                finished_at=batch.finished_at.timestamp() if batch.finished_at else None,
            )
    return sent, gave_up


def measured(sent: list[dict], began: float, gave_up: float | None) -> tuple[float | None, int]:
    """Seconds from `began` to the last batch done (or to giving up), and the rows of the batches done."""
    rows = sum(u["rows"] for u in sent if u.get("status_after") == "done")
    last = gave_up or max((u["finished_at"] for u in sent if u.get("finished_at")), default=None)
    return (last - began if last else None), rows


def purge(queue: str) -> int:
    """Delete what is left in the queue (after a step that gave up waiting), and the tasks of a worker
    stopped in the middle of one that Redis would hand back to the queue after the visibility timeout
    (kombu's `unacked` hash, shared by the Redis database: only this queue's); returns how many."""
    from bench.registration import redis_client

    redis = redis_client(os.environ["REDIS_URL"])
    left = redis.llen(queue)
    redis.delete(queue)
    for tag, raw in redis.hscan_iter("unacked"):
        try:
            _message, _exchange, routing_key = json.loads(raw)
        except ValueError:
            continue
        if routing_key == queue:
            redis.hdel("unacked", tag)
            redis.zrem("unacked_index", tag)
            left += 1
    return left


def api_statuses(port: int, world: World, sent: list[dict], platform_of: dict) -> Counter:
    """Each batch's status as the API answers GET for it."""
    seen = Counter()
    for outcome in sent:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "GET",
            API + outcome["batch_id"],
            headers={"Authorization": f"Bearer {world.tokens[platform_of[outcome['batch_id']]]}"},
        )
        response = conn.getresponse()
        body = response.read()
        conn.close()
        seen[json.loads(body).get("status") if response.status == 200 else f"HTTP {response.status}"] += 1
    return seen


def checked(files: list, sent: list[dict]) -> dict:
    """The rows rejected by reason, against what the generator wrote."""
    from django.db.models import Count

    from offsets.behaviour.models import RejectedRow

    pks = [u["pk"] for u in sent if u.get("pk")]
    found = Counter(
        dict(RejectedRow.objects.filter(batch__in=pks).values_list("reason").annotate(n=Count("pk")))
    )
    expected = Counter()
    for f in files:
        expected.update(f.bad)
    duplicates = sum(f.duplicates for f in files)
    rows = {
        reason: {"expected": expected[reason], "found": found[reason]}
        for reason in data.BAD_KINDS
        if reason != "repeated"
    }
    rows["repeated (in the batch or an earlier chunk)"] = {
        "expected": expected["repeated"],
        "found": found["repeated"] + found["duplicate"],
    }
    rows["other_platform (generated duplicates)"] = {"expected": duplicates, "found": found["other_platform"]}
    rows["too_many"] = {"expected": 0, "found": found["too_many"]}
    others = set(found) - set(data.BAD_KINDS) - {"duplicate", "other_platform", "too_many"}
    for reason in sorted(others):
        rows[reason] = {"expected": 0, "found": found[reason]}
    if not sent or any(u.get("status_after") != "done" for u in sent):
        return {"by_reason": rows, "as_generated": None}  # not comparable: some batches are not done
    # One row of each generated pair (bench/behaviour_data.py: no other rides of an account overlap).
    exact = all(v["expected"] == v["found"] for v in rows.values())
    return {"by_reason": rows, "as_generated": exact}


def totals(sent: list[dict]) -> dict:
    done = [u for u in sent if u.get("pk")]
    return {
        "batches": len(sent),
        "batches_done": sum(u.get("status_after") == "done" for u in sent),
        "rows": sum(u["rows"] for u in done),
        "rows_done": sum(u["rows"] for u in done if u.get("status_after") == "done"),
        "accepted": sum(u["accepted"] for u in done),
        "rejected": sum(u["rejected"] for u in done),
        "grams": sum(u["grams"] for u in done),
        "upload_failures": [
            {"batch_id": u["batch_id"], "status": u["status"], "answer": str(u["answer"])[:200]}
            for u in sent
            if u["status"] not in (200, 202)
        ],
    }


# --- The steps --------------------------------------------------------------------------------------------


def scaling(
    world: World, files: list, *, processes: list[int], web_workers: int, uploaders: int, ctx: dict
) -> dict:
    """The same batches processed by 1 and by n worker processes, uploaded first with no worker running."""
    from bench.registration import cpu_seconds, machine_cpu, scan_log
    from config.celery import app

    runs = []
    rows = sum(f.rows for f in files)
    for n in processes:
        truncate()
        suffix = f"-w{n}"
        web = Web(web_workers)
        try:
            started = time.perf_counter()
            futures = send_all(web.port, world, files, suffix=suffix, uploaders=uploaders)
            uploaded = [f.result() for f in futures]
            upload_s = time.perf_counter() - started
            web_problems = web.problems()
        finally:
            web.stop()
        print(
            f"  scaling, {n} process(es): {rows:,} rows uploaded in {upload_s:.1f} s; processing…", flush=True
        )
        log = ctx["files"] / f"worker-scaling-{n}.log"
        worker = start_worker(ctx["queue"], n, log, listen=f"{ctx['queue']}-idle")
        try:
            memory, activity = Memory(memory_sources(None, worker)), Activity()
            memory.start()
            activity.start()
            cpu_before, machine_before = cpu_seconds(worker.process.pid), machine_cpu()
            load_before = os.getloadavg()[0]
            began = time.time()
            app.control.add_consumer(ctx["queue"], destination=[worker.hostname], reply=True, timeout=10)
            futures = [_Done(u) for u in uploaded]
            sent, gave_up = wait_done(futures, timeout=ctx["timeout"], worker=worker)
            cpu = cpu_seconds(worker.process.pid) - cpu_before
            machine_after = machine_cpu()
            memory_summary, connections = memory.stop(), activity.stop()
        finally:
            worker.stop()
            left = purge(ctx["queue"])
        seconds, rows_done = measured(sent, began, gave_up)
        busy = machine_after[0] - machine_before[0]
        total = machine_after[1] - machine_before[1]
        run_totals = totals(sent)
        runs.append(
            {
                "processes": n,
                "rows": rows_done,
                "gave_up": gave_up is not None,
                "tasks_left": left,
                "connections_percent": connections,
                "upload_seconds": round(upload_s, 1),
                "seconds": round(seconds, 1) if seconds else None,
                "rate": round(rows_done / seconds) if seconds else None,
                "worker_cpu_s": round(cpu, 1),
                "machine_busy_percent": round(100 * busy / total) if total else None,
                "load_before": round(load_before, 1),
                "totals": run_totals,
                "checked": checked(files, sent),
                "memory": memory_summary,
                "worker_errors": scan_log(log, 0)[:10],
                "web_problems": web_problems[:10],
            }
        )
        print(
            f"  scaling, {n} process(es): {rows_done:,} rows in {seconds or float('nan'):.1f} s = "
            f"{runs[-1]['rate'] or 0:,} records/s (worker CPU {cpu:.0f} s).",
            flush=True,
        )
    rates = [r["rate"] for r in runs]
    ratio = round(rates[-1] / rates[0], 2) if len(rates) > 1 and all(rates) else None
    return {"runs": runs, "ratio": ratio}


class _Done:
    """A finished upload in the shape of a future (wait_done reads .done() and .result())."""

    def __init__(self, outcome: dict):
        self.outcome = outcome

    def done(self) -> bool:
        return True

    def result(self) -> dict:
        return self.outcome


def ingestion(
    world: World, files: list, *, processes: int, web_workers: int, uploaders: int, ctx: dict
) -> dict:
    """End to end: uploads through the API while the worker processes; memory sampled every second."""
    from bench.registration import cpu_seconds, machine_cpu, scan_log

    truncate()
    log = ctx["files"] / "worker-ingestion.log"
    web = Web(web_workers)
    worker = None
    try:
        worker = start_worker(ctx["queue"], processes, log)
        memory, activity = Memory(memory_sources(web, worker)), Activity()
        memory.start()
        activity.start()
        cpu_before, machine_before = cpu_seconds(worker.process.pid), machine_cpu()
        web_cpu_before = sum(cpu_seconds(pid) for pid in web.workers())
        load_before = os.getloadavg()[0]
        began = time.time()
        futures = send_all(web.port, world, files, suffix="", uploaders=uploaders)
        sent, gave_up = wait_done(futures, timeout=ctx["timeout"], worker=worker)
        machine_after = machine_cpu()
        cpu = cpu_seconds(worker.process.pid) - cpu_before
        web_cpu = sum(cpu_seconds(pid) for pid in web.workers()) - web_cpu_before
        memory_summary, connections = memory.stop(), activity.stop()
        load_after = os.getloadavg()[0]
        statuses = api_statuses(web.port, world, sent, {f.batch_id: f.platform for f in files})
        served = web.served()
        web_problems = web.problems()
    finally:
        if worker is not None:
            worker.stop()
        web.stop()
        left = purge(ctx["queue"])
    seconds, rows_done = measured(sent, began, gave_up)
    uploads_end = max(u["ended"] for u in sent) - began
    upload_times = sorted(u["seconds"] for u in sent)
    run_totals = totals(sent)
    busy = machine_after[0] - machine_before[0]
    total = machine_after[1] - machine_before[1]
    return {
        "rows": rows_done,
        "gave_up": gave_up is not None,
        "tasks_left": left,
        "connections_percent": connections,
        "seconds": round(seconds, 1) if seconds else None,
        "rate": round(rows_done / seconds) if seconds else None,
        "accepted_rate": round(run_totals["accepted"] / seconds) if seconds else None,
        "uploads_finished_s": round(uploads_end, 1),
        "upload_seconds": {
            "median": round(statistics.median(upload_times), 1),
            "max": round(upload_times[-1], 1),
        },
        "worker_cpu_s": round(cpu, 1),
        "web_cpu_s": round(web_cpu, 1),
        "machine_busy_percent": round(100 * busy / total) if total else None,
        "load": [round(load_before, 1), round(load_after, 1)],
        "statuses_by_api": dict(statuses),
        "requests_per_web_worker": {str(k): v for k, v in served.items()},
        "totals": run_totals,
        "checked": checked(files, sent),
        "memory": memory_summary,
        "memory_flat": all(m["growth_percent"] <= FLAT_PERCENT for m in memory_summary.values()),
        "timeline": [
            {
                "batch_id": u["batch_id"],
                "upload_s": [round(u["started"] - began, 1), round(u["ended"] - began, 1)],
                "done_s": round(u["finished_at"] - began, 1) if u.get("finished_at") else None,
            }
            for u in sent
        ],
        "worker_errors": scan_log(log, 0)[:10],
        "web_problems": web_problems[:10],
    }


def day_sums() -> dict:
    """The persons' daily totals' second half (ADR 0021): each ingested day's records summed into PersonDay,
    as the beat does once a day is closed to reports; in this process, timed, then rolled back (summed, the
    recent days would be closed to the next steps' records)."""
    from django.db import connection, transaction

    from offsets.behaviour import totals as person_totals
    from offsets.behaviour.models import PersonDay

    class Undo(Exception):
        pass

    with connection.cursor() as cursor:
        cursor.execute("SELECT day, SUM(records) FROM behaviour_scenarioday GROUP BY day ORDER BY day")
        days = cursor.fetchall()
    found = {}
    started = time.perf_counter()
    try:
        with transaction.atomic():
            for day, _records in days:
                person_totals.sum_day(day)
            found["seconds"] = time.perf_counter() - started
            found["person_days"] = PersonDay.objects.count()
            raise Undo
    except Undo:
        pass
    records = sum(int(n) for _day, n in days)
    return {
        "days": len(days),
        "records": records,
        "person_days": found["person_days"],
        "seconds": round(found["seconds"], 1),
        "us_per_record": round(found["seconds"] / records * 1e6, 2) if records else None,
    }


def api_alone(world: World, batch, *, web_workers: int, ctx: dict) -> dict:
    """One big batch uploaded to a fresh gunicorn with no worker running; each web worker's memory."""
    web = Web(web_workers)
    try:
        before = {str(pid): mib(status_kib(pid, "VmRSS") or 0) for pid in web.workers()}
        memory = Memory(memory_sources(web, None), every=0.2)
        memory.start()
        outcome = upload(web.port, world.tokens[batch.platform], batch.batch_id, batch.path)
        memory_summary = memory.stop()
        served = web.served()
        web_problems = web.problems()
    finally:
        web.stop()
    queued = purge(ctx["queue"])  # its chunk tasks: not processed (the batch stays `received`)
    workers = {pid: m for pid, m in memory_summary.items() if m["role"] == "gunicorn worker"}
    return {
        "rows": batch.rows,
        "bytes": batch.size,
        "status": outcome["status"],
        "answer": outcome["answer"] if outcome["status"] not in (200, 202) else None,
        "seconds": outcome["seconds"],
        "rows_per_s": round(batch.rows / outcome["seconds"]) if outcome["seconds"] else None,
        "mib_per_s": round(batch.size / 2**20 / outcome["seconds"], 1) if outcome["seconds"] else None,
        "rss_before_mib": before,
        "peak_rss_mib": {pid: m["peak_mib"] for pid, m in workers.items()},
        "hwm_mib": {pid: m["hwm_mib"] for pid, m in workers.items()},
        "requests_per_web_worker": {str(k): v for k, v in served.items()},
        "chunk_tasks_deleted": queued,
        "memory": memory_summary,
        "web_problems": web_problems[:10],
    }


# --- The stored records and the pages ---------------------------------------------------------------------

FILL_RECORDS = """
INSERT INTO {table} (day, platform_id, record_id, batch_id, account_id, person, scenario_id, started_at,
    ended_at, quantity_milli, grams)
SELECT %(day)s, s.platform_id, 'F' || g, {batch}, a.id,
       COALESCE('A' || a.number, 'P' || s.platform_id || '-' || (g * 7 + %(salt)s) %% %(pseudonyms)s),
       s.scenario_id, t.at, t.at + s.minutes * interval '1 minute', q.milli, q.milli * s.mg / 1000000
FROM generate_series(1, %(rows)s::bigint) AS g
JOIN (VALUES {slots}) AS s (slot, platform_id, scenario_id, mg, max_milli, minutes) ON s.slot = g %% 16
LEFT JOIN behaviour_personalaccount a
       ON g %% 100 < %(account_percent)s AND a.id = %(first_account)s + (g * 7919 + %(salt)s) %% %(accounts)s
CROSS JOIN LATERAL (SELECT %(midnight)s + ((g * 104729) %% 57600 + 21600) * interval '1 second' AS at) AS t
CROSS JOIN LATERAL (SELECT LEAST(s.max_milli, 500 + (g * 31) %% 20000) AS milli) AS q
"""
FILL_SCENARIO_DAYS = """
INSERT INTO behaviour_scenarioday (day, platform_id, scenario_id, records, grams)
SELECT day, platform_id, scenario_id, COUNT(*), SUM(grams)
FROM {table} WHERE batch_id = {batch} GROUP BY day, platform_id, scenario_id
ON CONFLICT (day, platform_id, scenario_id) DO UPDATE
SET records = behaviour_scenarioday.records + excluded.records,
    grams = behaviour_scenarioday.grams + excluded.grams
"""


def fill_slots(world: World) -> str:
    """16 (platform, scenario) slots in the shares of a Wuhan day (each slot half a million records)."""
    from offsets.behaviour.models import ScenarioFactor

    factors = {f.scenario.code: f for f in ScenarioFactor.objects.select_related("scenario")}
    slots = []
    for mix in data.PLATFORMS:
        for code, share in mix.scenarios:
            trip = data.TRIPS[code]
            minutes = (
                0
                if trip.instant
                else round((trip.low + trip.high) / 2 / trip.speed_kmh * 60 + trip.fixed_minutes)
            )
            factor = factors[code]
            slots += [
                (
                    world.platforms[mix.key].pk,
                    factor.scenario_id,
                    factor.milligrams_per_unit,
                    factor.max_quantity_milli,
                    minutes,
                )
            ] * round(share * 2)
    assert len(slots) == 16, len(slots)
    return ", ".join(f"({i}, {p}, {s}, {mg}, {most}, {m})" for i, (p, s, mg, most, m) in enumerate(slots))


def fill_stored(world: World, target: int) -> dict:
    """Records up to `target` in the day partitions of the last FILL_DAYS days, with their public totals:
    a fill by SQL (INSERT … SELECT generate_series), not an ingestion: no checks, no de-duplication."""
    from django.db import connection, transaction
    from django.utils import timezone

    from offsets.behaviour import partitions
    from offsets.behaviour.models import PersonalAccount

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM behaviour_behaviourrecord")
        held = cursor.fetchone()[0]
    missing = target - held
    if missing <= 0:
        return {"held": held, "filled": 0, "stored": held, "seconds": 0}
    days = [world.today - timedelta(days=n) for n in range(1, FILL_DAYS + 1)]
    partitions.ensure(days)
    slots = fill_slots(world)
    ids = PersonalAccount.objects.order_by("pk").values_list("pk", flat=True)
    first, count = ids.first(), ids.count()
    started = time.perf_counter()
    for i, day in enumerate(days):
        rows = missing // len(days) + (1 if i < missing % len(days) else 0)
        table = partitions.name_of(day)
        params = {
            "day": day,
            "rows": rows,
            "salt": i * 104_729,
            "pseudonyms": max(1_000, rows // 2),
            "account_percent": 35,
            "first_account": first,
            "accounts": count,
            "midnight": timezone.make_aware(datetime.combine(day, datetime.min.time())),
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(FILL_RECORDS.format(table=table, batch=FILL_BATCH, slots=slots), params)
            cursor.execute(FILL_SCENARIO_DAYS.format(table=table, batch=FILL_BATCH))
        if (i + 1) % 10 == 0:
            print(
                f"    filled {i + 1} of {len(days)} days ({time.perf_counter() - started:.0f} s)", flush=True
            )
    filled_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) behaviour_personday, behaviour_scenarioday")
        cursor.execute("ANALYZE behaviour_behaviourrecord")
        cursor.execute("SELECT COUNT(*) FROM behaviour_behaviourrecord")
        stored = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM behaviour_personday")
        person_days = cursor.fetchone()[0]
    return {
        "held": held,
        "filled": missing,
        "stored": stored,
        "person_day_rows": person_days,
        "seconds": round(filled_s, 1),
        "with_vacuum_s": round(time.perf_counter() - started, 1),
    }


def timings(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(p95(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def public_aggregates(today: date) -> tuple[list, list]:
    """What the public aggregates show: the last 30 days by day and scenario, and by platform."""
    from django.db.models import Sum

    from offsets.behaviour.models import ScenarioDay

    recent = ScenarioDay.objects.filter(day__gte=today - timedelta(days=30))
    by_day = list(
        recent.values("day", "scenario__code")
        .annotate(records=Sum("records"), grams=Sum("grams"))
        .order_by("day", "scenario__code")
    )
    by_platform = list(
        recent.values("platform__name")
        .annotate(records=Sum("records"), grams=Sum("grams"))
        .order_by("platform__name")
    )
    return by_day, by_platform


def url_of(name: str, *args) -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def pages(world: World, *, repeat: int, account_url: str, public_urls: list[str]) -> dict:
    """The account query and the public aggregates, in-process, `repeat` times each; the pages too if
    their URL names exist."""
    from django.db import connection

    from offsets.behaviour import services
    from offsets.behaviour.models import PersonalAccount

    rng = random.Random(5)
    ids = list(PersonalAccount.objects.values_list("pk", flat=True))
    chosen = rng.sample(ids, min(repeat, len(ids)))
    accounts = list(PersonalAccount.objects.filter(pk__in=chosen).select_related("user"))
    rng.shuffle(accounts)
    for account in accounts[:3]:  # warm-up
        services.person_days(account, 50)
    account_ms, rows_shown = [], []
    for i in range(repeat):
        account = accounts[i % len(accounts)]
        started = time.perf_counter()
        rows = services.person_days(account, 50)
        account_ms.append((time.perf_counter() - started) * 1000)
        rows_shown.append(len(rows))
    public_aggregates(world.today)
    public_ms = []
    for _ in range(repeat):
        started = time.perf_counter()
        by_day, by_platform = public_aggregates(world.today)
        public_ms.append((time.perf_counter() - started) * 1000)
    with connection.cursor() as cursor:
        params = services.account_days_params(accounts[0], 50)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + services.ACCOUNT_DAYS, params)
        plan = [row[0] for row in cursor.fetchall()]
    out = {
        "account_query": {
            **timings(account_ms),
            "what": "services.person_days(account, 50), a different account each time",
            "rows_median": statistics.median(rows_shown),
            "plan": plan,
        },
        "public_query": {
            **timings(public_ms),
            "what": "ScenarioDay, last 30 days: by day and scenario, and by platform",
            "rows": [len(by_day), len(by_platform)],
        },
    }
    out["account_page"] = account_page(accounts, repeat=repeat, name=account_url)
    out["public_pages"] = {name: public_page(name, repeat=repeat) for name in public_urls}
    return out


def client():
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", headers={"accept-language": "zh-hans"})


def account_page(accounts: list, *, repeat: int, name: str) -> dict:
    """The owner's account page (its URL takes the account number), 10 requests each for repeat / 10
    accounts, after 3 warm-ups."""
    if url_of(name, accounts[0].number) is None:
        return {"skipped": f"no URL named {name!r} taking an account number: the query is measured instead"}
    logging.getLogger("axes").setLevel(logging.ERROR)  # a line for each force_login otherwise
    browser, samples, statuses = client(), [], Counter()
    for i in range(repeat + 3):
        account = accounts[(i // 10) % len(accounts)]
        if i % 10 == 0:
            browser.force_login(account.user)
        path = url_of(name, account.number)
        started = time.perf_counter()
        response = browser.get(path)
        if i >= 3:
            samples.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1
    return {**timings(samples), "url": path, "statuses": dict(statuses)}


def public_page(name: str, *, repeat: int) -> dict:
    """An anonymous visitor's page, each request with its own `_=` (no cached copy answers), after 3
    warm-ups."""
    path = url_of(name)
    if path is None:
        return {"skipped": f"no URL named {name!r}: the query is measured instead"}
    browser, samples, statuses = client(), [], Counter()
    nonce = time.time_ns()
    for i in range(repeat + 3):
        started = time.perf_counter()
        response = browser.get(f"{path}{'&' if '?' in path else '?'}_={nonce}-{i}")
        if i >= 3:
            samples.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1
    return {**timings(samples), "url": path, "statuses": dict(statuses)}


# --- The report --------------------------------------------------------------------------------------------


def targets(results: dict) -> list[dict]:
    found = []

    def check(name: str, wanted: str, measured: str, met: bool | None) -> None:
        found.append({"target": name, "wanted": wanted, "measured": measured, "met": met})

    a = results.get("ingestion")
    if a:
        check(
            f"ingestion of {a['rows']:,} records end to end",
            f"≥ {TARGET_RATE:,} records/s",
            f"{a['rate'] or 0:,} records/s ({a['seconds']} s)",
            bool(a["rate"]) and a["rate"] >= TARGET_RATE,
        )
        if "rate_with_sums" in a:
            check(
                "the same, with the ingested days then summed into the persons' daily totals (ADR 0021)",
                f"≥ {TARGET_RATE:,} records/s",
                f"{a['rate_with_sums']:,} records/s ({a['seconds']} s + {a['day_sums']['seconds']} s)",
                a["rate_with_sums"] >= TARGET_RATE,
            )
        growth = [m["growth_percent"] for m in a["memory"].values()]
        check(
            "memory of every process during the ingestion",
            f"flat (second half's peak within {FLAT_PERCENT} % of the first's)",
            f"largest growth {max(growth):+.1f} % over {len(growth)} processes" if growth else "—",
            a["memory_flat"] if growth else None,
        )
        check(
            "ingestion: rejections as generated",
            "every check's reason counted as written",
            {True: "yes", False: "no (see the table)", None: "not every batch done"}[
                a["checked"]["as_generated"]
            ],
            a["checked"]["as_generated"],
        )
    b = results.get("api")
    if b:
        peak = max([v for v in b["hwm_mib"].values() if v is not None] or [0])
        check(
            f"the API taking a {b['rows']:,}-row batch: a gunicorn worker's peak RSS (VmHWM)",
            f"≤ {TARGET_WEB_MIB} MB",
            f"{peak:.0f} MiB; upload {b['seconds']:.1f} s, HTTP {b['status']}",
            peak <= TARGET_WEB_MIB and b["status"] in (200, 202),
        )
    stored = (results.get("fill") or {}).get("stored") or 0
    for name, row in timed_rows(results.get("pages") or {}):
        if "p95_ms" in row:
            check(
                f"{name}, {stored:,} records stored",
                f"p95 < {TARGET_P95_MS} ms",
                f"{row['p95_ms']:.1f} ms (p50 {row['p50_ms']:.1f})",
                row["p95_ms"] < TARGET_P95_MS,
            )
    c = results.get("scaling")
    if c and c.get("ratio") is not None:
        rates = " → ".join(f"{r['rate']:,}" for r in c["runs"])
        check(
            "throughput, 1 worker process → " + str(c["runs"][-1]["processes"]),
            "the ratio (no target; 2 is linear)",
            f"{rates} records/s: × {c['ratio']}",
            None,
        )
    return found


def timed_rows(pages: dict) -> list[tuple[str, dict]]:
    """(name, timings) of the pages step: the queries, the account page, each public page."""
    rows = [
        (key.replace("_", " "), pages.get(key)) for key in ("account_query", "public_query", "account_page")
    ]
    rows += [(f"public page {name}", row) for name, row in (pages.get("public_pages") or {}).items()]
    return [(name, row) for name, row in rows if row]


def markdown(results: dict) -> str:
    from bench.registration import table

    dirty = " (uncommitted changes)" if results["dirty"] else ""
    options = results["options"]
    parts = [
        f"Run {results['date']} at {results['commit'] or '?'}{dirty}: "
        f"`{results['command']}`; {results['machine']}.",
        f"Size: {', '.join(f'{k} {v:,}' for k, v in results['size'].items())}; Celery: one worker, "
        f"prefork, {options['workers']} pool processes (concurrency); gunicorn: the Procfile's web line, "
        f"{options['web_workers']} sync workers; {options['uploaders']} upload threads; "
        f"chunks of {results['chunk_rows']:,} rows.",
    ]
    c = results.get("scaling")
    if c:
        parts.append(
            "Scaling (uploaded first, then processed; records/s from the worker's start to the last "
            "batch done):\n\n"
            + table(
                [
                    "processes",
                    "rows",
                    "s",
                    "records/s",
                    "worker CPU s",
                    "machine busy",
                    "rejections as generated",
                ],
                [
                    [
                        r["processes"],
                        f"{r['rows']:,}",
                        r["seconds"],
                        f"{r['rate'] or 0:,}",
                        r["worker_cpu_s"],
                        f"{r['machine_busy_percent']} %",
                        {True: "yes", False: "**no**", None: "not all done"}[r["checked"]["as_generated"]],
                    ]
                    for r in c["runs"]
                ],
            )
            + (f"\n\nRatio: × {c['ratio']}." if c.get("ratio") else "")
            + "\n\nThe worker processes' connections, when not idle (pg_stat_activity every 50 ms): "
            + "; ".join(
                f"{r['processes']} process(es): "
                + ", ".join(f"{k} {v} %" for k, v in r["connections_percent"].items())
                for r in c["runs"]
            )
            + "."
        )
    a = results.get("ingestion")
    if a:
        t = a["totals"]
        parts.append(
            f"Ingestion, end to end: {a['rows']:,} rows done (of {t['rows']:,} sent in {t['batches']} "
            f"batches), {a['seconds']} s "
            f"from the first upload to the last batch done = **{a['rate'] or 0:,} records/s** "
            f"({a['accepted_rate'] or 0:,} accepted/s; {t['accepted']:,} accepted, {t['rejected']:,} "
            f"rejected); uploads finished at {a['uploads_finished_s']} s (median "
            f"{a['upload_seconds']['median']} s, longest {a['upload_seconds']['max']} s each); worker CPU "
            f"{a['worker_cpu_s']} s, web workers' CPU {a['web_cpu_s']} s; machine busy "
            f"{a['machine_busy_percent']} %, load {a['load'][0]} → {a['load'][1]}; statuses read through "
            f"the API: {a['statuses_by_api']}. The database connections of gunicorn and the worker, when not "
            "idle (pg_stat_activity every 50 ms): "
            + ", ".join(f"{k} {v} %" for k, v in a["connections_percent"].items())
            + "."
        )
        parts.append(memory_table(a["memory"]))
        parts.append(
            "Rejected rows by reason (ingestion):\n\n"
            + table(
                ["reason", "generated", "rejected"],
                [[k, f"{v['expected']:,}", f"{v['found']:,}"] for k, v in a["checked"]["by_reason"].items()],
            )
        )
    b = results.get("api")
    if b:
        parts.append(
            f"API alone: one {b['rows']:,}-row batch ({b['bytes'] / 2**20:.1f} MiB gzip) in "
            f"{b['seconds']:.1f} s (HTTP {b['status']}; {b['rows_per_s'] or 0:,} rows/s, {b['mib_per_s']} "
            f"MiB/s); gunicorn workers' RSS before {b['rss_before_mib']} MiB, sampled peak "
            f"{b['peak_rss_mib']} MiB, VmHWM {b['hwm_mib']} MiB; requests per worker "
            f"{b['requests_per_web_worker']}; {b['chunk_tasks_deleted']} chunk tasks deleted unprocessed."
        )
    fill = results.get("fill")
    if fill:
        parts.append(
            f"Fill (SQL, not an ingestion): {fill['filled']:,} records added to {fill['held']:,} held, "
            f"{fill['stored']:,} stored, {fill.get('person_day_rows', 0):,} PersonDay rows; "
            f"{fill['seconds']} s ({fill.get('with_vacuum_s', 0)} s with VACUUM ANALYZE)."
        )
    d = results.get("pages")
    if d:
        rows = []
        for key, row in timed_rows(d):
            if "p95_ms" in row:
                rows.append(
                    [
                        key,
                        row.get("what") or f"`{row['url']}` {row['statuses']}",
                        row["n"],
                        row["p50_ms"],
                        row["p95_ms"],
                        row["max_ms"],
                    ]
                )
            elif row:
                rows.append([key, row["skipped"], "—", "—", "—", "—"])
        parts.append(
            "In-process timings:\n\n" + table(["what", "how", "n", "p50 ms", "p95 ms", "max ms"], rows)
        )
    found = results.get("targets") or []
    if found:
        from bench.run import targets_table

        parts.append(targets_table(found))
    if results.get("problems"):
        parts.append("**Problems**:\n\n" + "\n".join(f"- {line}" for line in results["problems"]))
    parts.append(
        "Steps (s): "
        + ", ".join(f"{k} {v:.0f}" for k, v in results["steps"].items())
        + f"; total {results['total_seconds']:.0f} s."
    )
    return "\n\n".join(parts) + "\n"


def memory_table(memory: dict) -> str:
    from bench.registration import table

    return "Memory during the ingestion (RSS sampled every second; VmHWM: the kernel's peak):\n\n" + table(
        [
            "process",
            "pid",
            "samples",
            "first MiB",
            "peak 1st half",
            "peak 2nd half",
            "growth",
            "last MiB",
            "VmHWM MiB",
        ],
        [
            [
                m["role"],
                pid,
                m["samples"],
                m["first_mib"],
                m["peak_first_half_mib"],
                m["peak_second_half_mib"],
                f"{m['growth_percent']:+.1f} %",
                m["last_mib"],
                m["hwm_mib"] if m["hwm_mib"] is not None else "—",
            ]
            for pid, m in sorted(memory.items(), key=lambda item: (item[1]["role"], item[0]))
        ],
    )


def problems(results: dict) -> list[str]:
    found = []
    for name in ("ingestion", "api"):
        step = results.get(name) or {}
        found += [f"{name}: gunicorn: {line}" for line in step.get("web_problems", [])]
        found += [f"{name}: worker: {line}" for line in step.get("worker_errors", [])]
        for failure in (step.get("totals") or {}).get("upload_failures", []):
            found.append(
                f"{name}: upload {failure['batch_id']} answered {failure['status']}: {failure['answer']}"
            )
    for run in (results.get("scaling") or {}).get("runs", []):
        found += [f"scaling ({run['processes']}): worker: {line}" for line in run["worker_errors"]]
        found += [f"scaling ({run['processes']}): gunicorn: {line}" for line in run["web_problems"]]
        for failure in run["totals"]["upload_failures"]:
            found.append(
                f"scaling: upload {failure['batch_id']} answered {failure['status']}: {failure['answer']}"
            )
    for run in [results.get("ingestion") or {}, *(results.get("scaling") or {}).get("runs", [])]:
        if run.get("gave_up"):
            found.append(
                f"gave up waiting after --timeout: {run['rows']:,} rows in the batches done, "
                f"{run['tasks_left']} chunk tasks deleted from the queue; the rate counts those rows only"
            )
    a = results.get("ingestion") or {}
    if a and a["totals"]["batches_done"] != a["totals"]["batches"]:
        found.append(f"ingestion: {a['totals']['batches_done']} of {a['totals']['batches']} batches done")
    return found


def results_path(stamp: str, quick: bool) -> Path:
    return RESULTS / f"behaviour-{stamp}{'-quick' if quick else ''}.json"


# --- Main ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small try: 200,000 records, 1 million stored")
    for name, what in (
        ("records", "records ingested end to end (10,000,000)"),
        ("batch-rows", "rows per batch (1,000,000)"),
        ("scaling-records", "records of each scaling run (2,000,000)"),
        ("api-rows", "rows of the batch the API takes alone (1,000,000)"),
        ("stored", "records stored for the pages (50,000,000)"),
        ("accounts", "personal carbon accounts (500,000)"),
        ("days", "days the records lie on, before today (3)"),
        ("repeat", "timed calls per query or page (200)"),
    ):
        parser.add_argument(f"--{name}", type=int, help=what)
    parser.add_argument("--workers", type=int, default=2, help="Celery pool processes, one worker node (2)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers, WEB_CONCURRENCY (2)")
    parser.add_argument("--uploaders", type=int, default=2, help="client threads uploading at once (2)")
    parser.add_argument(
        "--account-url", default="behaviour:account", help="the account page's URL name (behaviour:account)"
    )
    parser.add_argument(
        "--public-urls",
        nargs="*",
        default=["behaviour:public_totals", "registry:home"],
        help="URL names of the public pages with the aggregates (behaviour:public_totals registry:home)",
    )
    parser.add_argument("--skip", nargs="*", choices=STEPS, default=[], help="steps left out")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for processing (3600)")
    args = parser.parse_args(argv)
    base = QUICK_SIZE if args.quick else DEFAULT_SIZE
    size = replace(base, **{k: v for k, v in ((f, getattr(args, f)) for f in asdict(base)) if v is not None})
    extra = sys.argv[1:] if argv is None else argv

    run_started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-behaviour-"))
    queue = f"bench-behaviour-{os.getpid()}"
    # Read by this process, gunicorn and the worker alike: the uploaded files and chunks, the tasks' queue.
    os.environ["PRIVATE_FILES_ROOT"] = str(work / "files")
    os.environ["CELERY_QUEUE"] = queue
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    django.setup()  # sets the process's TZ to TIME_ZONE: the times below are local
    stamp = time.strftime("%Y%m%d-%H%M%S")
    from django.conf import settings

    from bench import load, run
    from bench.registration import machine_facts, redis_client

    bench_database()
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit(
            "Refusing to run: set REDIS_URL (e.g. redis://127.0.0.1:6379/13); tasks go to a real worker."
        )
    settings.DEBUG = False
    timer = load.Timer(lambda line: print(line, flush=True))
    ctx = {"files": work, "queue": queue, "timeout": args.timeout}
    results: dict = {
        "issue": 14,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": run.git("rev-parse", "--short", "HEAD"),
        "dirty": bool(run.git("status", "--porcelain")),
        "command": "make bench-behaviour" + (f" BENCH_ARGS='{' '.join(extra)}'" if extra else ""),
        "size": asdict(size),
        "options": {
            "quick": args.quick,
            "workers": args.workers,
            "web_workers": args.web_workers,
            "uploaders": args.uploaders,
            "skip": args.skip,
        },
        "chunk_rows": settings.BEHAVIOUR_CHUNK_ROWS,
    }
    print(f"make bench-behaviour: {settings.DATABASES['default']['NAME']}, {size}.", flush=True)
    try:
        with timer("setup"):
            world = setup(size)
        results["machine"] = machine_facts()
        common = {
            "accounts": world.accounts,
            "today": world.today,
            "utc_offset": world.utc_offset,
            "days": size.days,
            "batch_rows": size.batch_rows,
            "chunk_rows": settings.BEHAVIOUR_CHUNK_ROWS,
        }
        sets = {}
        with timer("generate"):
            if "scaling" not in args.skip:
                sets["scaling"] = data.generate(
                    work / "scaling", records=size.scaling_records, prefix="s", seed=1, **common
                )
            if "ingestion" not in args.skip:
                sets["ingestion"] = data.generate(
                    work / "ingestion", records=size.records, prefix="a", seed=2, **common
                )
            if "api" not in args.skip:
                sets["api"] = data.generate(
                    work / "api",
                    records=size.api_rows,
                    prefix="p",
                    seed=3,
                    platforms=(data.RIDE_CODE,),
                    **{**common, "batch_rows": size.api_rows},
                )
        results["generated"] = {
            name: {
                "files": len(files),
                "rows": sum(f.rows for f in files),
                "mib": round(sum(f.size for f in files) / 2**20, 1),
                "bad": sum(sum(f.bad.values()) for f in files),
                "duplicates": sum(f.duplicates for f in files),
            }
            for name, files in sets.items()
        }
        print(f"  generated: {results['generated']}", flush=True)
        if "scaling" in sets:
            counts = sorted({1, args.workers})
            with timer("scaling"):
                results["scaling"] = scaling(
                    world,
                    sets["scaling"],
                    processes=counts,
                    web_workers=args.web_workers,
                    uploaders=args.uploaders,
                    ctx=ctx,
                )
        if "ingestion" in sets:
            with timer("ingestion"):
                results["ingestion"] = ingestion(
                    world,
                    sets["ingestion"],
                    processes=args.workers,
                    web_workers=args.web_workers,
                    uploaders=args.uploaders,
                    ctx=ctx,
                )
            a = results["ingestion"]
            print(
                f"  ingestion: {a['rows']:,} rows in {a['seconds']} s = {a['rate'] or 0:,} records/s.",
                flush=True,
            )
            with timer("the ingested days summed (rolled back)"):
                a["day_sums"] = sums = day_sums()
            if a["seconds"]:
                a["rate_with_sums"] = round(a["rows"] / (a["seconds"] + sums["seconds"]))
            print(
                f"  days summed: {sums['records']:,} records into {sums['person_days']:,} persons' "
                f"daily totals in {sums['seconds']} s; with the ingestion "
                f"{a.get('rate_with_sums', 0):,} records/s.",
                flush=True,
            )
        if "api" in sets:
            with timer("api"):
                results["api"] = api_alone(world, sets["api"][0], web_workers=args.web_workers, ctx=ctx)
            b = results["api"]
            print(f"  api: {b['rows']:,} rows in {b['seconds']:.1f} s, VmHWM {b['hwm_mib']} MiB.", flush=True)
        if "pages" not in args.skip:
            with timer("fill (SQL, not an ingestion)"):
                results["fill"] = fill_stored(world, size.stored)
            with timer("pages"):
                results["pages"] = pages(
                    world, repeat=size.repeat, account_url=args.account_url, public_urls=args.public_urls
                )
    except BaseException:
        failed = True
        raise
    else:
        failed = False
    finally:
        purge(queue)
        redis = redis_client(settings.REDIS_URL)
        for key in redis.scan_iter(match=f"*{queue}*"):
            redis.delete(key)
        if failed:  # the batches and files go; the workers' logs stay
            for folder in ("scaling", "ingestion", "api", "files"):
                shutil.rmtree(work / folder, ignore_errors=True)
            print(f"\nThe workers' logs are kept in {work}.", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["steps"] = {name: round(seconds, 1) for name, seconds in timer.times}
    results["total_seconds"] = round(time.perf_counter() - run_started, 1)
    results["targets"] = targets(results)
    results["problems"] = problems(results)
    RESULTS.mkdir(exist_ok=True)
    path = results_path(stamp, args.quick)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str) + "\n")
    print("\n" + markdown(results))
    print(f"Results: {path.relative_to(ROOT)}.")


if __name__ == "__main__":
    main()
