"""The embedded PostgreSQL: first start, reuse with data kept, clean stop, shared handles."""

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import psutil

from web.database import EmbeddedPostgres, ensure_database


async def _roundtrip(url: str, statement: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        if ";" in statement:
            return await conn.execute(statement)
        return await conn.fetchval(statement)
    finally:
        await conn.close()


def _postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def test_start_reuse_and_clean_stop(public_tmp_path: Path) -> None:
    tmp_path = public_tmp_path
    server = EmbeddedPostgres(tmp_path).start()
    asyncio.run(ensure_database(server.admin_url()))
    url = server.url()
    asyncio.run(_roundtrip(url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)"))
    pid = _postmaster_pid(server.pgdata)
    assert pid is not None and psutil.pid_exists(pid)
    server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _postmaster_pid(server.pgdata) is None

    again = EmbeddedPostgres(tmp_path).start()
    try:
        assert asyncio.run(_roundtrip(again.url(), "SELECT x FROM kept")) == 42
    finally:
        again.stop()


def test_two_processes_share_one_server_on_the_same_data_dir(public_tmp_path: Path) -> None:
    tmp_path = public_tmp_path
    holder_code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from web.database import EmbeddedPostgres
        server = EmbeddedPostgres(Path({str(tmp_path)!r})).start()
        print(server.admin_url(), flush=True)
        sys.stdin.readline()
        server.stop()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None
        admin_url = holder.stdout.readline().strip()
        first_pid = _postmaster_pid(tmp_path / "postgres")

        second = EmbeddedPostgres(tmp_path).start()
        assert _postmaster_pid(second.pgdata) == first_pid  # shared, not a second postmaster
        second.stop()
        # the holder still has its server after the second process let go
        assert asyncio.run(_roundtrip(admin_url, "SELECT 1")) == 1
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=60)
    assert _postmaster_pid(tmp_path / "postgres") is None


def test_a_killed_holder_does_not_keep_the_server_running(public_tmp_path: Path) -> None:
    tmp_path = public_tmp_path
    # A `scrutin` killed with -9 leaves its pid in the wheel's handle list; the clean stop of
    # the next process must still stop the server (it used to wait for the dead one).
    server = EmbeddedPostgres(tmp_path).start()
    pid = _postmaster_pid(server.pgdata)
    assert pid is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    handles = server.pgdata / ".handle_pids.json"
    holders = json.loads(handles.read_text())
    handles.write_text(json.dumps([int(dead.stdout), *holders]))
    try:
        server.stop()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert _postmaster_pid(server.pgdata) is None
    finally:
        if psutil.pid_exists(pid) and _postmaster_pid(server.pgdata) == pid:
            psutil.Process(pid).terminate()
