"""The demo rounds: round 1 finished with a published result, round 2 open for voting."""

from __future__ import annotations

import asyncpg
import pytest

from tests.fixtures.rounds import make_round_primary
from voting.log import LogService
from web.demo_rounds import demo_passphrase, seed_rounds
from web.settings import Settings

pytestmark = pytest.mark.anyio


async def test_seed_rounds_is_complete_and_idempotent(
    log_pool: asyncpg.Pool, log_service: LogService, database_url: str, settings: Settings
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, slug="demo", candidates=6)
    lines = await seed_rounds(database_url, settings)
    assert any(demo_passphrase(settings.secret_key or "", 2) in line for line in lines)
    async with log_pool.acquire() as conn:
        rounds = await conn.fetch(
            "SELECT number, status, turnout, jsonb_array_length(candidates) AS n FROM rounds"
            " WHERE primary_id = $1 ORDER BY number",
            primary.id,
        )
        assert [(r["number"], r["status"]) for r in rounds] == [(1, "tallied"), (2, "open")]
        assert 30 <= rounds[0]["turnout"] <= 60 and rounds[1]["n"] == 4
        assert await conn.fetchval("SELECT count(*) FROM round_results") == 1
    again = await seed_rounds(database_url, settings)
    assert any("round 2" in line for line in again)
    async with log_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM rounds") == 2


async def test_the_demo_has_a_result_and_an_open_round_and_verifies(
    log_pool: asyncpg.Pool, log_service: LogService, database_url: str, settings: Settings
) -> None:
    import json

    from audit.note import parse_verifier_key
    from audit.sources import parse_export
    from audit.verify import verify
    from web.demo import seed_demo

    lines = await seed_demo(database_url, settings)
    assert any("rounds/2/vote" in line for line in lines), lines
    async with log_pool.acquire() as conn:
        primary_id = await conn.fetchval("SELECT id FROM primaries WHERE slug = 'demo'")
        statuses = await conn.fetch(
            "SELECT number, status FROM rounds WHERE primary_id = $1 ORDER BY number", primary_id
        )  # (the encrypted demo primary has its own rounds: tests/e2e/test_demo_encrypted.py)
    assert [(r["number"], r["status"]) for r in statuses] == [(1, "tallied"), (2, "open")]
    export = await log_service.export(log_pool, primary_id)
    report = verify(
        parse_export(json.dumps(export).encode(), "export"), parse_verifier_key(export["vkey"])
    )
    assert report.ok, report.render("en")
