"""Revision 0007 on a database that already has accounts and allow-lists."""

import asyncio

import asyncpg

from web.migrate import downgrade, upgrade


async def _run(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def test_existing_duplicates_keep_one_holder_and_typed_numbers_become_claims(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    upgrade(url, "0006")
    asyncio.run(
        _run(
            url,
            """
            WITH a AS (
                INSERT INTO accounts (email, email_verified_at, created_at, voter_number) VALUES
                ('ab@gmail.com', now(), now() - interval '3 days', NULL),
                ('a.b+vote@googlemail.com', now(), now() - interval '2 days', 'FR-1'),
                ('c+1@example.org', now(), now() - interval '1 day', 'FR-2'),
                ('c@example.org', now(), now(), NULL)
                RETURNING id
            ), p AS (
                INSERT INTO primaries (slug, title, definition)
                VALUES ('p', 'P', '{"eligibility": "allow-list"}') RETURNING id
            )
            INSERT INTO eligibility_entries (primary_id, kind, value)
            SELECT p.id, v.kind, v.value FROM p, (VALUES ('email', 'x.y@gmail.com'),
                ('email', 'xy+z@gmail.com'), ('voter_number', 'FR-2'),
                ('voter_number', 'FR-3')) AS v (kind, value)
            """,
        )
    )
    asyncio.run(_run(url, "INSERT INTO sessions (token_hash, account_id, expires_at)"
                          " SELECT sha256(email::bytea), id, now() + interval '1 day'"
                          " FROM accounts"))  # fmt: skip
    upgrade(url)
    accounts = {
        row["email"]: row
        for row in asyncio.run(
            _run(url, "SELECT id, email, mailbox_key, mailbox_holder FROM accounts")
        )
    }
    assert accounts["a.b+vote@googlemail.com"]["mailbox_key"] == "ab@gmail.com"
    assert accounts["a.b+vote@googlemail.com"]["mailbox_holder"] == accounts["ab@gmail.com"]["id"]
    assert accounts["c@example.org"]["mailbox_holder"] == accounts["c+1@example.org"]["id"]
    assert accounts["ab@gmail.com"]["mailbox_holder"] is None
    sessions = asyncio.run(_run(url, "SELECT account_id FROM sessions"))
    assert {row["account_id"] for row in sessions} == {
        accounts["ab@gmail.com"]["id"],
        accounts["c+1@example.org"]["id"],
    }
    entries = asyncio.run(
        _run(url, "SELECT kind, value, claimed_by FROM eligibility_entries ORDER BY value")
    )
    assert [(r["value"], r["claimed_by"]) for r in entries] == [
        ("FR-2", accounts["c+1@example.org"]["id"]),
        ("FR-3", None),
        ("xy@gmail.com", None),
    ]
    downgrade(url, "0006")
    numbers = asyncio.run(_run(url, "SELECT email, voter_number FROM accounts ORDER BY email"))
    assert {r["email"]: r["voter_number"] for r in numbers}["c+1@example.org"] == "FR-2"
