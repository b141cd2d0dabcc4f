"""The embedded PostgreSQL under `scrutin serve` (a real subprocess on loopback): when its
postmaster is killed, `serve` starts it again and the service answers and records ballots
without being restarted; after `scrutin serve` itself is killed with -9 and started again, a
clean stop leaves no postmaster running. Every step waits for a state, never for a time."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import psutil

from tests.fixtures.waiting import wait_until

CRASH = Path(__file__).resolve().parents[2] / "bench" / "crash.py"


def _crash_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("crash_drill", CRASH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_postmaster_is_restarted_and_the_service_recovers(
    public_tmp_path: Path,
) -> None:
    crash = _crash_module()
    drill = crash.Drill(public_tmp_path, voters=3, clients=1)
    drill.setup()
    pgdata = drill.data / "postgres"
    drill.start()
    try:
        drill._cast(0)
        assert drill.acked[0] not in (None, "?")
        first = _postmaster_pid(pgdata)

        drill.kill_database()  # SIGKILL to the postmaster; `serve` keeps running
        restarted = wait_until(
            lambda: (pid := _postmaster_pid(pgdata)) != first and _running(pid) and pid,
            "serve to start the postmaster again",
        )
        wait_until(drill._healthy, "/healthz to answer 200 again")
        assert drill.server.poll() is None  # the same `serve`, never restarted

        drill._cast(1)  # a ballot cast over HTTP after the outage is acknowledged
        assert drill.acked[1] not in (None, "?")
        assert _postmaster_pid(pgdata) == restarted

        # `scrutin serve` killed with -9 leaves its pid in the server's handle list; the
        # next `serve` on the data folder shares the running server and, stopped cleanly,
        # stops it (the dead holder is forgotten).
        drill.kill_server()
        assert _running(restarted)
        drill.start()
        drill._cast(2)
        assert drill.acked[2] not in (None, "?")
    finally:
        drill.stop()
    assert drill.server.returncode == 0
    wait_until(lambda: not _running(_postmaster_pid(pgdata)), "the postmaster to stop")
    assert _postmaster_pid(pgdata) is None
