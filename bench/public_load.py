"""Load benchmark of the public pages: every list, filter, sort, search and page of the public registry, a
project page, the notices, the retirements and the verification page.

The claim measured (issue 15): with 100,000 filed projects in PostgreSQL, each public page, uncached and
with distinct queries, serves concurrent visitors over the loopback at a rate and a p95 comparable to a
bare Django view measured in the same run; page 1 and the last page cost alike.

What it does, on a database of its own whose name must end in `_bench_public`:

1. creates the database if it is missing and migrates it (settings bench.settings_public);
2. fills it, if it holds fewer filed projects than asked, with deterministic data (random.Random(42))
   made with bulk_create (bench data: no validation, no workflow): enterprises and households (Chinese
   names), one methodology, N filed projects WH-PV-000001… whose Chinese titles are built from a
   vocabulary so that a middle part such as "循环产业" matches about 0.7 % of them, and for every 50th
   of them an approved declaration, an issuance of phase 2023P01 (registered), one held serial block and
   a registration certificate (WHCER-C-2023-000001…); then VACUUM ANALYZE;
3. requests one URL of each kind in-process (django.test.Client) to check it answers 200 and to count
   its SQL queries, and runs EXPLAIN (ANALYZE, BUFFERS) on each SELECT of ten registry pages (searches
   of 4, 2 and 1 characters, last pages, the filing-date order, the credit filters);
4. starts gunicorn (config.wsgi, DJANGO_SETTINGS_MODULE=bench.settings_public, --workers 2
   --threads 4) on a free port of 127.0.0.1, and waits until /bench/bare/ answers;
5. for each endpoint in turn (`endpoints()`; `--only WORD…` picks some), requests its URLs for --warmup
   seconds (not counted) and then for --seconds, with Accept-Language: zh-CN, from `wrk` (Debian package
   `wrk`, `.ci/system-packages wrk`; --client wrk, the default when it is installed: --concurrency
   connections over --wrk-threads threads, a Lua script walking the endpoint's URLs) or from Python
   threads (--client python, one keep-alive connection each, at most --max-requests requests). Every
   endpoint but the bare view, the cached ones and verify adds a unique `_=` parameter per request
   (cache_page keys on the full URL, so none is cached). The machine's load average is recorded with
   each row: the machine may be shared;
6. stops gunicorn (also on error) and prints Markdown tables (nothing is written to the repository).

Only 127.0.0.1 is contacted; every load loop ends by itself after its time or its request count.

Run it with `make bench-public`, or:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_public \\
        .venv/bin/python -m bench.public_load [--projects 100000] [--seconds 15] [--concurrency 16]
"""

import argparse
import http.client
import itertools
import math
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import django

from bench import common
from bench.common import bench_methodology, ensure_database

BENCH_SUFFIX = "_bench_public"
KINDS = ["certificate", "serial", "unit"]
SETTINGS = "bench.settings_public"
ENTERPRISES = 1_200
HOUSEHOLDS = 300
CREDITED_PROJECTS = 2_000
HOT_PROJECTS = 50  # the project pages of the "cached" run: their entries fit the local-memory cache
PHASE = "2023P01"
VINTAGE = 2022
BATCH = 5_000
HEADERS = {"Accept-Language": "zh-CN,zh;q=0.9", "User-Agent": "bench-public-load"}
ADMIN_EMAIL = "bench-public-admin@example.com"


def bench_database() -> dict:
    return common.bench_database(BENCH_SUFFIX)


def words(text: str) -> list[str]:
    return text.split()


# Titles: place + trade + facility + number. A trade is one of 15 × 10 = 150 four-character words, so
# searching for one (a middle part of the title) matches about 1/150 = 0.67 % of the projects.
PLACES = words("江岸 江汉 硚口 汉阳 武昌 青山 洪山 东西湖 汉南 蔡甸 江夏 黄陂 新洲")
TRADE_HEADS = words("循环 智能 绿色 低碳 数字 生态 现代 精密 光电 节能 临港 航空 冷链 食品 健康")
TRADE_TAILS = words("产业 制造 物流 仓储 农业 医药 材料 装备 电子 纺织")
TRADES = [head + tail for head in TRADE_HEADS for tail in TRADE_TAILS]
FACILITIES = words("园区屋顶分布式光伏 厂房屋顶光伏 仓库屋顶光伏 停车场车棚光伏 综合能源站光伏")
BRANDS = words("华远 长江 楚天 汉江 光谷 晴川 东湖 黄鹤 江城 龟山")
SURNAMES = words("王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡")
GIVEN_NAMES = words("建国 秀英 伟 芳 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟")
VILLAGES = words("柏泉 木兰 道观 凤凰 花山 索河 邾城 消泗 湘口 金口")
# The search queries: 20 of the trades, "循环产业" first.
QUERIES = [TRADES[(7 * i) % len(TRADES)] for i in range(20)]
assert QUERIES[0] == "循环产业" and len(set(QUERIES)) == 20


