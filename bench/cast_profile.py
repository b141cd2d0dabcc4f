"""Cast path, in CPU time: casts through the app in process (ASGI calls, no socket), with
the Python CPU µs per cast, the PostgreSQL backends' CPU µs per cast, and the round trips
to PostgreSQL per cast (asyncpg calls counted on the client side).

    python bench/cast_profile.py [--voters 600] [--concurrency 20] [--profile out.prof]

Wall time on a shared machine says little; CPU time of this process and of the postmaster's
children (read from /proc) does not depend on the other jobs. A warm-up of 50 casts comes
first (sealed key opened, statements prepared), then the measured casts.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import importlib.util
import os
import pstats
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("crash_drill", HERE / "crash.py")
assert _spec is not None and _spec.loader is not None
crash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash)
_spec = importlib.util.spec_from_file_location("cast_bench", HERE / "cast.py")
assert _spec is not None and _spec.loader is not None
cast_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cast_bench)

WARM = 50
TRIPS: collections.Counter[str] = collections.Counter()


def count_round_trips() -> None:
    """Count each asyncpg call that goes to the server (one round trip each, once the
    statement is prepared), by the first words of its SQL."""
    from asyncpg.connection import Connection

    def counted(name, method):  # type: ignore[no-untyped-def]
        async def wrapper(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
            TRIPS[" ".join(str(query).split())[:70]] += 1
            return await method(self, query, *args, **kwargs)

        return wrapper

    Connection.execute = counted("execute", Connection.execute)  # type: ignore[method-assign]
    Connection._execute = counted("_execute", Connection._execute)  # type: ignore[method-assign]
    Connection.executemany = counted("executemany", Connection.executemany)  # type: ignore[method-assign]


async def post(app, path: str, body: bytes, cookie: str) -> int:  # type: ignore[no-untyped-def]
    """One POST through the ASGI app, as uvicorn would make it; returns the status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000"),
            (b"cookie", cookie.encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
    }  # fmt: skip
    sent = False
    status = 0

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run(data: Path, plan: dict, concurrency: int, profile: str | None) -> None:
    from web.app import create_app
    from web.database import EmbeddedPostgres
    from web.settings import Settings

    settings = Settings(data_dir=data)
    server = EmbeddedPostgres(data).start()
    try:
        postmaster = int((data / "postgres" / "postmaster.pid").read_text().split()[0])
        app = create_app(settings, database_url=server.url())
        voters = plan["voters"]
        url = f"/primaries/{plan['slug']}/rounds/1/cast"
        async with app.router.lifespan_context(app):

            async def one(v: dict) -> None:
                body = cast_bench.ballot_body(plan["candidates"], v["csrf"]).encode()
                status = await post(app, url, body, v["cookie"])
                assert status == 303, status

            async def batch(group: list[dict]) -> None:
                queue = list(group)

                async def worker() -> None:
                    while queue:
                        await one(queue.pop())

                await asyncio.gather(*(worker() for _ in range(concurrency)))

            await batch(voters[:WARM])
            TRIPS.clear()
            measured = voters[WARM:]
            pg_cpu = cast_bench.children_cpu  # the postmaster and its backends
            profiler = cProfile.Profile() if profile else None
            py0, pg0, wall0 = time.process_time(), pg_cpu(postmaster), time.monotonic()
            if profiler:
                profiler.enable()
            await batch(measured)
            if profiler:
                profiler.disable()
            py1, pg1, wall1 = time.process_time(), pg_cpu(postmaster), time.monotonic()
        n = len(measured)
        print(f"casts {n}  concurrency {concurrency}  load average {os.getloadavg()[0]:.1f}")
        print(f"python CPU {(py1 - py0) / n * 1e6:.0f} µs/cast  postgres CPU "
              f"{(pg1 - pg0) / n * 1e6:.0f} µs/cast  wall {(wall1 - wall0) / n * 1e3:.2f} ms/cast"
              f"{' (profiled)' if profiler else ''}")  # fmt: skip
        print(f"round trips {sum(TRIPS.values()) / n:.2f} per cast:")
        for sql, count in TRIPS.most_common():
            print(f"  {count / n:6.2f}  {sql}")
        if profiler:
            profiler.dump_stats(profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voters", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--profile", default=None, help="write a cProfile file here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="scrutin-cast-profile-"))
    folder.chmod(0o755)
    try:
        drill = crash.Drill(folder, args.voters + WARM, 1)
        cast_bench.crash_setup(drill, args.voters + WARM)
        count_round_trips()
        os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))
        asyncio.run(run(drill.data, drill.plan, args.concurrency, args.profile))
    finally:
        subprocess.run(["true"], check=False)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
