"""The mail queue: delivered by a real local SMTP server (aiosmtpd) or into the outbox."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.waiting import PATIENCE
from voting import jobs, mail


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=3)
    try:
        yield created
    finally:
        await created.close()


async def _queue(pool: asyncpg.Pool, to: str = "a@example.org") -> int:
    async with pool.acquire() as conn, conn.transaction():
        return await mail.enqueue(conn, to, "Objet accentué é", "Corps du message\nligne 2")


@pytest.mark.anyio
async def test_enqueue_is_part_of_the_callers_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await mail.enqueue(conn, "a@example.org", "s", "t")
                raise RuntimeError("rolled back")
        assert await conn.fetchval("SELECT count(*) FROM mail_queue") == 0
        assert await conn.fetchval("SELECT count(*) FROM procrastinate_jobs") == 0
        async with conn.transaction():
            mail_id = await mail.enqueue(conn, "a@example.org", "s", "t")
        job = await conn.fetchrow("SELECT task_name, queue_name, args FROM procrastinate_jobs")
        assert (job["task_name"], job["queue_name"]) == (jobs.SEND_MAIL, jobs.MAIL_QUEUE)
        assert json.loads(job["args"]) == {"mail_id": mail_id}


@pytest.mark.anyio
async def test_headers_cannot_be_injected(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError):
            await mail.enqueue(conn, "a@example.org", "s\nBcc: x@evil.example", "t")


@pytest.mark.anyio
async def test_delivery_through_smtp(pool: asyncpg.Pool, smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    await _queue(pool)
    transport = mail.SmtpTransport(host="127.0.0.1", port=port, starttls=False)
    assert await mail.deliver_due(pool, transport, "scrutin@example.org") == 1
    assert len(recorder.messages) == 1
    sender, recipients, content = recorder.messages[0]
    assert sender == "scrutin@example.org" and recipients == ["a@example.org"]
    message = message_from_bytes(content, policy=default_policy)
    assert message["Subject"] == "Objet accentué é"
    assert "Corps du message" in message.get_content()
    assert await mail.deliver_due(pool, transport, "scrutin@example.org") == 0  # sent once


@pytest.mark.anyio
async def test_smtp_failure_is_retried_with_backoff(
    pool: asyncpg.Pool, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    mail_id = await _queue(pool)
    down = mail.SmtpTransport(host="127.0.0.1", port=_free_port(), starttls=False, timeout=2)
    now = datetime.now(UTC)
    assert await mail.deliver_due(pool, down, "s@example.org", now=now) == 0
    row = await pool.fetchrow("SELECT * FROM mail_queue WHERE id = $1", mail_id)
    assert row["attempts"] == 1 and row["sent_at"] is None and row["last_error"]
    assert row["next_attempt_at"] >= now + timedelta(seconds=29)
    up = mail.SmtpTransport(host="127.0.0.1", port=port, starttls=False)
    assert await mail.deliver_due(pool, up, "s@example.org", now=now) == 0  # not due yet
    later = now + timedelta(minutes=1)
    assert await mail.deliver_due(pool, up, "s@example.org", now=later) == 1
    assert len(recorder.messages) == 1


def test_backoff_grows_and_is_capped() -> None:
    delays = [mail.backoff(n) for n in range(1, 15)]
    assert delays[0] == timedelta(seconds=30)
    assert delays[1] == timedelta(minutes=1)
    assert delays == sorted(delays)
    assert delays[-1] == mail.MAX_BACKOFF


@pytest.mark.anyio
async def test_gives_up_after_max_attempts(pool: asyncpg.Pool) -> None:
    mail_id = await _queue(pool)
    down = mail.SmtpTransport(host="127.0.0.1", port=_free_port(), starttls=False, timeout=2)
    now = datetime.now(UTC)
    for attempt in range(mail.MAX_ATTEMPTS):
        await mail.deliver_due(pool, down, "s@example.org", now=now + timedelta(days=attempt))
    row = await pool.fetchrow("SELECT * FROM mail_queue WHERE id = $1", mail_id)
    assert row["failed_at"] is not None and row["attempts"] == mail.MAX_ATTEMPTS


@pytest.mark.anyio
async def test_delivery_into_the_outbox(pool: asyncpg.Pool, tmp_path: Path) -> None:
    mail_id = await _queue(pool)
    transport = mail.OutboxTransport(tmp_path / "outbox")
    assert await mail.deliver_due(pool, transport, mail.DEFAULT_SENDER) == 1
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert [f.name for f in files] == [f"{mail_id:010d}.eml"]
    message = message_from_bytes(files[0].read_bytes(), policy=default_policy)
    assert message["To"] == "a@example.org"


async def _listening(pool: asyncpg.Pool) -> None:
    """Wait until a session of this database listens for the job queue's notifications."""
    deadline = time.monotonic() + PATIENCE
    while not await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state = 'idle' AND query LIKE 'LISTEN %procrastinate%'"
    ):
        assert time.monotonic() < deadline, "the job worker does not listen"
        await asyncio.sleep(0.01)


@pytest.mark.anyio
async def test_the_job_worker_delivers_a_queued_mail_on_notify(
    pool: asyncpg.Pool, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A poll far beyond the test's patience: only the job's notification can deliver in time.
    monkeypatch.setattr(jobs, "POLL_INTERVAL", 3600.0)
    transport = mail.OutboxTransport(tmp_path)

    async def send_mail(mail_id: int) -> None:
        await mail.deliver_one(pool, transport, mail.DEFAULT_SENDER, mail_id)

    worker = jobs.JobWorker(database_url, jobs.MAIL_QUEUE, {jobs.SEND_MAIL: send_mail})
    async with jobs.running(worker, "test-jobs"):
        await _listening(pool)  # a job queued earlier would be found by the first poll
        mail_id = await _queue(pool)
        outbox = tmp_path.glob
        deadline = time.monotonic() + PATIENCE
        while not await asyncio.to_thread(lambda: list(outbox("*.eml"))):
            assert time.monotonic() < deadline, "the notified mail was not delivered"
            await asyncio.sleep(0.05)
        files = await asyncio.to_thread(lambda: list(outbox("*.eml")))
        assert [f.name for f in files] == [f"{mail_id:010d}.eml"]
        row = await pool.fetchrow("SELECT sent_at, body FROM mail_queue WHERE id = $1", mail_id)
        assert row["sent_at"] is not None and row["body"] == ""
