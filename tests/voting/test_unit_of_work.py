"""The unit of work: one transaction, its log entries, and the duties after commit
(docs/architecture.md): a committed phase change is covered by a signed checkpoint at once,
an entry the caller waits for has its index, and a refused change leaves nothing behind."""

from __future__ import annotations

import asyncpg
import pytest

from crypto.note import open_checkpoint
from tests.fixtures.log import LogPrimary
from voting.entry_kinds import Qualification, SupportWithdrawal, UnknownEntryKind
from voting.log import LogService
from voting.unit_of_work import UnitOfWork, UnitsOfWork

pytestmark = pytest.mark.anyio

CANDIDATE = "0b0e4c6e-8f7e-4a8e-9d6f-0d3c2b1a0f9e"


async def _latest_size(log: LogService, pool: asyncpg.Pool, primary: LogPrimary) -> int:
    note = (await log.latest_checkpoint(pool, primary.id)).note
    return open_checkpoint(note, primary.vkey).size


async def test_a_phase_change_is_checkpointed_as_soon_as_it_commits(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    async with UnitOfWork(log_pool, log_service) as uow:
        queued = await uow.log.append(
            uow.conn, log_primary.id, Qualification(candidate=CANDIDATE, supports=3, threshold=3)
        )
    assert [q.kind for q in uow.queued] == ["qualification"]
    assert await _latest_size(log_service, log_pool, log_primary) == 1
    with pytest.raises(RuntimeError):
        uow.placed(queued)


async def test_an_ordinary_entry_waits_for_the_sequencer_unless_its_index_is_wanted(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    async with UnitOfWork(log_pool, log_service) as uow:
        first = await uow.log.append(
            uow.conn, log_primary.id, SupportWithdrawal(candidate=CANDIDATE, supporter="a" * 64)
        )
    assert await _latest_size(log_service, log_pool, log_primary) == 0  # no checkpoint
    async with UnitOfWork(log_pool, log_service) as uow:
        second = await uow.log.append(
            uow.conn, log_primary.id, SupportWithdrawal(candidate=CANDIDATE, supporter="b" * 64)
        )
        uow.want_index(second)
    assert uow.placed(second).index == 1
    assert uow.placed(second).tracker == second.tracker != first.tracker


async def test_a_refusal_inside_rolls_back_the_change_and_its_entries(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    with pytest.raises(ValueError, match="refused"):
        async with UnitOfWork(log_pool, log_service) as uow:
            await uow.conn.execute(
                "UPDATE primaries SET title = 'changed' WHERE id = $1", log_primary.id
            )
            await uow.log.append(
                uow.conn,
                log_primary.id,
                Qualification(candidate=CANDIDATE, supports=3, threshold=3),
            )
            raise ValueError("refused")
    assert not uow.committed
    title = await log_pool.fetchval("SELECT title FROM primaries WHERE id = $1", log_primary.id)
    assert title != "changed"
    assert await log_pool.fetchval("SELECT count(*) FROM log_queue") == 0
    assert (await log_service.head(log_pool, log_primary.id)).size == 0
    assert await _latest_size(log_service, log_pool, log_primary) == 0


async def test_an_unknown_kind_is_refused_before_anything_is_signed(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    with pytest.raises(UnknownEntryKind):
        async with UnitOfWork(log_pool, log_service) as uow:
            await uow.log.append(uow.conn, log_primary.id, "made-up", {"x": 1})
    assert (await log_service.head(log_pool, log_primary.id)).size == 0


async def test_run_calls_one_service_in_its_own_unit_and_commits_or_rolls_back(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    class State:
        pool = log_pool
        log = log_service

    async def qualify(conn: asyncpg.Connection, log: LogService, title: str) -> str:
        await conn.execute("UPDATE primaries SET title = $2 WHERE id = $1", log_primary.id, title)
        await log.append(
            conn, log_primary.id, Qualification(candidate=CANDIDATE, supports=3, threshold=3)
        )
        if title == "refused":
            raise ValueError("refused")
        return title

    units = UnitsOfWork(State())
    with pytest.raises(ValueError, match="refused"):
        await units.run(qualify, "refused")
    assert await _latest_size(log_service, log_pool, log_primary) == 0
    assert await units.run(qualify, title="kept") == "kept"
    title = await log_pool.fetchval("SELECT title FROM primaries WHERE id = $1", log_primary.id)
    assert title == "kept"
    assert await _latest_size(log_service, log_pool, log_primary) == 1  # its duty ran
