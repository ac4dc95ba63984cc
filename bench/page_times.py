"""In-process timings of a few pages: Django's test client, no web server, no page cache.

For each URL: 3 warm-up requests, then --repeat timed ones (each with a unique `_=` so that
cache_for_anonymous never answers): median and p95 wall time of client.get, median CPU time of this
process (the Python, which a busy machine disturbs less than the wall time), SQL queries, bytes.
Read-only: it makes nothing, so any database will do, e.g. a copy of the public benchmark's:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/carbon_registry_bench_public \\
        nice -n 10 .venv/bin/python -m bench.page_times /notices/2023P01/ "/notices/2023P01/?page=last"
"""

import argparse
import math
import os
import statistics
import sys
import time

import django


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+", help="paths to request, e.g. /notices/2023P01/")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per URL (20)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.DEBUG = False  # production-like templates; CaptureQueriesContext counts the queries
    client = Client(HTTP_HOST="127.0.0.1", headers={"accept-language": "zh-hans"})
    print(f"load average {os.getloadavg()[0]:.1f}; {args.repeat} timed requests per URL after 3 warm-ups\n")
    print("| URL | median ms | p95 ms | median CPU ms | queries | KB |")
    print("|---|---|---|---|---|---|")
    n = 0
    for url in args.urls:
        joiner = "&" if "?" in url else "?"
        times, cpu, queries, response = [], [], 0, None
        for i in range(3 + args.repeat):
            n += 1
            started, cpu_started = time.perf_counter(), time.process_time()
            if i == 2:  # the last warm-up, with its queries counted
                with CaptureQueriesContext(connection) as context:
                    response = client.get(f"{url}{joiner}_={n}")
                queries = len(context.captured_queries)  # now: the next request empties the query log
            else:
                response = client.get(f"{url}{joiner}_={n}")
            if response.status_code != 200:
                sys.exit(f"{url} answered {response.status_code}")
            if i >= 3:
                times.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
        print(
            f"| `{url}` | {statistics.median(times):.1f} | {p95(times):.1f} | {statistics.median(cpu):.1f} "
            f"| {queries} "
            f"| {len(response.content) / 1024:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