# --- Database ------------------------------------------------------------------------------------


# --- Data ----------------------------------------------------------------------------------------


def bench_admin():
    from registry.models import User

    user = User.objects.filter(email=ADMIN_EMAIL).first()
    return user or User.objects.create_user(email=ADMIN_EMAIL, full_name="Bench Admin", is_staff=True)


def bench_organisations(rng: random.Random, now) -> tuple[list, list]:
    """Verified enterprises and households (identifiers: any unique 18 characters; bench data)."""
    from registry.models import District, Organisation, OrganisationKind, OrganisationStatus

    common = {
        "address": "武汉市江岸区基准路1号",
        "contact_name": "李四",
        "contact_phone": "027-12345678",
        "status": OrganisationStatus.VERIFIED,
        "verified_at": now,
    }
    enterprises = [
        Organisation(
            kind=OrganisationKind.ENTERPRISE,
            name=f"武汉{rng.choice(BRANDS)}{n:04d}新能源有限公司",
            name_en=f"Wuhan Bench {n} New Energy Co., Ltd.",
            identifier=f"91420100PL{n:08d}",
            legal_representative="张三",
            district=rng.choice(District.values),
            contact_email=f"enterprise{n}@example.com",
            **common,
        )
        for n in range(1, ENTERPRISES + 1)
    ]
    households = [
        Organisation(
            kind=OrganisationKind.HOUSEHOLD,
            name=(name := rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)),
            identifier=f"4201011980{n:08d}",
            legal_representative=name,
            district=rng.choice(District.values),
            contact_email=f"household{n}@example.com",
            **common,
        )
        for n in range(1, HOUSEHOLDS + 1)
    ]
    Organisation.objects.bulk_create(enterprises + households, batch_size=BATCH)
    by_kind = Organisation.objects.order_by("identifier")
    return (
        list(by_kind.filter(kind=OrganisationKind.ENTERPRISE)),
        list(by_kind.filter(kind=OrganisationKind.HOUSEHOLD)),
    )


def project_title(rng: random.Random, i: int, household) -> str:
    place = rng.choice(PLACES)
    if household is not None:
        return f"{place}{rng.choice(VILLAGES)}村{household.name[:1]}家户用屋顶光伏项目"
    return f"{place}{rng.choice(TRADES)}{rng.choice(FACILITIES)}{i % 97 + 1}号项目"


