"""Demo rounds: a finished round 1 with its published result, and round 2 open for voting.

Two demo primaries vote: the main one (sealed ballots, a tally key revealed at close) and the
encrypted one (`ballots: "encrypted"`, docs/audit-log.md §10), whose three trustees keep
their key files in the demo's data folder (`demo-trustees/`, k = 2): the seeding plays their
key ceremony, the voters' browsers encrypting their ballots, and two trustees decrypting
round 1's sums; round 2 stays open, and a visitor can close it and run
`scrutin trustee decrypt` with two of the key files.

Called at the end of the demo seeding (web/demo.py). Everything goes through the real
services: ballots are cast by demo voter accounts, sealed, logged; round 1 is closed, its key
revealed, its result computed and published. Round 2 takes the best candidates of round 1
and stays open so that a visitor can vote. Idempotent: once the demo primary has rounds,
later starts only print the lines again.

The demo tally passphrases are derived from the service secret, so the console can show the
round 2 passphrase on every start without storing it anywhere.

Each step is made at a moment of the primary's own calendar (a `DemoClock` given to the log
service and, as `now=`, to the services): round 1 opens an hour into its `round-1` phase, its
ballots are spread over that phase, it closes at the phase's end and its result follows;
round 2 opens an hour into its `round-2` phase, which is under way now. A primary whose
calendar has no round phases (tests) gets its rounds now.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from nacl.signing import SigningKey

from crypto import encrypted_ballots as eb
from crypto.encoding import b64decode
from voting import credentials
from voting.ballots import SignedBallot, assigned_candidates, cast, seal_for_signature
from voting.definition import parse_instant
from voting.encrypted_rounds import (
    EncryptedCast,
    publish_encrypted_result,
    publish_round_sums,
    round_params,
    uses_encrypted_ballots,
)
from voting.log import LogService
from voting.log import readers as log_readers
from voting.results import reveal_and_tally
from voting.rounds import eligible_candidates, list_rounds, open_round
from voting.unit_of_work import UnitOfWork
from web.settings import Settings

DEMO_SLUG = "demo"
ENCRYPTED_SLUG = "demo-chiffree"
TRUSTEES_FOLDER = "demo-trustees"
TRUSTEE_NAMES = ["Garante Alice (démo)", "Garant Bachir (démo)", "Garante Chen (démo)"]
DEMO_VOTERS = 45
ROUND_TWO_SIZE = 4
VOTER_EMAIL = "votant-{:02d}@demo.scrutin.localhost"
# Round 2's roll froze before it opened, so a newcomer has no key on it and cannot vote.
# Two demo voters, on the roll and still to vote in round 2, are there for visitors: one
# holds a device key whose recovery code the console prints (restore it on the key page,
# then the browser signs), the other an assisted key (votes without JavaScript).
VISITOR_KEY_EMAIL = "votante-cle@demo.scrutin.localhost"
VISITOR_ASSISTED_EMAIL = "votant-assiste@demo.scrutin.localhost"
ASSISTED_VOTER = 4  # votant-05 votes with an assisted key
REPLACED_VOTER = 9  # votant-10 lost the first key and replaced it before round 1
REVOTER = 2  # votant-03 votes again before round 1 closes: only the last ballot counts

__all__ = ["demo_passphrase", "seed_rounds", "trustee_folders"]


def trustee_folders(settings: Settings) -> list[Any]:
    """The demo trustees' key folders, in the demo's data folder (made at the ceremony)."""
    return [settings.data_dir / TRUSTEES_FOLDER / f"garant-{i}" for i in (1, 2, 3)]


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


def _visitor_lines(settings: Settings, secret: str) -> list[str]:
    from web.demo import device_seed, recovery_code

    code = recovery_code(device_seed(secret, VISITOR_KEY_EMAIL))
    return [
        "Round 2's voters' roll froze when it opened: a new account cannot vote in it. Sign in "
        f"({settings.base_url}/signin, code in {settings.base_url}/demo/outbox) as a demo "
        "voter on the roll:",
        f"  {VISITOR_KEY_EMAIL}: a key held in the browser; on "
        f"{settings.base_url}/primaries/{DEMO_SLUG}/credential restore it with the recovery "
        f"code {code}",
        f"  {VISITOR_ASSISTED_EMAIL}: an assisted key the service holds (no JavaScript needed)",
        "  (shared demo accounts: each vote replaces the previous one, only the last counts)",
    ]


async def _register_keys(
    conn: asyncpg.Connection,
    log: LogService,
    secret: str,
    primary_id: Any,
    voters: list[Any],
    visitors: dict[str, Any],
    clock: Any,
) -> dict[Any, SigningKey]:
    """The voters' devices make their keys before the roll freezes (the seeding plays the
    browser: web.demo.register_device_key); one voter takes an assisted key, one replaces a
    lost key, and the two visitors' accounts get theirs."""
    from web.demo import register_device_key

    keys: dict[Any, SigningKey] = {}
    for i, voter in enumerate(voters):
        email = VOTER_EMAIL.format(i + 1)
        now = clock.step(timedelta(seconds=30))
        if i == ASSISTED_VOTER:
            await credentials.register(
                conn, log, secret_key=secret, primary_id=primary_id, account_id=voter, now=now
            )
            continue
        keys[voter] = await register_device_key(
            conn, log, secret, primary_id, voter, email, now=now
        )
        if i == REPLACED_VOTER:  # the device was lost: a new key revokes the old one
            keys[voter] = await register_device_key(
                conn, log, secret, primary_id, voter, email, salt="/replaced",
                now=clock.step(timedelta(seconds=30)), replace=True,
            )  # fmt: skip
    await register_device_key(
        conn, log, secret, primary_id, visitors[VISITOR_KEY_EMAIL], VISITOR_KEY_EMAIL,
        now=clock.step(timedelta(seconds=30)),
    )  # fmt: skip
    await credentials.register(
        conn, log, secret_key=secret, primary_id=primary_id,
        account_id=visitors[VISITOR_ASSISTED_EMAIL], now=clock.step(timedelta(seconds=30)),
    )  # fmt: skip
    return keys


