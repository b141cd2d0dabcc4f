"""Primaries' candidacies, declarations and supports."""

from migrations.sql import execute_script

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE primaries
            ADD COLUMN charter text NOT NULL DEFAULT '' CHECK (length(charter) <= 20000),
            ADD COLUMN voting_started boolean NOT NULL DEFAULT false,
            ADD COLUMN supports_closed_at timestamptz,
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

        -- Every revision of the definition, as appended to the log (the row in primaries
        -- holds the latest one).
        CREATE TABLE primary_definitions (
            primary_id uuid NOT NULL REFERENCES primaries (id) ON DELETE CASCADE,
            revision integer NOT NULL CHECK (revision >= 1),
            definition jsonb NOT NULL,
            created_by uuid REFERENCES accounts (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (primary_id, revision)
        );

        CREATE TABLE candidacies (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            primary_id uuid NOT NULL REFERENCES primaries (id) ON DELETE CASCADE,
            account_id uuid NOT NULL REFERENCES accounts (id),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
            bio text NOT NULL DEFAULT '' CHECK (length(bio) <= 1000),
            programme text NOT NULL DEFAULT '' CHECK (length(programme) <= 20000),
            links jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(links) = 'array'),
            photo bytea CHECK (octet_length(photo) <= 1048576),
            photo_type text CHECK (photo_type IN ('image/png', 'image/jpeg')),
            charter_accepted_at timestamptz NOT NULL,
            status text NOT NULL DEFAULT 'draft'
                CONSTRAINT candidacies_status_check CHECK (status IN (
                    'draft', 'submitted', 'published', 'rejected', 'qualified',
                    'confirmed', 'declined', 'withdrawn', 'excluded')),
            status_reason text NOT NULL DEFAULT '' CHECK (length(status_reason) <= 2000),
            declaration text NOT NULL CHECK (declaration ~ '^[0-9a-f]{64}$'),
            version integer NOT NULL DEFAULT 0 CHECK (version >= 0),
            support_count integer NOT NULL DEFAULT 0 CHECK (support_count >= 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            submitted_at timestamptz,
            published_at timestamptz,
            qualified_at timestamptz,
            CHECK ((photo IS NULL) = (photo_type IS NULL))
        );
        CREATE INDEX candidacies_primary_status ON candidacies (primary_id, status);
        -- One live candidacy per citizen and primary (a rejected or withdrawn one may be
        -- followed by a new declaration).
        CREATE UNIQUE INDEX candidacies_one_live_per_account ON candidacies (primary_id, account_id)
            WHERE status NOT IN ('rejected', 'withdrawn', 'excluded', 'declined');

        -- The public versions of a declaration: version 1 is the submitted one, each revision
        -- adds the next; what the log's `declaration` hashes refer to.
        CREATE TABLE candidacy_versions (
            candidacy_id uuid NOT NULL REFERENCES candidacies (id) ON DELETE CASCADE,
            version integer NOT NULL CHECK (version >= 1),
            name text NOT NULL,
            bio text NOT NULL,
            programme text NOT NULL,
            links jsonb NOT NULL,
            photo_sha256 text NOT NULL DEFAULT '',
            declaration text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (candidacy_id, version)
        );

        -- Active supports; a withdrawal deletes the row (the log keeps the history).
        CREATE TABLE supports (
            candidacy_id uuid NOT NULL REFERENCES candidacies (id) ON DELETE CASCADE,
            account_id uuid NOT NULL REFERENCES accounts (id),
            primary_id uuid NOT NULL REFERENCES primaries (id) ON DELETE CASCADE,
            supporter text NOT NULL CHECK (supporter ~ '^[0-9a-f]{64}$'),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (candidacy_id, account_id)
        );
        CREATE INDEX supports_by_account ON supports (primary_id, account_id);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE supports;
        DROP TABLE candidacy_versions;
        DROP TABLE candidacies;
        DROP TABLE primary_definitions;
        ALTER TABLE primaries
            DROP COLUMN charter,
            DROP COLUMN voting_started,
            DROP COLUMN supports_closed_at,
            DROP COLUMN updated_at;
        """
    )
