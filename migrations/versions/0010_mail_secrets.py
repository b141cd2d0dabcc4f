"""Sign-in links and codes are no longer stored in the mail queue.

A sign-in mail is queued with a reference to its `signin_tokens` row; the sender derives the
link and the code from the service's secret key at sending time (voting/accounts.py), so the
database and its backups never hold them. Every mail's body is blanked once sent (an
eligibility invitation carries its code). Upgrading blanks the bodies of mail already sent,
and drops sign-in mail not yet sent (its link would have to be asked for again).
"""

from migrations.sql import execute_script

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE mail_queue ADD COLUMN signin_token_id uuid
            REFERENCES signin_tokens (id) ON DELETE CASCADE;
        CREATE INDEX mail_queue_signin_token ON mail_queue (signin_token_id)
            WHERE signin_token_id IS NOT NULL;
        UPDATE mail_queue SET body = '' WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;
        UPDATE mail_queue SET subject = 'Scrutin : connexion / sign-in'
            WHERE subject LIKE 'Scrutin : votre code de connexion %';
        DELETE FROM mail_queue
            WHERE sent_at IS NULL AND failed_at IS NULL AND body LIKE '%/signin/link?token=%';
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DELETE FROM mail_queue WHERE signin_token_id IS NOT NULL AND sent_at IS NULL;
        DROP INDEX mail_queue_signin_token;
        ALTER TABLE mail_queue DROP COLUMN signin_token_id;
        """
    )
