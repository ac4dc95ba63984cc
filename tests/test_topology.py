"""The production topology, run for real: a PostgreSQL primary and its streaming replica (two clusters of
their own on this machine, in temporary folders), and the three processes of the Procfile, started from
its lines: gunicorn with 2 workers, a Celery worker and Celery beat, with the production settings
(config.settings, DJANGO_DEBUG=false, plain HTTP) and Redis for the broker and the cache. Everything the
people do is real HTTP to gunicorn (urllib), with real logins: the password, and for bureau staff the
code of their authenticator.

What is not done over HTTP, and why:
- the world before the story (tests/topology_world.py seed, through the real services): the people, a
  filed project with a declaration drafted completely (monitoring data, every document, the verification
  body's report), and for the replica test a second declaration approved and in a phase approved for
  notice;
- closing the notice (tests/topology_world.py close): the scheduled job closes a notice after its last
  day, seven working days away; the same service is called as of one second after the deadline.

The test reads the primary with psycopg to check each step's state; the pages it checks come from gunicorn.
"""

import base64
import contextlib
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django_otp.oath import TOTP

from tests.conftest import need

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.timeout(900)]

BASE_DIR = Path(settings.BASE_DIR)
DATABASE = "carbon_topology"
START_SECONDS = 90


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now, all different (each probe is held until all are found)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def as_postgres(*command) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run the command as the postgres user."""
    command = [str(part) for part in command]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name}: nothing written)"
    text = path.read_text(errors="replace").splitlines()
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


# --- Two clusters: a primary and its streaming replica ----------------------------------------------


@dataclass
class Clusters:
    root: Path
    primary_port: int
    replica_port: int

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    def connect(self, port: int, dbname: str = DATABASE):
        return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, autocommit=True)

    def primary(self, query: str, params=()) -> list[tuple]:
        with self.connect(self.primary_port) as conn:
            return conn.execute(query, params).fetchall()

    def replica(self, query: str, params=()) -> list[tuple]:
        with self.connect(self.replica_port) as conn:
            return conn.execute(query, params).fetchall()


def start_cluster(binaries: Path, folder: Path, root: Path, port: int) -> None:
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = root / f"{folder.name}.log"
    command = as_postgres(binaries / "pg_ctl", "-D", folder, "-o", options, "-l", log, "-w", "start")
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="module")
def clusters():
    """A primary cluster and a replica made from it with pg_basebackup, streaming; both stopped and their
    folders removed afterwards, also when something failed. The machine's own cluster is not touched."""
    binaries = postgres_bin()
    need(binaries is not None, "needs the PostgreSQL server binaries (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="carbon-topology-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    primary, replica = root / "primary", root / "replica"
    found = Clusters(root, *free_ports(2))
    try:
        initdb = as_postgres(binaries / "initdb", "-D", primary, "-A", "trust", "-U", "postgres", "-N")
        subprocess.run(initdb, check=True, capture_output=True)
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        start_cluster(binaries, primary, root, found.primary_port)
        with found.connect(found.primary_port, "postgres") as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        backup = as_postgres(
            *(binaries / "pg_basebackup", "-h", "127.0.0.1", "-p", found.primary_port, "-U", "postgres"),
            *("-D", replica, "-R", "-X", "stream", "-c", "fast"),
        )
        subprocess.run(backup, check=True, capture_output=True)
        start_cluster(binaries, replica, root, found.replica_port)
        deadline = time.monotonic() + 30
        while found.primary("SELECT state FROM pg_stat_replication") != [("streaming",)]:
            assert time.monotonic() < deadline, tail(root / "replica.log")
            time.sleep(0.2)
        assert found.replica("SELECT pg_is_in_recovery()") == [(True,)]
        yield found
    finally:
        for folder in (replica, primary):
            if (folder / "postmaster.pid").exists():
                stop = as_postgres(binaries / "pg_ctl", "-D", folder, "-m", "fast", "-w", "stop")
                subprocess.run(stop, check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# --- The portal's processes -------------------------------------------------------------------------


@dataclass
class Topology:
    clusters: Clusters
    base_url: str
    world: dict
    files: Path
    logs: Path

    def logs_tail(self) -> str:
        return "\n".join(tail(self.logs / f"{name}.log") for name in ("web", "worker", "beat"))


def procfile_processes() -> dict[str, str]:
    """The process types of the Procfile at the top of the repository: name → command."""
    lines = (BASE_DIR / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _stop(process: subprocess.Popen) -> None:
    """A warm stop (SIGTERM: gunicorn and Celery finish what they hold), then SIGKILL of its group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def topology(clusters):
    """The primary migrated and seeded; gunicorn, a Celery worker and Celery beat started against the
    primary, the replica and Redis; all three stopped afterwards."""
    import redis

    work = Path(tempfile.mkdtemp(prefix="carbon-topology-"))
    logs, files = work / "logs", work / "files"
    logs.mkdir()
    [port] = free_ports(1)
    queue = f"topology-{uuid.uuid4().hex[:8]}"
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": clusters.url(clusters.primary_port),
        "REPLICA_DATABASE_URL": clusters.url(clusters.replica_port),
        "REDIS_URL": settings.TEST_REDIS_URL,
        # A queue and cache keys of this run's own in that Redis database.
        "CELERY_QUEUE": queue,
        "CACHE_KEY_PREFIX": queue,
        # Production's settings, with plain HTTP: no TLS in front of gunicorn here.
        "DJANGO_DEBUG": "false",
        "DJANGO_EMBEDDED_DEMO": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CHECKPOINT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_HSTS_SECONDS": "0",
        "DJANGO_PROXY_SSL_HEADER": "false",
        "RUN_PERIODIC_IN_PROCESS": "false",
        "SITE_URL": base_url,
        "PRIVATE_FILES_ROOT": str(files),
        "STATIC_ROOT": str(work / "static"),
        "MAIL_HOST": "",
        "MAIL_FOLDER": str(work / "mail"),
        "LOG_LEVEL": "INFO",
    }
    manage = [sys.executable, "manage.py"]
    processes: dict[str, subprocess.Popen] = {}
    try:
        # The static files are collected (production's manifest storage needs them) while the database is
        # migrated and seeded.
        collect = subprocess.Popen(
            [*manage, "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        processes["collectstatic"] = collect
        for command in (
            [*manage, "migrate", "--noinput"],
            [sys.executable, "-m", "tests.topology_world", "seed"],
        ):
            done = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
        world = json.loads(done.stdout.strip().splitlines()[-1])
        world["env"] = env
        assert collect.wait(timeout=300) == 0, collect.stdout.read()
        del processes["collectstatic"]
        # The seed's own tasks (letters and e-mails of the world before the story) are dropped: the story
        # needs none of them, and the worker would take them first.
        redis.Redis.from_url(settings.TEST_REDIS_URL).delete(queue)
        # The Procfile's own lines, as a process manager would run them, with this run's values.
        procfile = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        procfile |= {"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "WORKER_CONCURRENCY": "1"}
        procfile["BEAT_SCHEDULE_FILE"] = str(work / "celerybeat-schedule")
        for name, command in procfile_processes().items():
            log = (logs / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=BASE_DIR,
                env=procfile,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
            log.close()
        found = Topology(clusters, base_url, world, files, logs)
        deadline = time.monotonic() + START_SECONDS
        while True:
            for name, process in processes.items():
                assert process.poll() is None, f"{name} exited\n{found.logs_tail()}"
            with contextlib.suppress(OSError):
                if Browser(base_url).get("/healthz").status == 200:
                    break
            assert time.monotonic() < deadline, f"gunicorn did not answer /healthz\n{found.logs_tail()}"
            time.sleep(0.5)
        yield found
    finally:
        for process in processes.values():
            _stop(process)
        shutil.rmtree(work, ignore_errors=True)
        # The run's queue, its bindings and its cache keys are all named after it.
        client = redis.Redis.from_url(settings.TEST_REDIS_URL)
        for key in client.scan_iter(f"*{queue}*"):
            client.delete(key)


# --- A person with a browser: urllib and a cookie jar -----------------------------------------------


@dataclass
class Page:
    status: int
    url: str
    text: str


class Browser:
    """Follows redirects, keeps cookies, and sends Django's CSRF cookie back in its header on POST."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.cookies if c.name == name), None)

    def _open(self, request: urllib.request.Request) -> Page:
        request.add_header("Accept-Language", "en")
        try:
            with self.opener.open(request, timeout=60) as response:
                return Page(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as error:
            return Page(error.code, error.url, error.read().decode(errors="replace"))

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base_url + path))  # noqa: S310 (our own http URL)

    def post(self, path: str, data: dict | None = None, *, form_page: str | None = None) -> Page:
        """POST a form; the page that shows it is read first (for the CSRF cookie), unless it was already."""
        if self.cookie(settings.CSRF_COOKIE_NAME) is None:
            self.get(form_page or path)
        request = urllib.request.Request(  # noqa: S310 (our own http URL)
            self.base_url + path, data=urllib.parse.urlencode(data or {}, doseq=True).encode(), method="POST"
        )
        request.add_header("X-CSRFToken", self.cookie(settings.CSRF_COOKIE_NAME) or "")
        request.add_header("Referer", self.base_url + (form_page or path))
        return self._open(request)


def log_in(topology: Topology, who: str) -> Browser:
    """The login form, then for bureau staff the code their authenticator shows now."""
    world = topology.world
    person = world["bureau"].get(who) or world[who]
    browser = Browser(topology.base_url)
    page = browser.post(
        "/accounts/login/",
        {"username": person["email"], "password": world["password"]},
        form_page="/accounts/login/",
    )
    assert page.status == 200, page.text[:500]
    if "totp_key" in person:
        assert "/accounts/mfa/verify/" in page.url, page.url
        code = TOTP(bytes.fromhex(person["totp_key"])).token()
        page = browser.post(page.url.removeprefix(topology.base_url), {"code": f"{code:06d}"})
    assert page.status == 200 and "/accounts/" not in page.url, (page.url, page.text[:500])
    return browser


@pytest.fixture(scope="module")
def people(topology):
    """Each person logs in once (an authenticator's code works once) and keeps their browser."""
    browsers: dict[str, Browser] = {}

    def person(who: str) -> Browser:
        if who not in browsers:
            browsers[who] = log_in(topology, who)
        return browsers[who]

    return person


def wait_for(condition, *, seconds: float, message):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.3)


# --- The tests ---------------------------------------------------------------------------------------


def test_a_declaration_goes_from_submission_to_a_certificate_made_by_the_worker(topology, people):
    """Submitted by the declarant, accepted, forwarded and approved by three bureau users, put in a phase,
    approved for notice, published and registered over HTTP; the worker makes the certificate; the
    public verification page finds it; beat's heartbeat reaches /healthz through the worker."""
    db = topology.clusters
    pk = topology.world["declaration"]["pk"]

    def stage() -> str:
        return db.primary("SELECT stage FROM projects_declaration WHERE id = %s", [pk])[0][0]

    def status(code: str) -> str | None:
        rows = db.primary("SELECT status FROM offsets_issuancephase WHERE code = %s", [code])
        return rows[0][0] if rows else None

    declarant = people("declarant")
    page = declarant.post(f"/portal/declarations/{pk}/submit/", form_page=f"/portal/declarations/{pk}/")
    assert (page.status, stage()) == (200, "intake"), page.text[:500]

    case = f"/office/case/declarations/{pk}/"
    steps = [
        ("intake_officer", "accept", {"note": "Complete."}, "technical"),
        (
            "technical_reviewer",
            "forward",
            {"recommendation": "approve", "verified_t": topology.world["declaration"]["claimed_t"]},
            "approval",
        ),
        ("approver", "approve", {"note": "Evidence sufficient."}, "approved"),
    ]
    for who, decision, form, expected in steps:
        page = people(who).post(f"{case}{decision}/", form, form_page=case)
        assert (page.status, page.url, stage()) == (200, topology.base_url + case, expected), page.text[:800]

    code = "2026P01"
    registrar, approver = people("registry_admin"), people("approver")
    page = registrar.post(
        "/office/phases/", {"code": code, "title_zh": "拓扑测试批次", "title_en": "Topology test phase"}
    )
    assert (page.status, status(code)) == (200, "drafting"), page.text[:500]
    phase = f"/office/phases/{code}/"
    for browser, action, form, expected in [
        (registrar, "add", {"declarations": pk}, "drafting"),
        (registrar, "submit", {}, "submitted"),
        (approver, "approve", {"note": ""}, "approved"),
        (registrar, "publish", {}, "in_notice"),
    ]:
        page = browser.post(f"{phase}{action}/", form, form_page=phase)
        assert (page.status, status(code)) == (200, expected), page.text[:500]
    assert db.primary(
        "SELECT count(*) FROM offsets_phaseentry e JOIN offsets_issuancephase p ON p.id = e.phase_id "
        "WHERE p.code = %s AND e.declaration_id = %s",
        [code, pk],
    ) == [(1,)]

    closed = subprocess.run(
        [sys.executable, "-m", "tests.topology_world", "close", code],
        cwd=BASE_DIR,
        env=topology.world["env"],
        capture_output=True,
        text=True,
    )
    assert closed.returncode == 0, closed.stderr
    assert status(code) == "closed"
    page = approver.post(f"{phase}register/", form_page=phase)
    assert (page.status, status(code)) == (200, "registered"), page.text[:500]

    def certificate():
        rows = db.primary(
            "SELECT c.number, c.file FROM offsets_certificate c "
            "JOIN offsets_issuance i ON i.id = c.issuance_id WHERE i.declaration_id = %s",
            [pk],
        )
        return rows[0] if rows and rows[0][1] else None

    number, file = wait_for(certificate, seconds=180, message=topology.logs_tail)
    pdf = topology.files / file
    assert pdf.read_bytes().startswith(b"%PDF-")
    # Made by the worker, as the notification of `credits.issued` prepares it; gunicorn only answers pages.
    worker_log = (topology.logs / "worker.log").read_text(errors="replace")
    assert re.search(r"Task registry\.tasks\.notify\[[^\]]+\] succeeded", worker_log), topology.logs_tail()

    # Anyone can verify it on the public page, which reads the replica (streaming: at most a moment late).
    public = Browser(topology.base_url)

    def verified():
        page = public.get(f"/verify/?q={number}")
        return page if number in page.text else None

    page = wait_for(verified, seconds=30, message=topology.logs_tail)
    assert page.status == 200

    # Beat sends the heartbeat every 60 s; the worker records it; /healthz (gunicorn) reports it.
    def heartbeat():
        body = json.loads(Browser(topology.base_url).get("/healthz").text)
        return body["worker_last_seen"]

    wait_for(heartbeat, seconds=120, message=topology.logs_tail)
    assert "Sending due task worker-heartbeat" in (topology.logs / "beat.log").read_text(errors="replace")


def test_public_pages_read_the_replica_and_writers_read_their_own_writes(topology, people):
    """With the replica's replay paused, the registry administrator publishes a notice over HTTP. Their
    next pages (logged in: the primary) show it at once, while an anonymous visitor's public page (the
    replica) does not have it until replay resumes: that is where it was read. An anonymous objector,
    whose form pins their browser to the primary for a while, sees the notice and their objection at once."""
    db = topology.clusters
    code, declaration = topology.world["unpublished_phase"].values()
    notice = f"/notices/{code}/"
    anonymous, objector = Browser(topology.base_url), Browser(topology.base_url)
    assert anonymous.get(notice).status == 404
    registrar = people("registry_admin")
    db.replica("SELECT pg_wal_replay_pause()")
    try:
        wait_for(
            lambda: db.replica("SELECT pg_get_wal_replay_pause_state()") == [("paused",)],
            seconds=10,
            message="the replica did not pause its replay",
        )
        page = registrar.post(f"/office/phases/{code}/publish/", form_page=f"/office/phases/{code}/")
        assert page.status == 200
        query = "SELECT status FROM offsets_issuancephase WHERE code = %s"
        assert (db.primary(query, [code]), db.replica(query, [code])) == ([("in_notice",)], [("approved",)])

        # The writer's own next pages come from the primary: the notice is there at once.
        assert registrar.get(notice).status == 200
        # An anonymous visitor's public page comes from the replica, which has not replayed it yet.
        assert anonymous.get(notice).status == 404

        # An anonymous objector files an objection: their browser reads the primary for a while after.
        page = objector.post(
            f"{notice}object/",
            {
                "declaration": declaration,
                "name": "Wang Wu",
                "email": "wang@example.com",
                "reasons": "Double count.",
            },
        )
        assert page.status == 200 and "/object/received/" in page.url, page.text[:500]
        assert objector.cookie("primary_reads") == "1"
        [(reference,)] = db.primary(
            "SELECT o.reference FROM offsets_objection o JOIN offsets_issuancephase p ON p.id = o.phase_id "
            "WHERE p.code = %s",
            [code],
        )
        page = objector.get(notice)
        assert page.status == 200 and reference in page.text
        assert anonymous.get(notice).status == 404
    finally:
        db.replica("SELECT pg_wal_replay_resume()")
    page = wait_for(
        lambda: (page := anonymous.get(notice)).status == 200 and page,
        seconds=30,
        message="the replica never caught up",
    )
    assert reference in page.text
