"""What the domain reads from the public log, without writing SQL against its tables.

Each reader takes a pool or a connection (inside the caller's transaction when it must see
its own writes or hold its locks) and answers plain values or rows. `LogReader` is the log
service's own reads (heads, checkpoints, entries), the base of `LogService`.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from crypto import merkle
from voting.log import queries as q
from voting.log.model import (
    _HEX,
    Database,
    LogEntry,
    LogRangeError,
    SignedCheckpoint,
    TreeHead,
    UnknownLogError,
    _check_int,
    _entry,
    _uuid,
)


async def origin(db: Database, primary_id: UUID) -> str | None:
    """The log's origin line (docs/audit-log.md §2), None if the primary has no log."""
    found: str | None = await db.fetchval(
        "SELECT origin FROM logs WHERE primary_id = $1", primary_id
    )
    return found


async def count_round_ballots(db: Database, primary_id: UUID, number: int) -> int:
    """Ballot entries of a round in the log, integrated or still queued (committed); a
    voter's revotes count once (one per credential, docs/audit-log.md §8 "Revoting")."""
    count: int = await db.fetchval(
        """
        SELECT count(DISTINCT coalesce(credential, source || id)) FROM (
            SELECT 'entry:' AS source, idx::text AS id,
                   convert_from(entry, 'UTF8')::jsonb #>> '{body,credential}' AS credential
              FROM log_entries
             WHERE primary_id = $1 AND kind = 'ballot'
               AND (convert_from(entry, 'UTF8')::jsonb #>> '{body,round}')::int = $2
            UNION ALL
            SELECT 'queue:', id::text,
                   convert_from(entry, 'UTF8')::jsonb #>> '{body,credential}'
              FROM log_queue
             WHERE primary_id = $1 AND kind = 'ballot'
               AND (convert_from(entry, 'UTF8')::jsonb #>> '{body,round}')::int = $2
        ) AS ballots
        """,
        primary_id,
        number,
    )
    return count


async def ballot_rows(
    db: Database, primary_id: UUID, *, before: int | None = None
) -> list[asyncpg.Record]:
    """Integrated ballot entries (idx, leaf_hash, entry), in log order, before index `before`."""
    return await db.fetch(
        """
        SELECT idx, leaf_hash, entry FROM log_entries
        WHERE primary_id = $1 AND kind = 'ballot' AND ($2::bigint IS NULL OR idx < $2)
        ORDER BY idx
        """,
        primary_id,
        before,
    )


async def round_close_index(db: Database, primary_id: UUID, number: int) -> int | None:
    """Index of the integrated `round-close` entry of round `number`, if any."""
    index: int | None = await db.fetchval(
        """
        SELECT max(idx) FROM log_entries
        WHERE primary_id = $1 AND kind = 'round-close'
          AND (convert_from(entry, 'UTF8')::jsonb #>> '{body,round}')::int = $2
        """,
        primary_id,
        number,
    )
    return index


async def key_rows(db: Database, primary_id: UUID, key: str) -> list[asyncpg.Record]:
    """Entries telling a voter key's history (idx, kind, leaf_hash, body): every credential
    and roll entry, and the ballots signed with `key` (base64), in log order."""
    return await db.fetch(
        """
        SELECT idx, kind, leaf_hash, convert_from(entry, 'UTF8')::jsonb -> 'body' AS body
        FROM log_entries
        WHERE primary_id = $1 AND (
            kind IN ('credential', 'roll')
            OR (kind = 'ballot' AND convert_from(entry, 'UTF8')::jsonb #>> '{body,credential}' = $2)
        )
        ORDER BY idx
        """,
        primary_id,
        key,
    )


async def ballots_by_tracker(db: Database, primary_id: UUID, tracker: str) -> list[asyncpg.Record]:
    """Ballot entries (idx, leaf_hash, entry) whose tracker starts with `tracker` (hex digits,
    any length), at most two (two mean the prefix is ambiguous). Every digit counts, an odd
    last one too: the leaf hashes between the prefix padded with 0s and with fs."""
    low = bytes.fromhex(tracker.ljust(64, "0"))
    high = bytes.fromhex(tracker.ljust(64, "f"))
    return await db.fetch(
        """
        SELECT idx, leaf_hash, entry FROM log_entries
        WHERE primary_id = $1 AND leaf_hash BETWEEN $2 AND $3 AND kind = 'ballot'
        ORDER BY leaf_hash, idx LIMIT 2
        """,
        primary_id,
        low,
        high,
    )


async def round_entry(db: Database, primary_id: UUID, kind: str, number: int) -> LogEntry | None:
    """The first integrated entry of `kind` whose body is about round `number` (a round's
    `tally-sums`, which trustees decrypt), or None."""
    row = await db.fetchrow(q.SELECT_ROUND_ENTRY, primary_id, kind, number)
    return None if row is None else _entry(row)


class LogReader:
    """The log service's reads: heads, checkpoints, entries (base of `LogService`)."""

    async def head(self, db: Database, primary_id: UUID | str) -> TreeHead:
        pid = _uuid(primary_id)
        row = await db.fetchrow(q.SELECT_HEAD, pid)
        if row is None:
            raise UnknownLogError(f"primary {pid} has no log")
        return TreeHead(row["origin"], row["tree_size"], bytes(row["root"]))

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

    async def primary_id_for_slug(self, db: Database, slug: str) -> UUID | None:
        found: UUID | None = await db.fetchval(q.SELECT_PRIMARY_BY_SLUG, slug)
        return found
