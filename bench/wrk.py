"""wrk, the load generator of the benchmarks (Debian's package): a Lua script that walks a list of paths,
each connection in turn, adding a unique `_=` when asked, with one cookie line per thread when given, and
prints its counts and latency percentiles as one JSON line. bench/run.py (make bench) and
bench/public_load.py (make bench-public) both drive it through run_wrk."""

import json
import math
import os
import subprocess
import tempfile
from pathlib import Path

# Each connection walks the paths file in turn, adding a unique `_=` when asked. With a cookies file,
# thread i sends cookie line i (so -t 8 -c 8 is 8 users, one connection each). done() prints one line,
# WRK_JSON {...}: the counts and the latency percentiles in milliseconds.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  unique, nonce, nthreads, counter = args[2] == "unique", args[3], tonumber(args[4]), 0
  wrk.headers["Accept-Language"] = "zh-CN,zh;q=0.9"
  wrk.headers["User-Agent"] = "bench-run (wrk)"
  if args[5] and args[5] ~= "" then
    local cookies = {}
    for line in io.lines(args[5]) do cookies[#cookies + 1] = line end
    wrk.headers["Cookie"] = cookies[id % #cookies + 1]
  end
end
function request()
  local k = counter * nthreads + id
  counter = counter + 1
  local path = paths[k % #paths + 1]
  if unique then
    path = path .. (string.find(path, "?", 1, true) and "&" or "?") .. "_=" .. nonce .. k
  end
  return wrk.format("GET", path)
end
function done(summary, latency, requests)
  local e = summary.errors
  local ms = function(us) return us / 1000 end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_s": %.6f, "bytes": %d, ' ..
    '"errors": {"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_ms": {"p50": %.3f, "p90": %.3f, "p95": %.3f, "p99": %.3f, "mean": %.3f, "max": %.3f}}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    e.status, e.connect, e.read, e.write, e.timeout,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(95)),
    ms(latency:percentile(99)), ms(latency.mean), ms(latency.max)))
end
"""


def parse_wrk(output: str) -> dict:
    """The WRK_JSON line of wrk's output, with the rate added."""
    line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no WRK_JSON line:\n{output[-2000:]}")
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rate"] = result["requests"] / result["duration_s"] if result["duration_s"] else 0.0
    return result


def wrk_command(
    port: int, folder: str, *, seconds: float, connections: int, threads: int, unique: bool, nonce: str
) -> list[str]:
    return [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{math.ceil(seconds)}s",  # wrk takes whole seconds
        "--timeout",
        "30s",
        "-s",
        os.path.join(folder, "walk.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        os.path.join(folder, "paths.txt"),
        "unique" if unique else "fixed",
        nonce,
        str(threads),
        os.path.join(folder, "cookies.txt"),
    ]


def wrk_files(folder: str, paths: list[str], cookies: list[str]) -> None:
    Path(folder, "walk.lua").write_text(WRK_SCRIPT)
    Path(folder, "paths.txt").write_text("\n".join(paths) + "\n")
    Path(folder, "cookies.txt").write_text("".join(f"{cookie}\n" for cookie in cookies))


def run_wrk(
    port: int,
    paths: list[str],
    *,
    seconds: float,
    connections: int,
    threads: int,
    unique: bool,
    nonce: str,
    cookies: list[str] = (),
) -> dict:
    """wrk over `paths` for `seconds`; with cookies, one thread per cookie (one user per thread)."""
    if cookies:
        threads = connections
    with tempfile.TemporaryDirectory(prefix="bench-run-wrk-") as folder:
        wrk_files(folder, paths, list(cookies))
        command = wrk_command(
            port,
            folder,
            seconds=seconds,
            connections=connections,
            threads=threads,
            unique=unique,
            nonce=nonce,
        )
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    return parse_wrk(output.stdout + output.stderr)
