"""The demo seed goes through the services: its log passes the independent verifier."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import asyncpg

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from tests.fixtures.primaries import logged
from voting.log import LogService
from web.demo import DEMO_SLUG, ORGANISER_EMAIL, seed_demo
from web.settings import Settings


async def _state(database_url: str, settings: Settings) -> tuple[list, dict, list]:
    from web.app import create_pool

    log = LogService(secret_key=settings.secret_key or "", public_host=settings.public_host)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        primary_id = await pool.fetchval("SELECT id FROM primaries WHERE slug = $1", DEMO_SLUG)
        statuses = await pool.fetch(
            "SELECT status, count(*) AS n FROM candidacies WHERE primary_id = $1"
            " GROUP BY status ORDER BY status",
            primary_id,
        )
        entries = await logged(pool, log, primary_id)
        export = await log.export(pool, primary_id)
    finally:
        await pool.close()
    return [tuple(r) for r in statuses], export, entries


def test_demo_seed_is_idempotent_and_its_log_verifies(
    database_url: str, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lines = asyncio.run(seed_demo(database_url, settings))
    assert any(ORGANISER_EMAIL in line for line in lines)
    assert any("password:" in line for line in lines)
    first = asyncio.run(_state(database_url, settings))
    again = asyncio.run(seed_demo(database_url, settings))
    password = [line for line in lines if "password:" in line]
    assert password != [line for line in again if "password:" in line]  # a fresh one
    second = asyncio.run(_state(database_url, settings))
    assert first[0] == second[0] and len(first[2]) == len(second[2])

    statuses = dict(first[0])
    # Marc Dubois qualified but never confirmed: he lapsed when round 1 opened.
    assert statuses == {"draft": 1, "submitted": 1, "published": 2, "lapsed": 1,
                        "confirmed": 4}  # fmt: skip
    kinds = Counter(kind for kind, _ in first[2])
    assert first[2][0][0] == "definition"
    assert kinds["qualification"] == 5 and kinds["support"] == 18
    actions = Counter(b["action"] for k, b in first[2] if k == "candidacy")
    assert actions == {"submitted": 8, "published": 7, "confirmed": 4, "lapsed": 1}

    export = second[1]
    report = verify(parse_export(json.dumps(export).encode(), "export"),
                    parse_verifier_key(export["vkey"]))  # fmt: skip
    assert report.ok, report.render("en")


async def _organiser_can_sign_in(database_url: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return bool(
            await conn.fetchval(
                "SELECT is_organiser AND password_hash IS NOT NULL FROM accounts WHERE email = $1",
                ORGANISER_EMAIL,
            )
        )
    finally:
        await conn.close()


def test_demo_organiser_has_a_password(database_url: str, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed_demo(database_url, settings))
    assert asyncio.run(_organiser_can_sign_in(database_url))


def test_demo_has_a_second_primary_still_gathering_supports(
    database_url: str, settings: Settings
) -> None:
    from web.demo import SUPPORTS_SLUG

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed_demo(database_url, settings))

    async def state() -> tuple[bool, list[str]]:
        conn = await asyncpg.connect(database_url)
        try:
            started = await conn.fetchval(
                "SELECT voting_started FROM primaries WHERE slug = $1", SUPPORTS_SLUG
            )
            statuses = await conn.fetch(
                "SELECT c.status FROM candidacies c JOIN primaries p ON p.id = c.primary_id"
                " WHERE p.slug = $1",
                SUPPORTS_SLUG,
            )
            return started, sorted(r["status"] for r in statuses)
        finally:
            await conn.close()

    started, statuses = asyncio.run(state())
    assert started is False
    assert statuses == ["published", "published", "published"]
