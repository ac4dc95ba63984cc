"""Benchmark of registering an issuance phase (offsets.issuing.register_phase) and of what follows it.

The claim measured: registering a phase of 1,000 declarations is one database transaction, and the
certificates, the owners' e-mails and the announcement's PDF follow from a real Celery worker, each
certificate made exactly once.

What it does, on a database of its own whose name must end in `_bench_reg`:

1. drops the database if it exists, creates it and migrates it (a clean state every run);
2. fills it with deterministic data (random.Random(42)) made with bulk_create: a registry
   administrator and an approver, 10 verified organisations with 2 members each (the owners who get
   the e-mails), one methodology, 100 filed projects (WH-PV-0001…) and N approved declarations, one a
   month per project, verified at their claim (50 to 5,000 t);
3. starts a real Celery worker (prefork, 2 processes) on a queue of its own in the Redis database of
   REDIS_URL, with the uploaded files under a temporary directory; the benchmark process sends its
   tasks there too (the Celery app's task_default_queue, set in this process only);
4. takes the phase through the real services up to registration: create_phase, add_to_phase,
   submit_phase, approve_for_notice (by the approver), publish_notice (as of 2026-10-12) and
   close_notice (after its deadline), and waits until the worker has made the notice PDF and is idle;
5. times register_phase(phase, by=approver): the transaction up to its COMMIT, then the on_commit hooks
   that send N + 2 tasks (N owners' notifications, the registration's own notification, the
   announcement) to Redis; counts and times its SQL statements by kind with an execute_wrapper
   (CaptureQueriesContext, which adds BEGIN and COMMIT, keeps at most 9,000 and is shown beside it);
   1 s into the call, a second connection asks for the audit chain's head row FOR UPDATE, as every
   audit event of the portal does, and the time it waits is reported;
6. polls the database until every registration certificate has its file, every owner's e-mail
   delivery of the "credits.issued" events is sent and the announcement has its PDF (--timeout);
   checks that each certificate file exists exactly once (one file per number, its SHA-256 as
   recorded), counts the e-mails the worker wrote (registry.mail.MailFolderBackend: one .eml file each,
   under the run's temporary directory, MAIL_FOLDER) and runs verify_ledger;
7. stops the worker (also on error) and prints Markdown tables (nothing is written to the repository).

Run it with `make bench-registration`, or:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_reg \\
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python -m bench.registration [--declarations 1000]
"""

import argparse
import hashlib
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import django

from bench.common import bench_methodology

BENCH_SUFFIX = "_bench_reg"
ORGANISATIONS = 10
MEMBERS_PER_ORGANISATION = 2  # an admin and a declarant: each owner's e-mail goes to both
PROJECTS = 100
FIRST_MONTH = date(2021, 1, 1)  # declarations are one-month periods from January 2021
CREDITING_END = date(2039, 12, 31)
PHASE_CODE = "2026P01"
NOTICE_PUBLISHED = date(2026, 10, 12)  # a Monday, a working day
REGISTRAR_EMAIL = "bench-registrar@example.com"
APPROVER_EMAIL = "bench-approver@example.com"
POLL_SECONDS = 0.25
LOCK_PROBE_DELAY = 1.0  # seconds into register_phase when a second connection asks for the audit lock
HEAD_LOCK = "SELECT registry_auditchainhead FOR UPDATE"  # its kind in the statement log
WORKER_ERROR = re.compile(r"^\[[^\]]*: (ERROR|CRITICAL)/")


# --- Database and Redis --------------------------------------------------------------------------


