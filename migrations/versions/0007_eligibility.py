"""Eligibility that holds: invitation codes for allow-listed numbers, one account per mailbox.

- `scrutin_mailbox_key(address)`: the mailbox an address delivers to. Sub-addressing is
  folded for every domain (`a+tag@example.org` → `a@example.org`); for gmail.com and
  googlemail.com (one service, which ignores dots) dots are folded and the domain is
  gmail.com. An address whose local part would fold to nothing (`+x@…`) is its own key.
  This SQL function is the only definition of the folding (voting.accounts uses it).
- `accounts.mailbox_key` (generated from the e-mail) is unique among accounts that hold
  their mailbox: signing in with any address of a mailbox opens the same account.
- Existing duplicates (several accounts whose addresses reach one mailbox): the oldest
  account (created first, then lowest id) keeps the mailbox. The others are detached:
  `mailbox_holder` names the account that holds their mailbox, their sessions end, they can
  no longer sign in (any address of the mailbox opens the holder) and they are not eligible
  in any primary. What they did before (supports, ballots) stays: the log is append-only;
  organisers can list them with `SELECT * FROM accounts WHERE mailbox_holder IS NOT NULL`.
- Allow-list e-mail entries are stored as mailbox keys (duplicates merged).
- Voter-number entries carry the hash of a one-time invitation code (HMAC keyed with the
  service secret, voting.eligibility) and, once claimed, the account that claimed them
  (one entry per account per primary). The voter number typed on an account's profile no
  longer grants anything: an entry whose number an account had typed is claimed by that
  account here (it is what the service accepted so far), then `accounts.voter_number` goes.
  Unclaimed entries of earlier imports have no code until the list is imported again.

Downgrade puts `accounts.voter_number` back from the claims (one per account); folded
e-mail entries stay folded.
"""

from migrations.sql import execute_script

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    execute_script(
        r"""
        CREATE FUNCTION scrutin_mailbox_key(address text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT CASE WHEN folded = '' THEN address ELSE folded || '@' || domain END
            FROM (
                SELECT CASE WHEN domain = 'gmail.com' THEN replace(base, '.', '')
                            ELSE base END AS folded,
                       domain
                FROM (
                    SELECT split_part(split_part(address, '@', 1), '+', 1) AS base,
                           CASE WHEN split_part(address, '@', 2) = 'googlemail.com'
                                THEN 'gmail.com' ELSE split_part(address, '@', 2) END AS domain
                ) AS parts
            ) AS folding
        $$;

        ALTER TABLE accounts
            ADD COLUMN mailbox_key text GENERATED ALWAYS AS (scrutin_mailbox_key(email)) STORED,
            ADD COLUMN mailbox_holder uuid REFERENCES accounts (id);

        UPDATE accounts AS a SET mailbox_holder = ranked.holder
        FROM (
            SELECT id, first_value(id)
                OVER (PARTITION BY mailbox_key ORDER BY created_at, id) AS holder
            FROM accounts
        ) AS ranked
        WHERE a.id = ranked.id AND ranked.holder <> ranked.id;
        DELETE FROM sessions
            WHERE account_id IN (SELECT id FROM accounts WHERE mailbox_holder IS NOT NULL);
        CREATE UNIQUE INDEX accounts_mailbox_key ON accounts (mailbox_key)
            WHERE mailbox_holder IS NULL;

        DELETE FROM eligibility_entries AS e USING eligibility_entries AS d
            WHERE e.kind = 'email' AND d.kind = 'email' AND e.primary_id = d.primary_id
            AND scrutin_mailbox_key(e.value) = scrutin_mailbox_key(d.value) AND e.value > d.value;
        UPDATE eligibility_entries SET value = scrutin_mailbox_key(value) WHERE kind = 'email';

        ALTER TABLE eligibility_entries
            ADD COLUMN code_hash bytea CHECK (code_hash IS NULL OR kind = 'voter_number'),
            ADD COLUMN claimed_by uuid REFERENCES accounts (id),
            ADD COLUMN claimed_at timestamptz,
            ADD CONSTRAINT eligibility_entries_claim
                CHECK ((claimed_by IS NULL) = (claimed_at IS NULL)
                       AND (claimed_by IS NULL OR kind = 'voter_number'));
        CREATE UNIQUE INDEX eligibility_entries_claimed_by
            ON eligibility_entries (primary_id, claimed_by) WHERE claimed_by IS NOT NULL;

        UPDATE eligibility_entries AS e SET claimed_by = a.id, claimed_at = now()
        FROM accounts AS a
        WHERE e.kind = 'voter_number' AND a.voter_number = e.value;
        ALTER TABLE accounts DROP COLUMN voter_number;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE accounts ADD COLUMN voter_number text UNIQUE
            CHECK (voter_number ~ '^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$');
        UPDATE accounts AS a SET voter_number = c.value
        FROM (
            SELECT DISTINCT ON (claimed_by) claimed_by, value FROM eligibility_entries
            WHERE claimed_by IS NOT NULL ORDER BY claimed_by, claimed_at, value
        ) AS c
        WHERE a.id = c.claimed_by
        AND NOT EXISTS (
            SELECT 1 FROM eligibility_entries AS o
            WHERE o.value = c.value AND o.claimed_by <> c.claimed_by
        );
        DROP INDEX eligibility_entries_claimed_by;
        ALTER TABLE eligibility_entries
            DROP CONSTRAINT eligibility_entries_claim,
            DROP COLUMN claimed_at,
            DROP COLUMN claimed_by,
            DROP COLUMN code_hash;
        DROP INDEX accounts_mailbox_key;
        ALTER TABLE accounts DROP COLUMN mailbox_holder, DROP COLUMN mailbox_key;
        DROP FUNCTION scrutin_mailbox_key(text);
        """
    )
