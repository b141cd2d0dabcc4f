"""Demo rounds: a finished round 1 with its published result, and round 2 open for voting.

Called at the end of the demo seeding (web/demo.py). Everything goes through the real
services: ballots are cast by demo voter accounts, sealed, logged; round 1 is closed, its key
revealed, its result computed and published. Round 2 takes the best candidates of round 1
and stays open so that a visitor can vote. Idempotent: once the demo primary has rounds,
later starts only print the lines again.

The demo tally passphrases are derived from the service secret, so the console can show the
round 2 passphrase on every start without storing it anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from typing import Any

import asyncpg

from voting.ballots import assigned_candidates, cast
from voting.log import LogService
from voting.results import reveal_and_tally
from voting.rounds import eligible_candidates, list_rounds, open_round
from web.settings import Settings, resolve_secret_key

DEMO_SLUG = "demo"
DEMO_VOTERS = 45
ROUND_TWO_SIZE = 4
VOTER_EMAIL = "votant-{:02d}@demo.scrutin.localhost"

__all__ = ["demo_passphrase", "seed_rounds"]


def demo_passphrase(secret_key: str, number: int) -> str:
    """A readable passphrase for demo round `number`, stable for a given service secret."""
    digest = hmac.new(secret_key.encode(), f"demo-tally/{number}".encode(), hashlib.sha256)
    text = digest.hexdigest()
    return "-".join(text[i : i + 5] for i in range(0, 20, 5))


async def _demo_voters(conn: asyncpg.Connection, count: int) -> list[Any]:
    rows = await conn.fetch(
        """
        INSERT INTO accounts (email, display_name, email_verified_at)
        SELECT format($1, lpad(i::text, 2, '0')), 'Votant·e ' || i, now()
        FROM generate_series(1, $2) AS i
        ON CONFLICT (email) DO UPDATE SET email_verified_at = coalesce(
            accounts.email_verified_at, EXCLUDED.email_verified_at)
        RETURNING id
        """,
        VOTER_EMAIL.replace("{:02d}", "%s"),
        count,
    )
    return [row["id"] for row in rows]


def _grade(rng: random.Random, quality: float, n_grades: int) -> int:
    value = rng.gauss(quality * (n_grades - 1), 1.3)
    return max(0, min(n_grades - 1, round(value)))


async def seed_rounds(database_url: str, settings: Settings) -> list[str]:
    """Seed the demo rounds if the demo primary has none; return console lines."""
    secret = resolve_secret_key(settings)
    log = LogService(
        secret_key=secret,
        public_host=settings.public_host,
        checkpoint_interval=settings.checkpoint_interval,
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        return await _seed(pool, log, settings, secret)
    finally:
        await pool.close()


async def _seed(pool: asyncpg.Pool, log: LogService, settings: Settings, secret: str) -> list[str]:
    base = f"{settings.base_url}/primaries/{DEMO_SLUG}"
    passphrase = demo_passphrase(secret, 2)
    lines = [
        f"Demo round 2 (open for voting): {base}/rounds/2/vote",
        f"  tally passphrase for round 2: {passphrase}",
        f"Demo round 1 result: {base}/rounds/1/results — observers: {base}/observers",
    ]
    async with pool.acquire() as conn:
        primary_id = await conn.fetchval("SELECT id FROM primaries WHERE slug = $1", DEMO_SLUG)
        if primary_id is None:
            return ["Demo rounds skipped: no demo primary."]
        if await list_rounds(conn, primary_id):
            return lines
        if len(await eligible_candidates(conn, primary_id)) < 2:
            return ["Demo rounds skipped: fewer than two confirmed candidacies in the demo."]
        voters = await _demo_voters(conn, DEMO_VOTERS)
        async with conn.transaction():
            opened = await open_round(
                conn,
                log,
                primary_id=primary_id,
                opened_by=None,
                passphrase=demo_passphrase(secret, 1),
            )
    round_one = opened.round
    rng = random.Random(20261122)
    quality = {c: rng.uniform(0.25, 0.8) for c in round_one.candidate_ids}
    n_grades = len(round_one.grades)
    async with pool.acquire() as conn:
        for i, voter in enumerate(voters):
            async with conn.transaction():
                ballot = await assigned_candidates(conn, round_one, voter, rng=rng)
                blank = round_one.allow_blank and i % 15 == 14
                grades = {} if blank else {c: _grade(rng, quality[c], n_grades) for c in ballot}
                await cast(
                    conn,
                    log,
                    primary_id=primary_id,
                    number=1,
                    account_id=voter,
                    grades=grades,
                    blank=blank,
                )
        from voting.rounds import close_round

        async with conn.transaction():
            await close_round(conn, log, primary_id=primary_id, number=1)
    await log.integrate(pool, primary_id)
    tallied = await reveal_and_tally(
        pool, log, primary_id=primary_id, number=1, passphrase=demo_passphrase(secret, 1)
    )
    best = tallied.body["ranking"][:ROUND_TWO_SIZE]
    async with pool.acquire() as conn, conn.transaction():
        await open_round(
            conn,
            log,
            primary_id=primary_id,
            opened_by=None,
            candidate_ids=best,
            passphrase=passphrase,
        )
    await log.publish_checkpoint(pool, primary_id)
    return [f"Demo round 1: {len(voters)} ballots cast, closed, result published.", *lines]
