"""Base tables: accounts and primaries."""

from migrations.sql import execute_script

revision = "0001"
down_revision = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE accounts (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            email text NOT NULL UNIQUE
                CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
            display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 120),
            is_organiser boolean NOT NULL DEFAULT false,
            password_hash text,
            email_verified_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE primaries (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
            title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
            description text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
            definition jsonb NOT NULL,
            revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
            created_by uuid REFERENCES accounts (id),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE primaries; DROP TABLE accounts;")