def bench_projects(rng: random.Random, target: int, *, enterprises, households, methodology, admin, now):
    from projects.models import Project, Stage
    from registry.models import District

    for chunk in range(0, target, BATCH):
        batch = []
        for i in range(chunk + 1, min(chunk + BATCH, target) + 1):
            # One project in 200 belongs to a household; so do a quarter of those with credits (every 50th).
            household = households[(i // 200) % len(households)] if i % 200 == 100 else None
            filed = now - timedelta(days=rng.randint(30, 1500), seconds=rng.randint(0, 86_399))
            batch.append(
                Project(
                    organisation=household or enterprises[rng.randrange(len(enterprises))],
                    methodology=methodology,
                    code=f"WH-PV-{i:06d}",
                    title=project_title(rng, i, household),
                    site_address=f"武汉市基准路{i}号",
                    district=rng.choice(District.values),
                    capacity_kw=rng.randint(5, 6000),
                    crediting_start=date(2021, 1, 1),
                    crediting_end=date(2030, 12, 31),
                    not_registered_elsewhere=True,
                    outside_covered_boundary=True,
                    stage=Stage.APPROVED,
                    submitted_at=filed - timedelta(days=40),
                    decided_at=filed,
                    filed_at=filed,
                    created_by=admin,
                )
            )
        Project.objects.bulk_create(batch, batch_size=BATCH)
        print(f"  {chunk + len(batch):,} projects", end="\r", flush=True)
    print()


def bench_credits(rng: random.Random, *, admin, organisations) -> int:
    """Phase 2023P01 (registered) with, for every 50th project, a declaration, an issuance, one held
    block and a registration certificate; an account per organisation. Returns the last unit."""
    from offsets.models import (
        Account,
        Announcement,
        BlockStatus,
        Certificate,
        CertificateKind,
        Issuance,
        IssuancePhase,
        PhaseEntry,
        PhaseStatus,
        SerialBlock,
    )
    from offsets.serials import format_serial
    from projects.models import Declaration, Project, Stage
    from registry.models import Counter

    registered = datetime(2023, 3, 20, 2, 0, tzinfo=UTC)
    phase = IssuancePhase.objects.create(
        code=PHASE,
        title_zh="2023年第一批碳普惠减排量",
        title_en="Carbon inclusion reductions, 2023 phase 1",
        status=PhaseStatus.REGISTERED,
        assembled_by=admin,
        approved_by=admin,
        registered_by=admin,
        notice_start=date(2023, 3, 1),
        notice_end=date(2023, 3, 9),
        published_at=registered - timedelta(days=19),
        closed_at=registered - timedelta(days=10),
        registered_at=registered,
    )
    Announcement.objects.create(phase=phase, number="WHCER-A-2023-001", published_at=registered)
    Account.objects.bulk_create(
        [Account(organisation=o, number=f"WHA-{o.pk:08d}") for o in organisations], batch_size=BATCH
    )
    accounts = {a.organisation_id: a for a in Account.objects.all()}
    codes = [f"WH-PV-{i:06d}" for i in range(50, 50 * CREDITED_PROJECTS + 1, 50)]
    projects = list(Project.objects.filter(stage=Stage.APPROVED, code__in=codes).order_by("code"))
    declarations = []
    for project in projects:
        claimed = rng.randint(50, 5000)
        declarations.append(
            Declaration(
                project=project,
                period_start=date(VINTAGE, 1, 1),
                period_end=date(VINTAGE, 12, 31),
                vintage=VINTAGE,  # bulk_create skips Declaration.save(), which sets it
                stage=Stage.APPROVED,
                submitted_at=registered - timedelta(days=90),
                decided_at=registered - timedelta(days=30),
                claimed_t=claimed,
                verified_t=claimed,
                created_by=admin,
            )
        )
    Declaration.objects.bulk_create(declarations, batch_size=BATCH)
    PhaseEntry.objects.bulk_create(
        [PhaseEntry(phase=phase, declaration=d) for d in declarations], batch_size=BATCH
    )
    issuances, unit = [], 1
    for project, declaration in zip(projects, declarations, strict=True):
        first, last = unit, unit + declaration.verified_t - 1
        unit = last + 1
        issuances.append(
            Issuance(
                declaration=declaration,
                phase=phase,
                project=project,
                account=accounts[project.organisation_id],
                vintage=VINTAGE,
                quantity=declaration.verified_t,
                first_unit=first,
                last_unit=last,
                serial=format_serial(PHASE, project.code, VINTAGE, first, last),
                registered_at=registered,
            )
        )
    Issuance.objects.bulk_create(issuances, batch_size=BATCH)
    SerialBlock.objects.bulk_create(
        [
            SerialBlock(
                issuance=i,
                account=i.account,
                first_unit=i.first_unit,
                last_unit=i.last_unit,
                status=BlockStatus.HELD,
            )
            for i in issuances
        ],
        batch_size=BATCH,
    )
    Certificate.objects.bulk_create(
        [
            Certificate(
                kind=CertificateKind.REGISTRATION,
                number=f"WHCER-C-2023-{n:06d}",
                issuance=i,
                issued_at=registered,
            )
            for n, i in enumerate(issuances, start=1)
        ],
        batch_size=BATCH,
    )
    for name, value in (
        ("serial-units", unit - 1),
        ("certificate-registration-2023", len(issuances)),
        ("announcement-2023", 1),
    ):
        Counter.objects.update_or_create(name=name, defaults={"value": value})
    return unit - 1


def filed_count() -> int:
    from projects.models import Project, Stage

    return Project.objects.filter(stage=Stage.APPROVED, code__isnull=False).count()


def fill(target: int) -> None:
    """Empty the registry's tables and refill them if they hold fewer than `target` filed projects."""
    from django.db import connection, transaction
    from django.utils import timezone

    existing = filed_count()
    if existing >= target:
        print(f"The database holds {existing:,} filed projects (>= {target:,}): not refilled.")
        return
    if target > 999_999:
        sys.exit("At most 999,999 projects (codes WH-PV-000001 to WH-PV-999999).")
    print(f"The database holds {existing:,} filed projects; filling {target:,}…", flush=True)
    started = time.perf_counter()
    rng = random.Random(42)
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE registry_organisation, projects_project, projects_declaration, "
                "offsets_issuancephase, offsets_account, offsets_issuance, offsets_serialblock, "
                "offsets_certificate, registry_counter RESTART IDENTITY CASCADE"
            )
        admin = bench_admin()
        enterprises, households = bench_organisations(rng, now)
        bench_projects(
            rng,
            target,
            enterprises=enterprises,
            households=households,
            methodology=bench_methodology(),
            admin=admin,
            now=now,
        )
        units = bench_credits(rng, admin=admin, organisations=enterprises + households)
    filled = time.perf_counter() - started
    # Vacuum as well as analyse: sets the visibility map as autovacuum soon would, so plans are stable.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    print(
        f"Filled {target:,} projects, {ENTERPRISES + HOUSEHOLDS:,} organisations and "
        f"{min(CREDITED_PROJECTS, target // 50):,} issuances ({units:,} t) in {filled:.1f} s "
        f"(VACUUM ANALYZE {time.perf_counter() - started - filled:.1f} s more)."
    )


