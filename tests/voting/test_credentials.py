"""Voter-held credentials in the service (docs/audit-log.md §8 "Voter-held credentials"):
keys registered and replaced in the log, the roll frozen at the opening, every ballot signed
by its voter's key, revotes where only the last ballot counts, and a log scrutin-audit
passes with its credential check."""

from __future__ import annotations

import base64
import json

import asyncpg
import pytest
from nacl.signing import SigningKey

from crypto import canonical
from tests.audit.util import failed, run
from tests.fixtures.log import TEST_SECRET
from tests.fixtures.rounds import PASSPHRASE, make_round_primary, make_voters
from voting.ballots import SignedBallot, cast, seal_for_signature
from voting.credentials import ballot_message, register
from voting.log import LogService
from voting.refusals import Refused
from voting.results import reveal_and_tally
from voting.rounds import close_round, open_round

pytestmark = pytest.mark.anyio


async def _kinds(pool: asyncpg.Pool, log: LogService, pid) -> list[tuple[str, dict]]:
    await log.integrate(pool, pid)
    head = await log.head(pool, pid)
    return [
        (e.kind, canonical.loads(e.entry)["body"])
        for e in await log.entries(pool, pid, 0, head.size)
    ]


async def _register(pool, log, pid, account, key: SigningKey | None, **kw):
    async with pool.acquire() as conn, conn.transaction():
        public = bytes(key.verify_key) if key is not None else None
        return await register(
            conn, log, secret_key=TEST_SECRET, primary_id=pid, account_id=account,
            public_key=public, **kw,
        )  # fmt: skip


async def _device_cast(pool, log, primary, account, key: SigningKey, grades, origin: str):
    async with pool.acquire() as conn:
        sealed, token = await seal_for_signature(
            conn, secret_key=TEST_SECRET, primary_id=primary.id, number=1,
            account_id=account, grades=grades,
        )  # fmt: skip
    signature = key.sign(ballot_message(origin, 1, sealed)).signature
    async with pool.acquire() as conn, conn.transaction():
        return await cast(
            conn, log, primary_id=primary.id, number=1, account_id=account,
            secret_key=TEST_SECRET, signed=SignedBallot(sealed, token, signature),
        )  # fmt: skip


async def test_voter_keys_a_frozen_roll_revotes_and_an_audit_that_passes(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    pool, log = log_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_round_primary(conn, log, candidates=2, credentials="voter")
        alice, bruno, chloe, denis, emma = await make_voters(conn, 5)
    pid, (a, b) = primary.id, primary.candidates
    origin = log.origin_for(primary.slug)
    alice_key, bruno_lost, bruno_key = (
        SigningKey.generate(),
        SigningKey.generate(),
        SigningKey.generate(),
    )

    await _register(pool, log, pid, alice, alice_key)
    await _register(pool, log, pid, bruno, bruno_lost)
    with pytest.raises(Refused, match="déjà une clé"):
        await _register(pool, log, pid, bruno, bruno_key)
    await _register(pool, log, pid, bruno, bruno_key, replace=True)  # a lost device
    assisted = await _register(pool, log, pid, chloe, None)  # no JavaScript: the service signs
    assert assisted.assisted
    await _register(pool, log, pid, denis, SigningKey.generate())  # will abstain

    async with pool.acquire() as conn, conn.transaction():
        await open_round(conn, log, primary_id=pid, opened_by=None, passphrase=PASSPHRASE)
    with pytest.raises(Refused, match="figée"):
        await _register(pool, log, pid, emma, SigningKey.generate())

    entries = await _kinds(pool, log, pid)
    kinds = [k for k, _ in entries]
    assert kinds.index("roll") < kinds.index("round-open")
    roll = dict(entries)["roll"]
    # 4 citizens above, and the 2 supporters of the fixture's history
    assert (roll["round"], roll["count"], roll["assisted"]) == (1, 6, 1)
    credentials = [body for kind, body in entries if kind == "credential"]
    assert [c.get("replaces") for c in credentials].count(
        base64.b64encode(bytes(bruno_lost.verify_key)).decode()
    ) == 1
    assert not any(str(x) in json.dumps(credentials) for x in (alice, bruno, chloe))

    await _device_cast(pool, log, primary, alice, alice_key, {a: 6, b: 0}, origin)
    await _device_cast(pool, log, primary, alice, alice_key, {a: 0, b: 6}, origin)  # revote
    await _device_cast(pool, log, primary, bruno, bruno_key, {a: 1, b: 5}, origin)
    async with pool.acquire() as conn, conn.transaction():
        await cast(
            conn, log, primary_id=pid, number=1, account_id=chloe, grades={a: 2, b: 4},
            secret_key=TEST_SECRET,
        )  # fmt: skip

    refusals = {}
    for who, key in ((bruno, bruno_lost), (emma, SigningKey.generate())):
        try:
            await _device_cast(pool, log, primary, who, key, {a: 6, b: 6}, origin)
        except Refused as exc:
            refusals[who] = exc.reason
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(Refused) as unsigned:
            await cast(
                conn, log, primary_id=pid, number=1, account_id=bruno, grades={a: 6, b: 6},
                secret_key=TEST_SECRET,
            )  # fmt: skip
    assert refusals == {bruno: "bad-signature", emma: "no-credential"}
    assert unsigned.value.reason == "signature-required"

    async with pool.acquire() as conn, conn.transaction():
        closed, _ = await close_round(conn, log, primary_id=pid, number=1)
    assert closed.turnout == 3
    tallied = await reveal_and_tally(pool, log, primary_id=pid, number=1, passphrase=PASSPHRASE)
    # Alice's first ballot (A: 6) does not count: her revote gave A the worst grade.
    assert tallied.body["counts"] == {"valid": 3, "blank": 0, "invalid": 0}
    assert tallied.body["candidates"][a]["profile"] == [1, 1, 1, 0, 0, 0, 0]

    export = await log.export(pool, pid)
    report = run(export, await log.vkey(pool, pid))
    assert failed(report) == {}
    assert report.summary["credentials"] == {
        "registered": 7,
        "assisted": 1,
        "replacements": 1,
        "rolls": {"1": 6},
        "counted": 3,
        "revotes": 1,
        "assisted_ballots": 1,
    }
