"""Secrets at rest: whoever reads the database (or a backup of it) finds no sign-in link or
code in the mail queue, and no invitation code once the mail is sent."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import asyncpg
import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import LINK, last_mail, post_form, run_db
from voting import accounts, mail
from web.app import create_pool

SECRET = "test-secret-key-0123456789abcdefghijklmnop"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


def _delivered(folder: Path) -> str:
    """Subject and text of the one mail delivered into `folder`, decoded."""
    message = message_from_bytes(next(folder.glob("*.eml")).read_bytes(), policy=default)
    return f"{message['Subject']}\n{message.get_content()}"  # type: ignore[attr-defined]


async def _queue_text(pool: asyncpg.Pool) -> str:
    """Everything the mail queue holds, as one text."""
    return await pool.fetchval("SELECT coalesce(string_agg(q::text, ' '), '') FROM mail_queue q")


@pytest.mark.anyio
async def test_a_queued_sign_in_mail_holds_neither_the_link_nor_the_code(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        asked = await accounts.request_signin(conn, "lea@example.org", secret_key=SECRET)
    stored = await pool.fetchrow("SELECT subject, body FROM mail_queue")
    assert asked.link_token not in await _queue_text(pool)
    assert asked.code not in stored["subject"] + stored["body"]


@pytest.mark.anyio
async def test_the_sign_in_mail_is_written_when_sent_and_its_link_and_code_work(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        asked = await accounts.request_signin(conn, "lea@example.org", secret_key=SECRET)

    async def expand(conn: asyncpg.Connection, token_id: object) -> tuple[str, str] | None:
        return await accounts.signin_mail(
            conn, token_id, secret_key=SECRET, base_url="https://vote.example"
        )

    outbox = mail.OutboxTransport(tmp_path / "outbox")
    assert await mail.deliver_due(pool, outbox, mail.DEFAULT_SENDER, expand=expand) == 1
    sent = _delivered(tmp_path / "outbox")
    assert f"https://vote.example/signin/link?token={asked.link_token}" in sent
    assert asked.code in sent
    assert asked.link_token not in await _queue_text(pool)
    async with pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_code(
            conn, "lea@example.org", asked.code, secret_key=SECRET
        )
    assert account is not None and account.email == "lea@example.org"


@pytest.mark.anyio
async def test_a_sign_in_mail_whose_link_expired_before_sending_is_not_sent(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    long_ago = accounts.utcnow() - accounts.SIGNIN_TTL - timedelta(minutes=1)
    async with pool.acquire() as conn, conn.transaction():
        await accounts.request_signin(conn, "lea@example.org", secret_key=SECRET, now=long_ago)

    async def expand(conn: asyncpg.Connection, token_id: object) -> tuple[str, str] | None:
        return await accounts.signin_mail(conn, token_id, secret_key=SECRET, base_url="http://x")

    outbox = mail.OutboxTransport(tmp_path / "outbox")
    assert await mail.deliver_due(pool, outbox, mail.DEFAULT_SENDER, expand=expand) == 0
    assert not (tmp_path / "outbox").exists()
    row = await pool.fetchrow("SELECT failed_at, last_error FROM mail_queue")
    assert row["failed_at"] is not None and row["last_error"] == mail.NOT_SENT_EXPIRED


@pytest.mark.anyio
async def test_a_mail_body_is_blanked_once_sent(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await mail.enqueue(conn, "jean@example.org", "Invitation", "Votre code : K7P-2QX-9RT")
    outbox = mail.OutboxTransport(tmp_path / "outbox")
    assert await mail.deliver_due(pool, outbox, mail.DEFAULT_SENDER) == 1
    assert "K7P-2QX-9RT" in _delivered(tmp_path / "outbox")
    assert "K7P-2QX-9RT" not in await _queue_text(pool)


def test_signing_in_through_the_app_leaves_no_secret_in_the_database(
    client: TestClient,
) -> None:
    client.get("/signin")
    assert post_form(client, "/signin", {"email": "marie@example.org"}).status_code == 303
    subject, body = last_mail(client, "marie@example.org")
    token = LINK.search(body)
    code = re.search(r"code : (\d{6})", body)
    assert token and code and code[1] in subject
    stored = run_db(client, "SELECT subject, body, signin_token_id FROM mail_queue")
    assert len(stored) == 1 and stored[0]["signin_token_id"] is not None
    assert token[1] not in str(dict(stored[0])) and code[1] not in str(dict(stored[0]))
    # The delivered link still signs Marie in.
    page = client.get(f"/signin/link?token={token[1]}")
    assert page.status_code == 200
    done = post_form(client, "/signin/link", {"token": token[1]})
    assert done.status_code == 303
    assert client.get("/api/session").json()["account"]["email"] == "marie@example.org"


def test_pages_for_a_signed_in_person_are_never_stored(citizen_client: TestClient) -> None:
    # Account pages, and any page while signed in (receipts, the tally key, eligibility
    # codes, admin pages…): a shared computer's back button or a proxy must not keep them.
    for path in ("/account", "/account/participation", "/"):
        response = citizen_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
    # Public files keep their caching.
    css = citizen_client.get("/static/scrutin.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")


def test_the_sign_in_pages_are_never_stored(client: TestClient) -> None:
    for path in ("/signin", "/signin/code", "/signin/link?token=abc"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    # A public answer that holds nothing personal may be cached.
    assert "cache-control" not in client.get("/healthz").headers
