"""A qualified candidacy that was not confirmed when round 1 opened lapses.

Opening round 1 closes the list of candidates: every candidacy still `qualified` (its
candidate neither confirmed nor declined) becomes `lapsed`, and the log says so with a
`candidacy` entry of action `lapsed` (docs/audit-log.md §8), so that nobody is left off the
ballot silently. A lapsed candidacy is closed like a declined one: it no longer counts as
its citizen's live candidacy in the primary.

Downgrade turns lapsed candidacies back into qualified ones (the log keeps its entries).
"""

from migrations.sql import execute_script

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE candidacies DROP CONSTRAINT candidacies_status_check;
        ALTER TABLE candidacies ADD CONSTRAINT candidacies_status_check CHECK (status IN (
            'draft', 'submitted', 'published', 'rejected', 'qualified',
            'confirmed', 'declined', 'withdrawn', 'excluded', 'lapsed'));
        DROP INDEX candidacies_one_live_per_account;
        CREATE UNIQUE INDEX candidacies_one_live_per_account ON candidacies (primary_id, account_id)
            WHERE status NOT IN ('rejected', 'withdrawn', 'excluded', 'declined', 'lapsed');
        """
    )


def downgrade() -> None:
    execute_script(
        """
        UPDATE candidacies SET status = 'qualified' WHERE status = 'lapsed';
        DROP INDEX candidacies_one_live_per_account;
        CREATE UNIQUE INDEX candidacies_one_live_per_account ON candidacies (primary_id, account_id)
            WHERE status NOT IN ('rejected', 'withdrawn', 'excluded', 'declined');
        ALTER TABLE candidacies DROP CONSTRAINT candidacies_status_check;
        ALTER TABLE candidacies ADD CONSTRAINT candidacies_status_check CHECK (status IN (
            'draft', 'submitted', 'published', 'rejected', 'qualified',
            'confirmed', 'declined', 'withdrawn', 'excluded'));
        """
    )