def bench_database() -> dict:
    """The default database's settings; exits unless it is a PostgreSQL database named *_bench_reg."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = str(db.get("NAME") or "")
    if "postgresql" not in db["ENGINE"] or not name.endswith(BENCH_SUFFIX):
        sys.exit(
            f"Refusing to run: the database is {db['ENGINE']} {name!r}. This benchmark drops and recreates "
            f"its database; set DATABASE_URL to a PostgreSQL database whose name ends in {BENCH_SUFFIX!r}."
        )
    return db


def bench_redis() -> str:
    """REDIS_URL; exits without it (the tasks would run in this process, eagerly, not in a worker)."""
    from django.conf import settings

    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit(
            "Refusing to run: set REDIS_URL (e.g. redis://127.0.0.1:6379/13); tasks must go to a worker."
        )
    return settings.REDIS_URL


def recreate_database(db: dict) -> None:
    """DROP DATABASE IF EXISTS and CREATE DATABASE, through the maintenance database `postgres`."""
    import psycopg
    from psycopg import sql

    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    name = sql.Identifier(db["NAME"])
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        # FORCE: a worker of an interrupted earlier run may still hold a connection to it.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    print(f"Recreated database {db['NAME']}.", flush=True)


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url)


# --- Data ----------------------------------------------------------------------------------------


def bureau_user(email: str, name: str, group: str):
    from django.contrib.auth.models import Group

    from registry.models import User

    user = User.objects.create_user(email=email, full_name=name, is_staff=True)  # unusable password
    user.groups.add(Group.objects.get(name=group))
    return user


def bench_organisations(rng: random.Random) -> list:
    """Benchmark data, not the sign-up workflow: verified enterprises and their members, bulk_create."""
    from django.utils import timezone

    from registry.identifiers import make_credit_code
    from registry.models import (
        District,
        Language,
        Membership,
        Organisation,
        OrganisationKind,
        OrganisationStatus,
        OrgRole,
        User,
    )

    now = timezone.now()
    organisations = Organisation.objects.bulk_create(
        Organisation(
            kind=OrganisationKind.ENTERPRISE,
            name=f"基准测试企业{n}有限公司",
            name_en=f"Bench Enterprise {n} Co., Ltd.",
            identifier=make_credit_code(f"91420100BR{n:07d}"),
            legal_representative="张三",
            address=f"武汉市江岸区基准路{n}号",
            district=rng.choice(District.values),
            contact_name="李四",
            contact_phone="027-12345678",
            contact_email=f"bench{n}@example.com",
            status=OrganisationStatus.VERIFIED,
            verified_at=now,
        )
        for n in range(1, ORGANISATIONS + 1)
    )
    users, roles = [], []
    for n in range(1, ORGANISATIONS + 1):
        for m, role in enumerate([OrgRole.ADMIN, OrgRole.DECLARANT][:MEMBERS_PER_ORGANISATION], start=1):
            user = User(
                email=f"bench-org{n}-member{m}@example.com",
                full_name=f"Bench Member {n}-{m}",
                language=Language.EN if m % 2 == 0 else Language.ZH_HANS,
            )
            user.set_unusable_password()
            users.append(user)
            roles.append((n - 1, role))
    users = User.objects.bulk_create(users)
    Membership.objects.bulk_create(
        Membership(user=user, organisation=organisations[index], role=role)
        for user, (index, role) in zip(users, roles, strict=True)
    )
    return organisations


def bench_projects(rng: random.Random, *, organisations, methodology, creator) -> list:
    from django.utils import timezone

    from projects.models import Project, Stage
    from registry.models import District

    now = timezone.now()
    projects = []
    for i in range(1, PROJECTS + 1):
        submitted = now - timedelta(days=rng.randint(400, 1500))
        projects.append(
            Project(
                organisation=organisations[i % len(organisations)],
                methodology=methodology,
                code=f"WH-PV-{i:04d}",
                title=f"屋顶分布式光伏项目 {i}",
                site_address=f"武汉市基准路{i}号",
                district=rng.choice(District.values),
                crediting_start=FIRST_MONTH,
                crediting_end=CREDITING_END,
                not_registered_elsewhere=True,
                outside_covered_boundary=True,
                stage=Stage.APPROVED,
                submitted_at=submitted,
                decided_at=submitted + timedelta(days=30),
                filed_at=submitted + timedelta(days=30),
                created_by=creator,
            )
        )
    return Project.objects.bulk_create(projects)


def month_period(k: int) -> tuple[date, date]:
    """The k-th month from FIRST_MONTH: its first and last day."""
    months = FIRST_MONTH.year * 12 + FIRST_MONTH.month - 1 + k
    year, month = divmod(months, 12)
    start = date(year, month + 1, 1)
    following = date(year + (month == 11), (month + 1) % 12 + 1, 1)
    return start, following - timedelta(days=1)


def fill(declarations: int):
    """Users, organisations, projects and approved declarations; returns (registrar, approver)."""
    from django.db import transaction
    from django.utils import timezone

    from projects.models import Declaration, Stage
    from registry import roles

    months = (CREDITING_END.year - FIRST_MONTH.year) * 12 + CREDITING_END.month - FIRST_MONTH.month + 1
    if declarations > PROJECTS * months:
        sys.exit(f"At most {PROJECTS * months:,} declarations (one a month per project).")
    print(f"Filling {declarations:,} approved declarations…", flush=True)
    started = time.perf_counter()
    rng = random.Random(42)
    now = timezone.now()
    with transaction.atomic():
        registrar = bureau_user(REGISTRAR_EMAIL, "Bench Registrar", roles.REGISTRY_ADMIN)
        approver = bureau_user(APPROVER_EMAIL, "Bench Approver", roles.APPROVER)
        organisations = bench_organisations(rng)
        projects = bench_projects(
            rng, organisations=organisations, methodology=bench_methodology(), creator=registrar
        )
        batch = []
        for j in range(declarations):
            start, end = month_period(j // len(projects))
            tonnes = rng.randint(50, 5_000)
            submitted = now - timedelta(days=rng.randint(60, 400))
            batch.append(
                Declaration(
                    project=projects[j % len(projects)],
                    period_start=start,
                    period_end=end,
                    vintage=start.year,  # bulk_create skips Declaration.save(), which sets it
                    stage=Stage.APPROVED,
                    submitted_at=submitted,
                    decided_at=submitted + timedelta(days=rng.randint(20, 60)),
                    claimed_t=tonnes,
                    verified_t=tonnes,
                    created_by=registrar,
                )
            )
        Declaration.objects.bulk_create(batch, batch_size=5000)
    print(f"Filled in {time.perf_counter() - started:.1f} s.", flush=True)
    return registrar, approver


def closed_phase(registrar, approver, *, code: str = PHASE_CODE, declarations: list | None = None):
    """The phase (of every declaration unless given), through the real services up to a closed notice;
    prints how long each step took."""
    from django.utils import timezone

    from offsets import issuing
    from projects.models import Declaration

    steps = []

    def step(name, call):
        started = time.perf_counter()
        result = call()
        steps.append(f"{name} {(time.perf_counter() - started) * 1000:.0f} ms")
        return result

    phase = step(
        "create_phase",
        lambda: issuing.create_phase(
            code=code, title_zh="基准测试批次", title_en="Benchmark phase", by=registrar
        ),
    )
    if declarations is None:
        declarations = list(Declaration.objects.order_by("pk"))
    added = step("add_to_phase", lambda: issuing.add_to_phase(phase, by=registrar, declarations=declarations))
    step("submit_phase", lambda: issuing.submit_phase(phase, by=registrar))
    step("approve_for_notice", lambda: issuing.approve_for_notice(phase, by=approver))
    phase = step(
        "publish_notice", lambda: issuing.publish_notice(phase, by=registrar, today=NOTICE_PUBLISHED)
    )
    after_deadline = issuing.notice_deadline(phase) + timedelta(hours=1)
    closed = step("close_notice", lambda: issuing.close_notice(phase, now=after_deadline))
    if closed is None:
        sys.exit(f"close_notice did not close {phase.code} (notice until {phase.notice_end}).")
    print(f"Phase {phase.code}: {added:,} declarations; " + ", ".join(steps) + ".", flush=True)
    print(
        f"  (notice {phase.notice_start} to {phase.notice_end}, closed as of {after_deadline}; today is "
        f"{timezone.localdate()})",
        flush=True,
    )
    closed.refresh_from_db()
    return closed


# --- The worker ----------------------------------------------------------------------------------


class Worker:
    """A `celery worker` subprocess on the benchmark's own queue; its stdout and stderr go to a log file
    (Celery's redirected stdout: the mail backend's one line per message, and any errors)."""

    def __init__(self, *, queue: str, concurrency: int, env: dict, log: Path):
        self.queue, self.log = queue, log
        self.hostname = f"{queue}@bench"
        self._log_handle = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "-Q",
                queue,
                "--hostname",
                self.hostname,
                "--loglevel",
                "WARNING",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its pool processes
        )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"The worker exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        self._log_handle.flush()
        with self.log.open("rb") as handle:
            handle.seek(max(0, self.log.stat().st_size - 200_000))
            text = handle.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, app, timeout: float = 120) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            self.check_alive()
            if app.control.ping(destination=[self.hostname], timeout=1.0):
                return time.perf_counter() - started
        raise RuntimeError(f"The worker did not answer a ping within {timeout:.0f} s:\n{self.tail()}")

    def wait_idle(self, app, redis, *, condition, timeout: float) -> None:
        """Until the queue is empty, the worker runs and holds nothing, and `condition()` is true."""
        deadline = time.perf_counter() + timeout
        inspect = app.control.inspect(destination=[self.hostname], timeout=1.0)
        while time.perf_counter() < deadline:
            self.check_alive()
            if redis.llen(self.queue) == 0 and condition():
                active, reserved = inspect.active() or {}, inspect.reserved() or {}
                if not any(active.values()) and not any(reserved.values()) and redis.llen(self.queue) == 0:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"The worker was not idle within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL of its process group if it is not gone in 60 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log_handle.close()


def scan_log(log: Path, offset: int) -> list[str]:
    """ERROR/CRITICAL log lines after `offset` bytes of the worker's log."""
    errors = []
    with log.open("rb") as handle:
        handle.seek(offset)
        for raw in handle:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if WORKER_ERROR.match(line):
                errors.append(line[:300])
    return errors