async def _cast(
    conn: asyncpg.Connection,
    log: LogService,
    secret: str,
    key: SigningKey | None,
    round_: Any = None,
    **ballot: Any,
) -> None:
    """A ballot as the booth casts it: signed on the device when the voter holds a key,
    else (server credentials, assisted key) signed by the service. In an encrypted round
    the device encrypts and proves the ballot (as web/static/booth-encrypted.js does)."""
    if key is None:
        await cast(conn, log, secret_key=secret, **ballot)
        return
    if round_ is not None and round_.key_custody == "trustees":
        origin = await log_readers.origin(conn, ballot["primary_id"])
        shown = await assigned_candidates(conn, round_, ballot["account_id"])
        grades = None if ballot.get("blank") else ballot["grades"]
        body = eb.build_ballot(round_params(round_, origin or ""), shown, grades, key)
        blob, sig = b64decode(str(body["encrypted"])), b64decode(str(body["credential_sig"]))
        encrypted = EncryptedCast(blob, sig)
        await cast(
            conn, log, secret_key=secret, encrypted=encrypted,
            **{k: v for k, v in ballot.items() if k not in ("grades", "blank")},
        )  # fmt: skip
        return
    sealed, token = await seal_for_signature(conn, secret_key=secret, **ballot)
    origin = await log_readers.origin(conn, ballot["primary_id"])
    assert origin is not None  # a primary's log is created with it
    message = credentials.ballot_message(origin, ballot["number"], sealed)
    signed = SignedBallot(sealed, token, key.sign(message).signature)
    await cast(
        conn, log, secret_key=secret, signed=signed,
        **{k: v for k, v in ballot.items() if k not in ("grades", "blank")},
    )  # fmt: skip