# --- What is requested ---------------------------------------------------------------------------


@dataclass
class Targets:
    codes: list[str]  # the projects with credits
    others: list[str]  # projects without credits
    verify: list[str]  # certificate numbers, serials and unit numbers, interleaved
    code_keys: list[str]  # keyset keys ("code~id") of projects spread over the whole list
    filed_keys: list[str]  # the same for the filing-date order ("filed_at~id")
    phases: list[str]


def targets(rng: random.Random) -> Targets:
    from offsets.models import Certificate, Issuance, IssuancePhase
    from projects.models import Project, Stage

    issuances = list(
        Issuance.objects.select_related("project")
        .order_by("first_unit")
        .values_list("project__code", "serial", "first_unit", "last_unit")
    )
    numbers = list(Certificate.objects.order_by("number").values_list("number", flat=True))
    if not issuances or not numbers:
        sys.exit("The database holds no issuance or no certificate: run with a larger --projects.")
    verify = []
    for _k in range(600):
        _code, serial, first, last = issuances[rng.randrange(len(issuances))]
        verify += [numbers[rng.randrange(len(numbers))], serial, str(rng.randint(first, last))]
    filed = list(
        Project.objects.filter(stage=Stage.APPROVED, code__isnull=False).values_list("pk", "code", "filed_at")
    )
    sample = rng.sample(filed, min(len(filed), 1_000))
    credited = {row[0] for row in issuances}
    return Targets(
        codes=[row[0] for row in issuances],
        others=[code for _pk, code, _filed in sample if code not in credited],
        verify=verify,
        code_keys=[f"{code}~{pk}" for pk, code, _filed in sample],
        filed_keys=[f"{filed_at.isoformat()}~{pk}" for pk, _code, filed_at in sample],
        phases=list(IssuancePhase.objects.public().values_list("code", flat=True)),
    )


# Searches for short words: a trigram index cannot serve them (a two-character word has no trigram
# inside it), so these measure the bigram index of ADR 0014.
TWO_CHARACTER_WORDS = words("光伏 江岸 屋顶 循环 物流 华远 园区 车棚 节能 户用 汉阳 楚天 仓库 食品 航空 柏泉")
ONE_CHARACTER_WORDS = words("光 汉 园 库 棚 村 循 能 楚 航 号 柏")


@dataclass
class Endpoint:
    name: str
    what: str
    paths: list[str]
    unique: bool = True  # each request gets its own `_=` parameter, so no page cache answers it

    def path_of(self, k: int, nonce: str) -> str:
        path = self.paths[k % len(self.paths)]
        if not self.unique:
            return path
        return f"{path}{'&' if '?' in path else '?'}_={nonce}{k}"


