"""Trustees of encrypted ballots (issue 14; docs/audit-log.md §10).

The service keeps only public data about the key ceremony and the encrypted tally, each row
mirroring an entry of the log: the registered trustees (their public keys), the body each
posted at key generation (commitments, proof, shares sealed to the other trustees) and its
acknowledgement, the election key, the published sums of a round's ciphertexts and each
trustee's decryption shares. No secret of any trustee is ever stored: a share travels only
inside a NaCl box to its recipient.
"""

from migrations.sql import execute_script

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE trustees (
            primary_id uuid NOT NULL REFERENCES primaries (id),
            index integer NOT NULL CHECK (index >= 1),
            name text NOT NULL,
            signing_key bytea NOT NULL CHECK (length(signing_key) = 32),
            box_key bytea NOT NULL CHECK (length(box_key) = 32),
            -- The trustee-keygen and trustee-ack bodies, as logged (trustee-signed).
            keygen jsonb,
            ack jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, index),
            UNIQUE (primary_id, signing_key),
            UNIQUE (primary_id, box_key)
        );

        CREATE TABLE election_keys (
            primary_id uuid PRIMARY KEY REFERENCES primaries (id),
            public_key bytea NOT NULL CHECK (length(public_key) = 32),
            -- h_1 … h_n, base64 strings in trustee order, as in the election-key entry.
            verification_keys jsonb NOT NULL,
            threshold integer NOT NULL CHECK (threshold >= 1),
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE tally_sums (
            primary_id uuid NOT NULL REFERENCES primaries (id),
            round integer NOT NULL CHECK (round >= 1),
            -- The tally-sums body, as logged.
            body jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, round)
        );

        CREATE TABLE trustee_decryptions (
            primary_id uuid NOT NULL,
            round integer NOT NULL,
            index integer NOT NULL,
            -- The trustee-decryption body, as logged (trustee-signed, proofs checked).
            body jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, round, index),
            FOREIGN KEY (primary_id, round) REFERENCES tally_sums (primary_id, round),
            FOREIGN KEY (primary_id, index) REFERENCES trustees (primary_id, index)
        );
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP TABLE trustee_decryptions; DROP TABLE tally_sums; "
        "DROP TABLE election_keys; DROP TABLE trustees;"
    )