async def seed_rounds(database_url: str, settings: Settings) -> list[str]:
    """Seed the demo rounds if the demo primary has none; return console lines."""
    from web.app import create_pool
    from web.demo import demo_log

    secret, clock, log = demo_log(settings)
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        lines = await _seed(pool, log, settings, secret, clock)
        if await pool.fetchval("SELECT 1 FROM primaries WHERE slug = $1", ENCRYPTED_SLUG):
            lines += await _seed(pool, log, settings, secret, clock, slug=ENCRYPTED_SLUG)
        return lines
    finally:
        await pool.close()


def _phase(definition: Any, name: str) -> tuple[datetime, datetime] | None:
    if isinstance(definition, str):
        import json

        definition = json.loads(definition)
    for phase in definition.get("phases", []):
        if phase.get("name") == name:
            return parse_instant(phase["start"], "start"), parse_instant(phase["end"], "end")
    return None


def _encrypted_lines(settings: Settings, base: str) -> list[str]:
    folders = trustee_folders(settings)
    return [
        f"Encrypted demo primary (ballots encrypted in the browser, tallied by 2 of 3 "
        f"trustees): {base}",
        f"  round 1 decrypted by trustees 1 and 2: {base}/rounds/1/results; round 2 open: "
        f"{base}/rounds/2/vote",
        f"  the trustees' key files: {folders[0].parent}; after closing round 2, two of them run",
        f"  scrutin trustee decrypt --url {settings.base_url} --primary {ENCRYPTED_SLUG} "
        f"--round 2 --min-ballots 1 --key {folders[0]}",
        "  (a trustee refuses sums of fewer than 10 ballots unless told otherwise: a demo round "
        "has few voters)",
        f"  the demo voters of round 2 above vote here too ({VISITOR_KEY_EMAIL}: restore the "
        f"same recovery code on {base}/credential, the browser then encrypts the ballot)",
    ]


