"""`make bench`: one command, one run, one report (issue 15).

On one database filled by `manage.py generate_load` (its name must end in `_bench_all`), in one run:

1. fill: creates the database and fills it at the scale asked (the issue's default: 5,000 organisations,
   100,000 projects, 300,000 declarations, 200 phases; `--quick`: a tenth of that), unless it holds that
   scale already (organisations, projects and declarations counted); a database at another scale is
   dropped and filled again;
2. pages: starts gunicorn as in production, from the `web:` line of the Procfile (sync workers,
   WEB_CONCURRENCY = --workers, its access log with the worker's pid added: the log says how the
   requests split over the workers), and measures with `wrk` (Debian package), --seconds each after
   --warmup: the bare view (the ceiling), the Django admin changelists over the same rows, every public
   endpoint kind of bench/public_load.py (lists, filters, every sort, first, deep and last pages, project
   pages, notices, retirements, verify) with search words of 4, 2 and 1 characters taken from the
   data's own titles and owners' names, the review queues (every queue, every sort, first and last
   pages) and case screens, logged in as 8 technical reviewers (8 connections, one session each: the
   logged-in rows and the admin rows have 8 connections, the others 16). A Lua `done()` prints wrk's
   latency percentiles as JSON. Each page is also requested once in-process (django.test.Client,
   CaptureQueriesContext) for its status and SQL queries per request (BEGIN/COMMIT included);
3. memory: a fresh gunicorn under a steady mix of the public pages; each worker's RSS when the access
   log shows its 1,000th and 10,000th request (flat: within 10 %);
4. registration: a phase of --register approved declarations (those no phase holds) taken through the
   real services by the load's registrar and approver, registered (bench/registration.py), its
   certificates, e-mails and announcement made by a real Celery worker (prefork, --worker-processes):
   wall time from the commit to the last certificate file, the worker's CPU seconds per certificate;
5. retirements: bench/retirements.py's scenarios for --retire-seconds on one account and over 100
   accounts that hold credits, the checkpoints run by the same worker;
6. verify_ledger and verify_audit over the whole data set, timed (target: each under 60 s).

It prints each step's time, a Markdown table and the issue's targets, writes the figures as JSON to
bench/results/<date>-<git short sha>.json (`-quick` added for --quick), and with --write-docs puts the
tables into docs/performance.md under "`make bench` (issue 15)". The page cache of the gunicorn workers
is local memory (REDIS_URL is not passed to them) while pages are measured, as in bench/public_load.py:
uncached endpoints add a unique `_=` per request, and Redis would keep one page per request for a minute.
The memory step gives them Redis, as production does: a per-process cache filling with unique URLs would
be measured instead of the process.

Run it with `make bench` (BENCH_ARGS="--quick" for a small try), or:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_all \\
    REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python -m bench.run [--quick] [--write-docs]

Only 127.0.0.1 is contacted; every load ends by itself after its time.
"""

import argparse
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import quote

import django

from bench import public_load
from bench.wrk import parse_wrk, run_wrk, wrk_command, wrk_files  # noqa: F401 (parse_wrk: tests)

BENCH_SUFFIX = "_bench_all"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "performance.md"
DOCS_HEADING = "## `make bench` (issue 15)"
DOCS_START = "<!-- make bench: results start (bench/run.py --write-docs) -->"
DOCS_END = "<!-- make bench: results end -->"
SETTINGS = public_load.SETTINGS
# gunicorn's default access log format, with the worker's pid and the status at the end for AccessLog.
ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" bench %(p)s %(s)s'
ACCESS_LINE = re.compile(r" bench <(\d+)> (\d{3})$")
REVIEWERS = 8
REVIEWER_EMAIL = "bench-all-reviewer{n}@example.com"
ADMIN_EMAIL = "bench-all-admin@example.com"
REGISTRAR_EMAIL = "load-registrar@example.com"  # made by bench/load.py
APPROVER_EMAIL = "load-approver@example.com"
RETIREMENT_ACCOUNTS = 100
# The figure for the peer, UNDP's open-source carbon registry (NestJS), on this machine kind.
PEER = {
    "name": "UNDP carbon registry (NestJS)",
    "page": "filtered project list",
    "projects": 10_000,
    "rate": 22.8,
    "ours_then": 47,
}
FILTER_ROWS = ("district", "credited", "no credits yet", "vintage")


@dataclass(frozen=True)
class Size:
    """What one run does besides the fill: the --quick run is small in every part."""

    seconds: float
    warmup: float
    register: int
    retire_seconds: float
    memory_marks: tuple[int, int]
    memory_cap: float


DEFAULT_SIZE = Size(
    seconds=10, warmup=1, register=1_000, retire_seconds=10, memory_marks=(1_000, 10_000), memory_cap=300
)
QUICK_SIZE = Size(
    seconds=3, warmup=1, register=100, retire_seconds=3, memory_marks=(500, 2_000), memory_cap=90
)
STEPS = ("pages", "memory", "registration", "retirements", "verify")


# --- gunicorn as in production ----------------------------------------------------------------------


