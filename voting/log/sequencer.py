"""The sequencer: integrating committed queued entries in order under the log head's row lock,
waiting for an entry's place, and signing checkpoints (docs/audit-log.md §5, §6)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Protocol
from uuid import UUID

import asyncpg

from crypto import tiles
from crypto.merkle import CompactRange, leaf_hash
from crypto.note import Checkpoint, sign_checkpoint
from voting.entry_kinds import PHASE_CHANGE_KINDS
from voting.jobs import background
from voting.log import queries as q
from voting.log.model import (
    _ENTRY_COLUMNS,
    _TILE_COLUMNS,
    INTEGRATE_BATCH,
    Database,
    Integrated,
    LogError,
    NotIntegratedError,
    Queued,
    SignedCheckpoint,
    UnknownLogError,
    _connection,
    _Round,
    _uuid,
    logger,
)
from voting.log.witnesses import Witnesses
from voting.log.writer import LogWriter
from voting.outage import database_away


class LogSequencer(LogWriter):
    """`integrate`, `wait`, checkpoints and the background round."""

    @property
    def witnesses(self) -> Witnesses:
        """The witness client: `LogService` makes it (it needs the whole service, proofs too)."""
        raise NotImplementedError

    async def integrate(
        self, pool: Database, primary_id: UUID | str, *, batch_size: int = INTEGRATE_BATCH
    ) -> int:
        """Integrate every committed queued entry of the log; returns how many."""
        placed, _ = await self._integrate(pool, _uuid(primary_id), batch_size)
        return len(placed)

    async def _integrate(
        self,
        pool: Database,
        pid: UUID,
        batch_size: int = INTEGRATE_BATCH,
        *,
        check_queue: bool = True,
    ) -> tuple[dict[int, int], int]:
        """Integrate in batches until the queue is empty: ({queue id: index}, tree size)."""
        async with _connection(pool) as conn:
            return await self._integrate_on(conn, pid, batch_size, check_queue=check_queue)

    async def _integrate_on(
        self,
        conn: asyncpg.Connection,
        pid: UUID,
        batch_size: int = INTEGRATE_BATCH,
        *,
        check_queue: bool = True,
    ) -> tuple[dict[int, int], int]:
        placed: dict[int, int] = {}
        size = -1
        # Taking the row lock writes (and fsyncs at commit): not for an empty queue. A
        # round started by `wait` knows an entry is queued and saves the query.
        if check_queue and not await conn.fetchval(q.QUEUE_NOT_EMPTY, pid):
            return placed, size
        while True:
            async with conn.transaction():
                batch, size = await self._integrate_batch(conn, pid, batch_size)
            placed.update(batch)
            if len(batch) < batch_size:
                return placed, size

    async def _integration_round(self, pool: Database, queued: Queued) -> tuple[int, int] | None:
        """Join the next integration round of this log in this process, or start one;
        returns (index, tree size) of the queued entry, or None if it is not in the log.

        Group commit: waiters that arrive while a round runs share the following round, which
        starts (and reads the queue) only after they joined, so it sees their committed
        entries. One connection per process then contends for the head lock, not one per
        waiter (each lock holder's commit is an fsync). The round answers each of its waiters
        once, in O(1): from its own placements, from the round before it (which may have
        taken an entry committed while it ran), or with one query for the rest (entries that
        another process integrated).
        """
        pid = queued.primary_id
        loop = asyncio.get_running_loop()
        slot = (loop, pid)
        joined = self._rounds.get(slot)
        if joined is None or joined.started:
            joined = self._start_round(pool, pid, slot, joined)
        joined.waiters.append(queued)
        found = await asyncio.shield(joined.task)
        return found.get(queued.queue_id)

    def _start_round(
        self,
        pool: Database,
        pid: UUID,
        slot: tuple[asyncio.AbstractEventLoop, UUID],
        latest: _Round | None,
    ) -> _Round:
        new = _Round()

        async def run() -> dict[int, tuple[int, int]]:
            if latest is not None:
                await asyncio.wait([latest.task])
            new.started = True  # from here on, waiters join the next round
            before: dict[int, int] = {}
            before_size = -1
            if latest is not None and not latest.task.cancelled() and not latest.task.exception():
                before, before_size = latest.placed, latest.size
                latest.placed = {}  # only the next round needs them
            found: dict[int, tuple[int, int]] = {}
            async with _connection(pool) as conn:
                placed, size = await self._integrate_on(conn, pid, check_queue=False)
                new.placed, new.size = placed, size
                missing = []
                for waiter in new.waiters:
                    queue_id = waiter.queue_id
                    index = placed.get(queue_id)
                    if index is not None:
                        found[queue_id] = (index, size)
                    elif queue_id in before:
                        found[queue_id] = (before[queue_id], before_size)
                    else:
                        missing.append(waiter)
                if missing:
                    # Integrated by another process (or by an earlier round), or never
                    # committed (then absent).
                    rows = await conn.fetch(
                        q.SELECT_INTEGRATED,
                        pid,
                        [w.leaf_hash for w in missing],
                        [w.queue_id for w in missing],
                    )
                    for row in rows:
                        found[row["queue_id"]] = (row["idx"], row["tree_size"])
            return found

        def forget(_: object) -> None:
            if self._rounds.get(slot) is new:
                del self._rounds[slot]

        new.task = asyncio.get_running_loop().create_task(run())
        self._rounds[slot] = new
        new.task.add_done_callback(forget)
        return new

    async def _integrate_batch(
        self, conn: asyncpg.Connection, pid: UUID, limit: int
    ) -> tuple[dict[int, int], int]:
        head = await conn.fetchrow(q.LOCK_HEAD, pid)
        if head is None:
            raise UnknownLogError(f"primary {pid} has no log")
        # Read after the lock: READ COMMITTED gives this statement a fresh snapshot.
        rows = sorted(await conn.fetch(q.TAKE_QUEUE_BATCH, pid, limit), key=lambda r: r["id"])
        if not rows:
            return {}, head["tree_size"]
        size = head["tree_size"]
        tree = CompactRange(size, head["compact_range"])
        # Hashes at Merkle levels 8L (the contents of tile level L) created by this batch.
        created: defaultdict[int, dict[int, bytes]] = defaultdict(dict)
        entries = [bytes(row["entry"]) for row in rows]
        leaves = [leaf_hash(entry) for entry in entries]
        # (size, root) of the tree ending exactly at each phase-change entry (§6).
        phase_heads: list[tuple[int, bytes]] = []
        for leaf, row in zip(leaves, rows, strict=True):
            for level, index, value in tree.append(leaf):
                if level % tiles.TILE_HEIGHT == 0:
                    created[level // tiles.TILE_HEIGHT][index] = value
            if row["kind"] in PHASE_CHANGE_KINDS:
                phase_heads.append((tree.size, tree.root()))
        queue_ids = [row["id"] for row in rows]
        # COPY: one multi-row heap insert per page (fewer WAL records than INSERT … unnest).
        await conn.copy_records_to_table(
            "log_entries",
            records=[
                (pid, size + i, leaves[i], entries[i], row["kind"], row["id"])
                for i, row in enumerate(rows)
            ],
            columns=_ENTRY_COLUMNS,
        )
        full_tiles = await self._completed_tiles(conn, pid, created)
        if full_tiles:
            await conn.copy_records_to_table("log_tiles", records=full_tiles, columns=_TILE_COLUMNS)
        await conn.execute(q.UPDATE_HEAD, pid, tree.size, tree.root(), tree.hashes)
        if phase_heads:
            # Signed in the integrating transaction, under the head lock: committed with the
            # entries, before any later checkpoint of this log can be signed.
            key = await self._log_key(conn, pid)
            for phase_size, phase_root in phase_heads:
                note = sign_checkpoint(
                    Checkpoint(key.origin, phase_size, phase_root), key.signing_key
                )
                await conn.execute(q.INSERT_CHECKPOINT, pid, phase_size, phase_root, note)
        return {queue_id: size + offset for offset, queue_id in enumerate(queue_ids)}, tree.size

    async def _completed_tiles(
        self, conn: asyncpg.Connection, pid: UUID, created: dict[int, dict[int, bytes]]
    ) -> list[tuple[UUID, int, int, bytes, bytes]]:
        width = tiles.TILE_WIDTH
        result = []
        for level in sorted(created):
            hashes = created[level]
            for last in sorted(hashes):
                if (last + 1) % width:
                    continue
                index = last // width
                first = index * width
                have = {i: hashes[i] for i in range(first, first + width) if i in hashes}
                if len(have) < width:
                    # The batch is contiguous, so what is missing is a prefix already stored.
                    missing_end = min(have) if have else first + width
                    have.update(await self._stored_hashes(conn, pid, level, first, missing_end))
                if len(have) != width:
                    raise LogError(f"cannot assemble tile {level}/{index}: hashes are missing")
                contents = b"".join(have[i] for i in range(first, first + width))
                # Completing the tile's last hash completed the subtree above it too.
                root = created[level + 1][index]
                result.append((pid, level, index, contents, root))
        return result

    async def _stored_hashes(
        self, db: Database, pid: UUID, level: int, start: int, end: int
    ) -> dict[int, bytes]:
        """Stored hashes number [start, end) of Merkle level 8*level."""
        if level == 0:
            rows = await db.fetch(q.SELECT_LEAF_HASHES, pid, start, end)
            return {row["idx"]: bytes(row["leaf_hash"]) for row in rows}
        rows = await db.fetch(q.SELECT_TILE_ROOTS, pid, level - 1, start, end)
        return {row["idx"]: bytes(row["root"]) for row in rows}

    async def wait(self, pool: Database, queued: Queued) -> Integrated:
        """The entry's place in the log, integrating it first if nobody has yet."""
        found = await self._integration_round(pool, queued)
        if found is None:
            raise NotIntegratedError(
                f"{queued.kind} entry {queued.tracker[:12]} is not in the log: "
                "was its transaction committed?"
            )
        index, size = found
        return Integrated(index, queued.leaf_hash, size)

    async def publish_checkpoint(self, pool: Database, primary_id: UUID | str) -> str:
        """Integrate what is queued and return a signed checkpoint of the whole tree."""
        pid = _uuid(primary_id)
        await self.integrate(pool, pid)
        return (await self._checkpoint_current(pool, pid)).note

    async def _checkpoint_current(self, db: Database, pid: UUID) -> SignedCheckpoint:
        """Sign the committed tree unless the latest checkpoint already covers it, then have
        the primary's witnesses cosign it (voting/log/witnesses.py: never raises, never waits
        on a witness that is down)."""
        head = await self.head(db, pid)
        latest = await self.latest_checkpoint(db, pid)
        if latest.size < head.size:
            key = await self._log_key(db, pid)
            note = sign_checkpoint(Checkpoint(head.origin, head.size, head.root), key.signing_key)
            await db.execute(q.INSERT_CHECKPOINT, pid, head.size, head.root, note)
            latest = SignedCheckpoint(head.size, head.root, note)
        if await self.witnesses.cosign(db, pid):
            latest = await self.latest_checkpoint(db, pid)  # with its cosignatures
        return latest

    async def tick(self, pool: Database) -> None:
        """One background round: integrate leftovers, checkpoint every log that grew."""
        await pool.execute(q.DELETE_ORPHAN_QUEUE)  # a log whose creation rolled back
        for row in await pool.fetch(q.SELECT_QUEUED_LOGS):
            await self.integrate(pool, row["primary_id"])
        for row in await pool.fetch(q.SELECT_LOGS_NEEDING_CHECKPOINT):
            await self._checkpoint_current(pool, row["primary_id"])
        await self.witnesses.background(pool)  # cosignatures missing from latest checkpoints

    async def run_background(self, pool: Database) -> None:
        while True:
            try:
                await self.tick(pool)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not database_away(exc):
                    logger.exception("log background round failed; retrying")
                else:  # an outage, not a bug: the next round retries
                    logger.warning("log background round: database unavailable (%s)", exc)
            await asyncio.sleep(self.checkpoint_interval)


class _LogState(Protocol):
    pool: asyncpg.Pool
    log: LogSequencer


class _App(Protocol):
    """The web app, whose `state` holds the pool and the log service."""

    @property
    def state(self) -> _LogState: ...


@contextlib.asynccontextmanager
async def log_background(app: _App) -> AsyncIterator[None]:
    """Background service (web.app.BACKGROUND_SERVICES): integrates leftover queued entries
    (a caller that crashed before `wait`) and checkpoints growing logs every interval."""
    service: LogSequencer = app.state.log
    async with background(service.run_background(app.state.pool), "log-background"):
        yield
