"""A checkpoint is signed at every phase change (docs/audit-log.md §6): the export holds a
checkpoint whose tree ends exactly at each definition, round-open, round-close, tally-key and
result entry, so an observer can cite the log as it stood at that moment."""

from __future__ import annotations

import asyncpg
import pytest

from crypto import canonical
from crypto.note import open_checkpoint
from tests.fixtures.rounds import PASSPHRASE, make_round_primary, make_voters
from voting.ballots import cast
from voting.log import LogService
from voting.results import reveal_and_tally
from voting.rounds import close_round, open_round

pytestmark = pytest.mark.anyio


async def test_the_export_has_a_checkpoint_ending_at_each_phase_change(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=3)
        voters = await make_voters(conn, 3)
        async with conn.transaction():
            opened = await open_round(
                conn, log_service, primary_id=primary.id, opened_by=None, passphrase=PASSPHRASE
            )
        for voter in voters:
            async with conn.transaction():
                grades = dict.fromkeys(opened.round.candidate_ids, 3)
                await cast(
                    conn, log_service, primary_id=primary.id, number=1, account_id=voter,
                    grades=grades,
                )  # fmt: skip
        async with conn.transaction():
            await close_round(conn, log_service, primary_id=primary.id, number=1)
    await reveal_and_tally(
        log_pool, log_service, primary_id=primary.id, number=1, passphrase=PASSPHRASE
    )
    # A ballot arriving with the close, or the result with its tally key, shares one batch
    # of the sequencer: the checkpoints must still stop exactly at the phase change.
    export = await log_service.export(log_pool, primary.id)
    sizes = {open_checkpoint(note, export["vkey"]).size for note in export["checkpoints"]}
    kinds = [
        canonical.loads(entry.entry)["kind"]
        for entry in await _entries(log_service, log_pool, primary.id)
    ]
    phase_changes = [
        (index, kind)
        for index, kind in enumerate(kinds)
        if kind in ("definition", "round-open", "round-close", "tally-key", "result")
    ]
    assert {kind for _, kind in phase_changes} == {
        "definition",
        "round-open",
        "round-close",
        "tally-key",
        "result",
    }
    missing = [(index, kind) for index, kind in phase_changes if index + 1 not in sizes]
    assert missing == []


async def _entries(log: LogService, pool: asyncpg.Pool, primary_id):  # type: ignore[no-untyped-def]
    head = await log.head(pool, primary_id)
    return await log.entries(pool, primary_id, 0, head.size)
