"""Voting rounds, tally keys, voters marked as voted, subset exposure, results.

Ballot secrecy in the schema:

- Ballots live only in the public log, sealed to the round's tally public key. The tally
  secret key is stored only sealed with the organiser's passphrase (Argon2id + SecretBox),
  or not at all when the organiser took it as a file.
- `voters_voted` says who voted in a round, nothing else: no ballot id, no tracker, no
  timestamp. At close its rows are rewritten in random order so that the physical row
  order (and transaction ids) no longer follow the order in which ballots reached the log.
- `round_assignments` (which candidates a voter was given on a subset round) would let
  anyone who can open the ballots match a ballot to a voter by its set of graded
  candidates, so it is deleted in the close transaction, before the tally key can be
  revealed; only per-candidate counts (`round_exposure`) stay.
"""

from migrations.sql import execute_script

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE rounds (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            primary_id uuid NOT NULL REFERENCES primaries (id),
            number integer NOT NULL CHECK (number >= 1),
            status text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'closed', 'tallied')),
            -- The frozen list, exactly as in the round-open entry: [{candidate, name,
            -- declaration}], in the order given there.
            candidates jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
            -- The definition in force at opening (grades, rule, policies): the tally uses it.
            definition jsonb NOT NULL,
            subset_size integer NOT NULL DEFAULT 0 CHECK (subset_size >= 0),
            allow_blank boolean NOT NULL,
            -- Every sealed ballot plaintext of the round is padded to this many bytes.
            pad_to integer NOT NULL CHECK (pad_to > 0),
            tally_public_key bytea NOT NULL CHECK (length(tally_public_key) = 32),
            key_custody text NOT NULL CHECK (key_custody IN ('passphrase', 'file')),
            -- The X25519 secret sealed with the organiser's passphrase (crypto.keys);
            -- NULL when the organiser took the key as a file. Never in clear.
            sealed_tally_key bytea,
            closes_at timestamptz,
            opened_by uuid REFERENCES accounts (id),
            opened_at timestamptz NOT NULL DEFAULT now(),
            closed_at timestamptz,
            turnout integer CHECK (turnout >= 0),
            tallied_at timestamptz,
            UNIQUE (primary_id, number),
            CHECK ((key_custody = 'passphrase') = (sealed_tally_key IS NOT NULL)),
            CHECK (status = 'open' OR (closed_at IS NOT NULL AND turnout IS NOT NULL))
        );
        -- One round at a time per primary.
        CREATE UNIQUE INDEX rounds_one_open ON rounds (primary_id) WHERE status = 'open';

        -- Who has voted in a round. No link to the ballot, no time: see the module docstring.
        CREATE TABLE voters_voted (
            round_id uuid NOT NULL REFERENCES rounds (id),
            account_id uuid NOT NULL REFERENCES accounts (id),
            PRIMARY KEY (round_id, account_id)
        );

        -- How many voters were shown each candidate (subset rounds): the balanced draw.
        CREATE TABLE round_exposure (
            round_id uuid NOT NULL REFERENCES rounds (id),
            candidate text NOT NULL,
            shown integer NOT NULL DEFAULT 0 CHECK (shown >= 0),
            PRIMARY KEY (round_id, candidate)
        );

        -- Each voter's subset, fixed at first visit; deleted when the round closes.
        CREATE TABLE round_assignments (
            round_id uuid NOT NULL REFERENCES rounds (id),
            account_id uuid NOT NULL REFERENCES accounts (id),
            candidates jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
            PRIMARY KEY (round_id, account_id)
        );

        -- The published result (the body of the result entry) and what the pages need.
        CREATE TABLE round_results (
            round_id uuid PRIMARY KEY REFERENCES rounds (id),
            result_index bigint NOT NULL,
            body jsonb NOT NULL,
            -- Plain-language tie-break explanations per language: {"fr": [...], "en": [...]}.
            explanations jsonb NOT NULL,
            -- Trackers (leaf hash hex) of the ballots found invalid at opening.
            invalid_trackers jsonb NOT NULL DEFAULT '[]',
            tallied_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE round_results;
        DROP TABLE round_assignments;
        DROP TABLE round_exposure;
        DROP TABLE voters_voted;
        DROP TABLE rounds;
        """
    )
