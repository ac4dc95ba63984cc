"""bench/run.py (`make bench`): its pieces at a tiny scale. The wrk script really runs (against a small
HTTP server of the test), the Procfile's command, the access log's counts, the search words, and the
shape of the results, their Markdown and the docs' section. No timing is asserted."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import run


@pytest.fixture
def http_server():
    """A tiny HTTP/1.1 server on 127.0.0.1 that answers 200 and records each request's path and headers."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append((self.path, self.headers.get("Cookie"), self.headers.get("Accept-Language")))
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.mark.e2e  # wrk, a real process
def test_the_wrk_script_walks_the_paths_with_one_cookie_per_thread_and_prints_percentiles(http_server):
    port, seen = http_server

    result = run.run_wrk(
        port,
        ["/a/", "/b/?x=1"],
        seconds=1,
        connections=2,
        threads=2,
        unique=True,
        nonce="n7-",
        cookies=["sessionid=one", "sessionid=two"],
    )

    assert result["requests"] > 0
    assert len(seen) >= result["requests"]
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert result["rate"] == pytest.approx(result["requests"] / result["duration_s"])
    assert result["errors"] == {"status": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    paths = [path for path, _cookie, _language in seen]
    assert all(p.startswith(("/a/?_=n7-", "/b/?x=1&_=n7-")) for p in paths)
    assert {p.split("?")[0] for p in paths} == {"/a/", "/b/"}
    assert len(set(paths)) == len(paths)  # each request its own `_=`: no page cache answers it
    assert {cookie for _path, cookie, _language in seen} == {"sessionid=one", "sessionid=two"}
    assert {language for _path, _cookie, language in seen} == {"zh-CN,zh;q=0.9"}


@pytest.mark.e2e  # wrk, a real process
def test_fixed_paths_are_requested_as_they_are_without_a_cookie(http_server):
    port, seen = http_server

    result = run.run_wrk(port, ["/bench/bare/"], seconds=1, connections=1, threads=1, unique=False, nonce="x")

    assert result["requests"] > 0
    assert {(path, cookie) for path, cookie, _language in seen} == {("/bench/bare/", None)}


def test_parse_wrk_refuses_an_output_without_its_line():
    with pytest.raises(RuntimeError, match="no WRK_JSON"):
        run.parse_wrk("Running 1s test @ http://127.0.0.1:1\n  1 threads and 1 connections\n")


def test_the_server_command_is_the_procfiles_web_line_with_the_bench_port_and_workers():
    command = run.procfile_command(8123, 2)

    assert command[:3] == [sys.executable, "-m", "gunicorn"]
    assert "config.wsgi" in command
    assert command[command.index("--bind") + 1] == "127.0.0.1:8123"
    assert command[command.index("--workers") + 1] == "2"
    assert command[command.index("--access-logfile") + 1] == "-"
    assert command[-2:] == ["--access-logformat", run.ACCESS_FORMAT]


def test_procfile_defaults_are_used_for_variables_the_bench_does_not_set(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "worker: celery -A config worker\n"
        "web: gunicorn config.wsgi --bind ${GUNICORN_BIND:-0.0.0.0:80} --workers ${WEB_CONCURRENCY:-4} "
        "--timeout ${TIMEOUT:-30}\n"
    )

    command = run.procfile_command(9000, 3, procfile)

    assert command[3:] == [
        "config.wsgi",
        "--bind",
        "127.0.0.1:9000",
        "--workers",
        "3",
        "--timeout",
        "30",
        "--access-logformat",
        run.ACCESS_FORMAT,
    ]


def access_line(pid: int, status: int) -> str:
    """A line as gunicorn writes it with ACCESS_FORMAT (its atoms: `p` is "<pid>")."""
    atoms = {
        "h": "127.0.0.1",
        "l": "-",
        "u": "-",
        "t": "[30/Nov/2026:10:00:00 +0800]",
        "r": "GET /registry/?q=%E5%85%89 HTTP/1.1",
        "s": str(status),
        "b": "5120",
        "f": "-",
        "a": "bench-run (wrk)",
        "p": f"<{pid}>",
    }
    return run.ACCESS_FORMAT % atoms


def test_the_access_log_counts_requests_per_worker_and_status_as_it_grows(tmp_path):
    log = tmp_path / "gunicorn.log"
    log.write_text(
        "[2026-11-30 10:00:00 +0800] [41] [INFO] Booting worker with pid: 41\n"
        + "".join(f"{access_line(pid, 200)}\n" for pid in (41, 42, 41))
        + f"{access_line(42, 302)}\n"
        + access_line(41, 200)[:20]  # a line being written
    )
    access = run.AccessLog(str(log))

    pids, statuses = access.read()

    assert pids == {41: 2, 42: 2}
    assert statuses == {200: 3, 302: 1}
    with log.open("a") as out:
        out.write(access_line(41, 200)[20:] + "\n")
    assert access.read() == ({41: 1}, {200: 1})
    assert access.read() == ({}, {})


def test_search_words_run_from_the_commonest_to_the_rarest():
    texts = ["江岸区屋顶光伏1", "武昌区屋顶光伏2", "江岸区仓库光伏3", "王建国"]

    two = run.search_words(texts, 2, 4)
    one = run.search_words(texts, 1, 3)

    assert len(two) == 4 and all(len(word) == 2 for word in two)
    assert two[0] == "光伏"  # in every title
    assert two[-1] in ("建国", "王建")  # in one text only
    assert all(any(word in text for text in texts) for word in two)
    assert len(one) == 3 and all(len(word) == 1 for word in one)
    assert run.search_words(["光伏"], 4, 5) == []


def page_row(name: str, group: str, rate: float, p95: float, **extra) -> dict:
    return {
        "name": name,
        "what": "`/x/`",
        "group": group,
        "connections": 16,
        "users": 0,
        "requests": int(rate * 10),
        "seconds": 10.0,
        "rate": rate,
        "latency_ms": {
            "p50": p95 / 2,
            "p90": p95 * 0.9,
            "p95": p95,
            "p99": p95 * 1.2,
            "mean": p95 / 2,
            "max": p95 * 2,
        },
        "wrk_errors": {"status": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0},
        "statuses": {"200": int(rate * 10)},
        "not_200": 0,
        "workers": {"101": int(rate * 5), "102": int(rate * 5)},
        "worker_cpu_s": {"101": 9.0, "102": 9.1},
        "load": 1.0,
        "path": "/x/",
        "status": 200,
        "bytes": 100,
        "queries": 4,
        **extra,
    }


def results_of(pages: list[dict]) -> dict:
    run.ratios(pages)
    results = {
        "date": "2026-11-30 10:00:00 CST",
        "commit": "abc1234",
        "dirty": False,
        "command": "make bench",
        "options": {"seconds": 10, "warmup": 1, "workers": 2, "quick": False},
        "machine": {"description": "2 CPUs", "cpus": 2, "wrk": "wrk 4.1.0"},
        "fill": {
            "scale": {"organisations": 50, "projects": 100, "declarations": 300, "phases": 5},
            "done": "kept",
        },
        "server": {"command": ["gunicorn", "config.wsgi", "--access-logformat", "x"], "log_problems": []},
        "pages": pages,
        "memory": {
            "marks": [1000, 10000],
            "workers": {
                "101": {
                    "1000": {"request": 1000, "rss_kib": 100_000},
                    "10000": {"request": 10001, "rss_kib": 104_000},
                }
            },
            "growth_percent": {"101": 4.0},
            "flat": True,
        },
        "registration": {
            "phase": "2026B001",
            "issuances": 1000,
            "worker_processes": 2,
            "register_phase_ms": 900,
            "statements": 3000,
            "certificates_wall_s": 150.0,
            "cpu_s_per_certificate": 0.2,
            "certificate_files": 1000,
            "certificate_problems": [],
        },
        "retirements": [
            {
                "scenario": "one account",
                "clients": 8,
                "accounts": 1,
                "rate": 80.0,
                "p50_ms": 90.0,
                "p95_ms": 120.0,
                "refused": 0,
            }
        ],
        "verify": {
            "verify_ledger": {"seconds": 20.0, "outcome": "Ledger intact"},
            "verify_audit": {"seconds": 61.0, "outcome": "Audit chain intact"},
        },
        "steps": {"fill": 300.0, "pages: wrk": 330.0},
        "total_seconds": 700.0,
    }
    results["targets"] = run.targets(results)
    results["problems"] = run.problems(results)
    return results


def test_results_carry_each_figure_its_ratio_to_the_bare_view_and_the_targets_met_or_not():
    results = results_of(
        [
            page_row("bare view", "ceiling", 2000, 30),
            page_row("list, page 1", "public", 400, 80),
            page_row("list, last page", "public", 250, 120),
            page_row("district", "public", 500, 50),
            page_row("review queue", "office", 60, 140, connections=8),
        ]
    )

    assert json.loads(json.dumps(results)) == results
    assert [p["ratio_to_bare"] for p in results["pages"]] == [1.0, 0.2, 0.125, 0.25, 0.03]
    met = {t["target"]: t["met"] for t in results["targets"]}
    assert met["public pages, rate (16 connections)"] is False  # the last page: 250 req/s
    assert met["public pages, p95"] is False
    assert met["public pages, share of the bare view"] is False  # 12.5 %
    assert met["list, page 1 against last page"] is True  # 1.6×
    assert met["review queue, 8 logged-in users"] is True
    assert met["certificates, CPU"] is True
    assert met["a 1,000-declaration phase's certificates, 2 worker processes"] is False  # 150 s
    assert met["verify_ledger"] is True and met["verify_audit"] is False
    assert met["worker memory, request 1,000 to 10,000"] is True
    assert results["problems"] == []
    text = run.markdown(results)
    row = "| list, last page | `/x/` | 16 | 250 | 60.0 | 120.0 | 144.0 | 4 | 0.125 | 7.2 | 1,250 / 1,250 | "
    row += "0 | 1.0 |"
    assert row in text
    assert "22.8 req/s" in text and "district 500 req/s" in text
    assert "| verify_audit | < 60 s | 61.0 s (Audit chain intact) | **no** |" in text


def test_a_page_that_did_not_answer_200_or_finished_nothing_is_named_as_a_problem():
    nothing = dict.fromkeys(["p50", "p90", "p95", "p99", "mean", "max"])
    results = results_of(
        [
            page_row("bare view", "ceiling", 2000, 30),
            page_row(
                "admin changelist, projects",
                "admin",
                100,
                90,
                status=302,
                statuses={"302": 1000},
                not_200=1000,
            ),
            page_row("notice", "public", 0.0, 1, requests=0, latency_ms=nothing, statuses={"200": 7}),
        ]
    )

    no_errors = "{'status': 0, 'connect': 0, 'read': 0, 'write': 0, 'timeout': 0}"
    assert results["problems"] == [
        f"admin changelist, projects: in-process 302, under load {{'302': 1000}} (wrk errors {no_errors})",
        f"notice: in-process 200, under load {{'200': 7}} (wrk errors {no_errors})",
    ]
    met = {t["target"]: (t["measured"], t["met"]) for t in results["targets"]}
    assert met["public pages, p95"] == ("highest — ms (notice)", False)
    text = run.markdown(results)
    assert "**Problems**" in text
    assert "| notice | `/x/` | 16 | 0.0 | — | — | — | 4 | 0.000 |" in text


def test_write_docs_replaces_its_block_under_its_heading_and_keeps_the_rest(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text(
        f"# Performance\n\n## Other\n\nText.\n\n{run.DOCS_HEADING}\n\nHow it works.\n\n## Later\n\nMore.\n"
    )

    run.write_docs("First table.\n", doc)
    run.write_docs("Second table.\n", doc)

    text = doc.read_text()
    assert text.count(run.DOCS_START) == 1 and text.count(run.DOCS_END) == 1
    assert "Second table." in text and "First table." not in text
    assert text.index(run.DOCS_HEADING) < text.index("Second table.") < text.index("How it works.")
    assert text.startswith("# Performance\n\n## Other\n\nText.\n") and text.endswith("## Later\n\nMore.\n")
