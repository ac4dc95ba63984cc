"""Benchmark of the bureau's review queues (projects.office_views.queue) on a large database.

The claim measured: with keyset paging (projects/paging.py), the first and the last page of a queue cost
the same at 100,000 declarations, and the number of SQL queries per page does not grow with the rows shown.

What it does, on a database of its own whose name must end in `_bench`:

1. creates the database if it is missing and migrates it;
2. fills it, if it holds fewer declarations than asked, with deterministic data (random.Random(42)):
   organisations, one methodology, 1,000 filed projects, a few hundred projects at intake and N
   declarations spread over the stages, then VACUUM ANALYZE;
3. logs a technical reviewer in with django.test.Client and requests, in the technical, overdue and
   "mine" declaration queues and the projects' intake queue, the first page, pages reached by `?after=`
   (the key of row 5,000, of the middle row, of the row 10 before the end) and the last page
   (`?page=last`), and the technical queue filtered by a district, each --repeat times after 3 warm-up
   requests: median and p95 wall time of client.get, median CPU time of this process (the Python, which
   a busy machine disturbs less than the wall time), SQL queries (CaptureQueriesContext, which counts
   BEGIN and COMMIT too), rows shown.
   The sidebar counts are cached for 30 seconds per user (projects/context_processors.py): the cache is
   cleared before each page's warm-ups, so the first warm-up computes them and the timed requests, which
   end well within 30 seconds, read them from the cache (the script counts the timed requests that ran
   the count queries all the same: it should be 0);
4. times --repeat requests of the technical queue's first page with the cache cleared before each, so
   every one runs the sidebar count queries: the cost of a page whose counts are not cached;
5. runs EXPLAIN (ANALYZE, BUFFERS) on the page query, the count query and the sidebar counts, and does
   the same for an OFFSET-paged query of the technical queue as a comparison; prints the text plans of
   a few of them;
6. prints Markdown tables (nothing is written to disk).

Run it with `make bench-queue`, or:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench \\
        .venv/bin/python -m bench.queue_pages [--declarations 100000] [--repeat 20]
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

import django

from bench import common
from bench.common import bench_methodology, ensure_database

BENCH_SUFFIX = "_bench"
FILED_PROJECTS = 1_000
INTAKE_PROJECTS = 300
ORGANISATIONS = 20
MONTHS_PER_PROJECT = 1_200  # January 2000 to December 2099: one-month periods never overlap
MIDDLE_ROW = 5_000
PAGE_ROWS = 50
LAST_ROWS = 10  # the rows of the short page reached by `?after=` the row 10 before the end
# Declarations by stage: most wait for technical review.
STAGE_WEIGHTS = {
    "intake": 10,
    "technical": 50,
    "expert": 8,
    "approval": 7,
    "returned": 8,
    "approved": 17,
}
# (kind, queue) pairs measured; `mine` is the reviewer's own small queue.
QUEUES = [
    ("declarations", "technical"),
    ("declarations", "overdue"),
    ("declarations", "mine"),
    ("projects", "intake"),
]
APPLICANT_EMAIL = "bench-applicant@example.com"
REVIEWER_EMAIL = "bench-reviewer@example.com"
COLLEAGUE_EMAIL = "bench-colleague@example.com"


# --- Database ------------------------------------------------------------------------------------


# --- Data ----------------------------------------------------------------------------------------


def bench_database() -> dict:
    return common.bench_database(BENCH_SUFFIX)


def bench_user(email: str, name: str, *, group: str | None = None):
    from django.contrib.auth.models import Group

    from registry.models import User

    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, full_name=name, is_staff=group is not None)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def bench_organisations(rng: random.Random) -> list:
    """Benchmark data, not the sign-up workflow: verified enterprises made with bulk_create."""
    from django.utils import timezone

    from registry.identifiers import make_credit_code
    from registry.models import District, Organisation, OrganisationKind, OrganisationStatus

    identifiers = [make_credit_code(f"91420100BE{n:07d}") for n in range(1, ORGANISATIONS + 1)]
    existing = set(
        Organisation.objects.filter(identifier__in=identifiers).values_list("identifier", flat=True)
    )
    now = timezone.now()
    Organisation.objects.bulk_create(
        Organisation(
            kind=OrganisationKind.ENTERPRISE,
            name=f"基准测试企业{n}有限公司",
            name_en=f"Bench Enterprise {n} Co., Ltd.",
            identifier=identifier,
            legal_representative="张三",
            address=f"武汉市江岸区基准路{n}号",
            district=rng.choice(District.values),
            contact_name="李四",
            contact_phone="027-12345678",
            contact_email=f"bench{n}@example.com",
            status=OrganisationStatus.VERIFIED,
            verified_at=now,
        )
        for n, identifier in enumerate(identifiers, start=1)
        if identifier not in existing
    )
    return list(Organisation.objects.filter(identifier__in=identifiers).order_by("identifier"))


def bench_projects(rng: random.Random, *, organisations, methodology, applicant) -> list:
    """1,000 filed projects (the declarations' projects) and a few hundred waiting at intake."""
    from django.utils import timezone

    from projects.models import Project, Stage
    from registry.models import District

    now, today = timezone.now(), timezone.localdate()
    projects = []
    for i in range(1, FILED_PROJECTS + INTAKE_PROJECTS + 1):
        filed = i <= FILED_PROJECTS
        submitted = now - timedelta(days=rng.randint(400, 1500) if filed else rng.randint(1, 20))
        projects.append(
            Project(
                organisation=organisations[i % len(organisations)],
                methodology=methodology,
                code=f"WH-PV-{i:05d}" if filed else None,
                title=f"屋顶分布式光伏项目 {i}",
                site_address=f"武汉市基准路{i}号",
                district=rng.choice(District.values),
                crediting_start=date(2000, 1, 1),
                crediting_end=date(2099, 12, 31),
                not_registered_elsewhere=True,
                outside_covered_boundary=True,
                stage=Stage.APPROVED if filed else Stage.INTAKE,
                submitted_at=submitted,
                decided_at=submitted + timedelta(days=30) if filed else None,
                filed_at=submitted + timedelta(days=30) if filed else None,
                due_date=None if filed else today + timedelta(days=rng.randint(-5, 10)),
                created_by=applicant,
            )
        )
    Project.objects.bulk_create(projects, batch_size=5000)
    return list(Project.objects.filter(stage=Stage.APPROVED).order_by("id"))


def month_period(k: int) -> tuple[date, date]:
    """The k-th month from January 2000: its first and last day."""
    year, month = 2000 + k // 12, k % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, 1), following - timedelta(days=1)


def declaration(rng: random.Random, j: int, *, projects, applicant, reviewer, colleague, now, today):
    """The j-th declaration: project j mod P, that project's (j div P)-th month."""
    from projects.models import REVIEW_STAGES, Declaration

    start, end = month_period(j // len(projects))
    stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
    submitted = now - timedelta(seconds=rng.randrange(730 * 24 * 3600))
    claimed = rng.randint(1, 20_000)
    fields = {}
    if stage in REVIEW_STAGES:
        fields["due_date"] = today + timedelta(days=rng.randint(-30, 90))  # about a quarter overdue
        draw = rng.random()
        fields["assignee"] = reviewer if draw < 0.02 else colleague if draw < 0.5 else None
    elif stage == "returned":
        fields.update(returned_from="technical", days_left_when_returned=rng.randint(1, 15))
    else:  # approved
        fields.update(
            decided_at=submitted + timedelta(days=rng.randint(20, 60)),
            verified_t=claimed - rng.randint(0, claimed // 10),
        )
    return Declaration(
        project=projects[j % len(projects)],
        period_start=start,
        period_end=end,
        vintage=start.year,  # bulk_create skips Declaration.save(), which sets it
        stage=stage,
        submitted_at=submitted,
        claimed_t=claimed,
        created_by=applicant,
        **fields,
    )


def fill(target: int) -> None:
    """Empty the case tables and refill them if they hold fewer than `target` declarations."""
    from django.db import connection, transaction
    from django.utils import timezone

    from projects.models import Declaration

    existing = Declaration.objects.count()
    if existing >= target:
        print(f"The database holds {existing:,} declarations (>= {target:,}): not refilled.")
        return
    if target > FILED_PROJECTS * MONTHS_PER_PROJECT:
        sys.exit(f"At most {FILED_PROJECTS * MONTHS_PER_PROJECT:,} declarations (one a month per project).")
    print(f"The database holds {existing:,} declarations; filling {target:,}…", flush=True)
    started = time.perf_counter()
    rng = random.Random(42)
    now, today = timezone.now(), timezone.localdate()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE projects_project, projects_declaration RESTART IDENTITY CASCADE")
        applicant = bench_user(APPLICANT_EMAIL, "Bench Applicant")
        reviewer = bench_user(REVIEWER_EMAIL, "Bench Reviewer", group="technical_reviewer")
        colleague = bench_user(COLLEAGUE_EMAIL, "Bench Colleague", group="technical_reviewer")
        organisations = bench_organisations(rng)
        projects = bench_projects(
            rng, organisations=organisations, methodology=bench_methodology(), applicant=applicant
        )
        people = {"applicant": applicant, "reviewer": reviewer, "colleague": colleague}
        for chunk in range(0, target, 5000):
            batch = [
                declaration(rng, j, projects=projects, now=now, today=today, **people)
                for j in range(chunk, min(chunk + 5000, target))
            ]
            Declaration.objects.bulk_create(batch, batch_size=5000)
            print(f"  {chunk + len(batch):,} declarations", end="\r", flush=True)
    print()
    filled = time.perf_counter() - started
    # Vacuum as well as analyse: sets the visibility map as autovacuum soon would, so plans are stable.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) projects_declaration")
        cursor.execute("VACUUM (ANALYZE) projects_project")
        cursor.execute("ANALYZE")
    print(
        f"Filled {target:,} declarations in {filled:.1f} s (VACUUM ANALYZE "
        f"{time.perf_counter() - started - filled:.1f} s more)."
    )


# --- Measuring -----------------------------------------------------------------------------------


@dataclass
class Result:
    queue: str
    page: str
    median_ms: float
    p95_ms: float
    queries: int
    rows: int
    captured: list = field(default_factory=list)  # CaptureQueriesContext: {"sql", "time"}
    timed: list = field(default_factory=list)  # QueryTimer: (sql, ms)
    recounted: int = 0  # timed requests that ran the sidebar count queries (not served from the cache)
    cpu_ms: float = 0.0  # median CPU time of this process: the Python, less disturbed by a busy machine


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def rows_shown(html: str) -> int:
    """The <tr> of the queue table's body; the "no case" row counts none."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return 0 if "colspan=" in body else body.count("<tr>")


class SidebarCounter:
    """An execute wrapper that counts the sidebar count queries (the cache missed)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        if classify(sql) == "sidebar counts":
            self.count += 1
        return execute(sql, params, many, context)


class QueryTimer:
    """An execute wrapper that times each query to the microsecond (the query log rounds to 1 ms)."""

    def __init__(self):
        self.timed: list[tuple[str, float]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.timed.append((sql, (time.perf_counter() - started) * 1000))


def time_calls(call, repeat: int) -> tuple[list[float], list[dict], list[tuple[str, float]], int, float]:
    """2 warm-up calls (the second with its queries captured and timed; measure_page makes one more
    before them), then `repeat` timed calls; also the number of sidebar count queries the timed calls
    ran (0 when the cache served them all), and the median CPU time of a call in this process."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    call()
    reset_queries()  # a query log left full (9,000 entries) by migrate would capture nothing
    timer = QueryTimer()
    with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as context:
        call()
    # Read now: the next request empties the query log. The log also holds BEGIN and COMMIT, which
    # pass no execute wrapper: the timer has the other queries.
    captured = context.captured_queries
    times, cpu = [], []
    counter = SidebarCounter()
    with connection.execute_wrapper(counter):
        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            call()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
    return times, captured, timer.timed, counter.count, statistics.median(cpu)


def measure_page(client, queue: str, page: str, url: str, repeat: int) -> Result:
    from django.core.cache import cache

    statuses = []

    def get():
        response = client.get(url)
        statuses.append(response.status_code)
        return response

    # A fresh 30-second cache entry for the sidebar counts: this first warm-up computes them, and the
    # other warm-ups and the timed requests (a few seconds) read them from the cache.
    cache.clear()
    response = get()
    if response.status_code != 200:
        sys.exit(f"{url} answered {response.status_code}")
    times, captured, timed, recounted, cpu_ms = time_calls(get, repeat)
    if set(statuses) != {200}:
        sys.exit(f"{url} answered {sorted(set(statuses))}")
    return Result(
        queue,
        page,
        statistics.median(times),
        p95(times),
        len(captured),
        rows_shown(response.content.decode()),
        captured,
        timed,
        recounted,
        cpu_ms,
    )


def measure_uncached(client, repeat: int) -> tuple[Result, list[float]]:
    """The technical queue's first page with the sidebar counts not cached: the cache is cleared before
    each of 2 warm-ups and `repeat` timed requests, each timed with its queries. Also the SQL time of
    the sidebar count queries of each timed request."""
    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = reverse("projects:office_queue", args=["declarations", "technical"])
    for _ in range(2):
        cache.clear()
        client.get(url)
    times, counts_ms, captured, timed = [], [], [], []
    for _ in range(repeat):
        cache.clear()
        reset_queries()
        timer = QueryTimer()
        with connection.execute_wrapper(timer), CaptureQueriesContext(connection) as context:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            sys.exit(f"{url} answered {response.status_code}")
        captured, timed = context.captured_queries, timer.timed
        counts_ms.append(sum(ms for sql, ms in timed if classify(sql) == "sidebar counts"))
    cache.clear()
    result = Result(
        "declarations technical, counts not cached",
        "first",
        statistics.median(times),
        p95(times),
        len(captured),
        rows_shown(response.content.decode()),
        captured,
        timed,
        repeat,
    )
    return result, counts_ms


def key_of_row(model, queue: str, user, row: int) -> str:
    """The paging key (as paging._encode makes it) of a row of the queue, 1-based, in its default order."""
    from projects.office_views import QUEUES as VIEW_QUEUES
    from projects.paging import _encode

    _title, condition, order = VIEW_QUEUES[queue]
    descending = order.startswith("-")
    ordered = model.objects.filter(condition(user)).order_by(order, "-pk" if descending else "pk")
    return _encode(ordered[row - 1], order.lstrip("-"))


def measure_queues(client, user, repeat: int) -> list[Result]:
    """First page; `?after=` row 5,000 (as the brief asks), the middle row and the row 10 before the end
    (a short final page reached by "Next": 10 rows shown); and `?page=last`."""
    from django.urls import reverse

    from projects.office_views import KINDS
    from projects.office_views import QUEUES as VIEW_QUEUES

    results = []
    for kind, queue in QUEUES:
        model = KINDS[kind]
        url = reverse("projects:office_queue", args=[kind, queue])
        total = model.objects.filter(VIEW_QUEUES[queue][1](user)).count()
        pages = [("first", "")]
        for row in sorted({min(MIDDLE_ROW, total // 2), total // 2, total - LAST_ROWS}):
            if 0 < row < total:
                after = urlencode({"after": key_of_row(model, queue, user, row)})
                pages.append((f"after row {row:,}", "?" + after))
        pages.append(("last", "?page=last"))
        if (kind, queue) == ("declarations", "technical"):
            # A filter: the page counts the cases it matches (about a 18th of the queue) itself.
            pages.append(("first, one district", "?district=jiangxia"))
        label = f"{kind} {queue}"
        for page, query in pages:
            results.append(measure_page(client, label, page, url + query, repeat))
            print(f"  {label}, {page}: {results[-1].median_ms:.1f} ms", flush=True)
    return results


def measure_offset(repeat: int) -> list[Result]:
    """The comparison: OFFSET paging of the technical queue, the ORM query alone (no view, no template)."""
    from projects.models import Declaration

    queryset = Declaration.objects.filter(stage="technical").order_by("due_date", "id")
    last = (queryset.count() - 1) // PAGE_ROWS * PAGE_ROWS
    results = []
    for page, offset in (
        ("first (OFFSET 0)", 0),
        (f"OFFSET {MIDDLE_ROW:,}", MIDDLE_ROW),
        (f"last (OFFSET {last:,})", last),
    ):
        rows = []

        def fetch(offset=offset, rows=rows):
            rows[:] = list(queryset[offset : offset + PAGE_ROWS])

        times, captured, timed, _recounted, cpu_ms = time_calls(fetch, repeat)
        label = "declarations technical, OFFSET query only"
        results.append(
            Result(
                label,
                page,
                statistics.median(times),
                p95(times),
                len(captured),
                len(rows),
                captured,
                timed,
                cpu_ms=cpu_ms,
            )
        )
    return results


# --- Query plans ---------------------------------------------------------------------------------


def classify(sql: str) -> str:
    """What a captured query is for, in the queue view."""
    case_table = '"projects_declaration"' in sql or '"projects_project"' in sql
    if case_table and "LIMIT 51" in sql and "ORDER BY" in sql:
        return "page"
    if case_table and "FILTER (WHERE" in sql:
        return "sidebar counts"
    if case_table and sql.startswith("SELECT COUNT(*)"):
        return "count"
    if case_table and "LIMIT 50" in sql:
        return "page"  # the OFFSET comparison
    return "other"


def explain(sql: str) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]


def scans(node: dict) -> list[str]:
    """The scans and sorts of a plan, depth first: "Index Scan Backward using idx on table", "Sort"."""
    kind = node["Node Type"]
    found = []
    if "Scan" in kind:
        direction = " Backward" if node.get("Scan Direction") == "Backward" else ""
        using = f" using {node['Index Name']}" if node.get("Index Name") else ""
        on = f" on {node['Relation Name']}" if node.get("Relation Name") else ""
        found.append(f"{kind}{direction}{using}{on}")
    elif kind in ("Sort", "Incremental Sort", "Aggregate"):
        method = node.get("Sort Method") or node.get("Strategy") or ""
        found.append(f"{kind} ({method})" if method else kind)
    for child in node.get("Plans", []):
        found.extend(scans(child))
    return found


def nodes(node: dict) -> list[dict]:
    """A plan node and all its descendants."""
    return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]


def plan_row(name: str, sql: str) -> list[str]:
    result = explain(sql)
    plan = result["Plan"]
    top = plan["Node Type"]
    if top == "Limit" and plan.get("Plans"):
        top += " → " + plan["Plans"][0]["Node Type"]
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    removed = sum(node.get("Rows Removed by Filter", 0) for node in nodes(plan))
    # The index conditions of the case tables' scans: where each index scan starts and stops.
    bounds = [
        n["Index Cond"]
        for n in nodes(plan)
        if n.get("Index Cond") and str(n.get("Relation Name", "")).startswith("projects_")
    ]
    sorted_ = any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes(plan))
    # The case tables' scans and the sorts; the joins' primary-key look-ups are left out.
    main = [s for s in dict.fromkeys(scans(plan)) if " on " not in s or " on projects_" in s]
    return [
        name,
        top,
        "; ".join(main),
        "; ".join(f"`{b}`" for b in dict.fromkeys(bounds)) or "—",
        "yes" if sorted_ else "no",
        f"{plan.get('Actual Rows', 0):,}",
        f"{removed:,}",
        f"{buffers:,}",
        f"{result['Execution Time']:.2f}",
    ]


def plan_rows(results: list[Result]) -> list[list[str]]:
    rows, counted = [], set()
    for result in results:
        for query in result.captured:
            role = classify(query["sql"])
            if role == "page":
                rows.append(plan_row(f"{result.queue}, {result.page}: page query", query["sql"]))
            elif role == "count" and result.queue not in counted:
                counted.add(result.queue)
                rows.append(plan_row(f"{result.queue}: count query", query["sql"]))
            elif role == "sidebar counts":
                kind = "declarations" if '"projects_declaration"' in query["sql"] else "projects"
                if f"sidebar {kind}" not in counted:
                    counted.add(f"sidebar {kind}")
                    rows.append(plan_row(f"sidebar counts ({kind}), when not cached", query["sql"]))
    return rows


# The page queries whose text plans are printed: (queue, page) as in Result.
TEXT_PLANS = [
    ("declarations technical", "after row"),  # the middle row
    ("declarations overdue", "first"),
    ("declarations overdue", "last"),
    ("declarations mine", "first"),
    ("declarations mine", "last"),
]


def text_plans(results: list[Result]) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) in text of a few page queries and of the sidebar counts."""
    from django.db import connection

    chosen = []
    for queue, page in TEXT_PLANS:
        candidates = [r for r in results if r.queue == queue and r.page.startswith(page)]
        if page == "after row" and len(candidates) > 1:
            candidates = candidates[1:2]  # after row 5,000, the middle row, row 10 before the end
        chosen += [(f"{r.queue}, {r.page}: page query", r) for r in candidates[:1]]
    chosen += [("sidebar counts", r) for r in results if r.queue.endswith("counts not cached")]
    out = []
    for name, result in chosen:
        for query in result.captured:
            role = classify(query["sql"])
            if (role == "page") if name != "sidebar counts" else (role == "sidebar counts"):
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                    plan = "\n".join(line for (line,) in cursor.fetchall())
                label = name
                if role == "sidebar counts":
                    kind = "declarations" if '"projects_declaration"' in query["sql"] else "projects"
                    label = f"sidebar counts ({kind})"
                out.append((label, plan))
    return out


# --- Output --------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def sql_ms(result: Result, role: str) -> str:
    times = [ms for sql, ms in result.timed if classify(sql) == role]
    return f"{sum(times):.1f} ({len(times)})" if times else "—"


def report(
    results: list[Result], plans: list[list[str]], texts: list[tuple[str, str]], counts_ms: list[float]
) -> None:
    print("\n### Page timings\n")
    print(
        table(
            [
                "queue",
                "page",
                "median ms",
                "p95 ms",
                "median CPU ms",
                "queries",
                "rows",
                "timed requests that ran the counts",
            ],
            [
                [
                    r.queue,
                    r.page,
                    f"{r.median_ms:.1f}",
                    f"{r.p95_ms:.1f}",
                    f"{r.cpu_ms:.1f}" if r.cpu_ms else "—",
                    r.queries,
                    r.rows,
                    r.recounted,
                ]
                for r in results
            ],
        )
    )
    if counts_ms:
        print(
            f"\nSidebar count queries when not cached ({len(counts_ms)} requests): SQL time median "
            f"{statistics.median(counts_ms):.1f} ms, p95 {p95(counts_ms):.1f} ms."
        )
    print("\n### SQL time of one request, by query (ms, number of queries)\n")
    print(
        table(
            ["queue", "page", "page query", "count", "sidebar counts", "other"],
            [
                [
                    r.queue,
                    r.page,
                    sql_ms(r, "page"),
                    sql_ms(r, "count"),
                    sql_ms(r, "sidebar counts"),
                    sql_ms(r, "other"),
                ]
                for r in results
            ],
        )
    )
    print("\n### Query plans (EXPLAIN ANALYZE, BUFFERS)\n")
    print(
        table(
            [
                "query",
                "top node",
                "scans and sorts",
                "index cond",
                "sort",
                "rows",
                "rows removed by filter",
                "buffers",
                "execution ms",
            ],
            plans,
        )
    )
    for name, plan in texts:
        print(f"\n#### {name}\n\n```\n{plan}\n```")


def queue_sizes(user) -> list[list]:
    from projects.office_views import KINDS
    from projects.office_views import QUEUES as VIEW_QUEUES

    return [
        [f"{kind} {queue}", f"{KINDS[kind].objects.filter(VIEW_QUEUES[queue][1](user)).count():,}"]
        for kind, queue in QUEUES
    ]


# --- Main ----------------------------------------------------------------------------------------


def pass_second_factor(client, user) -> None:
    """Bureau staff must pass a second factor (registry.middleware.MFARequiredMiddleware): give the
    reviewer a confirmed authenticator and mark the session as having used it, as tests/conftest.py does
    for force_login. Without this every queue page answers 302 to the code page."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=100_000, help="declarations to fill (100000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page (20)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from projects.models import Declaration

    db = bench_database()
    ensure_database(db)
    call_command("migrate", interactive=False, verbosity=0)
    fill(args.declarations)

    # Production-like: no debug template engine, no query log (CaptureQueriesContext counts the queries).
    settings.DEBUG = False
    reviewer = bench_user(REVIEWER_EMAIL, "Bench Reviewer", group="technical_reviewer")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(reviewer, backend="django.contrib.auth.backends.ModelBackend")
    pass_second_factor(client, reviewer)

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]
    print(f"\n{Declaration.objects.count():,} declarations; {version.split(',')[0]}")
    print(table(["queue", "cases"], queue_sizes(reviewer)))
    print(f"\nMeasuring ({args.repeat} timed requests per page after 3 warm-ups)…")
    results = measure_queues(client, reviewer, args.repeat)
    print("Measuring the technical queue's first page with the sidebar counts not cached…", flush=True)
    uncached, counts_ms = measure_uncached(client, args.repeat)
    results += [uncached, *measure_offset(args.repeat)]
    report(results, plan_rows(results), text_plans(results), counts_ms)


if __name__ == "__main__":
    main()
