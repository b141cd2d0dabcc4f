"""Restarts of a key ceremony (docs/audit-log.md §10 item 5).

A ceremony that gave no election key (a complaint, a trustee who lost their folder) may be
restarted by the organiser: each restart is kept with the attempt it started, the trustees
it replaced and the organiser's reason, as its `ceremony-restart` entry says. A replaced
trustee leaves `trustees` for `replaced_trustees`, keys included, so that registration
refuses their reuse by any later trustee of the primary.
"""

from migrations.sql import execute_script

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE ceremony_restarts (
            primary_id uuid NOT NULL REFERENCES primaries (id),
            attempt integer NOT NULL CHECK (attempt >= 2),
            replaced integer[] NOT NULL,
            reason text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, attempt)
        );

        CREATE TABLE replaced_trustees (
            primary_id uuid NOT NULL,
            -- The attempt whose restart replaced this trustee.
            attempt integer NOT NULL,
            index integer NOT NULL CHECK (index >= 1),
            name text NOT NULL,
            signing_key bytea NOT NULL CHECK (length(signing_key) = 32),
            box_key bytea NOT NULL CHECK (length(box_key) = 32),
            registered_at timestamptz NOT NULL,
            PRIMARY KEY (primary_id, attempt, index),
            FOREIGN KEY (primary_id, attempt) REFERENCES ceremony_restarts (primary_id, attempt)
        );
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE replaced_trustees; DROP TABLE ceremony_restarts;")
