"""Fewer indexes on the log's write path (bench/log_append.py).

- `log_queue`: one index instead of two. The primary key becomes (primary_id, id), which
  serves the sequencer's "oldest rows of this log" scan; the separate (primary_id, id) index
  goes.
- `log_entries`: no unique index on queue_id. A waiter that another process served finds
  its entry by leaf hash (already indexed) and tells identical entries apart by queue id.
  Each queue row is deleted by the one sequencer that copies it, under the head lock, so a
  queue id still reaches the log at most once.

Every append inserts into both tables, so each index dropped is one B-tree insertion (and
its WAL) less per entry.
"""

from migrations.sql import execute_script

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE log_queue DROP CONSTRAINT log_queue_pkey;
        DROP INDEX log_queue_primary_id;
        ALTER TABLE log_queue ADD PRIMARY KEY (primary_id, id);
        ALTER TABLE log_entries DROP CONSTRAINT log_entries_queue_id_key;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE log_entries ADD CONSTRAINT log_entries_queue_id_key UNIQUE (queue_id);
        ALTER TABLE log_queue DROP CONSTRAINT log_queue_pkey;
        ALTER TABLE log_queue ADD PRIMARY KEY (id);
        CREATE INDEX log_queue_primary_id ON log_queue (primary_id, id);
        """
    )
