"""Casting ballots: one per voter, refusals change nothing, only sealed ballots are stored."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from crypto import canonical
from crypto.ballots import SEAL_OVERHEAD
from tests.fixtures.rounds import PASSPHRASE, make_round_primary, make_voters
from voting.ballots import BallotError, assigned_candidates, cast
from voting.log import LogService
from voting.refusals import Refused
from voting.rounds import close_round, get_round, open_round

pytestmark = pytest.mark.anyio


async def _open(pool, log, primary, **kwargs):
    async with pool.acquire() as conn, conn.transaction():
        return (
            await open_round(
                conn, log, primary_id=primary.id, opened_by=None, passphrase=PASSPHRASE, **kwargs
            )
        ).round


async def _ballot_entries(pool: asyncpg.Pool, log: LogService, primary_id) -> list[dict]:
    await log.integrate(pool, primary_id)
    head = await log.head(pool, primary_id)
    return [
        canonical.loads(e.entry)["body"]
        for e in await log.entries(pool, primary_id, 0, head.size)
        if e.kind == "ballot"
    ]


async def _cast(pool, log, primary, voter, grades, **kwargs):
    async with pool.acquire() as conn, conn.transaction():
        return await cast(
            conn, log, primary_id=primary.id, number=1, account_id=voter, grades=grades, **kwargs
        )


async def test_hundred_concurrent_casts_by_one_voter_make_one_ballot(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary, round_voters
) -> None:
    await _open(log_pool, log_service, round_primary)
    voter = round_voters[0]
    grades = dict.fromkeys(round_primary.candidates, 4)
    outcomes = await asyncio.gather(
        *(_cast(log_pool, log_service, round_primary, voter, grades) for _ in range(100)),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(accepted) == 1 and len(refused) == 99
    assert {e.reason for e in refused} == {"already-voted"}
    assert len(await _ballot_entries(log_pool, log_service, round_primary.id)) == 1
    async with log_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM voters_voted") == 1


async def test_refused_casts_append_nothing(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary, round_voters
) -> None:
    await _open(log_pool, log_service, round_primary, candidate_ids=round_primary.candidates[:3])
    on_ballot = round_primary.candidates[:3]
    off_ballot = round_primary.candidates[3]
    voter = round_voters[0]
    full = dict.fromkeys(on_ballot, 2)
    cases = [
        ({**full, off_ballot: 2}, "ne figure pas"),
        ({**full, "00000000-0000-0000-0000-000000000000": 1}, "ne figure pas"),
        ({on_ballot[0]: 2, on_ballot[1]: 3}, "Choisissez une mention"),
        ({**full, on_ballot[2]: 7}, "n’existe pas"),
        ({**full, on_ballot[2]: -1}, "n’existe pas"),
        ({**full, on_ballot[2]: None}, "Choisissez une mention"),
    ]
    for grades, message in cases:
        with pytest.raises(BallotError) as caught:
            await _cast(log_pool, log_service, round_primary, voter, grades)
        assert any(message in m for m in caught.value.errors.values()), caught.value.errors
    with pytest.raises(BallotError):  # blank and grades at once
        await _cast(log_pool, log_service, round_primary, voter, full, blank=True)
    async with log_pool.acquire() as conn:
        unverified = await conn.fetchval(
            "INSERT INTO accounts (email) VALUES ('nobody@example.org') RETURNING id"
        )
    with pytest.raises(Refused) as caught:
        await _cast(log_pool, log_service, round_primary, unverified, full)
    assert caught.value.reason == "not-eligible"
    assert await _ballot_entries(log_pool, log_service, round_primary.id) == []
    async with log_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM voters_voted") == 0
    # After all that, the voter can still vote once.
    await _cast(log_pool, log_service, round_primary, voter, full)
    assert len(await _ballot_entries(log_pool, log_service, round_primary.id)) == 1


async def test_casts_outside_the_window_are_refused(
    log_pool: asyncpg.Pool, log_service: LogService, round_voters
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    phase_end = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    async with log_pool.acquire() as conn:
        # The calendar's round-1 phase ends while the round is open.
        ended = await make_round_primary(
            conn,
            log_service,
            phases=[{"name": "round-1", "start": "2020-03-01T00:00:00Z", "end": phase_end}],
        )
        closing = await make_round_primary(conn, log_service)
    await _open(log_pool, log_service, ended)
    await _open(log_pool, log_service, closing, closes_at=soon)
    grades_f = dict.fromkeys(ended.candidates, 3)
    grades_c = dict.fromkeys(closing.candidates, 3)
    with pytest.raises(Refused) as caught:
        await _cast(
            log_pool, log_service, ended, round_voters[0], grades_f, now=soon + timedelta(1)
        )
    assert caught.value.reason == "round-closed"
    with pytest.raises(Refused):
        await _cast(
            log_pool,
            log_service,
            closing,
            round_voters[0],
            grades_c,
            now=soon + timedelta(seconds=1),
        )
    await _cast(log_pool, log_service, closing, round_voters[0], grades_c)
    async with log_pool.acquire() as conn, conn.transaction():
        await close_round(conn, log_service, primary_id=closing.id, number=1)
    with pytest.raises(Refused) as caught:
        await _cast(log_pool, log_service, closing, round_voters[1], grades_c)
    assert caught.value.reason == "round-closed"
    assert await _ballot_entries(log_pool, log_service, ended.id) == []
    assert len(await _ballot_entries(log_pool, log_service, closing.id)) == 1


async def test_database_holds_only_sealed_ballots_of_fixed_size(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary, round_voters
) -> None:
    opened = await _open(log_pool, log_service, round_primary)
    for i, voter in enumerate(round_voters[:4]):
        grades = {} if i == 0 else {c: (i + j) % 7 for j, c in enumerate(round_primary.candidates)}
        await _cast(log_pool, log_service, round_primary, voter, grades, blank=i == 0)
    bodies = await _ballot_entries(log_pool, log_service, round_primary.id)
    assert [set(b) for b in bodies] == [{"round", "sealed"}] * 4
    sizes = {len(b["sealed"]) for b in bodies}
    assert len(sizes) == 1  # blank and full ballots are indistinguishable by size
    import base64

    assert len(base64.b64decode(bodies[0]["sealed"])) == opened.pad_to + SEAL_OVERHEAD
    async with log_pool.acquire() as conn:
        # No table links an account to a ballot, a tracker or a time.
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'voters_voted'"
        )
        assert {c["column_name"] for c in columns} == {"round_id", "account_id"}
        # No plaintext ballot anywhere in the database (text or bytea, any table).
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        needle = '"grades":{"'
        for table in tables:
            name = table["tablename"]
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{name}" t')
            for row in rows:
                assert needle not in row["row"], name
                assert needle.encode().hex() not in row["row"], name


async def test_subset_assignment_is_fixed_balanced_and_deleted_at_close(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=6, subset_size=3)
        voters = await make_voters(conn, 30)
    round_ = await _open(log_pool, log_service, primary)
    assert round_.uses_subsets
    async with log_pool.acquire() as conn:
        first = await assigned_candidates(conn, round_, voters[0], rng=random.Random(1))
        again = await assigned_candidates(conn, round_, voters[0])
        assert first == again and len(first) == 3
        for voter in voters[1:]:
            await assigned_candidates(conn, round_, voter, rng=random.Random(str(voter)))
        shown = [r["shown"] for r in await conn.fetch("SELECT shown FROM round_exposure")]
        assert sum(shown) == 90 and max(shown) - min(shown) <= 2
    # Grading a candidate outside one's subset is refused; the subset is enough.
    other = next(c for c in primary.candidates if c not in first)
    with pytest.raises(BallotError):
        await _cast(log_pool, log_service, primary, voters[0], dict.fromkeys([*first, other], 1))
    await _cast(log_pool, log_service, primary, voters[0], dict.fromkeys(first, 1))
    async with log_pool.acquire() as conn:
        async with conn.transaction():
            await close_round(conn, log_service, primary_id=primary.id, number=1)
        assert await conn.fetchval("SELECT count(*) FROM round_assignments") == 0
        assert await conn.fetchval("SELECT count(*) FROM round_exposure") == 6
        closed = await get_round(conn, primary.id, 1)
        assert closed is not None and closed.turnout == 1
