"""What the domain reads from the public log, without writing SQL against its tables.

Each reader takes a pool or a connection (inside the caller's transaction when it must see
its own writes or hold its locks) and answers plain values or rows.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

Database = asyncpg.Pool | asyncpg.Connection


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
