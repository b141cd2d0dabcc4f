"""Benchmark of the public log service (voting/log/service.py) on durable PostgreSQL.

Prints entries/s for sequential appends (one transaction + wait per entry) and for concurrent
appends (tasks × processes, each entry its own transaction, then wait), each next to the bare
INSERT+COMMIT ceiling measured in the same run (the machine may be shared: compare ratios),
then fills a log to 1,000,000 entries and times a checkpoint, an inclusion proof, a consistency
proof, a receipt and the streamed export. Commits are durable: fsync and synchronous_commit
stay ON (the script prints them).

Without SCRUTIN_DATABASE_URL, an embedded PostgreSQL is started in a temporary folder.

    PYTHONPATH=. python bench/log_append.py [--sequential N] [--concurrent N] [--tasks N]
        [--processes N] [--pool N] [--big N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from crypto.entries import make_entry
from crypto.note import open_checkpoint
from voting.log import EXPORT_CHUNK, LogService
from web.app import create_pool
from web.database import EmbeddedPostgres, ensure_database
from web.migrate import upgrade

SECRET = "bench-secret-key-0123456789abcdefghijklmnopq"  # noqa: S105 - a throw-away log
GOAL = 5000.0


def _service() -> LogService:
    return LogService(secret_key=SECRET, public_host="bench.localhost")


def _body(i: int) -> dict[str, Any]:
    # About the size of a real ballot entry (a sealed box of a padded ballot).
    return {"round": 1, "sealed": base64.b64encode(random.randbytes(180)).decode(), "n": i}


async def _create_log(url: str, slug: str) -> uuid.UUID:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            primary_id = await conn.fetchval(
                "INSERT INTO primaries (slug, title, definition) VALUES ($1, $1, '{}'::jsonb)"
                " RETURNING id",
                slug,
            )
            await _service().create_log(conn, primary_id, slug)
        return primary_id
    finally:
        await conn.close()


@dataclass
class _Run:
    """One timed run: wall-clock start and end, and each append's latency in seconds (its
    transaction, from acquiring a connection, through commit and the wait for its index)."""

    start: float
    end: float
    latencies: list[float]

    def rate(self) -> float:
        return len(self.latencies) / (self.end - self.start)


async def _append_concurrently(
    url: str, primary_id: uuid.UUID, count: int, tasks: int, pool_size: int
) -> _Run:
    """`tasks` concurrent writers appending `count` entries in all (each its own transaction,
    then `wait`)."""
    service = _service()
    pool = await create_pool(url, min_size=pool_size, max_size=pool_size)
    try:
        async with pool.acquire() as conn:  # open the sealed key once, before timing
            await service._log_key(conn, primary_id)
        counter = iter(range(count))
        latencies: list[float] = []

        async def writer() -> None:
            for i in counter:
                t0 = time.perf_counter()
                async with pool.acquire() as conn, conn.transaction():
                    queued = await service.append(conn, primary_id, "ballot", _body(i))
                await service.wait(pool, queued)
                latencies.append(time.perf_counter() - t0)

        start = time.time()
        await asyncio.gather(*(writer() for _ in range(tasks)))
        return _Run(start, time.time(), latencies)
    finally:
        await pool.close()


async def _writers(url: str, primary_id: uuid.UUID, count: int, tasks: int, pool: int) -> _Run:
    """`tasks` concurrent writers in this process."""
    return await _append_concurrently(url, primary_id, count, tasks, min(tasks, pool))


def _run_processes(
    url: str, primary_id: uuid.UUID, count: int, tasks: int, procs: int, pool: int
) -> _Run:
    """Start `procs` worker processes together; their runs as one (first start, last end)."""
    command = [sys.executable, __file__, "--worker", url, str(primary_id)]
    per = count // procs
    children = [
        subprocess.Popen(
            [*command, str(per), str(tasks), str(pool)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        for _ in range(procs)
    ]
    runs = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"worker failed with status {child.returncode}")
        runs.append(_Run(**json.loads(out)))
    return _Run(
        min(r.start for r in runs),
        max(r.end for r in runs),
        [latency for r in runs for latency in r.latencies],
    )


def _worker(url: str, primary: str, count: int, tasks: int, pool: int) -> None:
    run = asyncio.run(_append_concurrently(url, uuid.UUID(primary), count, tasks, min(tasks, pool)))
    print(json.dumps(asdict(run)))


async def _fill(url: str, primary_id: uuid.UUID, total: int) -> None:
    """Queue `total` synthetic signed entries with COPY, then integrate them with the
    service's own sequencer (so tiles and tree state are the real ones)."""
    service = _service()
    pool = await create_pool(url, min_size=2, max_size=4)
    try:
        async with pool.acquire() as conn:
            key = await service._log_key(conn, primary_id)
            done = (await service.head(conn, primary_id)).size
            sign_time = copy_time = integrate_time = 0.0
            chunk = 50_000
            while done < total:
                n = min(chunk, total - done)
                t0 = time.perf_counter()
                now = int(time.time())
                rows = [
                    (
                        primary_id,
                        "ballot",
                        make_entry(
                            origin=key.origin,
                            primary=str(primary_id),
                            kind="ballot",
                            time=now,
                            body=_body(done + i),
                            signing_key=key.signing_key,
                        ),
                    )
                    for i in range(n)
                ]
                t1 = time.perf_counter()
                await conn.copy_records_to_table(
                    "log_queue", records=rows, columns=["primary_id", "kind", "entry"]
                )
                t2 = time.perf_counter()
                await service.integrate(pool, primary_id, batch_size=10_000)
                t3 = time.perf_counter()
                sign_time += t1 - t0
                copy_time += t2 - t1
                integrate_time += t3 - t2
                done += n
                print(f"  … {done:,} entries", end="\r", flush=True)
        print(
            f"  filled with {total:,} synthetic signed entries: signing {sign_time:.1f} s, "
            f"COPY into the queue {copy_time:.1f} s, sequencer {integrate_time:.1f} s "
            f"({total / integrate_time:,.0f} entries/s integrated)",
            flush=True,
        )
    finally:
        await pool.close()


