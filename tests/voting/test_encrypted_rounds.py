"""Encrypted rounds in the service (voting/encrypted_rounds.py, docs/audit-log.md §10), on a
real PostgreSQL: opening needs the trustees' election key, ballots are checked before they
are logged, the close publishes the sums of the last valid ballot of each credential, k
trustees' shares give the result, and scrutin-audit agrees with every number."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nacl.signing import SigningKey

from crypto import canonical, elgamal
from crypto import encrypted_ballots as eb
from crypto.encoding import b64decode
from tests.fixtures.rounds import make_round_primary, make_voters
from voting import trustees
from voting.ballots import cast
from voting.credentials import register
from voting.encrypted_rounds import (
    EncryptedCast,
    publish_encrypted_result,
    publish_round_sums,
    round_params,
    tally_profiles,
)
from voting.log import LogService
from voting.majority import MISSING_POLICIES, RULES, TallyError
from voting.refusals import Refused
from voting.results import tally_round
from voting.rounds import Round, close_round, get_round, open_round
from voting.unit_of_work import UnitOfWork
from web.trustee import local_ceremony, local_decryption

pytestmark = pytest.mark.anyio

SECRET = "test-secret"
GRADES4 = ["Insuffisant", "Passable", "Bien", "Très bien"]
ENCRYPTED = {"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2}


async def _primary(pool: asyncpg.Pool, log: LogService, **kw: Any) -> Any:
    async with pool.acquire() as conn:
        return await make_round_primary(
            conn, log, candidates=3, credentials="voter", grades=GRADES4, extra=ENCRYPTED, **kw
        )


async def _register(pool, log, pid, account, key: SigningKey | None):
    async with UnitOfWork(pool, log) as uow:
        return await register(
            uow.conn, uow.log, secret_key=SECRET, primary_id=pid, account_id=account,
            public_key=None if key is None else bytes(key.verify_key),
        )  # fmt: skip


async def _open(pool, log, pid) -> Round:
    async with UnitOfWork(pool, log) as uow:
        opened = await open_round(uow.conn, uow.log, primary_id=pid, opened_by=None)
    assert opened.key_file is None  # no tally key: nobody holds anything to reveal
    return opened.round


async def _cast(pool, log, pid, account, **kw):
    async with UnitOfWork(pool, log) as uow:
        queued = await cast(
            uow.conn, uow.log, primary_id=pid, number=1, account_id=account, secret_key=SECRET,
            **kw,
        )  # fmt: skip
    return uow.placed(queued)


def _browser_ballot(round_: Round, origin: str, key: SigningKey, grades: dict | None) -> Any:
    """What the JavaScript booth posts: the blob it encrypted and its credential signature."""
    params = round_params(round_, origin)
    cands = list(grades) if grades else list(round_.candidate_ids)
    body = eb.build_ballot(params, cands, grades, key)
    return EncryptedCast(b64decode(body["encrypted"]), b64decode(body["credential_sig"]))


async def test_an_encrypted_round_from_opening_to_result(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    from tests.audit.util import failed, run

    pool, log = log_pool, log_service
    primary = await _primary(pool, log)
    pid = primary.id
    async with pool.acquire() as conn:
        alice, bruno, chloe, denis = await make_voters(conn, 4)
    alice_key, denis_key = SigningKey.generate(), SigningKey.generate()
    await _register(pool, log, pid, alice, alice_key)
    await _register(pool, log, pid, bruno, None)  # no JavaScript: an assisted key
    await _register(pool, log, pid, chloe, None)
    await _register(pool, log, pid, denis, denis_key)

    with pytest.raises(Refused) as refused:  # no election key yet: no encrypted round
        await _open(pool, log, pid)
    assert refused.value.reason == "election-key-missing"
    folders = [public_tmp_path / f"garant-{i}" for i in (1, 2, 3)]
    await local_ceremony(pool, log, pid, folders, ["Ada", "Bob", "Cyd"])
    round_ = await _open(pool, log, pid)
    a, b, c = round_.candidate_ids
    origin = log.origin_for(primary.slug)
    async with pool.acquire() as conn:
        h = await trustees.election_key(conn, pid)
    assert round_.tally_public_key == h and round_.key_custody == "trustees"

    # The browser's ballot, then a revote; the assisted voters' ballots the service encrypts.
    first = _browser_ballot(round_, origin, alice_key, {a: 0, b: 0, c: 0})
    await _cast(pool, log, pid, alice, encrypted=first)
    again = _browser_ballot(round_, origin, alice_key, {a: 3, b: 2, c: 1})
    await _cast(pool, log, pid, alice, encrypted=again)
    with pytest.raises(Refused) as refused:  # the same signed blob twice
        await _cast(pool, log, pid, alice, encrypted=again)
    assert refused.value.reason == "already-cast"
    await _cast(pool, log, pid, bruno, grades={a: 3, b: 0, c: 2})
    await _cast(pool, log, pid, chloe, blank=True)
    with pytest.raises(Refused) as refused:  # a device key must sign: no plaintext accepted
        await _cast(pool, log, pid, denis, grades={a: 1, b: 1, c: 1})
    assert refused.value.reason == "signature-required"

    # Refused and nothing logged: a blob whose proof fails, a signature by another key.
    good = _browser_ballot(round_, origin, denis_key, {a: 1, b: 1, c: 1})
    altered = bytearray(good.blob)
    altered[-40] ^= 1  # inside the last row's last response
    forged = denis_key.sign(eb.signed_message(origin, 1, bytes(altered))).signature
    with pytest.raises(Refused) as refused:
        await _cast(pool, log, pid, denis, encrypted=EncryptedCast(bytes(altered), forged))
    assert (refused.value.reason, refused.value.params["why"]) == (
        "encrypted-ballot-invalid",
        "proof-failed",
    )
    with pytest.raises(Refused) as refused:
        other = _browser_ballot(round_, origin, SigningKey.generate(), {a: 1, b: 1, c: 1})
        await _cast(pool, log, pid, denis, encrypted=other)
    assert refused.value.reason == "bad-signature"

    # The log holds no plaintext: every ballot entry is a blob under a credential.
    await log.integrate(pool, pid)
    bodies = [
        canonical.loads(e.entry)["body"]
        for e in await log.entries(pool, pid, 0, (await log.head(pool, pid)).size)
        if e.kind == "ballot"
    ]
    assert len(bodies) == 4 and all(set(x) == {"round", "encrypted", "credential",
                                                "credential_sig"} for x in bodies)  # fmt: skip

    async with UnitOfWork(pool, log) as uow:
        await close_round(uow.conn, uow.log, primary_id=pid, number=1)
    sums = await publish_round_sums(pool, log, primary_id=pid, number=1)
    assert sums is not None and sums["ballots"] == 3 and set(sums["sums"]) == {a, b, c}
    assert await publish_round_sums(pool, log, primary_id=pid, number=1) is None  # once

    await local_decryption(pool, log, pid, 1, folders[2:])
    with pytest.raises(Refused) as refused:  # one share of the two needed: nothing decrypts
        await publish_encrypted_result(pool, log, primary_id=pid, number=1)
    assert refused.value.reason == "too-few-decryptions"
    await local_decryption(pool, log, pid, 1, folders[:1])
    body = await publish_encrypted_result(pool, log, primary_id=pid, number=1)
    assert body["counts"] == {"valid": 2, "blank": 1, "invalid": 0}
    assert {c_: v["profile"] for c_, v in body["candidates"].items()} == {
        a: [0, 0, 0, 2], b: [1, 0, 1, 0], c: [0, 1, 1, 0],
    }  # fmt: skip
    async with pool.acquire() as conn:
        tallied = await get_round(conn, pid, 1)
    assert tallied is not None and tallied.status == "tallied"

    doc = await log.export(pool, pid)
    kinds = [canonical.loads(b64decode(e))["kind"] for e in doc["entries"]]
    assert "tally-key" not in kinds and kinds[-4:] == [
        "tally-sums", "trustee-decryption", "trustee-decryption", "result",
    ]  # fmt: skip
    report = run(doc, doc["vkey"])
    assert failed(report) == {}
    # The third trustee comes after the result: refused (a decryption after the result
    # fails §9 check 6), and the log is unchanged.
    with pytest.raises(Refused) as refused:
        await local_decryption(pool, log, pid, 1, folders[1:2])
    assert refused.value.reason == "already-tallied"
    await log.integrate(pool, pid)
    assert (await log.head(pool, pid)).size == len(doc["entries"])


def _decrypt_sums(sums: eb.Sums, x: bytes, bound: int) -> tuple[dict[str, list[int]], int]:
    profiles = {
        c: [elgamal.small_dlog(elgamal.decrypt_point(ct, x), bound) for ct in cells]
        for c, cells in sums.rows.items()
    }
    blank = 0
    if sums.blank is not None:
        blank = elgamal.small_dlog(elgamal.decrypt_point(sums.blank, x), bound) or 0
    return profiles, blank  # type: ignore[return-value]


def _round(candidates: list[str], subset: int, rule: str, missing: str) -> Round:
    from datetime import UTC, datetime

    return Round(
        id=None, primary_id=None, number=1, status="closed",  # type: ignore[arg-type]
        candidates=[{"candidate": c, "name": c.upper(), "declaration": ""} for c in candidates],
        definition={"grades": GRADES4, "rule": rule, "missing": missing, "default_grade": 0,
                    "upper_median": rule == "mieux-voter"},
        subset_size=subset, allow_blank=True, pad_to=0, tally_public_key=b"", key_custody="",
        sealed_tally_key=None, closes_at=None, opened_at=datetime.now(UTC), closed_at=None,
        turnout=None, tallied_at=None,
    )  # fmt: skip


@pytest.mark.parametrize("subset", [0, 2])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_homomorphic_tally_equals_the_engine_on_the_same_ballots(subset: int, seed: int):
    """Differential: random plaintext ballots, encrypted and proved as the booth does, their
    sums decrypted (with the election secret here; trustees in the service) and tallied from
    profiles, give the same result as the engine on the plaintext ballots, for every rule and
    missing-judgment policy, with and without random subsets."""
    from crypto import group
    from crypto.ballots import OpenedBallot

    rng = random.Random(seed)
    x = group.random_scalar()
    h = group.base_mul(x)
    cands = ["c-alpha", "c-bravo", "c-charlie", "c-delta"]
    params = eb.RoundParams("scrutin.localhost/primaries/d", 1, h, tuple(cands), 4, True, subset)
    opened, encrypted = [], []
    for _ in range(rng.randint(3, 14)):
        key = SigningKey.generate()
        shown = rng.sample(cands, subset) if subset else list(cands)
        if rng.random() < 0.15:
            grades = None
            opened.append(OpenedBallot("blank", {}, ""))
        else:
            grades = {c: rng.randrange(4) for c in shown}
            opened.append(OpenedBallot("valid", grades, ""))
        body = eb.build_ballot(params, shown, grades, key)
        blob = base64.b64decode(body["encrypted"])
        encrypted.append(eb.verify(params, bytes(key.verify_key), blob))
    sums = eb.sum_ballots(4, encrypted)
    profiles, blank = _decrypt_sums(sums, x, len(encrypted))
    valid = sums.ballots - blank
    for rule in RULES:
        for missing in MISSING_POLICIES:
            round_ = _round(cands, subset, rule, missing)
            try:
                expected, _ = tally_round(round_, opened)
            except TallyError:
                with pytest.raises(TallyError):
                    tally_profiles(round_, profiles, valid=valid, blank=blank, invalid=0)
                continue
            got = tally_profiles(round_, profiles, valid=valid, blank=blank, invalid=0)
            assert got.counts == expected.counts, (rule, missing)
            assert got.profiles == expected.profiles, (rule, missing)
            assert got.ranking == expected.ranking, (rule, missing)
            assert got.majority_grades == expected.majority_grades, (rule, missing)
            assert got.tie_groups == expected.tie_groups, (rule, missing)


async def test_an_invalid_ballot_in_the_log_counts_nowhere(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    """Ballots that reached the log with failing proofs (an operator's bug: the service
    refuses them at the cast): one after a valid ballot does not replace it, one that is its
    credential's only ballot makes that voter count as invalid; scrutin-audit agrees."""
    from tests.audit.util import failed, run

    pool, log = log_pool, log_service
    primary = await _primary(pool, log)
    pid = primary.id
    async with pool.acquire() as conn:
        xavier, yvonne = await make_voters(conn, 2)
    keys = {xavier: SigningKey.generate(), yvonne: SigningKey.generate()}
    for account, key in keys.items():
        await _register(pool, log, pid, account, key)
    folders = [public_tmp_path / f"garant-{i}" for i in (1, 2, 3)]
    await local_ceremony(pool, log, pid, folders, ["Ada", "Bob", "Cyd"])
    round_ = await _open(pool, log, pid)
    a, b, c = round_.candidate_ids
    origin = log.origin_for(primary.slug)
    valid = _browser_ballot(round_, origin, keys[xavier], {a: 3, b: 2, c: 0})
    await _cast(pool, log, pid, xavier, encrypted=valid)

    def broken(key: SigningKey) -> dict[str, Any]:
        good = _browser_ballot(round_, origin, key, {a: 0, b: 0, c: 0})
        blob = bytearray(good.blob)
        blob[-40] ^= 1
        sig = key.sign(eb.signed_message(origin, 1, bytes(blob))).signature
        return {"round": 1, "encrypted": base64.b64encode(bytes(blob)).decode(),
                "credential": base64.b64encode(bytes(key.verify_key)).decode(),
                "credential_sig": base64.b64encode(sig).decode()}  # fmt: skip

    async with UnitOfWork(pool, log) as uow:
        await uow.log.append(uow.conn, pid, "ballot", broken(keys[xavier]))
        await uow.log.append(uow.conn, pid, "ballot", broken(keys[yvonne]))
        await uow.conn.execute(
            "INSERT INTO voters_voted (round_id, account_id) VALUES ($1, $2)", round_.id, yvonne
        )
    async with UnitOfWork(pool, log) as uow:
        await close_round(uow.conn, uow.log, primary_id=pid, number=1)
    sums = await publish_round_sums(pool, log, primary_id=pid, number=1)
    assert sums is not None and sums["ballots"] == 1
    await local_decryption(pool, log, pid, 1, folders[1:])
    body = await publish_encrypted_result(pool, log, primary_id=pid, number=1)
    assert body["counts"] == {"valid": 1, "blank": 0, "invalid": 1}
    assert body["candidates"][a]["profile"] == [0, 0, 0, 1]
    async with pool.acquire() as conn:
        tallied = await get_round(conn, pid, 1)
        assert tallied is not None
        stored = await conn.fetchval(
            "SELECT invalid_trackers FROM round_results WHERE round_id = $1", tallied.id
        )
    assert len(stored) == 2
    doc = await log.export(pool, pid)
    assert failed(run(doc, doc["vkey"])) == {}
