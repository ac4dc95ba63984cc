"""Benchmark of voluntary retirements (offsets.retirements.retire_voluntarily) on PostgreSQL.

The claim measured (issue 12): at least 50 retirements a second on one contended account, and at least
200 a second across 100 accounts, on the project's 2-core machine; verify_ledger passes afterwards.

What it does, on a database of its own whose name must end in `_bench_ret`:

1. drops the database if it exists, creates it and migrates it (a clean state every run);
2. fills it: a registry administrator and an approver, 100 verified enterprises with one declarant each,
   100 filed projects and one approved declaration of 100,000 t each (bulk_create, as bench/registration
   does), then a phase taken through the real services and registered (register_phase): each
   enterprise's account holds one block of 100,000 t;
3. starts a real Celery worker (prefork, 1 process) on a queue of its own that runs the signed checkpoint
   each retirement asks for after its commit (registry.tasks.take_checkpoint), as production's worker
   does: it takes the audit chain's head lock that every retirement takes too. The other tasks a
   retirement sends (its certificate's PDF, the notifications) go to a second queue that no worker reads
   during the run: they cost a worker's time, not the request's; they are counted and deleted at the end,
   and one certificate PDF is made and timed in-process to size the workers they need;
4. runs the scenarios, each --warmup seconds (not counted) then --seconds: one client on one account (the
   latency of one retirement alone); --clients clients on one account (contended: the account's lock
   serialises them); --clients clients over 100 accounts (client i retires from accounts i, i + clients,
   ... in turn). A client is a process of its own (forked, as a web server's worker processes are) with
   its own database connection, calling retire_voluntarily for 1 t in a loop. (Until 2026-11-30 the
   clients were threads of one process: one GIL capped every scenario at one core of Python.) A sampler
   thread reads pg_stat_activity every 50 ms and says what the clients' connections were doing: running
   a statement, waiting for a row lock (and on which table), idle in a transaction (Python running
   between statements) or idle between calls; the clients' CPU time per retirement is reported;
5. runs verify_ledger and verify_audit, checks that the retirements in the database are those counted,
   stops the worker (also on error) and prints Markdown tables (nothing is written to the repository).

Run it with `make bench-retirements`, or:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_ret \\
    REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python -m bench.retirements [--clients 8] [--seconds 20]
"""

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import django

from bench.common import bench_methodology
from bench.registration import (
    FIRST_MONTH,
    StatementLog,
    Worker,
    bureau_user,
    closed_phase,
    machine_cpu,
    machine_facts,
    recreate_database,
    redis_client,
    table,
    verify_ledger,
)

BENCH_SUFFIX = "_bench_ret"
ACCOUNTS = 100
TONNES = 100_000  # each account's one block: more than any run retires
# Every 50 ms: each sample costs the machine about 0.5 ms of CPU (the query and pg_stat_activity's snapshot);
# at every 10 ms the sampler took 2.4 % of the two cores the clients share.
SAMPLE_SECONDS = 0.05
TARGETS = {"one account": 50, "100 accounts": 200}
# What a client's connection waits for, by the table named in the statement it waits in.
LOCKED_TABLES = {
    "registry_counter": "the reference counter's row",
    "registry_auditchainhead": "the audit chain's head row",
    "offsets_account": "the account's row",
    "offsets_serialblock": "a block's row",
}


# --- Database, data -------------------------------------------------------------------------------


def bench_database() -> dict:
    from bench.common import bench_database as guarded

    return guarded(BENCH_SUFFIX)


