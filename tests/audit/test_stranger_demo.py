"""The demo's log, made by the service, passes the stranger's verifier (written from the spec
alone) as it passes scrutin-audit: the producer agrees with the spec, not only with our tool."""

from __future__ import annotations

import base64
import json

import asyncpg
import pytest

from tests.audit.stranger.verifier import open_checkpoint, parse_vkey, verify_export
from voting.log import LogService
from web.settings import Settings

pytestmark = pytest.mark.anyio


async def test_the_demo_log_passes_the_stranger_verifier(
    log_pool: asyncpg.Pool, log_service: LogService, database_url: str, settings: Settings
) -> None:
    from web.demo import seed_demo

    await seed_demo(database_url, settings)
    async with log_pool.acquire() as conn:
        primary_id = await conn.fetchval("SELECT id FROM primaries WHERE slug = 'demo'")
    export = await log_service.export(log_pool, primary_id)
    report = verify_export(export, export["vkey"])
    assert report.ok, (report.unusable_reason, report.failures[:10])
    kinds = [json.loads(base64.b64decode(e))["kind"] for e in export["entries"]]
    assert {"definition", "support", "qualification", "round-open", "ballot", "result"} <= set(
        kinds
    )
    # §6: a checkpoint of size exactly i + 1 after every phase-change entry i.
    key = parse_vkey(export["vkey"])
    sizes = {open_checkpoint(note, key)[1] for note in export["checkpoints"]}
    changes = {"definition", "round-open", "round-close", "tally-key", "result"}
    missing = [(i, k) for i, k in enumerate(kinds) if k in changes and i + 1 not in sizes]
    assert not missing, missing
