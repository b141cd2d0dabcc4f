"""The public log service: one append-only, signed Merkle log per primary (docs/audit-log.md).

Writing is two-phase, so that an entry exists if and only if the caller's state change commits:

1. `append(conn, …)` signs the entry and inserts it into `log_queue` inside the caller's
   transaction (no index yet);
2. the sequencer (`integrate`) moves committed queue rows into `log_entries`, in queue order,
   assigning consecutive indexes, extending the tree's compact range and storing completed
   tiles. It runs in one transaction under a row lock on the log head (`logs` row), which
   serialises sequencers across processes; whoever holds the lock integrates every committed
   entry, so concurrent writers batch naturally. `wait` runs it (if needed) for one entry.

Checkpoints are signed only over committed trees: by the sequencer at each phase-change entry
(`PHASE_CHANGE_KINDS`, a tree ending exactly there), on `publish_checkpoint`, when a receipt
needs one, and from the background service at most every
`checkpoint_interval` seconds while the tree grows.

Proofs never load the tree: a recording pass of the proof algorithm lists the perfect
subtrees it needs, their tiles are fetched (full tiles from `log_tiles`, the partial ones
assembled from `log_entries` or from the roots of the tiles below), then the proof is computed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import asyncpg

from crypto import canonical, merkle, tiles, tlog_proof
from crypto.encoding import b64encode
from crypto.entries import make_entry
from crypto.keys import LogKey
from crypto.merkle import EMPTY_ROOT, CompactRange, ConsistencyProof, InclusionProof, leaf_hash
from crypto.note import Checkpoint, format_verifier_key, sign_checkpoint
from voting.entry_kinds import PHASE_CHANGE_KINDS, EntryBody
from voting.log import queries as q
from voting.log.witnesses import Witnesses
from voting.refusals import Refused

logger = logging.getLogger("scrutin.log")
# The database stopped, restarting or unreachable: background rounds wait for it quietly.
DATABASE_AWAY = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
)

# Either works for reads: both have fetch/fetchrow/fetchval/execute.
Database = asyncpg.Pool | asyncpg.Connection
T = TypeVar("T")

INTEGRATE_BATCH = 4096
_ZERO = bytes(32)
_HEX = re.compile(r"[0-9a-f]+")
_TILE_COLUMNS = ["primary_id", "level", "idx", "hashes", "root"]
_ENTRY_COLUMNS = ["primary_id", "idx", "leaf_hash", "entry", "kind", "queue_id"]
EXPORT_CHUNK = 5000
EXPORT_FORMAT = "scrutin-export/v1"
# PHASE_CHANGE_KINDS (voting.entry_kinds): the sequencer signs a checkpoint whose tree ends
# exactly at each of them (docs/audit-log.md §6).


class LogError(Exception):
    """A log operation cannot be done; the message says why."""


class EntryTooLarge(LogError, Refused):
    """An entry longer than a tile bundle can hold (65,535 bytes, docs/audit-log.md §7).

    Raised by `append` before anything is queued, so the caller's transaction writes nothing.
    A `Refused`: pages show its translated message next to the form `field` to correct.
    """

    # entry kind → (reason, the form field to shorten); other kinds: "entry-too-large"
    REASONS: ClassVar[dict[str, tuple[str, str]]] = {
        "round-open": ("round-open-entry-too-large", "candidates"),
        "definition": ("definition-entry-too-large", "description"),
    }

    def __init__(self, kind: str, size: int, limit: int) -> None:
        reason, field = self.REASONS.get(kind, ("entry-too-large", None))
        super().__init__(reason, field=field, size=size, limit=limit)
        self.kind = kind
        self.size = size
        self.limit = limit


class UnknownLogError(LogError):
    """The primary has no log."""


class LogRangeError(LogError, ValueError):
    """An index, size or range is outside the tree (or malformed); `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class NotIntegratedError(LogError):
    """A queued entry never reached the log (its transaction did not commit)."""


@dataclass(frozen=True)
class Queued:
    """An entry signed and queued in the caller's transaction; pass it to `wait`."""

    primary_id: UUID
    queue_id: int
    kind: str
    entry: bytes
    leaf_hash: bytes

    @property
    def tracker(self) -> str:
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class Integrated:
    """Where a queued entry landed: its index, and the tree size right after integration."""

    index: int
    leaf_hash: bytes
    tree_size: int

    @property
    def tracker(self) -> str:
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class LogEntry:
    index: int
    leaf_hash: bytes
    entry: bytes
    kind: str

    @property
    def tracker(self) -> str:
        return self.leaf_hash.hex()

    def envelope(self) -> dict[str, Any]:
        value = canonical.loads(self.entry)
        assert isinstance(value, dict)
        return value

    def to_json(self) -> dict[str, Any]:
        """The JSON convenience form (docs/audit-log.md §7)."""
        return {
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "entry": b64encode(self.entry),
            "envelope": self.envelope(),
        }


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True)
class TreeHead:
    """The integrated (committed) tree, which may be ahead of the latest checkpoint."""

    origin: str
    size: int
    root: bytes


@dataclass(frozen=True)
class _ExportHead:
    origin: str
    primary: str
    vkey: str
    size: int
    checkpoints: list[str]


@dataclass
class _Round:
    """One in-process integration round; waiters join it until it starts."""

    started: bool = False
    waiters: list[Queued] = field(default_factory=list)
    # What the round integrated ({queue id: index}, tree size after), kept for the next round.
    placed: dict[int, int] = field(default_factory=dict)
    size: int = -1
    task: asyncio.Task[dict[int, tuple[int, int]]] = field(init=False)


def _uuid(primary_id: UUID | str) -> UUID:
    return primary_id if isinstance(primary_id, UUID) else UUID(str(primary_id))


def _entry(row: asyncpg.Record) -> LogEntry:
    return LogEntry(row["idx"], bytes(row["leaf_hash"]), bytes(row["entry"]), row["kind"])


@contextlib.asynccontextmanager
async def _connection(db: Database) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LogRangeError(f"{name} must be a non-negative integer, got {value!r}", name)
    return value


class LogService:
    """Create, append to, sequence, checkpoint and read the logs of all primaries."""

    def __init__(
        self,
        *,
        secret_key: str | bytes,
        public_host: str,
        checkpoint_interval: float = 2.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`clock` gives the time of entries whose service passes none (default: now); the
        demo passes its own calendar's clock, so that its entries fall inside its phases."""
        if not secret_key:
            raise ValueError("the log service needs the service secret")
        self._secret = secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key
        self.public_host = public_host
        self.checkpoint_interval = checkpoint_interval
        self.clock = clock or (lambda: datetime.now(UTC))
        # Opening a sealed key costs an Argon2id derivation: keep opened keys per process.
        self._keys: dict[UUID, LogKey] = {}
        self._key_locks: dict[tuple[asyncio.AbstractEventLoop, UUID], asyncio.Lock] = {}
        self._rounds: dict[tuple[asyncio.AbstractEventLoop, UUID], _Round] = {}
        self.witnesses = Witnesses(self)

    def origin_for(self, slug: str) -> str:
        return f"{self.public_host}/primaries/{slug}"

    # -- keys ---------------------------------------------------------------------------

    async def _log_key(self, db: Database, primary_id: UUID) -> LogKey:
        key = self._keys.get(primary_id)
        if key is not None:
            return key
        # One opening per log at a time: each costs an Argon2id derivation, and a rush of
        # first requests (200 casts at once) used to pay it 200 times over on two cores.
        loop = asyncio.get_running_loop()
        async with self._key_locks.setdefault((loop, primary_id), asyncio.Lock()):
            key = self._keys.get(primary_id)
            if key is not None:
                return key
            row = await db.fetchrow(q.SELECT_KEY, primary_id)
            if row is None:
                raise UnknownLogError(f"primary {primary_id} has no log")
            key = await asyncio.to_thread(
                LogKey.unseal, row["origin"], bytes(row["sealed_key"]), self._secret
            )
            if key.public_key != bytes(row["public_key"]):
                raise LogError(
                    f"the sealed key of log {row['origin']} does not match its public key"
                )
            self._keys[primary_id] = key
            return key

    async def vkey(self, db: Database, primary_id: UUID | str) -> str:
        """The log's C2SP verifier-key string (docs/audit-log.md §5)."""
        pid = _uuid(primary_id)
        key = self._keys.get(pid)
        if key is not None:
            return key.vkey
        row = await db.fetchrow(q.SELECT_KEY, pid)
        if row is None:
            raise UnknownLogError(f"primary {pid} has no log")
        return format_verifier_key(row["origin"], bytes(row["public_key"]))

    # -- writing ------------------------------------------------------------------------

    async def create_log(self, conn: asyncpg.Connection, primary_id: UUID | str, slug: str) -> str:
        """Create the primary's log in the caller's transaction; returns its verifier key.

        The log starts with a signed checkpoint of the empty tree, so `checkpoint` always
        has something to serve.
        """
        pid = _uuid(primary_id)
        key = LogKey.generate(self.origin_for(slug))
        sealed = await asyncio.to_thread(key.seal, self._secret)
        try:
            await conn.execute(q.INSERT_LOG, pid, key.origin, key.public_key, sealed, EMPTY_ROOT)
        except asyncpg.UniqueViolationError:
            raise LogError(f"primary {pid} (or origin {key.origin}) already has a log") from None
        note = sign_checkpoint(Checkpoint(key.origin, 0, EMPTY_ROOT), key.signing_key)
        await conn.execute(q.INSERT_CHECKPOINT, pid, 0, EMPTY_ROOT, note)
        self._keys[pid] = key
        return key.vkey

    async def append(
        self,
        conn: asyncpg.Connection,
        primary_id: UUID | str,
        kind: str | EntryBody,
        body: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> Queued:
        """Sign an entry (docs/audit-log.md §3) and queue it in the caller's transaction.

        The entry is a `voting.entry_kinds` dataclass (`append(conn, pid, Support(...))`), or
        a kind and its body.

        `at` is the entry's `time`: a service that checked a phase against an instant passes
        that instant, so the entry is dated exactly when the rules allowed it (§9 check 11);
        otherwise the service's clock."""
        if isinstance(kind, EntryBody):
            name, body = kind.kind, kind.body()
        elif body is None:
            raise TypeError("append(conn, primary_id, kind, body): the body is missing")
        else:
            name = kind
        pid = _uuid(primary_id)
        key = await self._log_key(conn, pid)
        moment = at if at is not None else self.clock()
        entry = make_entry(
            origin=key.origin,
            primary=str(pid),
            kind=name,
            time=int(moment.timestamp()),
            body=body,
            signing_key=key.signing_key,
        )
        if len(entry) > tiles.MAX_ENTRY_SIZE:
            raise EntryTooLarge(name, len(entry), tiles.MAX_ENTRY_SIZE)
        queue_id = await conn.fetchval(q.INSERT_QUEUE, pid, name, entry)
        return Queued(pid, queue_id, name, entry, leaf_hash(entry))

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

    # -- checkpoints --------------------------------------------------------------------

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

    async def latest_checkpoint(self, db: Database, primary_id: UUID | str) -> SignedCheckpoint:
        pid = _uuid(primary_id)
        row = await db.fetchrow(q.SELECT_LATEST_CHECKPOINT, pid)
        if row is None:
            raise UnknownLogError(f"primary {pid} has no log")
        return SignedCheckpoint(row["size"], bytes(row["root"]), row["note"])

    async def checkpoints(self, db: Database, primary_id: UUID | str) -> list[str]:
        """Every signed checkpoint note, oldest first."""
        rows = await db.fetch(q.SELECT_CHECKPOINTS, _uuid(primary_id))
        return [row["note"] for row in rows]

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
            except DATABASE_AWAY as exc:  # an outage, not a bug: the next round retries
                logger.warning("log background round: database unavailable (%s); retrying", exc)
            except Exception:
                logger.exception("log background round failed; retrying")
            await asyncio.sleep(self.checkpoint_interval)

    # -- reading ------------------------------------------------------------------------

    async def head(self, db: Database, primary_id: UUID | str) -> TreeHead:
        pid = _uuid(primary_id)
        row = await db.fetchrow(q.SELECT_HEAD, pid)
        if row is None:
            raise UnknownLogError(f"primary {pid} has no log")
        return TreeHead(row["origin"], row["tree_size"], bytes(row["root"]))

    async def entries(
        self, db: Database, primary_id: UUID | str, start: int, end: int
    ) -> list[LogEntry]:
        """Entries with start <= index < end (those that exist), in index order."""
        _check_int("start", start)
        _check_int("end", end)
        if end < start:
            raise LogRangeError(f"end ({end}) is before start ({start})", "end")
        rows = await db.fetch(q.SELECT_ENTRIES, _uuid(primary_id), start, end)
        return [_entry(row) for row in rows]

    async def entry_by_index(
        self, db: Database, primary_id: UUID | str, index: int
    ) -> LogEntry | None:
        _check_int("index", index)
        row = await db.fetchrow(q.SELECT_ENTRY, _uuid(primary_id), index)
        return None if row is None else _entry(row)

    async def entry_by_hash(
        self, db: Database, primary_id: UUID | str, leaf: bytes
    ) -> LogEntry | None:
        """The first entry with this leaf hash (identical entries share one)."""
        if len(leaf) != merkle.HASH_SIZE:
            raise LogRangeError(f"a leaf hash is {merkle.HASH_SIZE} bytes", "hash")
        row = await db.fetchrow(q.SELECT_ENTRY_BY_HASH, _uuid(primary_id), bytes(leaf))
        return None if row is None else _entry(row)

    async def entries_by_tracker(
        self, db: Database, primary_id: UUID | str, prefix: str, kind: str, limit: int = 2
    ) -> list[LogEntry]:
        """Entries of `kind` whose tracker (hex leaf hash) starts with `prefix`, in tracker
        order, at most `limit` (a voter's "check my ballot": two mean an ambiguous prefix).
        Every hex digit counts, an odd last one too."""
        if not 1 <= len(prefix) <= 2 * merkle.HASH_SIZE or not _HEX.fullmatch(prefix):
            raise LogRangeError("a tracker prefix is 1 to 64 hex digits", "tracker")
        low = bytes.fromhex(prefix.ljust(2 * merkle.HASH_SIZE, "0"))
        high = bytes.fromhex(prefix.ljust(2 * merkle.HASH_SIZE, "f"))
        rows = await db.fetch(
            q.SELECT_ENTRIES_BY_HASH_PREFIX, _uuid(primary_id), low, high, kind, limit
        )
        return [_entry(row) for row in rows]

    async def read_tile(
        self, db: Database, primary_id: UUID | str, level: int, index: int
    ) -> bytes:
        """Tile (level, index) as wide as the integrated tree allows (b"" if absent).

        `level` is a tile level (Merkle level 8*level); entry bundles are `entry_bundle`.
        """
        pid = _uuid(primary_id)
        found = await self._read_tiles(db, pid, {(level, index)})
        return found[(level, index)]

    async def _read_tiles(
        self, db: Database, pid: UUID, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        if wanted:
            levels, indexes = zip(*sorted(wanted), strict=True)
            for row in await db.fetch(q.SELECT_FULL_TILES, pid, list(levels), list(indexes)):
                found[(row["level"], row["idx"])] = bytes(row["hashes"])
        for level, index in wanted - found.keys():
            first = index * tiles.TILE_WIDTH
            hashes = await self._stored_hashes(db, pid, level, first, first + tiles.TILE_WIDTH)
            contents = []
            for i in range(first, first + len(hashes)):
                if i not in hashes:
                    break
                contents.append(hashes[i])
            found[(level, index)] = b"".join(contents)
        return found

    async def entry_bundle(self, db: Database, primary_id: UUID | str, index: int) -> list[bytes]:
        """The entries of bundle `index` that exist (up to 256), in index order."""
        first = _check_int("index", index) * tiles.TILE_WIDTH
        rows = await db.fetch(q.SELECT_ENTRIES, _uuid(primary_id), first, first + tiles.TILE_WIDTH)
        return [bytes(row["entry"]) for row in rows]

    async def _with_subtrees(
        self, db: Database, pid: UUID, compute: Callable[[merkle.SubtreeHash], T]
    ) -> T:
        """Run a proof algorithm twice: once to list the tiles it needs, once for real."""
        needed: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            tile_level, rest = divmod(level, tiles.TILE_HEIGHT)
            needed.add((tile_level, (index << rest) // tiles.TILE_WIDTH))
            return _ZERO

        compute(record)
        found = await self._read_tiles(db, pid, needed)
        return compute(tiles.subtree_hash_from_tiles(lambda lv, ix: found[(lv, ix)]))

    async def _size_or_checkpoint(self, db: Database, pid: UUID, size: int | None) -> int:
        if size is None:
            return (await self.latest_checkpoint(db, pid)).size
        _check_int("size", size)
        head = await self.head(db, pid)
        if size > head.size:
            raise LogRangeError(f"size {size} is beyond the tree ({head.size} entries)", "size")
        return size

    async def root_at(self, db: Database, primary_id: UUID | str, size: int) -> bytes:
        """Root hash of the tree of the first `size` entries."""
        pid = _uuid(primary_id)
        size = await self._size_or_checkpoint(db, pid, size)
        return await self._with_subtrees(db, pid, lambda src: merkle.root_at(size, src))

    async def inclusion_proof(
        self, db: Database, primary_id: UUID | str, index: int, size: int | None = None
    ) -> InclusionProof:
        """Inclusion of entry `index` in the tree of `size` (default: latest checkpoint)."""
        pid = _uuid(primary_id)
        _check_int("index", index)
        size = await self._size_or_checkpoint(db, pid, size)
        if index >= size:
            raise LogRangeError(f"index {index} is not in the tree of size {size}", "index")
        entry = await self.entry_by_index(db, pid, index)
        assert entry is not None  # index < size <= integrated size
        hashes = await self._with_subtrees(
            db, pid, lambda src: merkle.inclusion_proof(index, size, src)
        )
        return InclusionProof(index, size, entry.leaf_hash, tuple(hashes))

    async def consistency_proof(
        self, db: Database, primary_id: UUID | str, old: int, new: int | None = None
    ) -> ConsistencyProof:
        """Consistency of tree `old` with tree `new` (default: latest checkpoint)."""
        pid = _uuid(primary_id)
        _check_int("old", old)
        new = await self._size_or_checkpoint(db, pid, new)
        if old > new:
            raise LogRangeError(f"old size {old} is larger than new size {new}", "old")
        hashes = await self._with_subtrees(
            db, pid, lambda src: merkle.consistency_proof(old, new, src)
        )
        return ConsistencyProof(old, new, tuple(hashes))

    async def _receipt_parts(
        self, pool: Database, pid: UUID, index: int
    ) -> tuple[LogEntry, InclusionProof, SignedCheckpoint]:
        """Entry `index`, its inclusion proof and the checkpoint the proof leads to (signed
        now if no checkpoint covers the entry yet)."""
        entry = await self.entry_by_index(pool, pid, index)
        if entry is None:
            raise LogRangeError(f"no entry at index {index}", "index")
        checkpoint = await self.latest_checkpoint(pool, pid)
        if checkpoint.size <= index:
            checkpoint = await self._checkpoint_current(pool, pid)
        proof = await self.inclusion_proof(pool, pid, index, checkpoint.size)
        return entry, proof, checkpoint

    async def receipt(self, pool: Database, primary_id: UUID | str, index: int) -> dict[str, Any]:
        """A voter's receipt for entry `index` (docs/audit-log.md §7)."""
        pid = _uuid(primary_id)
        entry, proof, checkpoint = await self._receipt_parts(pool, pid, index)
        head = await self.head(pool, pid)
        return {
            "format": "scrutin-receipt/v1",
            "origin": head.origin,
            "vkey": await self.vkey(pool, pid),
            "index": index,
            "entry": b64encode(entry.entry),
            "tracker": entry.tracker,
            "inclusion_proof": [b64encode(h) for h in proof.hashes],
            "checkpoint": checkpoint.note,
        }

    async def receipt_tlog_proof(self, pool: Database, primary_id: UUID | str, index: int) -> str:
        """The same receipt as a C2SP tlog-proof file, the entry on its `extra` line (§7)."""
        entry, proof, checkpoint = await self._receipt_parts(pool, _uuid(primary_id), index)
        return tlog_proof.format_proof(index, proof.hashes, checkpoint.note, extra=entry.entry)

    async def _export_head(self, pool: Database, pid: UUID) -> _ExportHead:
        """Checkpoint the tree, then what the export holds besides the entries."""
        await self.publish_checkpoint(pool, pid)
        checkpoints = await pool.fetch(q.SELECT_CHECKPOINTS, pid)
        head = await self.head(pool, pid)
        return _ExportHead(
            origin=head.origin,
            primary=str(pid),
            vkey=await self.vkey(pool, pid),
            size=checkpoints[-1]["size"],  # the last checkpoint covers every exported entry
            checkpoints=[row["note"] for row in checkpoints],
        )

    async def export(self, pool: Database, primary_id: UUID | str) -> dict[str, Any]:
        """The one-file export (docs/audit-log.md §7), checkpointing the tree first.

        The whole document in memory: for big logs, serve `export_json` instead.
        """
        pid = _uuid(primary_id)
        head = await self._export_head(pool, pid)
        rows = await pool.fetch(q.SELECT_ENTRY_BYTES, pid, 0, head.size)
        return {
            "format": EXPORT_FORMAT,
            "origin": head.origin,
            "primary": head.primary,
            "vkey": head.vkey,
            "entries": [b64encode(bytes(row["entry"])) for row in rows],
            "checkpoints": head.checkpoints,
        }

    async def export_json(
        self, pool: Database, primary_id: UUID | str, *, chunk_size: int = EXPORT_CHUNK
    ) -> AsyncGenerator[bytes, None]:
        """The export as UTF-8 JSON in pieces, for streaming: their concatenation is exactly
        `json.dumps(export(...), ensure_ascii=False, separators=(",", ":"))`.

        Checkpoints (and raises UnknownLogError) now; the entries are read when iterated,
        `chunk_size` at a time by index range (entries never change, so no transaction is
        held open while a slow client downloads).
        """
        pid = _uuid(primary_id)
        head = await self._export_head(pool, pid)
        return self._export_pieces(pool, pid, head, max(1, chunk_size))

    async def _export_pieces(
        self, pool: Database, pid: UUID, head: _ExportHead, chunk_size: int
    ) -> AsyncGenerator[bytes, None]:
        def dumps(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

        yield (
            f'{{"format":{dumps(EXPORT_FORMAT)},"origin":{dumps(head.origin)},'
            f'"primary":{dumps(head.primary)},"vkey":{dumps(head.vkey)},"entries":['
        ).encode()
        for start in range(0, head.size, chunk_size):
            end = min(head.size, start + chunk_size)
            rows = await pool.fetch(q.SELECT_ENTRY_BYTES, pid, start, end)
            if len(rows) != end - start:
                raise LogError(f"entries {start}..{end - 1} of a checkpointed tree are missing")
            # Base64 never needs escaping in JSON.
            text = '","'.join(b64encode(bytes(row["entry"])) for row in rows)
            yield f'{"," if start else ""}"{text}"'.encode("ascii")
        yield f'],"checkpoints":{dumps(head.checkpoints)}}}'.encode()

    async def primary_id_for_slug(self, db: Database, slug: str) -> UUID | None:
        found: UUID | None = await db.fetchval(q.SELECT_PRIMARY_BY_SLUG, slug)
        return found


@contextlib.asynccontextmanager
async def log_background(app: Any) -> AsyncIterator[None]:
    """Background service (web.app.BACKGROUND_SERVICES): integrates leftover queued entries
    (a caller that crashed before `wait`) and checkpoints growing logs every interval."""
    service: LogService = app.state.log
    task = asyncio.create_task(service.run_background(app.state.pool), name="log-background")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