def fill():
    """Organisations with a declarant each, projects and approved declarations; returns the bureau users."""
    from django.db import transaction
    from django.utils import timezone

    from projects.models import Declaration, Project, Stage
    from registry import roles
    from registry.identifiers import make_credit_code
    from registry.models import (
        District,
        Membership,
        Organisation,
        OrganisationKind,
        OrganisationStatus,
        OrgRole,
        User,
    )

    print(f"Filling {ACCOUNTS} organisations with {TONNES:,} t each…", flush=True)
    started = time.perf_counter()
    rng = random.Random(42)
    now = timezone.now()
    with transaction.atomic():
        registrar = bureau_user("bench-registrar@example.com", "Bench Registrar", roles.REGISTRY_ADMIN)
        approver = bureau_user("bench-approver@example.com", "Bench Approver", roles.APPROVER)
        organisations = Organisation.objects.bulk_create(
            Organisation(
                kind=OrganisationKind.ENTERPRISE,
                name=f"注销基准企业{n}有限公司",
                name_en=f"Retirement Bench {n} Co., Ltd.",
                identifier=make_credit_code(f"91420100RT{n:07d}"),
                legal_representative="张三",
                address=f"武汉市江岸区基准路{n}号",
                district=rng.choice(District.values),
                contact_name="李四",
                contact_phone="027-12345678",
                contact_email=f"ret{n}@example.com",
                status=OrganisationStatus.VERIFIED,
                verified_at=now,
            )
            for n in range(1, ACCOUNTS + 1)
        )
        users = []
        for n in range(1, ACCOUNTS + 1):
            user = User(email=f"bench-ret{n}@example.com", full_name=f"Bench Declarant {n}")
            user.set_unusable_password()
            users.append(user)
        users = User.objects.bulk_create(users)
        Membership.objects.bulk_create(
            Membership(user=user, organisation=organisation, role=OrgRole.DECLARANT)
            for user, organisation in zip(users, organisations, strict=True)
        )
        methodology = bench_methodology()
        projects = Project.objects.bulk_create(
            Project(
                organisation=organisation,
                methodology=methodology,
                code=f"WH-PV-{i:04d}",
                title=f"屋顶分布式光伏项目 {i}",
                site_address=f"武汉市基准路{i}号",
                district=organisation.district,
                crediting_start=FIRST_MONTH,
                crediting_end=FIRST_MONTH.replace(year=FIRST_MONTH.year + 9),
                not_registered_elsewhere=True,
                outside_covered_boundary=True,
                stage=Stage.APPROVED,
                submitted_at=now - timedelta(days=400),
                decided_at=now - timedelta(days=370),
                filed_at=now - timedelta(days=370),
                created_by=registrar,
            )
            for i, organisation in enumerate(organisations, start=1)
        )
        Declaration.objects.bulk_create(
            Declaration(
                project=project,
                period_start=FIRST_MONTH,
                period_end=FIRST_MONTH.replace(month=12, day=31),
                vintage=FIRST_MONTH.year,
                stage=Stage.APPROVED,
                submitted_at=now - timedelta(days=90),
                decided_at=now - timedelta(days=60),
                claimed_t=TONNES,
                verified_t=TONNES,
                created_by=registrar,
            )
            for project in projects
        )
    print(f"Filled in {time.perf_counter() - started:.1f} s.", flush=True)
    return registrar, approver


def register(registrar, approver) -> list:
    """The phase through the real services, registered; the accounts with their declarant, by number."""
    from offsets import issuing
    from offsets.models import Account
    from registry.models import Membership

    phase = closed_phase(registrar, approver)
    started = time.perf_counter()
    issuing.register_phase(phase, by=approver)
    print(f"register_phase: {time.perf_counter() - started:.1f} s.", flush=True)
    declarants = {m.organisation_id: m.user for m in Membership.objects.select_related("user")}
    accounts = list(Account.objects.select_related("organisation").order_by("number"))
    assert len(accounts) == ACCOUNTS, f"{len(accounts)} accounts"
    return [(account, declarants[account.organisation_id]) for account in accounts]


# --- The clients and the sampler ------------------------------------------------------------------


