"""Rate limits shared by every process and machine on one database.

With `scrutin serve --workers N` (or SCRUTIN_SHARED_RATE_LIMITS=true) the sliding windows of
web/ratelimit.py live here instead of in each process's memory, so that N processes allow
what one would. `scrutin_rate_hit(bucket, key, limit, per_seconds, count)` answers in one
round trip: 0 when a hit is allowed (and counts it when `count`), else the seconds to wait.
An advisory lock per (bucket, key) makes concurrent hits from several processes count one
after the other. The table is UNLOGGED: limits need no crash safety, and writes stay cheap.
"""

from migrations.sql import execute_script

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    execute_script(
        """
        CREATE UNLOGGED TABLE rate_limit_hits (
            bucket text NOT NULL,
            key text NOT NULL,
            hit_at timestamptz NOT NULL
        );
        CREATE INDEX rate_limit_hits_window ON rate_limit_hits (bucket, key, hit_at);
        CREATE INDEX rate_limit_hits_age ON rate_limit_hits (hit_at);

        CREATE FUNCTION scrutin_rate_hit(
            p_bucket text, p_key text, p_limit integer, p_per double precision, p_count boolean
        ) RETURNS double precision LANGUAGE plpgsql AS $$
        DECLARE
            moment timestamptz := clock_timestamp();
            edge timestamptz;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtextextended(p_bucket || chr(1) || p_key, 17));
            DELETE FROM rate_limit_hits
                WHERE bucket = p_bucket AND key = p_key
                AND hit_at <= moment - make_interval(secs => p_per);
            -- the p_limit-th most recent hit: while it is in the window, wait for it to leave
            SELECT hit_at INTO edge FROM rate_limit_hits
                WHERE bucket = p_bucket AND key = p_key
                ORDER BY hit_at DESC OFFSET p_limit - 1 LIMIT 1;
            IF edge IS NOT NULL THEN
                RETURN greatest(
                    extract(epoch FROM edge + make_interval(secs => p_per) - moment), 0.001);
            END IF;
            IF p_count THEN
                INSERT INTO rate_limit_hits (bucket, key, hit_at) VALUES (p_bucket, p_key, moment);
            END IF;
            IF random() < 0.001 THEN  -- keys nobody uses any more
                DELETE FROM rate_limit_hits WHERE hit_at < moment - interval '1 day';
            END IF;
            RETURN 0;
        END;
        $$;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP FUNCTION scrutin_rate_hit(text, text, integer, double precision, boolean);
        DROP TABLE rate_limit_hits;
        """
    )
