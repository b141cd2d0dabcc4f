"""The log service against a real PostgreSQL: append/wait, rollback, append-only, proofs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from crypto import merkle, tiles
from crypto.encoding import b64decode
from crypto.entries import open_entry
from crypto.merkle import leaf_hash
from crypto.note import open_checkpoint, parse_verifier_key
from tests.fixtures.log import LogPrimary, make_log_primary
from voting.log import (
    INTEGRATE_BATCH,
    LogEntry,
    LogRangeError,
    LogService,
    NotIntegratedError,
    UnknownLogError,
)
from voting.log import queries as q

pytestmark = pytest.mark.anyio


def canonical_body(entry: LogEntry) -> dict:
    return entry.envelope()["body"]


async def _append(
    pool: asyncpg.Pool, service: LogService, primary: LogPrimary, n: int, kind: str = "support"
) -> list[int]:
    indexes = []
    for i in range(n):
        async with pool.acquire() as conn, conn.transaction():
            queued = await service.append(
                conn, primary.id, kind, {"candidate": f"c{i % 3}", "supporter": f"s{i}"}
            )
        indexes.append((await service.wait(pool, queued)).index)
    return indexes


async def test_new_log_has_a_signed_empty_checkpoint(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    assert log_primary.origin == "scrutin.localhost/primaries/demo-log"
    checkpoint = await log_service.latest_checkpoint(log_pool, log_primary.id)
    opened = open_checkpoint(checkpoint.note, log_primary.vkey)
    assert (opened.origin, opened.size, opened.root_hash) == (
        log_primary.origin,
        0,
        merkle.EMPTY_ROOT,
    )
    assert await log_service.vkey(log_pool, log_primary.id) == log_primary.vkey


async def test_appended_entries_get_consecutive_indexes_and_verify(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    assert await _append(log_pool, log_service, log_primary, 5) == [0, 1, 2, 3, 4]
    verifier = parse_verifier_key(log_primary.vkey)
    entries = await log_service.entries(log_pool, log_primary.id, 0, 100)
    assert [e.index for e in entries] == [0, 1, 2, 3, 4]
    for e in entries:
        opened = open_entry(e.entry, verifier.verify_key, origin=log_primary.origin)
        assert opened.kind == "support"
        assert opened.primary == str(log_primary.id)
        assert e.leaf_hash == leaf_hash(e.entry)
    head = await log_service.head(log_pool, log_primary.id)
    assert head.size == 5
    assert head.root == merkle.root([e.leaf_hash for e in entries])


async def test_sealed_log_key_is_never_stored_in_clear(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    seed = log_service._keys[log_primary.id].seed
    sealed = await log_pool.fetchval(
        "SELECT sealed_key FROM logs WHERE primary_id = $1", log_primary.id
    )
    assert seed not in sealed
    # A fresh process (no cache) opens it with the service secret.
    fresh = LogService(secret_key="test-secret-key-0123456789abcdefghijklmnop", public_host="x")
    await _append(log_pool, fresh, log_primary, 1)
    wrong = LogService(secret_key="another-secret-key-0123456789abcdefghijkl", public_host="x")
    with pytest.raises(Exception, match="wrong secret"):
        async with log_pool.acquire() as conn, conn.transaction():
            await wrong.append(conn, log_primary.id, "support", {})


async def test_a_rolled_back_transaction_leaves_no_entry_and_no_queue_row(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with log_pool.acquire() as conn, conn.transaction():
            queued = await log_service.append(conn, log_primary.id, "support", {"n": 1})
            raise Boom
    assert await log_pool.fetchval("SELECT count(*) FROM log_queue") == 0
    with pytest.raises(NotIntegratedError, match="committed"):
        await log_service.wait(log_pool, queued)
    await log_service.publish_checkpoint(log_pool, log_primary.id)
    assert await log_pool.fetchval("SELECT count(*) FROM log_entries") == 0
    assert (await log_service.head(log_pool, log_primary.id)).size == 0


async def test_waiters_of_one_round_get_their_own_places_wherever_they_were_integrated(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    class Boom(Exception):
        pass

    queued = []
    for i in range(6):
        async with log_pool.acquire() as conn, conn.transaction():
            queued.append(await log_service.append(conn, log_primary.id, "support", {"n": i}))
    # Integrated before anyone waits (as by another process): the round looks them up.
    other = LogService(secret_key="test-secret-key-0123456789abcdefghijklmnop", public_host="x")
    assert await other.integrate(log_pool, log_primary.id) == 6
    with pytest.raises(Boom):
        async with log_pool.acquire() as conn, conn.transaction():
            lost = await log_service.append(conn, log_primary.id, "support", {"n": "lost"})
            raise Boom
    for i in range(6, 9):
        async with log_pool.acquire() as conn, conn.transaction():
            queued.append(await log_service.append(conn, log_primary.id, "support", {"n": i}))
    results = await asyncio.gather(
        *(log_service.wait(log_pool, q) for q in [*queued, lost]), return_exceptions=True
    )
    assert [r.index for r in results[:-1]] == list(range(9))  # type: ignore[union-attr]
    assert [r.leaf_hash for r in results[:-1]] == [q.leaf_hash for q in queued]  # type: ignore[union-attr]
    assert all(r.tree_size == 9 for r in results[:-1])  # type: ignore[union-attr]
    assert isinstance(results[-1], NotIntegratedError)
    # Waiting again (a new round, nothing queued) still finds them.
    again = await log_service.wait(log_pool, queued[3])
    assert (again.index, again.tree_size) == (3, 9)


async def test_identical_entries_integrated_elsewhere_keep_their_own_places(
    log_pool: asyncpg.Pool,
    log_service: LogService,
    log_primary: LogPrimary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Same kind, body and second (a stopped clock): the same bytes, so the same leaf hash.
    monkeypatch.setattr(log_service, "clock", lambda: datetime.fromtimestamp(1_800_000_000, UTC))
    queued = []
    for _ in range(3):
        async with log_pool.acquire() as conn, conn.transaction():
            queued.append(await log_service.append(conn, log_primary.id, "support", {"n": 1}))
    assert len({q.leaf_hash for q in queued}) == 1
    other = LogService(secret_key="test-secret-key-0123456789abcdefghijklmnop", public_host="x")
    assert await other.integrate(log_pool, log_primary.id) == 3
    placed = await asyncio.gather(*(log_service.wait(log_pool, q) for q in reversed(queued)))
    assert [p.index for p in placed] == [2, 1, 0]


async def test_a_backlog_is_taken_in_one_linear_pass(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    """The queue's statistics say "empty" most of the time; taking a batch must not then
    become a nested loop over the batch (quadratic: seconds for a few thousand entries)."""
    await _append(log_pool, log_service, log_primary, 1)
    await log_pool.execute("ANALYZE log_queue")  # as autovacuum does: an empty queue
    async with log_pool.acquire() as conn, conn.transaction():
        for i in range(300):
            await log_service.append(conn, log_primary.id, "support", {"n": i})
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                "EXPLAIN " + q.TAKE_QUEUE_BATCH, log_primary.id, INTEGRATE_BATCH
            )
        )
    assert "Nested Loop" not in plan, plan
    assert await log_service.integrate(log_pool, log_primary.id) == 300
    entries = await log_service.entries(log_pool, log_primary.id, 1, 400)
    assert [canonical_body(e)["n"] for e in entries] == list(range(300))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE log_entries SET kind = 'forged'",
        "DELETE FROM log_entries",
        "TRUNCATE log_entries",
        "UPDATE log_checkpoints SET note = 'forged'",
        "DELETE FROM log_checkpoints",
        "TRUNCATE log_checkpoints",
        "DELETE FROM log_tiles",
    ],
)
async def test_the_database_refuses_to_change_the_log(
    log_pool: asyncpg.Pool,
    log_service: LogService,
    log_primary: LogPrimary,
    statement: str,
) -> None:
    await _append(log_pool, log_service, log_primary, 300)
    await log_service.publish_checkpoint(log_pool, log_primary.id)
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await log_pool.execute(statement)
    assert await log_pool.fetchval("SELECT count(*) FROM log_entries") == 300


async def test_publish_checkpoint_covers_everything_committed(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    async with log_pool.acquire() as conn, conn.transaction():
        for i in range(3):
            await log_service.append(conn, log_primary.id, "support", {"n": i})
    note = await log_service.publish_checkpoint(log_pool, log_primary.id)
    checkpoint = open_checkpoint(note, log_primary.vkey)
    assert checkpoint.size == 3
    # Nothing new: the same checkpoint again.
    assert await log_service.publish_checkpoint(log_pool, log_primary.id) == note
    assert len(await log_service.checkpoints(log_pool, log_primary.id)) == 2


async def test_proofs_from_tiles_verify_at_many_sizes(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    # Enough for full level-0 tiles and a level-1 partial tile; several batches.
    n = 700
    async with log_pool.acquire() as conn:
        for chunk in range(0, n, 150):
            async with conn.transaction():
                for i in range(chunk, min(n, chunk + 150)):
                    await log_service.append(conn, log_primary.id, "support", {"n": i})
            await log_service.integrate(log_pool, log_primary.id, batch_size=97)
    entries = await log_service.entries(log_pool, log_primary.id, 0, n)
    leaves = [e.leaf_hash for e in entries]
    assert [e.index for e in entries] == list(range(n))
    assert await log_pool.fetchval("SELECT count(*) FROM log_tiles") == 2
    for size in (1, 2, 255, 256, 257, 511, 512, 513, 699, 700):
        root = merkle.root(leaves[:size])
        assert await log_service.root_at(log_pool, log_primary.id, size) == root
        for index in {0, size // 2, size - 1}:
            proof = await log_service.inclusion_proof(log_pool, log_primary.id, index, size)
            assert proof.leaf_hash == leaves[index]
            proof.verify(root)
        for old in {1, size // 3, size - 1}:
            if 0 < old <= size:
                consistency = await log_service.consistency_proof(
                    log_pool, log_primary.id, old, size
                )
                consistency.verify(merkle.root(leaves[:old]), root)
    # Tiles served from storage equal the tiles computed from the leaves.
    expected = tiles.tiles_from_leaf_hashes(leaves)
    for path, data in expected.items():
        tile = tiles.parse_tile_path(path)
        assert tile.level is not None
        stored = await log_service.read_tile(log_pool, log_primary.id, tile.level, tile.index)
        assert stored[: len(data)] == data, path


async def test_receipt_verifies(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    await _append(log_pool, log_service, log_primary, 10)
    receipt = await log_service.receipt(log_pool, log_primary.id, 7)
    assert receipt["format"] == "scrutin-receipt/v1"
    checkpoint = open_checkpoint(receipt["checkpoint"], receipt["vkey"])
    assert checkpoint.size >= 8
    entry = b64decode(receipt["entry"])
    assert leaf_hash(entry).hex() == receipt["tracker"]
    merkle.verify_inclusion(
        leaf_hash(entry),
        receipt["index"],
        checkpoint.size,
        [b64decode(h) for h in receipt["inclusion_proof"]],
        checkpoint.root_hash,
    )


async def test_export_contains_everything(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    await _append(log_pool, log_service, log_primary, 4)
    export = await log_service.export(log_pool, log_primary.id)
    assert export["format"] == "scrutin-export/v1"
    assert export["origin"] == log_primary.origin
    assert export["primary"] == str(log_primary.id)
    stored = await log_service.entries(log_pool, log_primary.id, 0, 10)
    assert [b64decode(e) for e in export["entries"]] == [e.entry for e in stored]
    last = open_checkpoint(export["checkpoints"][-1], export["vkey"])
    assert last.size == 4
    assert last.root_hash == merkle.root([leaf_hash(b64decode(e)) for e in export["entries"]])


async def test_bad_ranges_and_unknown_logs_raise_clear_errors(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    await _append(log_pool, log_service, log_primary, 3)
    with pytest.raises(LogRangeError, match="beyond the tree"):
        await log_service.inclusion_proof(log_pool, log_primary.id, 0, 4)
    with pytest.raises(LogRangeError, match="not in the tree"):
        await log_service.inclusion_proof(log_pool, log_primary.id, 3, 3)
    with pytest.raises(LogRangeError, match="larger than"):
        await log_service.consistency_proof(log_pool, log_primary.id, 3, 2)
    with pytest.raises(LogRangeError, match="non-negative"):
        await log_service.entries(log_pool, log_primary.id, -1, 2)
    with pytest.raises(LogRangeError, match="no entry"):
        await log_service.receipt(log_pool, log_primary.id, 3)
    other = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(UnknownLogError):
        await log_service.head(log_pool, other)
    with pytest.raises(UnknownLogError):
        async with log_pool.acquire() as conn, conn.transaction():
            await log_service.append(conn, other, "support", {})


async def test_two_logs_are_independent(
    log_pool: asyncpg.Pool, log_service: LogService, log_primary: LogPrimary
) -> None:
    async with log_pool.acquire() as conn:
        second = await make_log_primary(conn, log_service, "second")
    await _append(log_pool, log_service, log_primary, 2)
    assert await _append(log_pool, log_service, second, 3) == [0, 1, 2]
    assert (await log_service.head(log_pool, log_primary.id)).size == 2
    assert second.vkey != log_primary.vkey


async def test_a_rush_of_first_appends_opens_the_sealed_key_once(
    log_pool: asyncpg.Pool,
    log_service: LogService,
    log_primary: LogPrimary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Opening a log key costs an Argon2id derivation: the first requests of a new process,
    arriving together, wait for one opening instead of each paying for their own."""
    from crypto.keys import LogKey

    fresh = LogService(
        secret_key=log_service._secret, public_host=log_service.public_host
    )  # a new process: no key opened yet
    opened = []
    unseal = LogKey.unseal

    def counting(*args: object) -> LogKey:
        opened.append(args[0])
        return unseal(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(LogKey, "unseal", staticmethod(counting))

    async def one(i: int) -> None:
        async with log_pool.acquire() as conn, conn.transaction():
            await fresh.append(
                conn, log_primary.id, "support", {"candidate": "c", "supporter": f"s{i}"}
            )

    await asyncio.gather(*(one(i) for i in range(8)))
    assert opened == [log_primary.origin]
