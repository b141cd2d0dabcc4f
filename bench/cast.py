"""Cast throughput over real HTTP: wrk drives ballots, then a bare endpoint, the same way.

    python bench/cast.py [--workers 2] [--voters 20000] [--connections 200] [--duration 10]

Sets up a fresh data folder with a round of 12 candidates × 7 grades, registers the voters
(signed session cookies made from the service secret, as bench/crash.py does), runs
`scrutin serve --workers N`, and drives casts with wrk (Debian's package, installed with
apt-get if missing) and a Lua script that gives each request the next voter, so that every
voter casts once. Then /healthz is driven the same way in the same run. Prints ballots/s,
p50/p95/p99, errors, the generator's CPU, and last
`RESULT ballots_per_s=<n> p99_ms=<n> ratio=<r>` (ratio = ballots/s ÷ bare requests/s).

The ballots are prepared before the timed run (the form bodies are written into the Lua
file), so the bench keeps working when the ballot format changes: only `ballot_body` does.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("crash_drill", HERE / "crash.py")
assert _spec is not None and _spec.loader is not None
crash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash)

CANDIDATES = 12  # LaPrimaire's finalists
WARM_VOTERS = 500
GRADES = 7

LUA = r"""
local voters = {VOTERS}
local counter = 0
local step = 1
local statuses = {}
local threads = {}

function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = offset
  step = {THREADS}
end

function request()
  local v = voters[(counter % #voters) + 1]
  counter = counter + step
  {REQUEST}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("PCT p50=%.3f p95=%.3f p99=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("COUNT requests=%d errors=%d non2xx3xx=%d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("cast bench: wrk could not be installed")
    return found


def ballot_body(candidates: list[str], csrf: str) -> str:
    form = {f"grade-{c}": str(random.randrange(GRADES)) for c in candidates}
    form["csrf_token"] = csrf
    return urllib.parse.urlencode(form)


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string


def write_lua(path: Path, threads: int, voters: list[dict] | None, cast: tuple | None) -> None:
    if cast is None:
        request = 'return wrk.format("GET", "/healthz")'
        entries = "{1}"
    else:
        slug, origin = cast
        request = (
            f'return wrk.format("POST", "/primaries/{slug}/rounds/1/cast", '
            f'{{["Cookie"] = v[1], ["Origin"] = {lua_string(origin)}, '
            '["Content-Type"] = "application/x-www-form-urlencoded"}, v[2])'
        )
        entries = (
            "{"
            + ",\n".join(
                f"{{{lua_string(v['cookie'])}, {lua_string(v['body'])}}}" for v in voters or []
            )
            + "}"
        )
    path.write_text(
        LUA.replace("{VOTERS}", entries)
        .replace("{THREADS}", str(threads))
        .replace("{REQUEST}", request)
    )


def run_wrk(wrk: str, url: str, script: Path, threads: int, connections: int,
            duration: int) -> dict:  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = dict(re.findall(r"(p\d+)=([\d.]+)", out))
    counts = dict(re.findall(r"(requests|errors|non2xx3xx)=(\d+)", out))
    return {
        "rate": rate, "p50": float(pct["p50"]), "p95": float(pct["p95"]),
        "p99": float(pct["p99"]), "requests": int(counts["requests"]),
        "errors": int(counts["errors"]), "bad_status": int(counts["non2xx3xx"]),
        "cpu": cpu, "duration": duration,
    }  # fmt: skip


def children_cpu(parent: int) -> float:
    """CPU seconds (user + system) of `parent`'s processes: itself and its descendants that
    are still running, read from /proc (the serve process and its workers, or the
    postmaster and its backends)."""
    stats = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        stats[int(pid)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    family = {parent}
    grown = True
    while grown:
        grown = False
        for pid, (ppid, _) in stats.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grown = True
    ticks = sum(stats[pid][1] for pid in family if pid in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu(drill) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """CPU seconds so far of the serve process tree and of PostgreSQL."""
    postmaster = int((drill.data / "postgres" / "postmaster.pid").read_text().split()[0])
    return children_cpu(drill.server.pid), children_cpu(postmaster)


def show(name: str, r: dict) -> None:
    print(
        f"{name:>9}: {r['rate']:8.0f} req/s  p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
        f"p99 {r['p99']:7.1f} ms  requests {r['requests']}  errors {r['errors']}  "
        f"non-2xx/3xx {r['bad_status']}  wrk CPU {r['cpu'] / r['duration'] * 100:.0f} %",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--voters", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    wrk = ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="scrutin-cast-bench-"))
    folder.chmod(0o755)
    try:
        drill = crash.Drill(folder, args.voters, 1)
        print(f"preparing {args.voters} voters, {CANDIDATES} candidates × {GRADES} grades…",
              flush=True)  # fmt: skip
        crash_setup(drill, args.voters)
        voters = [
            {"cookie": v["cookie"], "body": ballot_body(drill.plan["candidates"], v["csrf"])}
            for v in drill.plan["voters"]
        ]
        drill.start_workers(args.workers)
        origin = f"http://127.0.0.1:{drill.port}"
        cast_lua, bare_lua = folder / "cast.lua", folder / "bare.lua"
        warm_lua = folder / "warm.lua"
        warm = min(WARM_VOTERS, len(voters) // 10)  # voters kept apart for the warm-up
        write_lua(warm_lua, args.threads, voters[:warm], (drill.plan["slug"], origin))
        write_lua(cast_lua, args.threads, voters[warm:], (drill.plan["slug"], origin))
        write_lua(bare_lua, args.threads, None, None)
        try:
            # Warm-up: each worker opens the log's sealed key (an Argon2id derivation, once
            # per process behind a per-log lock) on its first cast: not in the timed run.
            run_wrk(wrk, origin, warm_lua, args.threads, 2 * args.threads, 2)
            cpu_before = server_cpu(drill)
            cast = run_wrk(wrk, origin, cast_lua, args.threads, args.connections, args.duration)
            cpu_after = server_cpu(drill)
            bare = run_wrk(wrk, origin, bare_lua, args.threads, args.connections, args.duration)
        finally:
            drill.stop()
        print("load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f} on {} cores".format(
              *os.getloadavg(), os.cpu_count()), flush=True)  # fmt: skip
        show("casts", cast)
        if cast["requests"]:
            python, postgres = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
            print(f"server CPU per cast: python {python / cast['requests'] * 1e6:.0f} µs, "
                  f"postgres {postgres / cast['requests'] * 1e6:.0f} µs", flush=True)  # fmt: skip
        show("/healthz", bare)
        if cast["requests"] > len(voters) - warm:
            print(f"warning: {cast['requests']} casts for {len(voters) - warm} voters: some were "
                  "refused as already voted; raise --voters", flush=True)  # fmt: skip
        # Only accepted casts (303) are ballots; refusals and errors are not.
        accepted = cast["requests"] - cast["bad_status"] - cast["errors"]
        ballots = cast["rate"] * accepted / cast["requests"] if cast["requests"] else 0.0
        ratio = ballots / bare["rate"] if bare["rate"] else 0.0
        print(f"RESULT ballots_per_s={ballots:.0f} p99_ms={cast['p99']:.0f} "
              f"ratio={ratio:.2f}")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def crash_setup(drill, voters: int) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        crash._scrutin("migrate", "--data-dir", str(drill.data), env=drill.env),
        cwd=crash.REPO, env=drill.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"cast bench: migrate failed: {done.stderr.strip()}")
    drill.plan = asyncio.run(crash._prepare(drill.data, voters, candidates=CANDIDATES))


if __name__ == "__main__":
    sys.exit(main())