def procfile_command(port: int, workers: int, procfile: Path = ROOT / "Procfile") -> list[str]:
    """The Procfile's `web:` command with GUNICORN_BIND and WEB_CONCURRENCY given, run by this Python,
    its access log carrying each request's worker pid."""
    line = next((line for line in procfile.read_text().splitlines() if line.startswith("web:")), None)
    if line is None:
        sys.exit(f"{procfile} has no web: line.")
    values = {"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}

    def expand(match: re.Match) -> str:
        return values.get(match.group(1), match.group(2) or "")

    words = shlex.split(re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", expand, line.split(":", 1)[1]))
    if words[0] != "gunicorn":
        sys.exit(f"The Procfile's web: line does not start gunicorn: {line}")
    return [sys.executable, "-m", "gunicorn", *words[1:], "--access-logformat", ACCESS_FORMAT]


class ProductionServer(public_load.Server):
    """public_load.Server (free port, log file, wait_ready, pids, stop) running the Procfile's command."""

    def __init__(self, workers: int, env: dict):
        self.port = public_load.free_port()
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-run-", suffix=".log")  # noqa: SIM115
        self.command = procfile_command(self.port, workers)
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def workers(self) -> list[int]:
        return sorted(self.pids()[1:])


class AccessLog:
    """Reads the access log as it grows: the requests per worker pid and per status since the last read."""

    def __init__(self, path: str):
        self.path, self.offset = path, 0

    def read(self) -> tuple[Counter, Counter]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        self.offset += end
        return parse_access(data[:end].decode("utf-8", "replace"))


def parse_access(text: str) -> tuple[Counter, Counter]:
    pids, statuses = Counter(), Counter()
    for line in text.splitlines():
        match = ACCESS_LINE.search(line)
        if match:
            pids[int(match.group(1))] += 1
            statuses[int(match.group(2))] += 1
    return pids, statuses


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- What is requested --------------------------------------------------------------------------------


@dataclass
class Page:
    endpoint: public_load.Endpoint
    group: str  # ceiling, admin, public, office
    connections: int
    cookies: list[str] = field(default_factory=list)


CJK = re.compile(r"[\u4e00-\u9fff]+")


def search_words(texts: list[str], length: int, count: int) -> list[str]:
    """`count` words of `length` Chinese characters found in `texts`, spread from the most common to the
    rarest (ties in character order): what visitors of this registry would type."""
    seen = Counter()
    for text in texts:
        for run in CJK.findall(text):
            for i in range(len(run) - length + 1):
                seen[run[i : i + length]] += 1
    ranked = sorted(seen, key=lambda word: (-seen[word], word))
    if len(ranked) <= count:
        return ranked
    return (
        [ranked[round(i * (len(ranked) - 1) / (count - 1))] for i in range(count)]
        if count > 1
        else ranked[:1]
    )


def data_words(rng: random.Random) -> dict[str, list[str]]:
    """Search words of 4, 2 and 1 characters from the titles and owners' names of 2,000 filed projects."""
    from projects.models import Project, Stage

    ids = list(Project.objects.filter(stage=Stage.APPROVED).values_list("pk", flat=True))
    sample = rng.sample(ids, min(len(ids), 2_000))
    texts = [
        text
        for title, owner in Project.objects.filter(pk__in=sample).values_list("title", "organisation__name")
        for text in (title, owner)
    ]
    return {
        "queries": search_words(texts, 4, 20),
        "two": search_words(texts, 2, 16),
        "one": search_words(texts, 1, 12),
    }


def public_pages(rng: random.Random) -> tuple[list[Page], dict]:
    t = public_load.targets(rng)
    words = data_words(rng)
    endpoints = public_load.endpoints(t, **words)
    pages = [Page(e, "ceiling" if e.name == "bare view" else "public", 16) for e in endpoints]
    return pages, words


def bench_user(email: str, name: str, *, superuser: bool = False, group: str | None = None):
    """A bureau user with a confirmed authenticator (made once, kept across runs)."""
    from django.contrib.auth.models import Group
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from registry.models import User

    user = User.objects.filter(email=email).first()
    if user is None:
        make = User.objects.create_superuser if superuser else User.objects.create_user
        user = make(email=email, full_name=name, **({} if superuser else {"is_staff": True}))
    if group:
        user.groups.add(Group.objects.get(name=group))
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    return user


def session_cookie(user) -> str:
    """A logged-in session that has passed the second factor, as a Cookie header value."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user, confirmed=True).persistent_id
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def office_pages(rng: random.Random) -> list[Page]:
    """The review queues and case screens of 8 technical reviewers, and the admin changelists over the
    same rows for a superuser (what a reviewer would use instead)."""
    from django.urls import reverse

    from projects.models import REVIEW_STAGES, Declaration, Project
    from projects.office_views import QUEUES, SORTS
    from registry import roles

    reviewers = [
        bench_user(REVIEWER_EMAIL.format(n=n), f"Bench Reviewer {n}", group=roles.TECHNICAL_REVIEWER)
        for n in range(1, REVIEWERS + 1)
    ]
    cookies = [session_cookie(user) for user in reviewers]
    admin_cookie = session_cookie(bench_user(ADMIN_EMAIL, "Bench Admin", superuser=True))

    def queue(kind: str, name: str) -> str:
        return reverse("projects:office_queue", args=[kind, name])

    queues = []
    for name in QUEUES:
        queues += [queue("declarations", name), queue("declarations", name) + "?page=last"]
    queues += [queue("declarations", "technical") + f"?sort={quote(sort)}" for sort in SORTS]
    queues += [queue("declarations", "technical") + f"?sort={quote(sort)}&page=last" for sort in SORTS]
    queues += [queue("projects", "intake"), queue("projects", "intake") + "?page=last"]
    in_review = list(Declaration.objects.filter(stage__in=REVIEW_STAGES).values_list("pk", flat=True))
    projects = list(Project.objects.filter(stage__in=REVIEW_STAGES).values_list("pk", flat=True))
    cases = [
        reverse("projects:office_case", args=["declarations", pk])
        for pk in rng.sample(in_review, min(500, len(in_review)))
    ]
    cases += [
        reverse("projects:office_case", args=["projects", pk])
        for pk in rng.sample(projects, min(100, len(projects)))
    ]
    rng.shuffle(cases)
    # The admin's changelists over the same rows: 100 rows a page, `?p=` from 1 to the last, 10 pages each.
    # Logged-in pages are never cached, and the admin refuses a parameter it does not know: no `_=`.
    technical = Declaration.objects.filter(stage="technical").count()
    admin_declarations = "/admin/projects/declaration/?stage__exact=technical"
    admin_projects = "/admin/projects/project/"

    def spread(url: str, rows: int) -> list[str]:
        last = max(rows - 1, 0) // 100 + 1
        joiner = "&" if "?" in url else "?"
        return [f"{url}{joiner}p={1 + (last - 1) * i // 9}" for i in range(10)]

    def endpoint(name: str, what: str, paths: list[str]) -> public_load.Endpoint:
        return public_load.Endpoint(name, what, paths, unique=False)

    return [
        Page(
            endpoint(
                "admin changelist, declarations",
                "technical, 10 pages to the last",
                spread(admin_declarations, technical),
            ),
            "admin",
            REVIEWERS,
            [admin_cookie],
        ),
        Page(
            endpoint(
                "admin changelist, projects",
                "10 pages to the last",
                spread(admin_projects, Project.objects.count()),
            ),
            "admin",
            REVIEWERS,
            [admin_cookie],
        ),
        Page(
            endpoint("review queue", f"{len(queues)} URLs: every queue, every sort, last pages", queues),
            "office",
            REVIEWERS,
            cookies,
        ),
        Page(endpoint("case screen", f"{len(cases)} cases in review", cases), "office", REVIEWERS, cookies),
    ]


# --- Measuring the pages ------------------------------------------------------------------------------


def in_process(page: Page, nonce: str) -> dict:
    """One request of the page's first URL through django.test.Client: status, bytes, SQL queries."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    headers = {"accept-language": public_load.HEADERS["Accept-Language"]}
    if page.cookies:
        headers["cookie"] = page.cookies[0]
    client = Client(HTTP_HOST="127.0.0.1", headers=headers)
    path = page.endpoint.path_of(1, f"q{nonce}")
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        response = client.get(path)
    if response.status_code != 200:
        print(f"WARNING: {path} answered {response.status_code} in-process.", flush=True)
    return {
        "path": path,
        "status": response.status_code,
        "bytes": len(response.content),
        "queries": len(context),
    }


def measure(server: ProductionServer, access: AccessLog, page: Page, *, nonce: str, size: Size) -> dict:
    e = page.endpoint
    print(f"  {e.name}: {page.connections} connections, {size.seconds:g} s…", flush=True)
    options = {
        "connections": page.connections,
        "threads": 2,
        "unique": e.unique,
        "cookies": page.cookies,
    }
    if size.warmup:
        run_wrk(server.port, e.paths, seconds=size.warmup, nonce=f"w{nonce}", **options)
    workers = server.workers()
    access.read()  # the warm-up's lines
    cpu_before = {pid: cpu_seconds(pid) for pid in workers}
    load_before = os.getloadavg()[0]
    result = run_wrk(server.port, e.paths, seconds=size.seconds, nonce=nonce, **options)
    pids, statuses = access.read()
    if not result["requests"]:  # none finished within the window: wrk's percentiles are zeros
        result["latency_ms"] = dict.fromkeys(result["latency_ms"])
    return {
        "name": e.name,
        "what": e.what,
        "group": page.group,
        "connections": page.connections,
        "users": len(page.cookies) if page.group == "office" else (1 if page.cookies else 0),
        "requests": result["requests"],
        "seconds": result["duration_s"],
        "rate": result["rate"],
        "latency_ms": result["latency_ms"],
        "wrk_errors": result["errors"],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "not_200": sum(v for k, v in statuses.items() if k != 200),
        "workers": {str(pid): pids.get(pid, 0) for pid in workers},
        "worker_cpu_s": {str(pid): round(cpu_seconds(pid) - cpu_before[pid], 2) for pid in workers},
        "load": round((load_before + os.getloadavg()[0]) / 2, 1),
    }


def cpu_seconds(pid: int) -> float:
    from bench.registration import cpu_seconds as of_process

    return of_process(pid)


def web_env(*, shared_cache: bool = False) -> dict:
    """The gunicorn's environment: bench settings; without `shared_cache`, no REDIS_URL (the page cache in
    each worker's memory, so the unique-URL rows leave nothing in Redis). With it, the cache is Redis, as in
    production: the memory step measures the process, not a per-process cache filling with unique URLs."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS}
    if not shared_cache:
        env.pop("REDIS_URL", None)
    return env


def measure_pages(pages: list[Page], *, workers: int, size: Size, nonce: str) -> tuple[list[dict], dict]:
    server = ProductionServer(workers, web_env())
    rows = []
    try:
        server.wait_ready()
        access = AccessLog(server.log.name)
        for page in pages:
            rows.append(measure(server, access, page, nonce=nonce, size=size))
    finally:
        log = server.output()
        server.stop()
    problems = [line for line in log.splitlines() if "Traceback" in line or "[ERROR]" in line]
    return rows, {"command": server.command[2:], "log_problems": problems[:20]}


def memory(pages: list[Page], *, workers: int, size: Size, nonce: str) -> dict:
    """A fresh gunicorn under a steady mix of the public pages: each worker's RSS at its request
    marks[0] and marks[1] (counted from the access log; sampled within 0.2 s of passing the mark)."""
    first, last = size.memory_marks
    public = [page for page in pages if page.group == "public"] or pages  # --only may leave none
    mix = [p for page in public if not page.cookies for p in page.endpoint.paths[:40]]
    random.Random(3).shuffle(mix)
    server = ProductionServer(workers, web_env(shared_cache=True))
    samples: dict[int, dict] = {}
    started = time.perf_counter()
    try:
        server.wait_ready()
        access = AccessLog(server.log.name)
        served = Counter()
        with tempfile.TemporaryDirectory(prefix="bench-run-memory-") as folder:
            wrk_files(folder, mix, [])
            command = wrk_command(
                server.port,
                folder,
                seconds=size.memory_cap,
                connections=16,
                threads=2,
                unique=True,
                nonce=f"m{nonce}",
            )
            load = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while load.poll() is None:
                    time.sleep(0.2)
                    served.update(access.read()[0])
                    for pid in server.workers():
                        marks = samples.setdefault(pid, {})
                        for mark in (first, last):
                            if served[pid] >= mark and str(mark) not in marks:
                                marks[str(mark)] = {"request": served[pid], "rss_kib": rss_kib(pid)}
                    if samples and all(str(last) in marks for marks in samples.values()):
                        break
            finally:
                load.terminate()
                load.wait(timeout=30)
    finally:
        server.stop()
    growth = {
        str(pid): round(100 * (m[str(last)]["rss_kib"] / m[str(first)]["rss_kib"] - 1), 1)
        for pid, m in samples.items()
        if str(first) in m and str(last) in m
    }
    return {
        "marks": [first, last],
        "workers": {str(pid): m for pid, m in samples.items()},
        "growth_percent": growth,
        "flat": bool(growth) and len(growth) == len(samples) and all(abs(g) <= 10 for g in growth.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "requests": sum(served.values()),
    }


# --- Registration and retirements ---------------------------------------------------------------------


def next_phase_code() -> str:
    """A phase code of its own for this run's registration: <year>B<n>, n one more than the last."""
    from offsets.models import IssuancePhase

    year = date.today().year
    taken = set(IssuancePhase.objects.filter(code__startswith=f"{year}B").values_list("code", flat=True))
    n = 1
    while f"{year}B{n:03d}" in taken:
        n += 1
    return f"{year}B{n:03d}"


def background(
    *, register: int, retire: dict | None, processes: int, files_root: Path, redis_url: str, timeout: float
) -> dict:
    """A real Celery worker (prefork, `processes`) on a queue of this run; with it, the registration of a
    phase of `register` declarations, then (with `retire`) the retirement scenarios."""
    from bench import registration as reg
    from config.celery import app

    queue = f"bench-run-{os.getpid()}"
    app.conf.task_default_queue = queue
    redis = reg.redis_client(redis_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PRIVATE_FILES_ROOT": str(files_root),
        "MAIL_FOLDER": str(files_root / "mail"),
    }
    worker = reg.Worker(queue=queue, concurrency=processes, env=env, log=files_root / "worker.log")
    out: dict = {}
    try:
        print(f"Worker answered a ping after {worker.wait_ready(app):.1f} s.", flush=True)
        if register:
            out["registration"] = registration(
                register, worker=worker, redis=redis, app=app, files_root=files_root, timeout=timeout
            )
            out["registration"]["worker_processes"] = processes
        if retire is not None:
            out["retirements"] = retirements(queue=queue, redis=redis, app=app, **retire)
        out["worker_errors"] = reg.scan_log(files_root / "worker.log", 0)[:10]
    finally:
        worker.stop()
        for key in redis.scan_iter(match=f"*{queue}*"):
            redis.delete(key)
    return out


def registration(count: int, *, worker, redis, app, files_root: Path, timeout: float) -> dict:
    """A phase of `count` eligible declarations through the real services (the load's registrar and
    approver), registered; its certificates, e-mails and announcement made by the worker."""
    from bench import registration as reg
    from offsets import issuing
    from offsets.models import NoticeVersion
    from registry.models import User

    registrar = User.objects.get(email=REGISTRAR_EMAIL)
    approver = User.objects.get(email=APPROVER_EMAIL)
    declarations = list(issuing.eligible_declarations().order_by("pk")[:count])
    if not declarations:
        return {"skipped": "no approved declaration outside a phase is left: fill the database again"}
    started = time.perf_counter()
    phase = reg.closed_phase(registrar, approver, code=next_phase_code(), declarations=declarations)
    worker.wait_idle(
        app,
        redis,
        condition=lambda: not NoticeVersion.objects.filter(phase=phase, pdf="").exists(),
        timeout=timeout,
    )
    to_closed = time.perf_counter() - started
    print("Registering…", flush=True)
    result = reg.register(phase, approver)
    cpu_before = reg.cpu_seconds(worker.process.pid)
    phase = result["phase"]
    expected = reg.expected_owner_emails(phase)
    seen = reg.wait_for_documents(
        phase, worker, expected_emails=expected, committed=result["committed"], timeout=timeout
    )
    cpu = reg.cpu_seconds(worker.process.pid) - cpu_before
    worker.wait_idle(app, redis, condition=lambda: True, timeout=timeout)
    certificates = reg.check_certificates(phase, files_root)
    finished = [mtime - result["committed_wall"] for mtime in certificates["mtimes"]]
    issuances = phase.issuances.count()
    return {
        "phase": phase.code,
        "declarations": len(declarations),
        "to_closed_notice_s": round(to_closed, 1),
        "register_phase_ms": round(result["call_ms"]),
        "statements": result["statements"].count,
        "enqueue_ms": round(result["enqueue_ms"]),
        "issuances": issuances,
        "certificate_files": certificates["good_files"],
        "certificate_problems": certificates["bad"][:10] + certificates["duplicates"][:10],
        "certificates_wall_s": round(finished[-1], 1) if finished else None,
        "seen_after_commit_s": seen,
        "worker_cpu_s": round(cpu, 1),
        "cpu_s_per_certificate": round(cpu / max(issuances, 1), 3),
    }


def holders(count: int) -> list:
    """(account, its declarant) of the `count` verified organisations' accounts holding the most credits."""
    from django.db.models import Sum

    from offsets import ledger
    from offsets.models import Account, BlockStatus, SerialBlock
    from registry.models import Membership, OrganisationStatus, OrgRole

    rows = list(
        SerialBlock.objects.filter(
            status=BlockStatus.HELD, account__organisation__status=OrganisationStatus.VERIFIED
        )
        .values("account")
        .annotate(units=Sum(ledger.UNITS))
        .order_by("-units", "account")
        .values_list("account", flat=True)[:count]
    )
    accounts = Account.objects.select_related("organisation").in_bulk(rows)
    declarants = {
        m.organisation_id: m.user
        for m in Membership.objects.filter(
            organisation__in=[a.organisation_id for a in accounts.values()],
            role=OrgRole.DECLARANT,
            user__is_active=True,
        ).select_related("user")
    }
    return [
        (accounts[pk], declarants[accounts[pk].organisation_id])
        for pk in rows
        if accounts[pk].organisation_id in declarants
    ]


def retirements(*, queue: str, redis, app, db: dict, seconds: float, warmup: float, clients: int) -> list:
    """bench/retirements.py's scenarios, short: one account, then 100 accounts. Their checkpoints go to the
    worker's queue; their other jobs (certificates, e-mails) to a queue no one reads, emptied after."""
    from bench.retirements import scenario

    others = f"{queue}-others"
    app.conf.task_default_queue = others
    app.conf.task_routes = {"registry.tasks.take_checkpoint": {"queue": queue}}
    found = holders(RETIREMENT_ACCOUNTS)
    if not found:
        return [{"skipped": "no account holds credits"}]
    measure = {"db": db, "warmup": warmup, "seconds": seconds}
    runs = [
        scenario("one account", [found[:1] for _ in range(clients)], **measure),
        scenario("100 accounts", [found[i::clients] for i in range(clients)], **measure),
    ]
    left = redis.llen(others)
    for key in redis.scan_iter(match=f"*{others}*"):
        redis.delete(key)
    return [
        {
            "scenario": run.name,
            "clients": run.clients,
            "accounts": run.accounts,
            "rate": round(run.rate, 1),
            "p50_ms": round(run.percentile(0.5), 1),
            "p95_ms": round(run.percentile(0.95), 1),
            "refused": sum(run.refused.values()),
            "jobs_left_unread": left,
        }
        for run in runs
    ]


# --- The fill -------------------------------------------------------------------------------------------


def scale_of(quick: bool, options: dict):
    from bench import load

    base = {
        "organisations": 500,
        "projects": 10_000,
        "declarations": 30_000,
        "phases": 20,
        "transfers": 500,
        "retirements": 1_000,
    }
    scale = load.Scale(**base) if quick else load.Scale()
    return load.Scale(**{**asdict(scale), **{k: v for k, v in options.items() if v is not None}})


def held_scale() -> dict:
    from projects.models import Declaration, Project
    from registry.models import Organisation

    return {
        "organisations": Organisation.objects.count(),
        "projects": Project.objects.count(),
        "declarations": Declaration.objects.count(),
    }


def fill(scale, db: dict) -> str:
    """Fill the database at `scale` unless it holds it already; returns what was done."""
    from django.core.management import call_command
    from django.db import connections

    from bench import common
    from bench.registration import recreate_database

    common.ensure_database(db)
    call_command("migrate", interactive=False, verbosity=0)
    held = held_scale()
    wanted = {name: getattr(scale, name) for name in held}
    if held == wanted:
        print(f"{db['NAME']} holds {held} already: not filled again.", flush=True)
        return "kept"
    if any(held.values()):
        print(f"{db['NAME']} holds {held}, not {wanted}: dropped and filled again.", flush=True)
        connections.close_all()
        recreate_database(db)
    options = {k.replace("_", "-"): v for k, v in asdict(scale).items() if k != "checkpoint"}
    call_command("generate_load", *[f"--{k}={v}" for k, v in options.items()])
    return "filled"


# --- The report -------------------------------------------------------------------------------------------


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine() -> dict:
    from bench.registration import machine_facts

    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "description": f"{model + ', ' if model else ''}{machine_facts()}",
        "cpus": os.cpu_count(),
        "wrk": (wrk.stdout + wrk.stderr).splitlines()[0] if (wrk.stdout + wrk.stderr) else "",
    }


def problems(results: dict) -> list[str]:
    """What makes a figure of the run untrustworthy: a page that did not answer 200, a failed check."""
    found = []
    for row in results.get("pages", []):
        if row.get("status") != 200 or row["not_200"] or row["requests"] == 0:
            found.append(
                f"{row['name']}: in-process {row.get('status')}, under load {row['statuses']} "
                f"(wrk errors {row['wrk_errors']})"
            )
    found += [f"gunicorn: {line}" for line in results.get("server", {}).get("log_problems", [])]
    reg = results.get("registration") or {}
    found += [f"registration: {line}" for line in reg.get("certificate_problems", [])]
    found += [f"worker: {line}" for line in results.get("worker_errors", [])]
    for name, outcome in (results.get("verify") or {}).items():
        if outcome["outcome"].startswith("FAILED"):
            found.append(f"{name}: {outcome['outcome']}")
    return found


def ratios(rows: list[dict]) -> None:
    bare = next((r["rate"] for r in rows if r["group"] == "ceiling"), 0)
    for row in rows:
        row["ratio_to_bare"] = round(row["rate"] / bare, 3) if bare else None


def targets(results: dict) -> list[dict]:
    """The issue's measured targets, each with the figure found and whether it is met."""
    found = []

    def check(name: str, target: str, measured: str, met: bool | None) -> None:
        found.append({"target": name, "wanted": target, "measured": measured, "met": met})

    rows = {r["name"]: r for r in results.get("pages", [])}
    # The uncached public pages ("search, cached" and "project page, cached" are not among them).
    public = [
        r for r in results.get("pages", []) if r["group"] == "public" and not r["name"].endswith(", cached")
    ]

    def p95(row: dict) -> float:  # None: no request finished within the window
        return math.inf if row["latency_ms"]["p95"] is None else row["latency_ms"]["p95"]

    if public:
        slowest = min(public, key=lambda r: r["rate"])
        worst_p95 = max(public, key=p95)
        lowest = min(public, key=lambda r: r["ratio_to_bare"] or 0)
        check(
            "public pages, rate (16 connections)",
            "≥ 300 req/s each",
            f"lowest {slowest['rate']:,.0f} ({slowest['name']}); "
            f"{sum(r['rate'] >= 300 for r in public)} of {len(public)} met",
            all(r["rate"] >= 300 for r in public),
        )
        check(
            "public pages, p95",
            "< 100 ms each",
            f"highest {ms(worst_p95['latency_ms']['p95'])} ms ({worst_p95['name']})",
            all(p95(r) < 100 for r in public),
        )
        check(
            "public pages, share of the bare view",
            "≥ 15 % each",
            f"lowest {100 * (lowest['ratio_to_bare'] or 0):.1f} % ({lowest['name']})",
            all((r["ratio_to_bare"] or 0) >= 0.15 for r in public),
        )
    for first, deepest in (
        ("list, page 1", "list, last page"),
        ("by filing date, page 1", "by filing date, last page"),
    ):
        if first in rows and deepest in rows and rows[deepest]["rate"]:
            factor = rows[first]["rate"] / rows[deepest]["rate"]
            check(
                f"{first} against {deepest.split(', ')[-1]}",
                "within 2× (rate)",
                f"{factor:.2f}×",
                1 / 2 <= factor <= 2,
            )
    if "review queue" in rows:
        queue = rows["review queue"]
        declarations = results["fill"]["scale"]["declarations"]
        check(
            "review queue, 8 logged-in users",
            "p95 < 150 ms",
            f"{ms(queue['latency_ms']['p95'])} ms at {declarations:,} declarations",
            p95(queue) < 150,
        )
    reg = results.get("registration") or {}
    if reg.get("issuances"):
        check(
            "certificates, CPU",
            "≤ 0.24 CPU s each",
            f"{reg['cpu_s_per_certificate']:.3f} s (with its e-mails)",
            reg["cpu_s_per_certificate"] <= 0.24,
        )
        wall = reg.get("certificates_wall_s")
        check(
            f"a {reg['issuances']:,}-declaration phase's certificates, "
            f"{reg['worker_processes']} worker processes",
            "< 2 min (for 1,000)",
            "not all made" if wall is None else f"{wall:.1f} s",
            None if wall is None else wall < 120 * reg["issuances"] / 1_000,
        )
    for name, outcome in (results.get("verify") or {}).items():
        check(
            name, "< 60 s", f"{outcome['seconds']:.1f} s ({outcome['outcome'][:60]})", outcome["seconds"] < 60
        )
    mem = results.get("memory") or {}
    if mem.get("workers"):
        first, last = mem["marks"]
        check(
            f"worker memory, request {first:,} to {last:,}",
            "flat within 10 %",
            ", ".join(f"{g:+.1f} %" for g in mem["growth_percent"].values())
            or f"request {last:,} not reached",
            mem["flat"] if mem["growth_percent"] else None,
        )
    return found


def table(header: list[str], rows: list[list]) -> str:
    return public_load.table(header, rows)


def targets_table(found: list[dict]) -> str:
    """The issue's targets, each with what was wanted, what was measured and whether it was met."""
    met = {True: "yes", False: "**no**", None: "—"}
    return table(
        ["target", "wanted", "measured", "met"],
        [[t["target"], t["wanted"], t["measured"], met[t["met"]]] for t in found],
    )


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def cpu_per_request(row: dict) -> str:
    """The gunicorn workers' CPU time per request answered (the rest of a request's time: PostgreSQL,
    waiting for a core)."""
    served = sum(row["workers"].values())
    return f"{1000 * sum(row['worker_cpu_s'].values()) / served:,.1f}" if served else "—"


def markdown(results: dict) -> str:
    dirty = " (uncommitted changes)" if results["dirty"] else ""
    scale = results["fill"]["scale"]
    counts = ", ".join(f"{scale[k]:,} {k}" for k in ("organisations", "projects", "declarations", "phases"))
    parts = [
        f"Run {results['date']} at {results['commit']}{dirty}: "
        f"`{results['command']}`; {results['machine']['description']}; {results['machine']['wrk']}.",
        f"Data: {counts} "
        f"({results['fill']['done']}). Web: `{' '.join(results['server']['command'][:-2])}` (the Procfile's, "
        "its access log with the worker's pid), "
        f"{results['options']['workers']} sync workers, page cache in each worker's memory (in Redis for "
        "the memory step); "
        f"{results['options']['seconds']:g} s per row after {results['options']['warmup']:g} s of warm-up.",
    ]
    pages = results.get("pages") or []
    if pages:
        parts.append(
            table(
                [
                    "page",
                    "URLs",
                    "conn.",
                    "req/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "queries",
                    "× bare",
                    "worker CPU ms/req",
                    "requests per worker",
                    "not 200",
                    "load",
                ],
                [
                    [
                        r["name"],
                        r["what"],
                        r["connections"],
                        f"{r['rate']:,.0f}" if r["rate"] >= 10 else f"{r['rate']:.1f}",
                        *(ms(r["latency_ms"][q]) for q in ("p50", "p95", "p99")),
                        r.get("queries", "—"),
                        f"{r['ratio_to_bare']:.3f}" if r.get("ratio_to_bare") is not None else "—",
                        cpu_per_request(r),
                        " / ".join(f"{n:,}" for n in r["workers"].values()),
                        r["not_200"],
                        r["load"],
                    ]
                    for r in pages
                ],
            )
        )
        filtered = [r for r in pages if r["name"] in FILTER_ROWS]
        if filtered:
            parts.append(
                f"Peer: {PEER['name']}, {PEER['page']} at {PEER['projects']:,} projects, "
                "this machine kind: "
                f"{PEER['rate']} req/s (ours then: {PEER['ours_then']}). Ours, filtered lists at "
                f"{results['fill']['scale']['projects']:,} projects: "
                + ", ".join(f"{r['name']} {r['rate']:,.0f} req/s" for r in filtered)
                + "."
            )
    mem = results.get("memory") or {}
    if mem.get("workers"):
        parts.append(
            "Worker memory (RSS, steady mix of the public pages): "
            + "; ".join(
                f"worker {pid}: "
                + ", ".join(f"request {m['request']:,} {m['rss_kib'] / 1024:.1f} MiB" for m in marks.values())
                for pid, marks in mem["workers"].items()
            )
            + "."
        )
    reg = results.get("registration") or {}
    if reg.get("issuances"):
        parts.append(
            f"Registration: phase {reg['phase']}, {reg['issuances']:,} declarations, register_phase "
            f"{reg['register_phase_ms']:,} ms ({reg['statements']:,} statements); certificates by "
            f"{reg['worker_processes']} worker processes in {reg['certificates_wall_s']} s after the commit, "
            f"{reg['cpu_s_per_certificate']:.3f} CPU s each with its e-mails; "
            f"{reg['certificate_files']:,} files as recorded."
        )
    elif reg.get("skipped"):
        parts.append(f"Registration skipped: {reg['skipped']}.")
    runs = results.get("retirements") or []
    if runs and "rate" in runs[0]:
        parts.append(
            table(
                ["retirements", "clients", "accounts", "per s", "p50 ms", "p95 ms", "refused"],
                [
                    [
                        r["scenario"],
                        r["clients"],
                        r["accounts"],
                        r["rate"],
                        r["p50_ms"],
                        r["p95_ms"],
                        r["refused"],
                    ]
                    for r in runs
                ],
            )
        )
    found = results.get("targets") or []
    if found:
        parts.append(targets_table(found))
    if results.get("problems"):
        parts.append(
            "**Problems** (the figures above may not mean what they say):\n\n"
            + "\n".join(f"- {line}" for line in results["problems"])
        )
    parts.append(
        "Steps (s): "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in results["steps"].items())
        + f"; total {results['total_seconds']:.0f} s."
    )
    return "\n\n".join(parts) + "\n"


