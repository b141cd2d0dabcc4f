"""A round opens inside the phase its calendar announces (docs/audit-log.md §8 "Phases"):
before the phase's start the opening is refused, with the date it becomes possible, and
nothing is logged; from the start on it opens, and its round-open entry is dated with the
instant the service checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from crypto import canonical
from tests.fixtures.rounds import PASSPHRASE, make_round_primary
from voting.definition import format_instant
from voting.log import LogService
from voting.refusals import Refused
from voting.rounds import open_round

pytestmark = pytest.mark.anyio


async def test_a_round_opens_only_from_its_phase_start(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    phase = {"name": "round-1", "start": format_instant(start),
             "end": format_instant(start + timedelta(days=7))}  # fmt: skip
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, phases=[phase])
        await log_service.integrate(log_pool, primary.id)
        before = await log_service.head(log_pool, primary.id)
        with pytest.raises(Refused) as refused:
            async with conn.transaction():
                await open_round(
                    conn, log_service, primary_id=primary.id, opened_by=None,
                    passphrase=PASSPHRASE, now=start - timedelta(seconds=1),
                )  # fmt: skip
        assert "n’a pas commencé" in refused.value.message
        assert refused.value.params["start"] == format_instant(start)[:-1].replace("T", " ")
        await log_service.integrate(log_pool, primary.id)
        assert (await log_service.head(log_pool, primary.id)).size == before.size
        async with conn.transaction():
            opened = await open_round(
                conn, log_service, primary_id=primary.id, opened_by=None,
                passphrase=PASSPHRASE, now=start,
            )  # fmt: skip
    placed = await log_service.wait(log_pool, opened.queued)
    [entry] = await log_service.entries(log_pool, primary.id, placed.index, placed.index + 1)
    assert canonical.loads(entry.entry)["time"] == int(start.timestamp())
    assert opened.round.opened_at == start
