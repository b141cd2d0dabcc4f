"""Encrypted rounds (issue 14): a round of a primary with `ballots: "encrypted"` keeps the
election key of its `round-open` in `tally_public_key` with the custody `trustees`: no tally
secret exists anywhere, sealed or not (docs/audit-log.md §10).
"""

from migrations.sql import execute_script

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE rounds DROP CONSTRAINT rounds_key_custody_check;
        ALTER TABLE rounds ADD CONSTRAINT rounds_key_custody_check
            CHECK (key_custody IN ('passphrase', 'file', 'trustees'));
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE rounds DROP CONSTRAINT rounds_key_custody_check;
        ALTER TABLE rounds ADD CONSTRAINT rounds_key_custody_check
            CHECK (key_custody IN ('passphrase', 'file'));
        """
    )