@dataclass
class Run:
    name: str
    clients: int
    accounts: int
    seconds: float = 0.0
    made: int = 0
    refused: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    machine_busy: float = 0.0
    waits: Counter = field(default_factory=Counter)
    samples: int = 0
    statements: StatementLog | None = None

    @property
    def rate(self) -> float:
        return self.made / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def classify(state: str, wait_type: str | None, query: str) -> str:
    if state == "idle":
        return "idle between calls"
    if state == "idle in transaction":
        return "in a transaction, Python running"
    if wait_type == "Lock":
        for name, label in LOCKED_TABLES.items():
            if name in query:
                return f"waiting for {label}"
        return "waiting for another lock"
    if query.startswith("COMMIT"):
        return "committing"
    return "running a statement"


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS, what each client connection is doing (pg_stat_activity), until stopped."""

    def __init__(self, db: dict, pids: set[int], run: Run):
        super().__init__(daemon=True)
        self.db, self.pids, self.run_ = db, pids, run
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(
            dbname=self.db["NAME"],
            host=self.db.get("HOST") or None,
            port=self.db.get("PORT") or None,
            user=self.db.get("USER") or None,
            password=self.db.get("PASSWORD") or None,
            autocommit=True,
        ) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT pid, state, wait_event_type, query FROM pg_stat_activity WHERE pid = ANY(%s)",
                    [list(self.pids)],
                ).fetchall()
                for _pid, state, wait_type, query in rows:
                    self.run_.waits[classify(state or "", wait_type, query or "")] += 1
                self.run_.samples += len(rows)
                time.sleep(SAMPLE_SECONDS)


class WindowLog(StatementLog):
    """The statements sent inside the measured window [until[1], until[0]), counted and timed by kind."""

    def __init__(self, until: list[float]):
        super().__init__()
        self.until = until

    def __call__(self, execute, sql, params, many, context):
        if not self.until[1] <= time.perf_counter() < self.until[0]:
            return execute(sql, params, many, context)
        return super().__call__(execute, sql, params, many, context)


def client(index: int, work: list, start, until, results) -> None:
    """A client process: retire 1 t at a time from the accounts in `work`, in turn, until until[0];
    counted after until[1]. Puts its backend's pid on `results` before the start, then its outcome.
    A negative index also counts the statements sent in the measured window (the one-client run)."""
    import contextlib

    from django.db import connection

    from offsets import retirements
    from offsets.models import BeneficiaryKind
    from registry.services import TransitionRefused

    log = WindowLog(until) if index < 0 else None
    made, refused, latencies = 0, Counter(), []
    try:
        connection.ensure_connection()
        results.put(("pid", connection.connection.info.backend_pid))
        start.wait(timeout=60)
        cpu_before = cpu_after = None
        n = 0
        with connection.execute_wrapper(log) if log else contextlib.nullcontext():
            while True:
                began = time.perf_counter()
                if began >= until[0]:
                    break
                if cpu_before is None and began >= until[1]:
                    cpu_before = time.process_time()
                account, declarant = work[n % len(work)]
                n += 1
                try:
                    retirements.retire_voluntarily(
                        account,
                        by=declarant,
                        quantity=1,
                        beneficiary_kind=BeneficiaryKind.EVENT,
                        beneficiary="基准测试活动",
                        purpose=f"Benchmark, client {index}",
                    )
                    outcome = None
                except TransitionRefused as refusal:
                    outcome = type(refusal).__name__
                ended = time.perf_counter()
                if began >= until[1] and ended <= until[0]:
                    cpu_after = time.process_time()
                    if outcome:
                        refused[outcome] += 1
                    else:
                        made += 1
                        latencies.append((ended - began) * 1000)
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else 0.0
        results.put(("done", made, refused, latencies, cpu, log.kinds if log else None))
    except BaseException as error:  # reported, never a silent hang of the parent
        results.put(("error", repr(error)))
        raise
    finally:
        connection.close()


def scenario(
    name: str, work: list[list], *, db: dict, warmup: float, seconds: float, statements: bool = False
) -> Run:
    """len(work) client processes, each on its own list of (account, declarant), as a web server's
    worker processes are; retirements completed inside the measured window are counted (and, with
    `statements`, the SQL statements sent in it)."""
    import multiprocessing

    from django.db import connections

    context = multiprocessing.get_context("fork")
    run = Run(name=name, clients=len(work), accounts=len({a.pk for w in work for a, _u in w}))
    start = context.Barrier(len(work) + 1)
    until = context.Array("d", [0.0, 0.0], lock=False)
    results = context.Queue()
    connections.close_all()  # each client opens its own after the fork
    # Set before the barrier opens; the margin covers the processes' start.
    until[1] = time.perf_counter() + warmup + 0.5 + 0.05 * len(work)
    until[0] = until[1] + seconds
    processes = [
        context.Process(target=client, args=(-1 if statements else i, w, start, until, results), daemon=True)
        for i, w in enumerate(work)
    ]
    for process in processes:
        process.start()
    pids: set[int] = set()
    while len(pids) < len(work):
        message = results.get(timeout=60)
        if message[0] == "error":
            raise RuntimeError(f"a client failed: {message[1]}")
        pids.add(message[1])
    start.wait(timeout=60)
    sampler = Sampler(db, pids, run)
    time.sleep(max(0.0, until[1] - time.perf_counter()))
    machine_before = machine_cpu()
    sampler.start()
    time.sleep(max(0.0, until[0] - time.perf_counter()))
    sampler.stop.set()
    machine_after = machine_cpu()
    for _ in processes:
        message = results.get(timeout=120)
        if message[0] == "error":
            raise RuntimeError(f"a client failed: {message[1]}")
        _done, made, refused, latencies, cpu, kinds = message
        run.made += made
        run.refused.update(refused)
        run.latencies_ms.extend(latencies)
        run.cpu_seconds += cpu
        if kinds is not None:
            run.statements = StatementLog()
            run.statements.kinds = kinds
    for process in processes:
        process.join(timeout=30)
    sampler.join(timeout=10)
    run.seconds = seconds
    busy, total = machine_after[0] - machine_before[0], machine_after[1] - machine_before[1]
    run.machine_busy = busy / total if total else 0.0
    print(
        f"{name}: {run.made:,} retirements in {seconds:.0f} s = {run.rate:.1f}/s; p50 "
        f"{run.percentile(0.5):.1f} ms, p95 {run.percentile(0.95):.1f} ms.",
        flush=True,
    )
    return run


# --- After ----------------------------------------------------------------------------------------


def verify_audit() -> tuple[str, float]:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("verify_audit", stdout=out)
        outcome = out.getvalue().strip().splitlines()[-1] if out.getvalue().strip() else "ok"
    except CommandError as error:
        outcome = f"FAILED: {error}"
    return outcome, (time.perf_counter() - started) * 1000


def time_one_certificate() -> float:
    """ms to make one retirement certificate's PDF in this process (a worker's job after each)."""
    from offsets import documents
    from offsets.models import Certificate

    certificate = Certificate.objects.filter(retirement__isnull=False, file="").order_by("pk").first()
    started = time.perf_counter()
    documents.make_certificate(certificate.pk)
    return (time.perf_counter() - started) * 1000


# --- Main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="client threads in the contended runs (8)")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per scenario (20)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before measuring (3)")
    args = parser.parse_args(argv)

    files_root = Path(tempfile.mkdtemp(prefix="bench-retirements-"))
    os.environ["PRIVATE_FILES_ROOT"] = str(files_root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from config.celery import app

    db = bench_database()
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit(
            "Refusing to run: set REDIS_URL (e.g. redis://127.0.0.1:6379/12); tasks must not run eagerly."
        )
    checkpoint_queue = f"bench-retirements-{os.getpid()}-checkpoints"
    other_queue = f"bench-retirements-{os.getpid()}-others"
    # This process's tasks: checkpoints to the worker, the rest to a queue nobody reads during the run.
    app.conf.task_default_queue = other_queue
    app.conf.task_routes = {"registry.tasks.take_checkpoint": {"queue": checkpoint_queue}}
    redis = redis_client(settings.REDIS_URL)

    recreate_database(db)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"Migrated in {time.perf_counter() - started:.1f} s.", flush=True)
    settings.DEBUG = False  # no query log in this process
    registrar, approver = fill()
    holders = register(registrar, approver)

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PRIVATE_FILES_ROOT": str(files_root)}
    log = files_root / "worker.log"
    worker = Worker(queue=checkpoint_queue, concurrency=1, env=env, log=log)
    runs: list[Run] = []
    try:
        print(f"Worker answered a ping after {worker.wait_ready(app):.1f} s.", flush=True)
        measure = {"db": db, "warmup": args.warmup, "seconds": args.seconds}
        runs.append(scenario("1 client, one account", [holders[:1]], statements=True, **measure))
        runs.append(scenario("one account", [holders[:1] for _ in range(args.clients)], **measure))
        runs.append(
            scenario(
                "100 accounts",
                [holders[i :: args.clients] for i in range(args.clients)],
                **measure,
            )
        )
        started = time.perf_counter()
        while redis.llen(checkpoint_queue) and time.perf_counter() - started < 300:
            time.sleep(0.5)
        worker.wait_idle(app, redis, condition=lambda: True, timeout=300)
    finally:
        worker.stop()

    from offsets.models import Retirement
    from registry.models import Checkpoint

    others_queued = redis.llen(other_queue)
    for key in list(redis.scan_iter(match=f"*bench-retirements-{os.getpid()}*")):
        redis.delete(key)
    ledger, ledger_ms = verify_ledger()
    audit, audit_ms = verify_audit()
    certificate_ms = time_one_certificate()
    counted = sum(r.made for r in runs)
    stored = Retirement.objects.count()

    print(
        f"\n{machine_facts()}; clients: one process each (as a web server's workers); "
        "worker: prefork, 1 process (checkpoints).\n"
    )
    print(
        table(
            [
                "scenario",
                "clients",
                "accounts",
                "retirements/s",
                "target",
                "p50 ms",
                "p95 ms",
                "refused",
                "clients' CPU",
                "machine busy",
            ],
            [
                [
                    run.name,
                    run.clients,
                    run.accounts,
                    f"{run.rate:.1f}",
                    f"≥ {TARGETS[run.name]}" if run.name in TARGETS else "",
                    f"{run.percentile(0.5):.1f}",
                    f"{run.percentile(0.95):.1f}",
                    sum(run.refused.values()),
                    f"{run.cpu_seconds / run.seconds * 100:.0f} % of a core "
                    f"({run.cpu_seconds / max(run.made, 1) * 1000:.1f} ms each)",
                    f"{run.machine_busy * 100:.0f} %",
                ]
                for run in runs
            ],
        )
    )
    alone = runs[0]
    if alone.statements and alone.made:
        per = alone.made
        mean = statistics.mean(alone.latencies_ms)
        print(
            f"\n### One retirement alone: {alone.statements.count / per:.1f} statements, "
            f"{alone.statements.ms / per:.1f} ms waiting for them, of {mean:.1f} ms (the rest: the COMMIT, "
            "which no execute_wrapper sees, Python, and sending its tasks to Redis after the COMMIT)\n"
        )
        print(
            table(
                ["statement", "per retirement", "ms per retirement"],
                [
                    [kind, f"{n / per:.1f}", f"{ms / per:.2f}"]
                    for kind, (n, ms) in sorted(alone.statements.kinds.items(), key=lambda item: -item[1][1])
                ],
            )
        )
    print("\n### What the clients' connections were doing (pg_stat_activity, every 50 ms)\n")
    kinds = sorted({kind for run in runs for kind in run.waits})
    print(
        table(
            ["scenario", *kinds],
            [
                [run.name, *[f"{run.waits[k] / max(run.samples, 1) * 100:.0f} %" for k in kinds]]
                for run in runs
            ],
        )
    )
    print("\n### Checks\n")
    print(
        table(
            ["check", "result"],
            [
                ["verify_ledger", f"{ledger} ({ledger_ms:,.0f} ms)"],
                ["verify_audit", f"{audit} ({audit_ms:,.0f} ms)"],
                [
                    "retirements in the database / counted (with warm-ups and the ends of runs)",
                    f"{stored:,} / {counted:,}",
                ],
                ["signed checkpoints the worker took", f"{Checkpoint.objects.count():,}"],
                ["other tasks queued (certificate PDFs, notifications), not run", f"{others_queued:,}"],
                ["one retirement certificate's PDF, in-process", f"{certificate_ms:,.0f} ms"],
            ],
        )
    )
    shortfalls = [run.name for run in runs if run.name in TARGETS and run.rate < TARGETS[run.name]]
    if shortfalls:
        print(f"\nBelow target: {', '.join(shortfalls)}. The worker's log is kept in {log}.")
    else:
        import shutil

        shutil.rmtree(files_root, ignore_errors=True)


if __name__ == "__main__":
    main()
