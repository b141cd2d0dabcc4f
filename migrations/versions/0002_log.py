"""Public log: tree head, queue, entries, tiles, checkpoints (docs/audit-log.md).

`log_entries`, `log_tiles` and `log_checkpoints` are append-only: a trigger refuses UPDATE,
DELETE and TRUNCATE on them, as a second line of defence behind the service code.
"""

from migrations.sql import execute_script

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    execute_script(
        """
        -- One log per primary. The row is the tree head: the sequencer takes a row lock on it
        -- (FOR NO KEY UPDATE), which serialises integration across processes.
        CREATE TABLE logs (
            primary_id uuid PRIMARY KEY REFERENCES primaries (id),
            origin text NOT NULL UNIQUE CHECK (origin ~ '^[!-*,-~]+$'),
            public_key bytea NOT NULL CHECK (length(public_key) = 32),
            -- The Ed25519 seed sealed with the service secret (crypto.keys); never in clear.
            sealed_key bytea NOT NULL,
            tree_size bigint NOT NULL DEFAULT 0 CHECK (tree_size >= 0),
            root bytea NOT NULL CHECK (length(root) = 32),
            -- Right edge of the tree: one perfect-subtree hash per set bit of tree_size,
            -- largest first (crypto.merkle.CompactRange).
            compact_range bytea[] NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        -- Signed entries waiting for an index. A row exists iff the caller's transaction
        -- committed; the sequencer moves committed rows into log_entries in id order.
        -- No foreign key on purpose: its check would take FOR KEY SHARE on the one hot logs
        -- row in every concurrent append (a MultiXact each time); the sequencer checks the
        -- log exists under its lock instead.
        CREATE TABLE log_queue (
            id bigserial PRIMARY KEY,
            primary_id uuid NOT NULL,
            kind text NOT NULL,
            entry bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65535),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX log_queue_primary_id ON log_queue (primary_id, id);

        CREATE TABLE log_entries (
            primary_id uuid NOT NULL REFERENCES logs (primary_id),
            idx bigint NOT NULL CHECK (idx >= 0),
            leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
            entry bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65535),
            kind text NOT NULL,
            queue_id bigint NOT NULL UNIQUE,
            integrated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, idx)
        );
        CREATE INDEX log_entries_leaf_hash ON log_entries (primary_id, leaf_hash);

        -- Full C2SP tiles (height 8): 256 hashes of Merkle level 8*level, and the tile's own
        -- root (= hash number idx at Merkle level 8*(level+1)). Partial tiles are assembled
        -- from log_entries (level 0) or from the roots of the level below.
        CREATE TABLE log_tiles (
            primary_id uuid NOT NULL REFERENCES logs (primary_id),
            level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
            idx bigint NOT NULL CHECK (idx >= 0),
            hashes bytea NOT NULL CHECK (length(hashes) = 8192),
            root bytea NOT NULL CHECK (length(root) = 32),
            PRIMARY KEY (primary_id, level, idx)
        );

        CREATE TABLE log_checkpoints (
            primary_id uuid NOT NULL REFERENCES logs (primary_id),
            size bigint NOT NULL CHECK (size >= 0),
            root bytea NOT NULL CHECK (length(root) = 32),
            note text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, size)
        );

        CREATE FUNCTION log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the public log is append-only: % on % is refused',
                TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;

        CREATE TRIGGER log_entries_append_only BEFORE UPDATE OR DELETE ON log_entries
            FOR EACH ROW EXECUTE FUNCTION log_refuse_change();
        CREATE TRIGGER log_entries_no_truncate BEFORE TRUNCATE ON log_entries
            FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change();
        CREATE TRIGGER log_tiles_append_only BEFORE UPDATE OR DELETE ON log_tiles
            FOR EACH ROW EXECUTE FUNCTION log_refuse_change();
        CREATE TRIGGER log_tiles_no_truncate BEFORE TRUNCATE ON log_tiles
            FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change();
        CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
            FOR EACH ROW EXECUTE FUNCTION log_refuse_change();
        CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
            FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE log_checkpoints;
        DROP TABLE log_tiles;
        DROP TABLE log_entries;
        DROP TABLE log_queue;
        DROP TABLE logs;
        DROP FUNCTION log_refuse_change();
        """
    )