def kept_emails(folder: Path) -> int:
    """The e-mails the worker's mail backend has kept so far, one .eml file each."""
    return sum(1 for _ in folder.glob("*.eml")) if folder.is_dir() else 0


# --- Registration --------------------------------------------------------------------------------


SQL_TABLE = re.compile(r'^(INSERT INTO|UPDATE|DELETE FROM) "(\w+)"|^(SELECT) .*? FROM "(\w+)"', re.S)


def sql_kind(sql: str) -> str:
    """A statement's verb and table ("SELECT registry_counter FOR UPDATE"), or its first word."""
    match = SQL_TABLE.match(sql)
    if not match:
        return sql.split()[0] if sql.split() else "?"
    verb, table_name = match.group(1) or match.group(3), match.group(2) or match.group(4)
    return f"{verb.split()[0]} {table_name}" + (" FOR UPDATE" if sql.rstrip().endswith("FOR UPDATE") else "")


class StatementLog:
    """An execute_wrapper: every statement the connection executes (SAVEPOINTs too; not BEGIN and
    COMMIT, which Django does not send through cursor.execute), counted and timed by kind."""

    def __init__(self):
        self.kinds: dict[str, list] = {}
        self.first_sent: dict[str, float] = {}  # kind -> perf_counter when the first of its kind was sent

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        self.first_sent.setdefault(sql_kind(sql), started)
        try:
            return execute(sql, params, many, context)
        finally:
            row = self.kinds.setdefault(sql_kind(sql), [0, 0.0])
            row[0] += 1
            row[1] += (time.perf_counter() - started) * 1000

    @property
    def count(self) -> int:
        return sum(n for n, _ms in self.kinds.values())

    @property
    def ms(self) -> float:
        return sum(ms for _n, ms in self.kinds.values())


