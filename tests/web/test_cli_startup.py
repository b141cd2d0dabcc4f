"""Start-up failures are one clear line on stderr and a non-zero exit, never a traceback."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import with_database

REPO = Path(__file__).resolve().parents[2]


def run_scrutin(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("scrutin: error:")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_port_in_use(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_scrutin(
            ["serve", "--port", str(port), "--data-dir", str(tmp_path)],
            {"SCRUTIN_DATABASE_URL": database_url},
        )
    assert_one_line_error(result, f"port {port} on 127.0.0.1 is already in use")


def test_database_unreachable(tmp_path: Path) -> None:
    result = run_scrutin(
        ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        {"SCRUTIN_DATABASE_URL": "postgresql://scrutin@127.0.0.1:1/scrutin"},
    )
    assert_one_line_error(
        result, "cannot reach the database at postgresql://scrutin@127.0.0.1:1/scrutin"
    )


def test_migrations_out_of_date(tmp_path: Path, empty_database_url: str) -> None:
    result = run_scrutin(
        ["serve", "--no-migrate", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        {"SCRUTIN_DATABASE_URL": empty_database_url},
    )
    assert_one_line_error(result, "run `scrutin migrate`")


def test_data_dir_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_scrutin(
        ["serve", "--port", str(free_port()), "--data-dir", str(blocker / "data")], {}
    )
    assert_one_line_error(result, "is not writable")


def test_bad_setting_is_one_line(tmp_path: Path) -> None:
    result = run_scrutin(["serve", "--data-dir", str(tmp_path)], {"SCRUTIN_PORT": "eighty"})
    assert_one_line_error(result, "SCRUTIN_PORT")


@pytest.mark.slow
def test_migrate_then_serve_against_an_external_server(
    tmp_path: Path, pg_admin_url: str, empty_database_url: str
) -> None:
    env = {"SCRUTIN_DATABASE_URL": empty_database_url}
    migrated = run_scrutin(["migrate", "--data-dir", str(tmp_path)], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in migrated.stdout
    assert not (tmp_path / "postgres").exists()  # no embedded server was started

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--no-migrate",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = _wait_for(f"http://127.0.0.1:{port}/readyz", server)
        assert '"status":"ok"' in body
        assert with_database(pg_admin_url, "x")  # the helper keeps the server part
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not (tmp_path / "postgres").exists()


def _wait_for(url: str, server: subprocess.Popen[str], timeout: float = 600) -> str:
    """The page's body once the server answers; fails at once, with the server's output, if
    it exited. The deadline only bounds a hung run: on a loaded machine starting the embedded
    PostgreSQL and seeding the demo can take minutes, and that is not a failure."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            out, err = server.communicate()
            raise AssertionError(f"the server exited ({server.returncode}):\n{out}\n{err}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_demo_serves_a_seeded_primary_with_the_embedded_database(public_tmp_path: Path) -> None:
    tmp_path = public_tmp_path
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRUTIN_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        home = _wait_for(f"http://127.0.0.1:{port}/", server)
        assert "/primaries/demo" in home
        assert '"status":"ok"' in _wait_for(f"http://127.0.0.1:{port}/readyz", server)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    assert "password:" in out
    assert "Traceback" not in err
    assert (tmp_path / "demo" / "postgres" / "PG_VERSION").exists()
    assert not (tmp_path / "demo" / "postgres" / "postmaster.pid").exists()  # stopped on exit
