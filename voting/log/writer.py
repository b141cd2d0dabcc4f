"""Writing a log: its keys, its creation, and signing and queueing entries in the caller's
transaction (docs/audit-log.md §3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from crypto import tiles
from crypto.entries import make_entry
from crypto.keys import LogKey
from crypto.merkle import EMPTY_ROOT, leaf_hash
from crypto.note import Checkpoint, format_verifier_key, sign_checkpoint
from voting.entry_kinds import EntryBody, kind_of
from voting.log import queries as q
from voting.log.model import (
    Database,
    EntryTooLarge,
    LogError,
    Queued,
    UnknownLogError,
    _Round,
    _uuid,
)
from voting.log.readers import LogReader


class LogWriter(LogReader):
    """Keys, log creation and `append`."""

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

    def origin_for(self, slug: str) -> str:
        return f"{self.public_host}/primaries/{slug}"

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
        body: Mapping[str, object] | None = None,
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
            name = kind_of(kind).kind  # an unknown kind is a programming error: refused here
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
