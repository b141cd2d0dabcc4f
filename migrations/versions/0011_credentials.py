"""Voter-held credentials (docs/audit-log.md §8 "Voter-held credentials").

One row per registered key: its public half, the citizen's commitment as logged, whether the
service holds the signing key for the citizen (`assisted`: then `seed` is that key, since the
citizen has no device able to keep one), and when a replacement revoked it. A citizen has at
most one key in force per primary; a key is registered once, ever, in its primary.

`sealed_ballots_cast` holds the SHA-256 of every sealed ballot a device signed and cast (no
account), so that the same signed ballot posted twice is refused instead of appearing twice
in the log (two equal `sealed` strings fail scrutin-audit check 8).
"""

from migrations.sql import execute_script

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE credentials (
            id bigserial PRIMARY KEY,
            primary_id uuid NOT NULL REFERENCES primaries (id) ON DELETE CASCADE,
            account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            public_key bytea NOT NULL CHECK (length(public_key) = 32),
            citizen text NOT NULL,
            assisted boolean NOT NULL DEFAULT false,
            sealed_seed bytea CHECK (sealed_seed IS NULL OR length(sealed_seed) = 72),
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            UNIQUE (primary_id, public_key),
            CHECK (assisted = (sealed_seed IS NOT NULL))
        );
        CREATE UNIQUE INDEX credentials_one_in_force ON credentials (primary_id, account_id)
            WHERE revoked_at IS NULL;
        CREATE TABLE sealed_ballots_cast (
            round_id uuid NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
            digest bytea NOT NULL CHECK (length(digest) = 32),
            PRIMARY KEY (round_id, digest)
        );
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE sealed_ballots_cast; DROP TABLE credentials;")
