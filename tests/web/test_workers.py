"""`scrutin serve --workers N`: several processes on one socket, whose rate limits count
together in PostgreSQL (what one process would allow, not N times as much)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx2 as httpx
import pytest

from tests.fixtures.waiting import wait_until
from web.app import create_pool
from web.ratelimit import SIGNIN_LIMIT_PER_IP, DatabaseRateLimiter

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.mark.anyio
async def test_shared_limits_count_hits_and_say_how_long_to_wait(pool: asyncpg.Pool) -> None:
    one, other = DatabaseRateLimiter(pool), DatabaseRateLimiter(pool)  # two processes
    for _ in range(3):
        assert await one.hit("signin", "ip:198.51.100.1", 3, 600) == 0
    wait = await other.hit("signin", "ip:198.51.100.1", 3, 600)
    assert 590 < wait <= 600
    assert await other.waiting("signin", "ip:198.51.100.1", 3, 600) > 590
    assert await other.hit("signin", "ip:198.51.100.2", 3, 600) == 0  # another address
    # `waiting` counts nothing: limits on failures check first, count only a failure.
    for _ in range(5):
        assert await one.waiting("claim-failures", "primary:x", 2, 900) == 0
    await one.reset("signin")
    assert await other.hit("signin", "ip:198.51.100.1", 3, 600) == 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_two_workers_share_the_sign_in_limit(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--workers", "2", "--no-migrate",
         "--port", str(port), "--data-dir", str(tmp_path)],
        env={**os.environ, "SCRUTIN_DATABASE_URL": database_url},
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert server.poll() is None, server.communicate()
                return False

        wait_until(healthy, "the two workers to serve")
        wait_until(lambda: len(_children(server.pid)) >= 2, "two worker processes")
        # Each request on a new connection, so that both workers take their share.
        with httpx.Client(base_url=base, headers={"Connection": "close"}) as browser:
            token = browser.get("/api/session").json()["csrf_token"]

            def ask() -> int:
                email = f"v-{uuid.uuid4().hex[:8]}@example.org"
                data = {"email": email, "csrf_token": token}
                return browser.post("/signin", data=data, follow_redirects=False).status_code

            answers = [ask() for _ in range(SIGNIN_LIMIT_PER_IP[0])]
            assert answers == [303] * SIGNIN_LIMIT_PER_IP[0]
            assert [ask() for _ in range(6)] == [429] * 6
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert not re.search(r"^ERROR", stderr, re.M), stderr