def endpoints(
    t: Targets, *, queries=QUERIES, two=TWO_CHARACTER_WORDS, one=ONE_CHARACTER_WORDS
) -> list[Endpoint]:
    """What is requested: every list, filter, sort, search and page of the public registry, uncached.
    The search words are this script's vocabulary unless given (bench/run.py takes them from its data)."""
    hot = t.codes[:: max(1, len(t.codes) // HOT_PROJECTS)][:HOT_PROJECTS]
    search = [f"/registry/?q={quote(q)}" for q in queries]
    two = [f"/registry/?q={quote(q)}" for q in two]
    one = [f"/registry/?q={quote(q)}" for q in one]
    after = [f"/registry/?after={quote(k, safe='')}" for k in t.code_keys]
    filed_after = [f"/registry/?sort=-filed_at&after={quote(k, safe='')}" for k in t.filed_keys]
    districts = ["jiangan", "jianghan", "qiaokou", "hanyang", "wuchang", "qingshan", "hongshan"]
    return [
        Endpoint("bare view", "`/bench/bare/`", ["/bench/bare/"], unique=False),
        Endpoint("search, cached", f"{len(search)} fixed URLs `/registry/?q=…`", search, unique=False),
        Endpoint("list, page 1", "`/registry/`", ["/registry/"]),
        Endpoint("list, a page anywhere", f"{len(after)} `?after=` keys", after),
        Endpoint("list, last page", "`/registry/?page=last`", ["/registry/?page=last"]),
        Endpoint("by filing date, page 1", "`?sort=-filed_at`", ["/registry/?sort=-filed_at"]),
        Endpoint("by filing date, a page anywhere", f"{len(filed_after)} keys", filed_after),
        Endpoint(
            "by filing date, last page",
            "`?sort=-filed_at&page=last`",
            ["/registry/?sort=-filed_at&page=last"],
        ),
        Endpoint("credited", "`?status=credited`", ["/registry/?status=credited"]),
        Endpoint(
            "credited, last page", "`?status=credited&page=last`", ["/registry/?status=credited&page=last"]
        ),
        Endpoint("no credits yet", "`?status=filed`", ["/registry/?status=filed"]),
        Endpoint("district", f"{len(districts)} districts", [f"/registry/?district={d}" for d in districts]),
        Endpoint("vintage", "`?vintage=2022`", [f"/registry/?vintage={VINTAGE}"]),
        Endpoint("search, 4-character words", f"{len(search)} words", search),
        Endpoint("search, 2-character words", f"{len(two)} words", two),
        Endpoint("search, 2-character, last page", f"{len(two)} words", [f"{p}&page=last" for p in two]),
        Endpoint("search, 1-character words", f"{len(one)} words", one),
        Endpoint(
            "search + credited + by filing date",
            f"{len(two)} words",
            [f"{p}&status=credited&sort=-filed_at" for p in two],
        ),
        Endpoint(
            "project page, cached", f"{len(hot)} fixed URLs", [f"/registry/{c}/" for c in hot], unique=False
        ),
        Endpoint(
            "project page, with credits", f"{len(t.codes):,} codes", [f"/registry/{c}/" for c in t.codes]
        ),
        Endpoint(
            "project page, no credits", f"{len(t.others):,} codes", [f"/registry/{c}/" for c in t.others]
        ),
        Endpoint("notices", "`/notices/`", ["/notices/"]),
        Endpoint("notice", f"{len(t.phases)} phases", [f"/notices/{code}/" for code in t.phases]),
        Endpoint("retirements", "`/retirements/`", ["/retirements/"]),
        Endpoint(
            "verify (never cached)",
            "certificate, serial, unit",
            [f"/verify/?q={quote(q)}" for q in t.verify],
            unique=False,
        ),
    ]


# --- In-process checks: status, SQL queries, plans -----------------------------------------------


def check_in_process(pages: list[tuple[str, str]]) -> list[list]:
    """Each page once through django.test.Client: status, bytes, SQL queries (BEGIN/COMMIT included)."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", headers={"accept-language": HEADERS["Accept-Language"]})
    rows = []
    for name, path in pages:
        reset_queries()
        with CaptureQueriesContext(connection) as context:
            response = client.get(path)
        rows.append([name, f"`{path}`", response.status_code, f"{len(response.content):,}", len(context)])
        if response.status_code != 200:
            print(f"WARNING: {path} answered {response.status_code} in-process.")
    return rows


def query_plans(path: str) -> list[tuple[str, float, str]]:
    """The SELECTs of one in-process request of `path`, each with its EXPLAIN (ANALYZE, BUFFERS):
    [(sql, execution ms, plan)], slowest first."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", headers={"accept-language": HEADERS["Accept-Language"]})
    reset_queries()
    with CaptureQueriesContext(connection) as context:
        client.get(f"{path}{'&' if '?' in path else '?'}_=explain{time.time_ns()}")
    plans = []
    for captured in context.captured_queries:
        sql = captured["sql"]
        if not sql.lstrip().upper().startswith("SELECT") or "django_session" in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        executed = float(plan.rsplit("Execution Time: ", 1)[-1].split()[0]) if "Execution Time" in plan else 0
        plans.append((sql, executed, plan))
    return sorted(plans, key=lambda row: -row[1])


def trigram_rows(query: str) -> tuple[int, int]:
    """Projects whose title contains the query, and the trigrams PostgreSQL extracts from it."""
    from django.db import connection

    from projects.models import Project

    with connection.cursor() as cursor:
        cursor.execute("SELECT cardinality(show_trgm(%s))", [query])
        trigrams = cursor.fetchone()[0]
    return Project.objects.filter(title__contains=query).count(), trigrams


# --- gunicorn ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on 127.0.0.1:<free port>, its output in a temporary file; stop() always ends it."""

    def __init__(self, workers: int, threads: int):
        self.port = free_port()
        # Open for as long as the server runs; stop() closes (and so deletes) it.
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-public-", suffix=".log")  # noqa: SIM115
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS}
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--keep-alive",
            "5",
            "--timeout",
            "60",
        ]
        self.process = subprocess.Popen(
            self.command, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/bench/bare/", headers=HEADERS)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"gunicorn did not answer /bench/bare/ within {timeout:.0f} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        self.log.flush()
        with open(self.log.name, encoding="utf-8", errors="replace") as log:
            return log.read()

    def pids(self) -> list[int]:
        """The master and its workers."""
        pids = [self.process.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        if int(stat.read().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                            pids.append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


# --- Load ----------------------------------------------------------------------------------------


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Stats:
    name: str
    what: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    statuses: dict
    machine_cpu: float  # % of all cores busy
    client_cpu: float  # % of one core used by this process (the load generator)
    percentiles: tuple[float, float, float] | None = None  # (p50, p95, p99) ms, when wrk measured
    load: float = float("nan")  # the machine's 1-minute load average around the run

    def quantile(self, q: float) -> float:
        if self.percentiles:
            return self.percentiles[{0.5: 0, 0.95: 1, 0.99: 2}[q]]
        return statistics.median(self.latencies) if q == 0.5 else percentile(self.latencies, q)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(samples: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)] if ordered else float("nan")


def load(port: int, path_of, *, seconds: float, concurrency: int, max_requests: int) -> dict:
    """`concurrency` threads, each with its own keep-alive connection, request path_of(k) for k = 0, 1, …
    until `seconds` pass or `max_requests` requests were sent. Returns latencies (ms), statuses, time."""
    counter = itertools.count()  # next() is atomic under the GIL
    deadline = time.perf_counter() + seconds
    results: list[tuple[list[float], dict]] = []
    lock = threading.Lock()

    def worker() -> None:
        latencies: list[float] = []
        statuses: dict = {}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.perf_counter() < deadline:
                k = next(counter)
                if k >= max_requests:
                    break
                started = time.perf_counter()
                try:
                    conn.request("GET", path_of(k), headers=HEADERS)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                except (OSError, http.client.HTTPException) as error:
                    status = type(error).__name__
                    conn.close()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()
            with lock:
                results.append((latencies, statuses))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - started
    latencies, statuses = [], {}
    for part, counts in results:
        latencies += part
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    return {"latencies": latencies, "statuses": statuses, "seconds": elapsed}


def measure(server: Server, endpoint: Endpoint, nonce: str, args) -> Stats:
    name, what = endpoint.name, endpoint.what
    print(f"  {name}: {args.warmup:g} s warm-up, {args.seconds:g} s measured…", flush=True)

    def path_of(k: int) -> str:
        return endpoint.path_of(k, nonce)

    load(
        server.port,
        lambda k: endpoint.path_of(k, f"w{nonce}"),
        seconds=args.warmup,
        concurrency=args.concurrency,
        max_requests=10**9,
    )
    busy0, total0 = cpu_ticks()
    load1 = os.getloadavg()[0]
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    run = load(
        server.port,
        path_of,
        seconds=args.seconds,
        concurrency=args.concurrency,
        max_requests=args.max_requests,
    )
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    busy1, total1 = cpu_ticks()
    client = (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) / run["seconds"]
    requests = len(run["latencies"])
    return Stats(
        name=name,
        what=what,
        requests=requests,
        errors=requests - run["statuses"].get(200, 0),
        seconds=run["seconds"],
        latencies=run["latencies"],
        statuses=run["statuses"],
        machine_cpu=100 * (busy1 - busy0) / max(total1 - total0, 1),
        client_cpu=100 * client,
        load=(load1 + os.getloadavg()[0]) / 2,
    )


def run_wrk(
    port: int, endpoint: Endpoint, nonce: str, *, seconds: float, connections: int, threads: int
) -> dict:
    """bench.wrk over the endpoint's paths; its figures as this script reports them."""
    from bench import wrk

    result = wrk.run_wrk(
        port,
        endpoint.paths,
        seconds=seconds,
        connections=connections,
        threads=threads,
        unique=endpoint.unique,
        nonce=nonce,
    )
    errors = result["errors"]
    latency = result["latency_ms"]
    return {
        "requests": result["requests"],
        "seconds": result["duration_s"],
        "errors": errors["status"] + errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "p50": latency["p50"],
        "p95": latency["p95"],
        "p99": latency["p99"],
    }


def measure_wrk(server: Server, endpoint: Endpoint, nonce: str, args) -> "Stats":
    print(f"  {endpoint.name}: {args.warmup:g} s warm-up, {args.seconds:g} s measured (wrk)…", flush=True)
    options = {"connections": args.concurrency, "threads": args.wrk_threads}
    if args.warmup:
        run_wrk(server.port, endpoint, f"w{nonce}", seconds=args.warmup, **options)
    busy0, total0 = cpu_ticks()
    load1 = os.getloadavg()[0]
    run = run_wrk(server.port, endpoint, nonce, seconds=args.seconds, **options)
    busy1, total1 = cpu_ticks()
    return Stats(
        name=endpoint.name,
        what=endpoint.what,
        requests=run["requests"],
        errors=run["errors"],
        seconds=run["seconds"],
        latencies=[],
        statuses={},
        machine_cpu=100 * (busy1 - busy0) / max(total1 - total0, 1),
        client_cpu=float("nan"),
        percentiles=(run["p50"], run["p95"], run["p99"]),
        load=(load1 + os.getloadavg()[0]) / 2,
    )


# --- Report --------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(stats: list[Stats]) -> str:
    bare = stats[0].rate or 1
    return table(
        [
            "endpoint",
            "URLs",
            "requests",
            "errors",
            "req/s",
            "× bare",
            "median ms",
            "p95 ms",
            "p99 ms",
            "CPU busy (2 cores) %",
            "load generator CPU %",
            "load average",
        ],
        [
            [
                s.name,
                s.what,
                f"{s.requests:,}",
                s.errors
                if not s.errors
                else f"{s.errors} ({', '.join(f'{k}: {v}' for k, v in s.statuses.items() if k != 200)})",
                f"{s.rate:,.0f}",
                f"{s.rate / bare:.2f}",
                f"{s.quantile(0.5):.1f}",
                f"{s.quantile(0.95):.1f}",
                f"{s.quantile(0.99):.1f}",
                f"{s.machine_cpu:.0f}",
                "—" if math.isnan(s.client_cpu) else f"{s.client_cpu:.0f}",
                f"{s.load:.1f}",
            ]
            for s in stats
        ],
    )


def plan_head(plan: str, lines: int = 14) -> str:
    head = plan.splitlines()
    tail = [line for line in head if line.startswith(("Planning Time", "Execution Time"))]
    return "\n".join(head[:lines] + (["…"] if len(head) > lines + len(tail) else []) + tail)


# --- Main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000, help="filed projects to fill (100000)")
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per endpoint (15)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each (2)")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads (16)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per endpoint (200000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (4)")
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (Debian package; the default when installed) or Python threads",
    )
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--only", nargs="*", help="measure only endpoints whose name contains one of these")
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 300 and 0 <= args.warmup <= 60 and 0 < args.concurrency <= 256):
        sys.exit("--seconds in (0, 300], --warmup in [0, 60], --concurrency in (0, 256].")
    run_started = time.perf_counter()

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    db = bench_database()
    ensure_database(db)
    call_command("migrate", interactive=False, verbosity=0)
    fill(args.projects)

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(",")[0]
    rng = random.Random(7)
    t = targets(rng)
    nonce = f"{time.time_ns() % 10**9}-"
    chosen = [e for e in endpoints(t) if not args.only or any(word in e.name for word in args.only)]
    cache = settings.CACHES["default"]
    max_entries = cache.get("OPTIONS", {}).get("MAX_ENTRIES", 300)  # Django's default is 300
    print(
        f"\n{filed_count():,} filed projects, {len(t.codes):,} with credits; {version}; "
        f"cache {cache['BACKEND'].rsplit('.', 1)[-1]}"
        f"{f' (per gunicorn worker, MAX_ENTRIES {max_entries:,})' if 'locmem' in cache['BACKEND'] else ''}."
    )

    print("\n### Search: how many projects a query matches\n")
    print(
        table(
            ["query", "titles containing it", "share", "trigrams"],
            [
                [q, f"{n:,}", f"{100 * n / max(args.projects, 1):.2f} %", trgm]
                for q in [*QUERIES[:3], *TWO_CHARACTER_WORDS[:3], *ONE_CHARACTER_WORDS[:2]]
                for n, trgm in [trigram_rows(q)]
            ],
        )
    )

    print("\n### One request of each, in-process (status, bytes, SQL queries incl. BEGIN/COMMIT)\n")
    print(
        table(
            ["endpoint", "path", "status", "bytes", "SQL queries"],
            check_in_process(
                [(e.name, e.path_of(1, nonce)) for e in chosen if e.unique or e.name == "bare view"]
                + [(f"verify, {kind}", f"/verify/?q={quote(t.verify[k])}") for k, kind in enumerate(KINDS)]
            ),
        )
    )

    print("\n### SQL per page: EXPLAIN (ANALYZE, BUFFERS) of each SELECT, in-process\n")
    explained = [
        ("search, 4 characters", f"/registry/?q={quote(QUERIES[0])}"),
        ("search, 2 characters", f"/registry/?q={quote(TWO_CHARACTER_WORDS[0])}"),
        ("search, 2 characters, rare", f"/registry/?q={quote(TWO_CHARACTER_WORDS[-1])}"),
        ("search, 1 character", f"/registry/?q={quote(ONE_CHARACTER_WORDS[-1])}"),
        ("list, last page", "/registry/?page=last"),
        ("by filing date", "/registry/?sort=-filed_at"),
        ("by filing date, last page", "/registry/?sort=-filed_at&page=last"),
        ("credited", "/registry/?status=credited"),
        ("credited, last page", "/registry/?status=credited&page=last"),
        ("vintage", f"/registry/?vintage={VINTAGE}"),
    ]
    slowest = []
    rows = []
    for name, path in explained:
        plans = query_plans(path)
        rows.append([name, f"`{path}`", len(plans), f"{sum(ms for _sql, ms, _plan in plans):.1f}"])
        if plans:
            slowest.append((name, *plans[0]))
    print(table(["page", "path", "SELECTs", "SQL execution ms (sum)"], rows))
    for name, sql, ms, plan in slowest:
        print(
            f"\n#### {name}: its slowest SELECT, {ms:.1f} ms\n\n```sql\n{sql}\n```\n"
            f"\n```\n{plan_head(plan)}\n```"
        )

    print(
        f"\nLoad: gunicorn --workers {args.workers} --threads {args.threads} on 127.0.0.1; "
        f"{args.client}: {args.concurrency} keep-alive connections"
        f"{f' over {args.wrk_threads} threads' if args.client == 'wrk' else ''}; "
        f"per endpoint {args.warmup:g} s warm-up then "
        f"{args.seconds:g} s (at most {args.max_requests:,} requests).",
        flush=True,
    )
    connection.close()
    server = Server(args.workers, args.threads)
    stats = []
    try:
        server.wait_ready()
        for endpoint in chosen:
            if args.client == "wrk":
                stats.append(measure_wrk(server, endpoint, nonce, args))
            else:
                stats.append(measure(server, endpoint, nonce, args))
    finally:
        log = server.output()
        server.stop()
    print("\n### Requests per second and latency over the loopback\n")
    print(report(stats))
    problems = [line for line in log.splitlines() if "Traceback" in line or "ERROR" in line]
    print(f"\ngunicorn log: {len(log.splitlines())} lines, {len(problems)} with Traceback or ERROR.")
    if problems:
        print(log[-4000:])
    print(f"\nRun time {time.perf_counter() - run_started:.0f} s.")


if __name__ == "__main__":
    main()