def write_docs(text: str, path: Path = DOCS) -> None:
    """Put `text` between the results markers under DOCS_HEADING (adding the heading and markers at the
    end of the file if missing); the rest of the file stays as it is."""
    doc = path.read_text()
    block = f"{DOCS_START}\n\n{text.rstrip()}\n\n{DOCS_END}"
    if DOCS_START in doc and DOCS_END in doc:
        head, rest = doc.split(DOCS_START, 1)
        doc = head + block + rest.split(DOCS_END, 1)[1]
    elif DOCS_HEADING in doc:
        head, rest = doc.split(DOCS_HEADING, 1)
        doc = head + DOCS_HEADING + "\n\n" + block + "\n" + rest
    else:
        doc = doc.rstrip() + f"\n\n{DOCS_HEADING}\n\n{block}\n"
    path.write_text(doc)


def results_path(day: str, commit: str, quick: bool) -> Path:
    return RESULTS / f"{day}-{commit or 'nogit'}{'-quick' if quick else ''}.json"


# --- Main ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small scale and short windows, to try it")
    for name in ("organisations", "projects", "declarations", "phases", "transfers", "retirements"):
        parser.add_argument(
            f"--{name}", type=int, help=f"{name} to fill (the issue's default; --quick: a tenth)"
        )
    parser.add_argument("--seconds", type=float, help="measured seconds per page (10; --quick 3)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each page (1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, WEB_CONCURRENCY (2)")
    parser.add_argument(
        "--register", type=int, help="declarations in the registered phase (1000; --quick 100)"
    )
    parser.add_argument("--worker-processes", type=int, default=2, help="Celery worker processes (2)")
    parser.add_argument("--retire-seconds", type=float, help="measured seconds per retirement scenario (10)")
    parser.add_argument("--retire-clients", type=int, default=8, help="retirement client processes (8)")
    parser.add_argument("--skip", nargs="*", choices=STEPS, default=[], help="steps left out")
    parser.add_argument("--only", nargs="*", help="measure only the pages whose name contains one of these")
    parser.add_argument("--write-docs", action="store_true", help=f"put the tables into {DOCS.name}")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the worker (900)")
    args = parser.parse_args(argv)
    extra = sys.argv[1:] if argv is None else argv
    base = QUICK_SIZE if args.quick else DEFAULT_SIZE
    size = Size(
        seconds=args.seconds or base.seconds,
        warmup=base.warmup if args.warmup is None else args.warmup,
        register=base.register if args.register is None else args.register,
        retire_seconds=args.retire_seconds or base.retire_seconds,
        memory_marks=base.memory_marks,
        memory_cap=base.memory_cap,
    )
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: .ci/system-packages wrk (Debian package wrk).")
    run_started = time.perf_counter()
    files_root = Path(tempfile.mkdtemp(prefix="bench-run-"))
    os.environ["PRIVATE_FILES_ROOT"] = str(files_root)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    django.setup()
    from django.conf import settings
    from django.db import connections

    from bench import common, load
    from bench.registration import verify_ledger
    from bench.retirements import verify_audit

    db = common.bench_database(BENCH_SUFFIX)
    if not settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        sys.exit(
            "Refusing to run: set REDIS_URL (e.g. redis://127.0.0.1:6379/10); tasks go to a real worker."
        )
    settings.DEBUG = False  # no query log beyond CaptureQueriesContext's
    timer = load.Timer(lambda line: print(line, flush=True))
    scale = scale_of(args.quick, {k: getattr(args, k) for k in asdict(load.Scale()) if hasattr(args, k)})
    commit = git("rev-parse", "--short", "HEAD")
    results: dict = {
        "issue": 15,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": commit,
        "dirty": bool(git("status", "--porcelain")),
        "command": "make bench" + (f" BENCH_ARGS='{' '.join(extra)}'" if extra else ""),
        "options": {**asdict(size), "workers": args.workers, "quick": args.quick},
        "peer": PEER,
    }
    print(f"make bench: {db['NAME']}, scale {scale}.", flush=True)
    try:
        with timer("fill"):
            done = fill(scale, db)
        results["fill"] = {"scale": asdict(scale), "done": done, "held": held_scale()}
        results["machine"] = machine()
        nonce = f"{time.time_ns() % 10**9}-"
        rng = random.Random(7)
        if "pages" in args.skip:
            pages, words = [], {}
        else:
            with timer("pages: targets, users and sessions"):
                public, words = public_pages(rng)
                office = office_pages(rng)
                # The bare view first (the ceiling), then the admin, the public pages and the office.
                pages = public[:1] + office[:2] + public[1:] + office[2:]
        results["search_words"] = words
        chosen = [p for p in pages if not args.only or any(w in p.endpoint.name for w in args.only)]
        if chosen:
            with timer("pages: queries in-process"):
                checked = {p.endpoint.name: in_process(p, nonce) for p in chosen}
            connections.close_all()
            with timer("pages: wrk"):
                rows, server = measure_pages(chosen, workers=args.workers, size=size, nonce=nonce)
            for row in rows:
                row.update(checked[row["name"]])
            ratios(rows)
            results["pages"], results["server"] = rows, server
        else:
            results["server"] = {"command": procfile_command(0, args.workers)[2:]}
        if "memory" not in args.skip and chosen:
            with timer("memory"):
                results["memory"] = memory(chosen, workers=args.workers, size=size, nonce=nonce)
        register = 0 if "registration" in args.skip else size.register
        retire = None
        if "retirements" not in args.skip:
            retire = {
                "db": db,
                "seconds": size.retire_seconds,
                "warmup": min(2.0, size.retire_seconds),
                "clients": args.retire_clients,
            }
        if register or retire:
            with timer("registration and retirements"):
                results.update(
                    background(
                        register=register,
                        retire=retire,
                        processes=args.worker_processes,
                        files_root=files_root,
                        redis_url=settings.REDIS_URL,
                        timeout=args.timeout,
                    )
                )
        if "verify" not in args.skip:
            results["verify"] = {}
            for name, check in (("verify_ledger", verify_ledger), ("verify_audit", verify_audit)):
                with timer(name):
                    outcome, ms = check()
                results["verify"][name] = {
                    "seconds": round(ms / 1000, 1),
                    "outcome": outcome.splitlines()[-1] if outcome else "",
                }
    finally:
        shutil.rmtree(files_root, ignore_errors=True)
    results["steps"] = {name: round(seconds, 1) for name, seconds in timer.times}
    results["total_seconds"] = round(time.perf_counter() - run_started, 1)
    results["targets"] = targets(results)
    results["problems"] = problems(results)
    RESULTS.mkdir(exist_ok=True)
    path = results_path(date.today().isoformat(), commit, args.quick)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    text = markdown(results)
    print("\n" + text)
    print(f"Results: {path.relative_to(ROOT)}.")
    if args.write_docs:
        write_docs(text)
        print(f"Written into {DOCS.relative_to(ROOT)} under {DOCS_HEADING}.")


if __name__ == "__main__":
    main()