def probe_audit_lock(delay: float, result: dict) -> None:
    """In a thread of its own (its own connection): `delay` seconds into the registration, take the
    audit chain's head row FOR UPDATE, as audit.record does for every event anywhere in the portal,
    and record how long that waited. Writes nothing (rolled back)."""
    from django.db import connection, transaction

    time.sleep(delay)
    try:
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("SELECT last_seq FROM registry_auditchainhead WHERE id = 1 FOR UPDATE")
            result["waited"] = time.perf_counter() - started
            result["at"] = started
            transaction.set_rollback(True)
    finally:
        connection.close()


def register(phase, approver) -> dict:
    """register_phase, timed: up to its COMMIT, and the on_commit hooks that send the tasks to Redis.

    Django runs the on_commit hooks in connection.run_and_clear_commit_hooks(), right after the
    outermost COMMIT; this wraps it, on this connection only and for this one call, to read the clock
    between the two (no extra query and no extra savepoint). The statements are counted twice: by
    CaptureQueriesContext (with BEGIN and COMMIT; its log keeps at most 9,000 queries) and by an
    execute_wrapper (no limit)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from offsets import issuing

    marks = {}
    run_hooks = connection.run_and_clear_commit_hooks

    def timed_hooks():
        marks.setdefault("committed", time.perf_counter())
        marks.setdefault("committed_wall", time.time())
        run_hooks()
        marks.setdefault("enqueued", time.perf_counter())

    statements = StatementLog()
    probe: dict = {}
    prober = threading.Thread(target=probe_audit_lock, args=(LOCK_PROBE_DELAY, probe))
    reset_queries()
    connection.run_and_clear_commit_hooks = timed_hooks
    try:
        with connection.execute_wrapper(statements), CaptureQueriesContext(connection) as context:
            started = time.perf_counter()
            prober.start()
            registered = issuing.register_phase(phase, by=approver)
            returned = time.perf_counter()
    finally:
        del connection.run_and_clear_commit_hooks  # back to the class's method
    with warnings.catch_warnings():  # "Limit for query logging exceeded": the wrapper counts them all
        warnings.simplefilter("ignore", UserWarning)
        captured = len(context.captured_queries)
    prober.join()
    if "committed" not in marks:
        raise RuntimeError("register_phase returned without committing (was it run inside an atomic block?)")
    return {
        "phase": registered,
        "transaction_ms": (marks["committed"] - started) * 1000,
        "enqueue_ms": (marks["enqueued"] - marks["committed"]) * 1000,
        "call_ms": (returned - started) * 1000,
        "statements": statements,
        "captured": captured,
        "captured_full": captured < (connection.queries_log.maxlen or sys.maxsize),
        "committed": marks["committed"],
        "committed_wall": marks["committed_wall"],
        "probe_waited_ms": probe["waited"] * 1000 if "waited" in probe else None,
        "probe_at_ms": (probe["at"] - started) * 1000 if "at" in probe else None,
        # From sending the head row's SELECT … FOR UPDATE to the COMMIT having returned.
        "head_locked_ms": (marks["committed"] - statements.first_sent[HEAD_LOCK]) * 1000
        if HEAD_LOCK in statements.first_sent
        else None,
        "head_locked_at_ms": (statements.first_sent[HEAD_LOCK] - started) * 1000
        if HEAD_LOCK in statements.first_sent
        else None,
    }


def expected_owner_emails(phase) -> int:
    """E-mails of the "credits.issued" events: one per active member of each issuance's owner."""
    from registry.models import Membership

    members = Counter(
        Membership.objects.filter(user__is_active=True).values_list("organisation_id", flat=True)
    )
    return sum(members[o] for o in phase.issuances.values_list("account__organisation_id", flat=True))


