"""SQL of the log service (voting/log/service.py), kept together. Tables: migrations 0002."""

from __future__ import annotations

INSERT_LOG = """
INSERT INTO logs (primary_id, origin, public_key, sealed_key, tree_size, root, compact_range)
VALUES ($1, $2, $3, $4, 0, $5, '{}')
"""

INSERT_CHECKPOINT = """
INSERT INTO log_checkpoints (primary_id, size, root, note)
VALUES ($1, $2, $3, $4)
ON CONFLICT (primary_id, size) DO NOTHING
"""

SELECT_KEY = "SELECT origin, public_key, sealed_key FROM logs WHERE primary_id = $1"

SELECT_HEAD = """
SELECT origin, public_key, tree_size, root, compact_range FROM logs WHERE primary_id = $1
"""

# FOR NO KEY UPDATE, not FOR UPDATE: appends insert queue rows whose foreign key takes
# FOR KEY SHARE on this row, which FOR UPDATE would block (and queue behind the sequencer).
LOCK_HEAD = """
SELECT tree_size, compact_range FROM logs WHERE primary_id = $1 FOR NO KEY UPDATE
"""

UPDATE_HEAD = """
UPDATE logs SET tree_size = $2, root = $3, compact_range = $4, updated_at = now()
WHERE primary_id = $1
"""

INSERT_QUEUE = """
INSERT INTO log_queue (primary_id, kind, entry) VALUES ($1, $2, $3) RETURNING id
"""

# Under the head lock only one sequencer runs per log: take the oldest committed rows in one
# round trip (RETURNING order is unspecified: the caller sorts by id). `= ANY(ARRAY(…))`, not
# `IN (SELECT …)`: the queue's statistics usually say "empty", and the planner then picks a
# nested-loop semi join that is quadratic in the batch size.
TAKE_QUEUE_BATCH = """
DELETE FROM log_queue WHERE primary_id = $1 AND id = ANY(ARRAY(
    SELECT id FROM log_queue WHERE primary_id = $1 ORDER BY id LIMIT $2))
RETURNING id, kind, entry
"""

QUEUE_NOT_EMPTY = "SELECT EXISTS (SELECT 1 FROM log_queue WHERE primary_id = $1)"

DELETE_ORPHAN_QUEUE = """
DELETE FROM log_queue q WHERE NOT EXISTS (SELECT 1 FROM logs l WHERE l.primary_id = q.primary_id)
"""

# Found by leaf hash (indexed), told apart by queue id (identical entries share a hash).
SELECT_INTEGRATED = """
SELECT e.queue_id, e.idx, l.tree_size FROM log_entries e JOIN logs l USING (primary_id)
WHERE e.primary_id = $1 AND e.leaf_hash = ANY($2::bytea[]) AND e.queue_id = ANY($3::bigint[])
"""

SELECT_QUEUED_LOGS = "SELECT DISTINCT primary_id FROM log_queue"

SELECT_LOGS_NEEDING_CHECKPOINT = """
SELECT l.primary_id FROM logs l
WHERE l.tree_size > coalesce(
    (SELECT max(c.size) FROM log_checkpoints c WHERE c.primary_id = l.primary_id), -1)
"""

SELECT_LEAF_HASHES = """
SELECT idx, leaf_hash FROM log_entries
WHERE primary_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx
"""

SELECT_TILE_ROOTS = """
SELECT idx, root FROM log_tiles
WHERE primary_id = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx
"""

SELECT_FULL_TILES = """
SELECT t.level, t.idx, t.hashes FROM log_tiles t
JOIN unnest($2::smallint[], $3::bigint[]) AS want (level, idx)
  ON t.level = want.level AND t.idx = want.idx
WHERE t.primary_id = $1
"""

# A checkpoint as published: the log-signed note followed by its witness cosignature lines
# (migration 0008), in the order they arrived.
_COSIGNED_NOTE = """c.note || coalesce((
    SELECT string_agg(w.line, '' ORDER BY w.created_at, w.witness) FROM log_cosignatures w
    WHERE w.primary_id = c.primary_id AND w.size = c.size), '') AS note"""

SELECT_LATEST_CHECKPOINT = f"""
SELECT c.size, c.root, {_COSIGNED_NOTE}
FROM log_checkpoints c WHERE c.primary_id = $1 ORDER BY c.size DESC LIMIT 1
"""

SELECT_CHECKPOINTS = f"""
SELECT c.size, {_COSIGNED_NOTE} FROM log_checkpoints c WHERE c.primary_id = $1 ORDER BY c.size
"""

SELECT_ENTRIES = """
SELECT idx, leaf_hash, entry, kind FROM log_entries
WHERE primary_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx
"""

SELECT_ENTRY_BYTES = """
SELECT entry FROM log_entries WHERE primary_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx
"""

SELECT_ENTRY = """
SELECT idx, leaf_hash, entry, kind FROM log_entries WHERE primary_id = $1 AND idx = $2
"""

SELECT_ENTRY_BY_HASH = """
SELECT idx, leaf_hash, entry, kind FROM log_entries
WHERE primary_id = $1 AND leaf_hash = $2 ORDER BY idx LIMIT 1
"""

# Entries of one kind whose leaf hash starts with a prefix: between the prefix padded with 0s
# and with fs, on the leaf-hash index.
SELECT_ENTRIES_BY_HASH_PREFIX = """
SELECT idx, leaf_hash, entry, kind FROM log_entries
WHERE primary_id = $1 AND leaf_hash BETWEEN $2 AND $3 AND kind = $4
ORDER BY leaf_hash, idx LIMIT $5
"""

SELECT_PRIMARY_BY_SLUG = "SELECT id FROM primaries WHERE slug = $1"

# The first integrated entry of a kind whose body names round $3 (a round's `tally-sums`).
SELECT_ROUND_ENTRY = """
SELECT idx, leaf_hash, entry, kind FROM log_entries
WHERE primary_id = $1 AND kind = $2
  AND (convert_from(entry, 'UTF8')::jsonb #>> '{body,round}')::int = $3
ORDER BY idx LIMIT 1
"""