def _timed(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.2f} ms  max {max(samples) * 1000:7.2f} ms"


async def _big_costs(url: str, primary_id: uuid.UUID, origin_vkey: str) -> None:
    service = _service()
    pool = await create_pool(url, min_size=2, max_size=4)
    try:
        async with pool.acquire() as conn:
            await service._log_key(conn, primary_id)
        head = await service.head(pool, primary_id)
        size = head.size

        # A checkpoint over a tree that grew by one entry (the steady-state cost).
        samples = []
        for i in range(10):
            async with pool.acquire() as conn, conn.transaction():
                await service.append(conn, primary_id, "ballot", _body(-i))
            t0 = time.perf_counter()
            note = await service.publish_checkpoint(pool, primary_id)
            samples.append(time.perf_counter() - t0)
        checkpoint = open_checkpoint(note, origin_vkey)
        size = checkpoint.size
        print(f"checkpoint at {size:,} (integrate 1 + sign + store)  {_timed(samples)}")

        rng = random.Random(1)
        samples = []
        for _ in range(200):
            index = rng.randrange(size)
            t0 = time.perf_counter()
            proof = await service.inclusion_proof(pool, primary_id, index, size)
            samples.append(time.perf_counter() - t0)
            proof.verify(checkpoint.root_hash)
        print(f"inclusion proof at {size:,} ({len(proof.hashes)} hashes)  {_timed(samples)}")

        samples = []
        for _ in range(100):
            old = rng.randrange(1, size)
            t0 = time.perf_counter()
            await service.consistency_proof(pool, primary_id, old, size)
            samples.append(time.perf_counter() - t0)
        print(f"consistency proof to {size:,}               {_timed(samples)}")

        samples = []
        for _ in range(100):
            t0 = time.perf_counter()
            await service.receipt(pool, primary_id, rng.randrange(size))
            samples.append(time.perf_counter() - t0)
        print(f"receipt at {size:,}                         {_timed(samples)}")

        t0 = time.perf_counter()
        root = await service.root_at(pool, primary_id, size)
        assert root == checkpoint.root_hash == head.root or size != head.size
        elapsed = (time.perf_counter() - t0) * 1000
        print(f"root recomputed from stored tiles            {elapsed:7.2f} ms")
        t0 = time.perf_counter()
        exported = 0
        async for piece in await service.export_json(pool, primary_id):
            exported += len(piece)
        elapsed = time.perf_counter() - t0
        print(
            f"export streamed ({exported / 2**20:,.0f} MiB of JSON)       {elapsed * 1000:9.0f} ms"
            f"  (in pieces of {EXPORT_CHUNK:,} entries)"
        )
        stats = await pool.fetchrow(
            "SELECT pg_total_relation_size('log_entries') AS entries,"
            " pg_total_relation_size('log_tiles') AS tiles"
        )
        print(
            f"storage: log_entries {stats['entries'] / 2**20:,.0f} MiB, "
            f"log_tiles {stats['tiles'] / 2**20:,.1f} MiB"
        )
    finally:
        await pool.close()


