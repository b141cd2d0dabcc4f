"""Notifications: each account's language and mail choices, and mail headers.

`accounts.lang` is the language its mail is written in (the language of the pages it last
used); `accounts.mail_opt_out` lists the kinds of notification it does not want (every kind
is on by default); `accounts.mail_key` keys the HMAC of its one-click unsubscribe links, so
that a link works without signing in and can be revoked by drawing a new key. A queued mail
may carry extra headers (List-Unsubscribe and List-Unsubscribe-Post, RFC 8058).
"""

from migrations.sql import execute_script

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE accounts
            ADD COLUMN lang text NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en')),
            ADD COLUMN mail_opt_out text[] NOT NULL DEFAULT '{}',
            ADD COLUMN mail_key bytea;
        ALTER TABLE mail_queue ADD COLUMN headers jsonb;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE mail_queue DROP COLUMN headers;
        ALTER TABLE accounts DROP COLUMN mail_key, DROP COLUMN mail_opt_out, DROP COLUMN lang;
        """
    )
