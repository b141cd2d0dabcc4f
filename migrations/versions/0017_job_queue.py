"""The job queue: procrastinate's schema (version 3.10.0), so that background work (mail
today) is one queue shared by every process and machine on the database (voting/jobs.py).

The schema is procrastinate's `procrastinate/sql/schema.sql` of that version, kept verbatim
as a vendored file (migrations/vendor/, its hash recorded in VENDORED.md there): the schema
has no other source than this folder (never `procrastinate schema --apply`).
A later procrastinate release that changes its schema ships migration files
(`procrastinate/sql/migrations/`): each becomes an alembic revision here, together with the
pin in pyproject.toml. Mails still waiting in `mail_queue` get their delivery job.
"""

from pathlib import Path

from migrations.sql import execute_script

revision = "0017"
down_revision = "0015"

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "vendor" / "procrastinate-3.10.0-schema.sql"


def upgrade() -> None:
    execute_script(SCHEMA_FILE.read_text(encoding="utf-8"))
    execute_script(
        """
        SELECT procrastinate_defer_jobs_v1(array_agg(
            ROW('mail', 'scrutin.send_mail', 0, NULL, NULL,
                jsonb_build_object('mail_id', id), NULL)::procrastinate_job_to_defer_v1
            ORDER BY id))
        FROM mail_queue WHERE sent_at IS NULL AND failed_at IS NULL
        HAVING count(*) > 0;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
            procrastinate_workers CASCADE;
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || item.signature || ' CASCADE';
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t
                        JOIN pg_namespace n ON n.oid = t.typnamespace
                        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate%'
                          AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE 'DROP TYPE ' || quote_ident(item.typname) || ' CASCADE';
            END LOOP;
        END
        $$;
        """
    )