async def _seed(
    pool: asyncpg.Pool,
    log: LogService,
    settings: Settings,
    secret: str,
    clock: Any,
    slug: str = DEMO_SLUG,
) -> list[str]:
    base = f"{settings.base_url}/primaries/{slug}"
    passphrase = demo_passphrase(secret, 2)
    lines = [
        f"Demo round 2 (open for voting): {base}/rounds/2/vote",
        f"  tally passphrase for round 2: {passphrase}",
        f"Demo round 1 result: {base}/rounds/1/results — observers: {base}/observers",
    ]
    async with pool.acquire() as conn:
        primary_id = await conn.fetchval("SELECT id FROM primaries WHERE slug = $1", slug)
        if primary_id is None:
            return ["Demo rounds skipped: no demo primary."]
        definition = await conn.fetchval(
            "SELECT definition FROM primaries WHERE id = $1", primary_id
        )
        if isinstance(definition, str):
            import json

            definition = json.loads(definition)
        voter_mode = credentials.uses_voter_credentials(definition)
        encrypted = uses_encrypted_ballots(definition)
        if encrypted:
            lines = _encrypted_lines(settings, base)
        elif voter_mode:
            lines += _visitor_lines(settings, secret)
        if await list_rounds(conn, primary_id):
            return lines
        if len(await eligible_candidates(conn, primary_id)) < 2:
            return ["Demo rounds skipped: fewer than two confirmed candidacies in the demo."]
        now = datetime.now(UTC).replace(microsecond=0)
        phase_one = _phase(definition, "round-1") or (now, now + timedelta(days=7))
        phase_two = _phase(definition, "round-2")
    if encrypted:  # the trustees' key ceremony, between the supports and round 1
        from web.trustee import local_ceremony

        clock.moment = min(phase_one[0] - timedelta(hours=3), now)
        await local_ceremony(pool, log, primary_id, trustee_folders(settings), TRUSTEE_NAMES)
    async with pool.acquire() as conn:
        clock.moment = min(phase_one[0] + timedelta(hours=1), now)
        voters = await _demo_voters(conn, DEMO_VOTERS)
        keys: dict[Any, SigningKey] = {}
        if voter_mode:  # the keys, registered before the roll freezes at the opening
            visitors = {
                email: await conn.fetchval(
                    "INSERT INTO accounts (email, display_name, email_verified_at) "
                    "VALUES ($1, $2, now()) ON CONFLICT (email) DO UPDATE SET "
                    "email_verified_at = coalesce(accounts.email_verified_at, now()) "
                    "RETURNING id",
                    email,
                    name,
                )
                for email, name in (
                    (VISITOR_KEY_EMAIL, "Votante à clé (démo)"),
                    (VISITOR_ASSISTED_EMAIL, "Votant assisté (démo)"),
                )
            }
            clock.moment -= timedelta(minutes=50)
            async with UnitOfWork(pool, log) as uow:
                keys = await _register_keys(
                    uow.conn, uow.log, secret, primary_id, voters, visitors, clock
                )
            clock.moment = max(clock(), min(phase_one[0] + timedelta(hours=1), now))
        async with UnitOfWork(pool, log) as uow:
            opened = await open_round(
                uow.conn,
                uow.log,
                primary_id=primary_id,
                opened_by=None,
                passphrase=demo_passphrase(secret, 1),
                now=clock(),
            )
    round_one = opened.round
    rng = random.Random(20261122)
    quality = {c: rng.uniform(0.25, 0.8) for c in round_one.candidate_ids}
    n_grades = len(round_one.grades)
    # Ballots spread over the phase (or over the seconds before now), the close at its end.
    closing = min(phase_one[1], now)
    gap = max(closing - clock() - timedelta(hours=1), timedelta(0)) / (len(voters) + 1)
    async with pool.acquire() as conn:
        for i, voter in enumerate(voters):
            async with UnitOfWork(pool, log) as uow:
                ballot = await assigned_candidates(uow.conn, round_one, voter, rng=rng)
                blank = round_one.allow_blank and i % 15 == 14
                grades = {} if blank else {c: _grade(rng, quality[c], n_grades) for c in ballot}
                await _cast(
                    uow.conn, uow.log, secret, keys.get(voter), round_one, primary_id=primary_id,
                    number=1, account_id=voter, grades=grades, blank=blank, now=clock.step(gap),
                )  # fmt: skip
        if voter_mode:  # a voter changes their mind: the new ballot replaces the first
            async with UnitOfWork(pool, log) as uow:
                voter = voters[REVOTER]
                ballot = await assigned_candidates(uow.conn, round_one, voter, rng=rng)
                grades = {c: _grade(rng, 1 - quality[c], n_grades) for c in ballot}
                await _cast(
                    uow.conn, uow.log, secret, keys.get(voter), round_one, primary_id=primary_id,
                    number=1, account_id=voter, grades=grades, now=clock.step(gap),
                )  # fmt: skip
        from voting.rounds import close_round

        clock.moment = max(closing, clock())
        async with UnitOfWork(pool, log) as uow:
            await close_round(uow.conn, uow.log, primary_id=primary_id, number=1, now=clock())
    await log.integrate(pool, primary_id)
    clock.step(timedelta(minutes=30) if phase_two else timedelta(0))
    if encrypted:  # the sums, two trustees' decryption shares, the result: nothing else
        from web.trustee import local_decryption

        await publish_round_sums(pool, log, primary_id=primary_id, number=1)
        clock.step(timedelta(minutes=20) if phase_two else timedelta(0))
        await local_decryption(pool, log, primary_id, 1, trustee_folders(settings)[:2])
        body = await publish_encrypted_result(pool, log, primary_id=primary_id, number=1)
    else:
        tallied = await reveal_and_tally(
            pool, log, primary_id=primary_id, number=1, passphrase=demo_passphrase(secret, 1)
        )
        body = tallied.body
    best = body["ranking"][:ROUND_TWO_SIZE]
    if phase_two is not None:
        clock.moment = max(clock(), min(phase_two[0] + timedelta(hours=1), now))
    async with UnitOfWork(pool, log) as uow:
        await open_round(
            uow.conn,
            uow.log,
            primary_id=primary_id,
            opened_by=None,
            candidate_ids=best,
            passphrase=passphrase,
            now=clock(),
        )
    what = "decrypted by the trustees" if encrypted else "result published"
    return [f"Demo round 1 of {slug}: {len(voters)} ballots cast, closed, {what}.", *lines]