async def _baseline(url: str, count: int, tasks: int, connections: int) -> float:
    """The machine's durable-commit ceiling: one bare INSERT + COMMIT per row, no log."""
    size = min(tasks, connections)
    pool = await create_pool(url, min_size=size, max_size=size)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, b bytea)"
        )
        counter = iter(range(count))
        payload = random.randbytes(400)

        async def writer() -> None:
            for _ in counter:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("INSERT INTO bench_baseline (b) VALUES ($1)", payload)

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(tasks)))
        return time.perf_counter() - start
    finally:
        await pool.close()


async def _settings(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        fsync = await conn.fetchval("SHOW fsync")
        sync = await conn.fetchval("SHOW synchronous_commit")
        version = await conn.fetchval("SHOW server_version")
        return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync}"
    finally:
        await conn.close()


def _rate(
    label: str,
    count: int,
    seconds: float,
    goal: float | None = None,
    ceiling: float | None = None,
    latencies: list[float] | None = None,
) -> float:
    rate = count / seconds
    notes = []
    if goal is not None:
        notes.append(f"goal ≥ {goal:,.0f}: {'ok' if rate >= goal else 'SLOW'}")
    if ceiling:
        notes.append(f"{rate / ceiling:.0%} of the bare ceiling")
    if latencies:
        cuts = statistics.quantiles(latencies, n=100)
        notes.append(f"latency p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")
    suffix = f"  ({'; '.join(notes)})" if notes else ""
    print(f"{label:<52} {rate:9,.0f} entries/s{suffix}", flush=True)
    return rate


def _run_rate(label: str, run: _Run, goal: float | None, ceiling: float) -> None:
    _rate(label, len(run.latencies), run.end - run.start, goal, ceiling, run.latencies)


def run(url: str, args: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        asyncio.run(_settings(url)),
        f"; {os.cpu_count()} CPUs; load average {load}; {args.pool} connections",
        flush=True,
    )
    primary_id = asyncio.run(_create_log(url, f"bench-{uuid.uuid4().hex[:8]}"))

    ceiling = {}
    for tasks in (1, max(args.tasks)):
        n = args.sequential if tasks == 1 else args.concurrent
        seconds = asyncio.run(_baseline(url, n, tasks, args.pool))
        ceiling[tasks] = _rate(f"baseline, no log: bare INSERT+COMMIT, {tasks} writers", n, seconds)
    timed = asyncio.run(_writers(url, primary_id, args.sequential, 1, args.pool))
    _run_rate(f"sequential: 1 writer, {args.sequential:,} entries", timed, None, ceiling[1])
    for tasks in args.tasks:
        timed = asyncio.run(_writers(url, primary_id, args.concurrent, tasks, args.pool))
        label = f"concurrent: {tasks} writers × 1 process, {args.concurrent:,}"
        _run_rate(label, timed, GOAL, ceiling[max(args.tasks)])
    if args.processes > 1:
        tasks = max(args.tasks) // args.processes
        timed = _run_processes(
            url, primary_id, args.concurrent, tasks, args.processes, args.pool // args.processes
        )
        label = f"concurrent: {tasks} writers × {args.processes} processes, {args.concurrent:,}"
        _run_rate(label, timed, GOAL, ceiling[max(args.tasks)])

    if args.big:
        big_id = asyncio.run(_create_log(url, f"big-{uuid.uuid4().hex[:8]}"))
        print(f"filling a second log to {args.big:,} entries (bulk, not timed as appends)…")
        asyncio.run(_fill(url, big_id, args.big))

        async def vkey() -> str:
            conn = await asyncpg.connect(url)
            try:
                return await _service().vkey(conn, big_id)
            finally:
                await conn.close()

        asyncio.run(_big_costs(url, big_id, asyncio.run(vkey())))


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=30_000)
    parser.add_argument("--tasks", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--pool",
        type=int,
        default=20,
        help="database connections in all (split between processes); on 2 cores, more "
        "connections mean more contention in PostgreSQL, not more throughput",
    )
    parser.add_argument("--big", type=int, default=1_000_000, help="0 to skip")
    args = parser.parse_args(argv)

    external = os.environ.get("SCRUTIN_DATABASE_URL")
    if external:
        upgrade(external)
        run(external, args)
        return 0
    with tempfile.TemporaryDirectory(prefix="scrutin-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp)).start()
        try:
            asyncio.run(ensure_database(server.admin_url(), "bench"))
            url = server.url("bench")
            upgrade(url)
            run(url, args)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