def wait_for_documents(phase, worker: Worker, *, expected_emails: int, committed: float, timeout: float):
    """Poll until every certificate has its file, every owner's e-mail is sent and the announcement has
    its PDF; returns the seconds after the commit at which each was first seen (None: not by timeout)."""
    from offsets.models import Announcement, Certificate, CertificateKind
    from registry.models import AuditEvent, Delivery

    certificates = Certificate.objects.filter(kind=CertificateKind.REGISTRATION, issuance__phase=phase)
    # This phase's events only: a database used before (make bench) holds others' deliveries.
    issued = [str(pk) for pk in phase.issuances.values_list("pk", flat=True)]
    events = AuditEvent.objects.filter(
        action="credits.issued", subject_type="offsets.issuance", subject_id__in=issued
    )
    emails = Delivery.objects.filter(event__in=events, channel=Delivery.Channel.EMAIL, sent_at__isnull=False)
    announcement = Announcement.objects.filter(phase=phase)
    seen = {"certificates": None, "emails": None, "announcement": None}
    deadline = committed + timeout
    last_report = time.perf_counter()
    while time.perf_counter() < deadline and None in seen.values():
        worker.check_alive()
        elapsed = time.perf_counter() - committed
        if seen["certificates"] is None and not certificates.filter(file="").exists():
            seen["certificates"] = elapsed
        if seen["emails"] is None and emails.count() >= expected_emails:
            seen["emails"] = elapsed
        if seen["announcement"] is None and announcement.exclude(pdf="").exists():
            seen["announcement"] = elapsed
        if time.perf_counter() - last_report > 15:
            last_report = time.perf_counter()
            done = certificates.exclude(file="").count()
            print(f"  {elapsed:5.0f} s: {done:,} certificates made", flush=True)
        time.sleep(POLL_SECONDS)
    return seen


