"""Accounts: sign-in tokens, sessions, mail queue, eligibility."""

from migrations.sql import execute_script

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE accounts
            ADD COLUMN last_login_at timestamptz,
            ADD COLUMN voter_number text UNIQUE
                CHECK (voter_number ~ '^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$');

        -- One row per e-mailed sign-in: a long link token and a short code, both stored
        -- hashed; used_at makes each row single-use (set by an atomic UPDATE).
        CREATE TABLE signin_tokens (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
            link_hash bytea NOT NULL UNIQUE,
            code_hash bytea NOT NULL,
            failed_attempts integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        );
        CREATE INDEX signin_tokens_email ON signin_tokens (email) WHERE used_at IS NULL;

        -- Server-side sessions: the cookie carries a random token, the table its hash, so
        -- that signing out (or deleting an account) ends the session everywhere.
        CREATE TABLE sessions (
            token_hash bytea PRIMARY KEY,
            account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        );
        CREATE INDEX sessions_account ON sessions (account_id);

        CREATE TABLE mail_queue (
            id bigserial PRIMARY KEY,
            recipient text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
            subject text NOT NULL CHECK (length(subject) <= 300),
            body text NOT NULL CHECK (length(body) <= 100000),
            created_at timestamptz NOT NULL DEFAULT now(),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_error text,
            sent_at timestamptz,
            failed_at timestamptz
        );
        CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at)
            WHERE sent_at IS NULL AND failed_at IS NULL;

        -- Allow-list of a primary: e-mails or voter numbers, replaced as a whole by an import.
        CREATE TABLE eligibility_entries (
            primary_id uuid NOT NULL REFERENCES primaries (id) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('email', 'voter_number')),
            value text NOT NULL CHECK (length(value) BETWEEN 1 AND 254),
            imported_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, kind, value)
        );

        -- Approval ladder: a citizen asks, an organiser approves or refuses.
        CREATE TABLE eligibility_requests (
            primary_id uuid NOT NULL REFERENCES primaries (id) ON DELETE CASCADE,
            account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'refused')),
            requested_at timestamptz NOT NULL DEFAULT now(),
            decided_at timestamptz,
            decided_by uuid REFERENCES accounts (id),
            PRIMARY KEY (primary_id, account_id)
        );
        CREATE INDEX eligibility_requests_pending ON eligibility_requests (primary_id)
            WHERE status = 'pending';
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE eligibility_requests;
        DROP TABLE eligibility_entries;
        DROP TABLE mail_queue;
        DROP TABLE sessions;
        DROP TABLE signin_tokens;
        ALTER TABLE accounts DROP COLUMN voter_number, DROP COLUMN last_login_at;
        """
    )
