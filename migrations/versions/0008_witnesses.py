"""Witness cosignatures of the log's checkpoints (docs/witness.md).

One row per (checkpoint, witness): the C2SP tlog-cosignature line the witness answered, kept
as received. The checkpoint served to observers is the log-signed note followed by these
lines. Append-only like the other log tables: a cosignature, once published, stays.
"""

from migrations.sql import execute_script

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE log_cosignatures (
            primary_id uuid NOT NULL,
            size bigint NOT NULL,
            -- The witness's verifier key (C2SP vkey, type 0x04), as in the primary's policy.
            witness text NOT NULL,
            line text NOT NULL CHECK (line LIKE '— %' AND right(line, 1) = E'\\n'),
            created_at timestamptz NOT NULL DEFAULT now(),
            -- No foreign key to log_checkpoints: it would make TRUNCATE of that table fail
            -- on the key rather than on its append-only trigger; the service inserts a
            -- cosignature only for a checkpoint it read.
            PRIMARY KEY (primary_id, size, witness)
        );
        -- The latest size each witness cosigned (the next submission's old size).
        CREATE INDEX log_cosignatures_witness ON log_cosignatures (primary_id, witness, size);
        CREATE TRIGGER log_cosignatures_append_only BEFORE UPDATE OR DELETE
            ON log_cosignatures FOR EACH ROW EXECUTE FUNCTION log_refuse_change();
        CREATE TRIGGER log_cosignatures_no_truncate BEFORE TRUNCATE ON log_cosignatures
            FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change();
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE log_cosignatures;")
