"""Opening and closing rounds (services, real PostgreSQL)."""

from __future__ import annotations

import base64

import asyncpg
import pytest

from crypto import canonical
from tests.fixtures.rounds import PASSPHRASE, RoundPrimary, make_round_primary
from voting import rounds
from voting.ballots import cast
from voting.log import LogService
from voting.refusals import Refused
from voting.rounds import close_round, open_round

pytestmark = pytest.mark.anyio


async def _entries(pool: asyncpg.Pool, log: LogService, primary_id, kind: str) -> list[dict]:
    await log.integrate(pool, primary_id)
    head = await log.head(pool, primary_id)
    found = await log.entries(pool, primary_id, 0, head.size)
    return [canonical.loads(e.entry)["body"] for e in found if e.kind == kind]


async def test_open_round_appends_round_open_and_freezes_the_list(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary: RoundPrimary
) -> None:
    async with log_pool.acquire() as conn, conn.transaction():
        opened = await open_round(
            conn,
            log_service,
            primary_id=round_primary.id,
            opened_by=round_primary.organiser,
            passphrase=PASSPHRASE,
        )
    assert opened.round.number == 1 and opened.key_file is None
    [body] = await _entries(log_pool, log_service, round_primary.id, "round-open")
    assert body["round"] == 1
    assert [c["candidate"] for c in body["candidates"]] == sorted(
        round_primary.candidates, key=lambda c: (round_primary.names[c], c)
    )
    assert set(body["candidates"][0]) == {"candidate", "name", "declaration"}
    assert base64.b64decode(body["tally_public_key"]) == opened.round.tally_public_key
    assert body["subset_size"] == 0 and body["allow_blank"] is True
    async with log_pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT voting_started FROM primaries WHERE id = $1", round_primary.id
        )
        # The secret is stored only sealed with the passphrase.
        row = await conn.fetchrow("SELECT * FROM rounds WHERE id = $1", opened.round.id)
        assert row["key_custody"] == "passphrase"
        assert bytes(row["sealed_tally_key"]).startswith(b"SCRS")


async def test_key_file_custody_stores_no_secret(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary: RoundPrimary
) -> None:
    async with log_pool.acquire() as conn, conn.transaction():
        opened = await open_round(
            conn,
            log_service,
            primary_id=round_primary.id,
            opened_by=round_primary.organiser,
        )
    assert opened.key_file is not None
    assert opened.key_file["format"] == rounds.KEY_FILE_FORMAT
    async with log_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM rounds WHERE id = $1", opened.round.id)
    assert row["sealed_tally_key"] is None and row["key_custody"] == "file"


async def test_explicit_subset_and_refusals(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary: RoundPrimary
) -> None:
    async with log_pool.acquire() as conn:
        with pytest.raises(Refused, match="deux"):
            async with conn.transaction():
                await open_round(
                    conn,
                    log_service,
                    primary_id=round_primary.id,
                    opened_by=None,
                    candidate_ids=round_primary.candidates[:1],
                    passphrase=PASSPHRASE,
                )
        with pytest.raises(Refused, match="confirmées"):
            async with conn.transaction():
                await open_round(
                    conn,
                    log_service,
                    primary_id=round_primary.id,
                    opened_by=None,
                    candidate_ids=["not-a-candidate"],
                    passphrase=PASSPHRASE,
                )
        with pytest.raises(Refused, match="12"):
            async with conn.transaction():
                await open_round(
                    conn,
                    log_service,
                    primary_id=round_primary.id,
                    opened_by=None,
                    passphrase="short",
                )
        async with conn.transaction():
            opened = await open_round(
                conn,
                log_service,
                primary_id=round_primary.id,
                opened_by=None,
                candidate_ids=round_primary.candidates[:3],
                passphrase=PASSPHRASE,
            )
        assert sorted(opened.round.candidate_ids) == sorted(round_primary.candidates[:3])
        # One round at a time: round 2 waits for round 1's result.
        with pytest.raises(Refused, match="terminé"):
            async with conn.transaction():
                await open_round(
                    conn,
                    log_service,
                    primary_id=round_primary.id,
                    opened_by=None,
                    passphrase=PASSPHRASE,
                )
    assert len(await _entries(log_pool, log_service, round_primary.id, "round-open")) == 1


async def test_close_states_the_turnout_and_refuses_a_mismatch(
    log_pool: asyncpg.Pool, log_service: LogService, round_voters: list
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service)
        async with conn.transaction():
            await open_round(
                conn, log_service, primary_id=primary.id, opened_by=None, passphrase=PASSPHRASE
            )
        for voter in round_voters[:3]:
            async with conn.transaction():
                await cast(
                    conn,
                    log_service,
                    primary_id=primary.id,
                    number=1,
                    account_id=voter,
                    grades=dict.fromkeys(primary.candidates, 3),
                )
        # A voter marked as voted without a ballot entry: the close must refuse.
        round_id = await conn.fetchval("SELECT id FROM rounds WHERE primary_id = $1", primary.id)
        await conn.execute("INSERT INTO voters_voted VALUES ($1, $2)", round_id, round_voters[5])
        with pytest.raises(Refused, match="Alerte"):
            async with conn.transaction():
                await close_round(conn, log_service, primary_id=primary.id, number=1)
        await conn.execute("DELETE FROM voters_voted WHERE account_id = $1", round_voters[5])
        async with conn.transaction():
            closed, _ = await close_round(conn, log_service, primary_id=primary.id, number=1)
        assert closed.status == "closed" and closed.turnout == 3
        with pytest.raises(Refused, match="déjà clos"):
            async with conn.transaction():
                await close_round(conn, log_service, primary_id=primary.id, number=1)
    assert await _entries(log_pool, log_service, primary.id, "round-close") == [
        {"round": 1, "turnout": 3}
    ]