def check_certificates(phase, files_root: Path) -> dict:
    """Each registration certificate: one record per issuance, distinct numbers, one file per number
    on disk (no second copy under another name) whose SHA-256 is the one recorded."""
    from django.db.models import Count, Q

    from offsets.models import Certificate, CertificateKind

    certificates = list(
        Certificate.objects.filter(kind=CertificateKind.REGISTRATION, issuance__phase=phase).values_list(
            "number", "file", "sha256", "issuance_id"
        )
    )
    numbers = {number for number, *_ in certificates}
    with_one = (
        phase.issuances.annotate(
            n=Count("certificates", filter=Q(certificates__kind=CertificateKind.REGISTRATION))
        )
        .filter(n=1)
        .count()
    )
    on_disk = sorted(p for p in (files_root / "certificates").rglob("*") if p.is_file())
    disk_names = Counter(p.name for p in on_disk)
    good_files, bad = 0, []
    for number, name, sha256, _issuance in certificates:
        path = files_root / name
        if not name or Path(name).name != f"{number}.pdf" or not path.is_file():
            bad.append(f"{number}: file {name!r}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            bad.append(f"{number}: SHA-256 differs")
        else:
            good_files += 1
    mtimes = sorted(p.stat().st_mtime for p in on_disk)
    return {
        "records": len(certificates),
        "distinct_numbers": len(numbers),
        "issuances_with_one": with_one,
        "files_on_disk": len(on_disk),
        "good_files": good_files,
        "duplicates": sorted(name for name, n in disk_names.items() if n > 1)
        + [p.name for p in on_disk if p.stem not in numbers],
        "bad": bad,
        "bytes": sum(p.stat().st_size for p in on_disk),
        "mtimes": mtimes,
    }


def check_deliveries() -> dict:
    from registry.models import AuditEvent, Delivery

    events = AuditEvent.objects.filter(action="credits.issued")
    emails = Delivery.objects.filter(event__in=events, channel=Delivery.Channel.EMAIL)
    return {
        "events": events.count(),
        "events_with_email": emails.values("event").distinct().count(),
        "email_rows": emails.count(),
        "email_unsent": emails.filter(sent_at__isnull=True).count(),
        "inbox_rows": Delivery.objects.filter(event__in=events, channel=Delivery.Channel.INBOX).count(),
    }


def verify_ledger() -> tuple[str, float]:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("verify_ledger", stdout=out)
        outcome = out.getvalue().strip()
    except CommandError as error:
        outcome = f"FAILED: {error}"
    return outcome, (time.perf_counter() - started) * 1000


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and of its children (Linux /proc), in seconds."""
    pids, total = [pid], 0.0
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(child) for child in children.read_text().split()]
    for each in pids:
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_cpu() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs since boot (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


# --- Output --------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds(value: float | None) -> str:
    return "not by timeout" if value is None else f"{value:.1f}"


def machine_facts() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total_kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f", {total_kib / 1024 / 1024:.1f} GiB of memory"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs{memory}, PostgreSQL {postgres}, Python {sys.version.split()[0]}, "
        f"Django {django.get_version()}, load average {load:.1f}"
    )


# --- Main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=1_000, help="declarations in the phase (1000)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the documents (900)")
    args = parser.parse_args(argv)

    # Uploaded files (certificates, PDFs) go to a directory of this run, in this process and the worker.
    files_root = Path(tempfile.mkdtemp(prefix="bench-registration-"))
    os.environ["PRIVATE_FILES_ROOT"] = str(files_root)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from config.celery import app
    from offsets.models import NoticeVersion

    try:
        db = bench_database()
        redis_url = bench_redis()
    except SystemExit:
        files_root.rmdir()
        raise
    queue = f"bench-registration-{os.getpid()}"
    # This process's tasks go to the worker's queue; set before the first task is sent.
    app.conf.task_default_queue = queue
    redis = redis_client(redis_url)

    recreate_database(db)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"Migrated in {time.perf_counter() - started:.1f} s.", flush=True)
    settings.DEBUG = False  # no query log in this process (CaptureQueriesContext counts the queries)
    registrar, approver = fill(args.declarations)

    mail_folder = files_root / "mail"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": redis_url,
        "PRIVATE_FILES_ROOT": str(files_root),
        # The worker's e-mails (registry.mail.MailFolderBackend) go to this run's directory, not var/mail/.
        "MAIL_FOLDER": str(mail_folder),
    }
    log = files_root / "worker.log"
    worker = Worker(queue=queue, concurrency=args.concurrency, env=env, log=log)
    try:
        print(f"Worker answered a ping after {worker.wait_ready(app):.1f} s (queue {queue}).", flush=True)
        phase = closed_phase(registrar, approver)
        started = time.perf_counter()
        worker.wait_idle(
            app,
            redis,
            condition=lambda: not NoticeVersion.objects.filter(phase=phase, pdf="").exists(),
            timeout=args.timeout,
        )
        print(f"The worker made the notice PDF and is idle ({time.perf_counter() - started:.1f} s).")
        log_offset = log.stat().st_size
        emails_before = kept_emails(mail_folder)
        load_before = os.getloadavg()[0]

        print("Registering…", flush=True)
        result = register(phase, approver)
        cpu_before, machine_before = cpu_seconds(worker.process.pid), machine_cpu()
        phase = result["phase"]
        print(
            f"register_phase: {result['call_ms']:,.0f} ms ({result['statements'].count:,} statements); "
            f"transaction {result['transaction_ms']:,.0f} ms, "
            f"on_commit hooks {result['enqueue_ms']:,.0f} ms.",
            flush=True,
        )
        expected_emails = expected_owner_emails(phase)
        seen = wait_for_documents(
            phase,
            worker,
            expected_emails=expected_emails,
            committed=result["committed"],
            timeout=args.timeout,
        )
        worker_cpu = cpu_seconds(worker.process.pid) - cpu_before
        machine_after = machine_cpu()
        window = time.perf_counter() - result["committed"]
        load_after = os.getloadavg()[0]
        worker.wait_idle(app, redis, condition=lambda: True, timeout=120)
        errors = scan_log(log, log_offset)
        emails_written = kept_emails(mail_folder) - emails_before
        ledger, ledger_ms = verify_ledger()
    except BaseException:
        print(f"\nThe worker's log and the files are kept in {files_root}.", file=sys.stderr)
        raise
    finally:
        worker.stop()
        # The queue's keys (the queue, its bindings, the worker's control queue) are named after it.
        for key in redis.scan_iter(match=f"*{queue}*"):
            redis.delete(key)

    from offsets.models import Announcement

    certificates = check_certificates(phase, files_root)
    deliveries = check_deliveries()
    announcement = Announcement.objects.get(phase=phase)
    tonnes = sum(phase.issuances.values_list("quantity", flat=True))
    issuances = phase.issuances.count()
    finished = [mtime - result["committed_wall"] for mtime in certificates["mtimes"]]
    last_file = finished[-1] if finished else None
    rate = issuances / last_file if last_file else float("nan")
    statements = result["statements"]
    busy = machine_after[0] - machine_before[0]
    total = machine_after[1] - machine_before[1]

    print(f"\n{machine_facts()}; worker: prefork, {args.concurrency} processes, queue {queue}.\n")
    print(
        table(
            [
                "declarations",
                "tonnes registered",
                "register_phase ms (statements)",
                "of which on_commit enqueue ms",
                "certificates wall time s",
                "certificates/s",
                "announcement ready",
                "verify_ledger ms",
            ],
            [
                [
                    f"{issuances:,}",
                    f"{tonnes:,}",
                    f"{result['call_ms']:,.0f} ({statements.count:,})",
                    f"{result['enqueue_ms']:,.0f}",
                    seconds(last_file),
                    f"{rate:.1f}",
                    f"yes, {seconds(seen['announcement'])} s" if announcement.pdf else "no",
                    f"{ledger_ms:,.0f}",
                ]
            ],
        )
    )
    captured = f"{result['captured']:,}" if result["captured_full"] else f"more than {result['captured']:,}"
    print(
        "\nregister_phase: the transaction up to its COMMIT took "
        f"{result['transaction_ms']:,.0f} ms, of which {statements.ms:,.0f} ms waiting for "
        f"{statements.count:,} statements (execute_wrapper; CaptureQueriesContext, with BEGIN and COMMIT: "
        f"{captured}); the on_commit hooks (tasks sent to Redis) {result['enqueue_ms']:,.0f} ms."
    )
    if result["probe_waited_ms"] is not None and result["probe_at_ms"] > result["call_ms"]:
        print("(The audit lock probe started after register_phase had returned: nothing to measure.)")
    elif result["probe_waited_ms"] is not None and result["probe_at_ms"] > result["transaction_ms"]:
        print(
            f"A second connection asked for the audit chain's head row FOR UPDATE "
            f"{result['probe_at_ms'] / 1000:.1f} s into register_phase, after the COMMIT "
            f"({result['transaction_ms']:,.0f} ms; the on_commit hooks were running): it waited "
            f"{result['probe_waited_ms']:,.0f} ms, the row was no longer locked."
        )
    elif result["probe_waited_ms"] is not None:
        print(
            f"A second connection that asked for the audit chain's head row FOR UPDATE (as every audit "
            f"event does) {result['probe_at_ms'] / 1000:.1f} s into register_phase waited "
            f"{result['probe_waited_ms']:,.0f} ms for it."
        )
    if result["head_locked_ms"] is not None:
        print(
            f"register_phase sent the head row's SELECT … FOR UPDATE {result['head_locked_at_ms']:,.0f} ms "
            f"into the call and held the row until its COMMIT: {result['head_locked_ms']:,.0f} ms."
        )
    print(
        "Certificates wall time: from the COMMIT to the modification time of the last certificate file. "
        f"Polling (every {POLL_SECONDS} s) saw every certificate made at {seconds(seen['certificates'])} s, "
        f"every owner's e-mail sent at {seconds(seen['emails'])} s and the announcement's PDF at "
        f"{seconds(seen['announcement'])} s."
    )
    print(
        f"In those {window:.0f} s the worker's processes used {worker_cpu:.0f} CPU seconds "
        f"({worker_cpu / max(issuances, 1):.2f} per certificate and its e-mails); the whole machine was "
        f"{busy / total * 100 if total else 0:.0f} % busy on {os.cpu_count()} CPUs; load average "
        f"{load_before:.1f} before, {load_after:.1f} after."
    )
    print("\n### register_phase statements by kind\n")
    print(
        table(
            ["statement", "count", "ms"],
            [
                [kind, f"{n:,}", f"{ms:,.0f}"]
                for kind, (n, ms) in sorted(statements.kinds.items(), key=lambda item: -item[1][1])
            ],
        )
    )
    print("\n### Certificates finished, per minute after the COMMIT\n")
    minutes = Counter(int(t // 60) for t in finished)
    print(
        table(
            ["minute", "certificates"],
            [[f"{m}–{m + 1}", minutes[m]] for m in range(int(last_file // 60) + 1 if last_file else 0)],
        )
    )
    print("\n### Checks\n")
    print(
        table(
            ["check", "result"],
            [
                ["issuances / certificate records", f"{issuances:,} / {certificates['records']:,}"],
                ["distinct certificate numbers", f"{certificates['distinct_numbers']:,}"],
                ["issuances with exactly one certificate", f"{certificates['issuances_with_one']:,}"],
                ["certificate files on disk", f"{certificates['files_on_disk']:,}"],
                ["files named by their number, SHA-256 as recorded", f"{certificates['good_files']:,}"],
                ["extra or duplicate files", ", ".join(certificates["duplicates"][:5]) or "none"],
                ["certificate PDFs, total size", f"{certificates['bytes'] / 1024 / 1024:.1f} MiB"],
                [
                    "credits.issued events / with e-mail rows",
                    f"{deliveries['events']:,} / {deliveries['events_with_email']:,}",
                ],
                [
                    "e-mail rows (expected) / not sent",
                    f"{deliveries['email_rows']:,} ({expected_emails:,}) / {deliveries['email_unsent']:,}",
                ],
                ["inbox rows", f"{deliveries['inbox_rows']:,}"],
                ["e-mails the worker wrote after registering", f"{emails_written:,}"],
                ["worker ERROR lines after registering", f"{len(errors):,}"],
                ["announcement PDF", announcement.pdf.name or "none"],
                ["verify_ledger", ledger],
            ],
        )
    )
    for line in certificates["bad"][:10] + errors[:10]:
        print(f"  {line}")
    if certificates["bad"] or errors or None in seen.values():
        print(f"\nProblems found; the worker's log and the files are kept in {files_root}.")
    else:
        shutil.rmtree(files_root, ignore_errors=True)


if __name__ == "__main__":
    main()
