"""Account services: sign-in tokens (expiry, single use under concurrency), sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from voting import accounts
from voting.refusals import Refused

SECRET = "test-secret-key-0123456789abcdefghijklmnop"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=2, max_size=10)
    try:
        yield created
    finally:
        await created.close()


async def _request(pool: asyncpg.Pool, email: str, now: datetime | None = None):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn, conn.transaction():
        return await accounts.request_signin(conn, email, secret_key=SECRET, now=now)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.ORG", "alice@example.org"),
        ("  bob.smith+tag@sub.example.fr ", "bob.smith+tag@sub.example.fr"),
        ("zoé@exämple.fr", None),  # non-ASCII local part refused
        ("x@exämple.fr", "x@xn--exmple-cua.fr"),
    ],
)
def test_normalize_email(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(accounts.InvalidEmail):
            accounts.normalize_email(raw)
    else:
        assert accounts.normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a",
        "a@b",
        "a@@b.fr",
        "a b@c.fr",
        ".a@b.fr",
        "a..b@c.fr",
        "a@-b.fr",
        "a@b.f",
        "a@b.123",
        "a\n@b.fr",
        "a@b.fr\r\nBcc: x@y.fr",
        "x" * 65 + "@b.fr",
        "a@" + "b" * 250 + ".fr",
    ],
)
def test_invalid_emails_are_refused(raw: str) -> None:
    with pytest.raises(accounts.InvalidEmail):
        accounts.normalize_email(raw)


@pytest.mark.anyio
async def test_link_works_once_even_when_used_concurrently(pool: asyncpg.Pool) -> None:
    sent = await _request(pool, "race@example.org")

    async def use() -> accounts.Account | None:
        async with pool.acquire() as conn, conn.transaction():
            return await accounts.signin_with_link(conn, sent.link_token)

    results = await asyncio.gather(*(use() for _ in range(8)))
    assert sum(result is not None for result in results) == 1


@pytest.mark.anyio
async def test_code_works_once_even_when_used_concurrently(pool: asyncpg.Pool) -> None:
    sent = await _request(pool, "race@example.org")

    async def use() -> accounts.Account | None:
        async with pool.acquire() as conn, conn.transaction():
            return await accounts.signin_with_code(
                conn, "race@example.org", sent.code, secret_key=SECRET
            )

    results = await asyncio.gather(*(use() for _ in range(8)))
    assert sum(result is not None for result in results) == 1


@pytest.mark.anyio
async def test_expiry_with_an_injected_clock(pool: asyncpg.Pool) -> None:
    issued = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    sent = await _request(pool, "clock@example.org", now=issued)
    async with pool.acquire() as conn, conn.transaction():
        late = issued + accounts.SIGNIN_TTL
        assert await accounts.signin_with_link(conn, sent.link_token, now=late) is None
        assert (
            await accounts.signin_with_code(
                conn, "clock@example.org", sent.code, secret_key=SECRET, now=late
            )
            is None
        )
        in_time = issued + accounts.SIGNIN_TTL - timedelta(seconds=1)
        account = await accounts.signin_with_link(conn, sent.link_token, now=in_time)
        assert account is not None and account.email == "clock@example.org"


@pytest.mark.anyio
async def test_secrets_are_not_stored_in_clear(pool: asyncpg.Pool) -> None:
    sent = await _request(pool, "clear@example.org")
    row = await pool.fetchrow("SELECT * FROM signin_tokens")
    dumped = repr(dict(row))
    assert sent.link_token not in dumped and sent.code not in dumped


@pytest.mark.anyio
async def test_the_code_from_another_secret_does_not_work(pool: asyncpg.Pool) -> None:
    sent = await _request(pool, "k@example.org")
    async with pool.acquire() as conn, conn.transaction():
        other = "another-secret-key-0123456789abcdefghijkl"
        assert (
            await accounts.signin_with_code(conn, "k@example.org", sent.code, secret_key=other)
            is None
        )


@pytest.mark.anyio
async def test_first_sign_in_creates_the_account_and_later_ones_reuse_it(
    pool: asyncpg.Pool,
) -> None:
    first = await _request(pool, "Same@Example.org")
    async with pool.acquire() as conn, conn.transaction():
        a = await accounts.signin_with_link(conn, first.link_token)
    second = await _request(pool, "same@example.org")
    async with pool.acquire() as conn, conn.transaction():
        b = await accounts.signin_with_link(conn, second.link_token)
    assert a is not None and b is not None and a.id == b.id
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 1


@pytest.mark.anyio
async def test_sessions_open_resolve_and_close(pool: asyncpg.Pool) -> None:
    sent = await _request(pool, "s@example.org")
    async with pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_link(conn, sent.link_token)
        assert account is not None
        token = await accounts.open_session(conn, account.id)
        assert await accounts.session_account(conn, token) == account
        later = datetime.now(UTC) + accounts.SESSION_TTL + timedelta(seconds=1)
        assert await accounts.session_account(conn, token, now=later) is None
        await accounts.close_session(conn, token)
        assert await accounts.session_account(conn, token) is None
        assert await accounts.session_account(conn, "x" * 500) is None


@pytest.mark.anyio
async def test_password_set_check_and_remove(pool: asyncpg.Pool) -> None:
    sent = await _request(pool, "p@example.org")
    async with pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_link(conn, sent.link_token)
        assert account is not None
        with pytest.raises(Refused) as refused:
            await accounts.set_password(conn, account.id, "court")
        assert refused.value.reason == "password-too-short"
        await accounts.set_password(conn, account.id, "assez long mot de passe")
        assert await accounts.signin_with_password(conn, "p@example.org", "assez long mot de passe")
        assert await accounts.signin_with_password(conn, "p@example.org", "faux") is None
        await accounts.set_password(conn, account.id, None)
        assert (
            await accounts.signin_with_password(conn, "p@example.org", "assez long mot de passe")
            is None
        )
