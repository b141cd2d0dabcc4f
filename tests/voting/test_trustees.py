"""The trustees' key ceremony and the encrypted tally in the service (voting/trustees.py,
docs/audit-log.md §10), on a real PostgreSQL: what ends up in the log and in the database,
and what the service refuses."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from crypto import canonical
from crypto import trustees as math
from crypto.encoding import b64decode, b64encode
from tests.fixtures.trustees import (
    act,
    ceremony_state,
    definition,
    encrypted_primary,
    logged_kinds,
)
from voting import trustees
from voting.log import LogService
from voting.refusals import Refused
from web.trustee import (
    TrusteeKeys,
    ack_body,
    check_received,
    decryption_body,
    keygen_body,
    local_ceremony,
    local_decryption,
)

pytestmark = pytest.mark.anyio


async def run_ceremony(pool, log, pid, folders: list[Path]) -> tuple[list[TrusteeKeys], dict]:
    keys = [TrusteeKeys.create(folder) for folder in folders]
    for i, k in enumerate(keys):
        index = await act(
            pool, trustees.register, log=log, primary_id=pid, name=f"Garant {i + 1}",
            signing_key=k.signing_key, box_key=k.box_key,
        )  # fmt: skip
        assert index == i + 1
    state = await ceremony_state(pool, pid)
    dealings = {}
    for i, k in enumerate(keys, start=1):
        dealings[i] = math.deal(state["origin"], i, state["threshold"])
        body = keygen_body(k, state, i, dealings[i])
        await act(pool, trustees.post_keygen, log=log, primary_id=pid, body=body)
    state = await ceremony_state(pool, pid)
    secrets_ = {}
    for i, k in enumerate(keys, start=1):
        complaints, secrets_[i] = check_received(k, state, i, dealings[i].share_for(i))
        assert complaints == []
        await act(
            pool, trustees.post_ack, log=log, primary_id=pid,
            body=ack_body(k, state["origin"], i, complaints),
        )  # fmt: skip
    return keys, secrets_


async def test_three_trustees_make_the_election_key_and_two_decrypt_the_sums(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    pool, log = log_pool, log_service
    primary = await encrypted_primary(pool, log)
    pid = primary.id
    keys, secrets_ = await run_ceremony(
        pool, log, pid, [public_tmp_path / f"t{i}" for i in (1, 2, 3)]
    )
    state = await ceremony_state(pool, pid)
    assert state["state"] == "done"
    h = b64decode(state["election_key"])
    entries = await logged_kinds(pool, log, pid)
    assert [kind for kind, _ in entries] == [
        "definition", "trustee", "trustee", "trustee", "trustee-keygen", "trustee-keygen",
        "trustee-keygen", "trustee-ack", "trustee-ack", "trustee-ack", "election-key",
    ]  # fmt: skip
    election = entries[-1][1]
    assert election["public_key"] == state["election_key"]
    assert (election["trustees"], election["threshold"]) == (3, 2)
    # Recomputable from the commitments in the log; each trustee's share matches its key.
    commitments = [[b64decode(c) for c in body["commitments"]] for kind, body in entries
                   if kind == "trustee-keygen"]  # fmt: skip
    assert math.election_key(commitments) == h
    for j in (1, 2, 3):
        assert math.base(secrets_[j]) == b64decode(election["verification_keys"][j - 1])
    # The database holds no secret share in clear: no stored byte string is a share.
    async with pool.acquire() as conn:
        dump = str(await conn.fetch("SELECT * FROM trustees")) + str(
            await conn.fetch("SELECT * FROM election_keys")
        )
    for x in secrets_.values():
        assert (
            math.scalar_bytes(x).hex() not in dump and b64encode(math.scalar_bytes(x)) not in dump
        )

    # Sums of ciphertexts for two candidates × 3 grades and blank; 5 ballots.
    a, b = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "6a2e3d4c-5b6a-4a79-8887-b6c5d4e3f201"
    ballots = [{a: 0, b: 2}, {a: 2, b: 2}, {a: 1}, {}, {a: 2, b: 0}]
    sums = {
        c: [math.add_ciphertexts(math.encrypt(h, int(ballot.get(c) == g)) for ballot in ballots
                                 if c in ballot or not ballot) for g in range(3)]
        for c in (a, b)
    }  # fmt: skip
    blank = math.add_ciphertexts(math.encrypt(h, int(not ballot)) for ballot in ballots)
    assert await trustees.logged_sums(pool, log, pid, 1) is None  # nothing to decrypt yet
    await act(
        pool, trustees.publish_sums, log=log, primary_id=pid, round_number=1,
        ballots=len(ballots), sums=sums, blank=blank,
    )  # fmt: skip
    async with pool.acquire() as conn:
        served = await trustees.tally_sums(conn, pid, 1)
    # What a trustee is served: the sums with the log entry carrying them, in the tree.
    logged = await trustees.logged_sums(pool, log, pid, 1)
    assert logged is not None and logged.sums == served
    assert logged.entry.envelope()["kind"] == "tally-sums"
    assert logged.entry.envelope()["body"] == served
    assert logged.entry.index == len(entries)  # right after the election key
    assert logged.entry.index < (await log.head(pool, pid)).size
    assert await trustees.logged_sums(pool, log, pid, 2) is None  # another round: none
    origin = state["origin"]
    first = decryption_body(keys[2], origin, h, 3, secrets_[3], served)
    posted = await act(pool, trustees.post_decryption, log=log, primary_id=pid, body=first)
    assert (posted.decryptions, posted.threshold, posted.decrypted) == (1, 2, False)
    # One share of the two needed: nothing decrypts.
    async with pool.acquire() as conn:
        with pytest.raises(Refused, match="1 garant"):
            await trustees.decrypt_round(conn, pid, 1, candidates=[a, b], grades=3)
    second = decryption_body(keys[0], origin, h, 1, secrets_[1], served)
    posted = await act(pool, trustees.post_decryption, log=log, primary_id=pid, body=second)
    assert (posted.round, posted.decryptions, posted.decrypted) == (1, 2, True)
    async with pool.acquire() as conn:
        decrypted = await trustees.decrypt_round(conn, pid, 1, candidates=[a, b], grades=3)
    assert decrypted.profiles == {a: [1, 1, 2], b: [1, 0, 2]}
    assert decrypted.blank == 1 and decrypted.trustees == (1, 3)
    kinds = [kind for kind, _ in await logged_kinds(pool, log, pid)]
    assert kinds[-3:] == ["tally-sums", "trustee-decryption", "trustee-decryption"]


async def test_what_the_service_refuses_changes_nothing(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    pool, log = log_pool, log_service
    pid = (await encrypted_primary(pool, log, trustees=2, trustee_threshold=2)).id
    one, two, three = (TrusteeKeys.create(public_tmp_path / n) for n in ("a", "b", "c"))
    register = trustees.register
    with pytest.raises(Refused) as refused:
        await act(pool, register, log=log, primary_id=pid, name="X", signing_key="AAAA",
                  box_key=one.box_key)  # fmt: skip
    assert refused.value.reason == "bad-trustee-key"
    await act(pool, register, log=log, primary_id=pid, name="Un", signing_key=one.signing_key,
              box_key=one.box_key)  # fmt: skip
    state = await ceremony_state(pool, pid)
    dealing = math.deal(state["origin"], 1, 2)
    with pytest.raises(Refused) as refused:  # the second trustee is not registered yet
        await act(pool, trustees.post_keygen, log=log, primary_id=pid,
                  body=keygen_body(one, state, 1, dealing))  # fmt: skip
    assert refused.value.reason == "trustees-incomplete"
    with pytest.raises(Refused) as refused:
        await act(pool, register, log=log, primary_id=pid, name="Deux",
                  signing_key=one.signing_key, box_key=two.box_key)  # fmt: skip
    assert refused.value.reason == "trustee-key-taken"
    await act(pool, register, log=log, primary_id=pid, name="Deux",
              signing_key=two.signing_key, box_key=two.box_key)  # fmt: skip
    with pytest.raises(Refused) as refused:
        await act(pool, register, log=log, primary_id=pid, name="Trois",
                  signing_key=three.signing_key, box_key=three.box_key)  # fmt: skip
    assert refused.value.reason == "trustees-complete"
    state = await ceremony_state(pool, pid)
    before = await logged_kinds(pool, log, pid)

    # The operator (or anyone) cannot post for trustee 1: the signature is trustee 1's key's.
    forged = keygen_body(two, state, 1, dealing)
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_keygen, log=log, primary_id=pid, body=forged)
    assert refused.value.reason == "trustee-bad-signature"
    # A proof of knowledge for other commitments, re-signed by the right key, is refused too.
    good = keygen_body(one, state, 1, dealing)
    other = math.deal(state["origin"], 1, 2)
    bad = {k: v for k, v in good.items() if k != "trustee_sig"}
    bad["pok"] = b64encode(other.pok)
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_keygen, log=log, primary_id=pid,
                  body=one.sign("trustee-keygen", state["origin"], bad))  # fmt: skip
    assert refused.value.reason == "trustee-bad-body"
    assert "proof of knowledge" in str(refused.value)
    short = {k: v for k, v in good.items() if k != "trustee_sig"}
    short["shares"] = [{"box": b64encode(b64decode(good["shares"][0]["box"])[:-1]), "to": 2}]
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_keygen, log=log, primary_id=pid,
                  body=one.sign("trustee-keygen", state["origin"], short))  # fmt: skip
    assert refused.value.field == "shares[2].box"
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_keygen, log=log, primary_id=pid, body={"index": 1})
    assert refused.value.reason == "trustee-bad-body"
    assert await logged_kinds(pool, log, pid) == before

    await act(pool, trustees.post_keygen, log=log, primary_id=pid, body=good)
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_keygen, log=log, primary_id=pid, body=good)
    assert refused.value.reason == "trustee-keygen-done"
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_ack, log=log, primary_id=pid,
                  body=ack_body(one, state["origin"], 1, []))  # fmt: skip
    assert refused.value.reason == "trustee-keygen-pending"

    # Trustee 2 deals a share that does not match its commitments: trustee 1 complains, and
    # no election key is ever written.
    two_dealing = math.deal(state["origin"], 2, 2)
    cheat = math.Dealing(2, (two_dealing.coefficients[0] + 1, two_dealing.coefficients[1]),
                         two_dealing.commitments, two_dealing.pok)  # fmt: skip
    await act(pool, trustees.post_keygen, log=log, primary_id=pid,
              body=keygen_body(two, state, 2, cheat))  # fmt: skip
    state = await ceremony_state(pool, pid)
    complaints, _ = check_received(one, state, 1, dealing.share_for(1))
    assert complaints == [2]
    await act(pool, trustees.post_ack, log=log, primary_id=pid,
              body=ack_body(one, state["origin"], 1, complaints))  # fmt: skip
    complaints, _ = check_received(two, state, 2, two_dealing.share_for(2))
    assert complaints == []
    assert not await act(pool, trustees.post_ack, log=log, primary_id=pid,
                         body=ack_body(two, state["origin"], 2, []))  # fmt: skip
    state = await ceremony_state(pool, pid)
    assert state["state"] == "failed" and state["election_key"] is None
    assert "election-key" not in [kind for kind, _ in await logged_kinds(pool, log, pid)]


async def test_a_decryption_share_made_with_another_secret_is_refused(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    pool, log = log_pool, log_service
    pid = (await encrypted_primary(pool, log, allow_blank=False)).id
    keys, secrets_ = await run_ceremony(
        pool, log, pid, [public_tmp_path / f"k{i}" for i in range(3)]
    )
    state = await ceremony_state(pool, pid)
    h = b64decode(state["election_key"])
    a = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    await act(pool, trustees.publish_sums, log=log, primary_id=pid, round_number=1, ballots=2,
              sums={a: [math.encrypt(h, 1), math.encrypt(h, 1)]}, blank=None)  # fmt: skip
    async with pool.acquire() as conn:
        served = await trustees.tally_sums(conn, pid, 1)
    assert "blank" not in served
    before = await logged_kinds(pool, log, pid)
    lie = decryption_body(keys[0], state["origin"], h, 1, secrets_[1] + 1, served)
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_decryption, log=log, primary_id=pid, body=lie)
    assert refused.value.reason == "trustee-bad-body" and "proof is false" in str(refused.value)
    wrong_round = decryption_body(
        keys[0], state["origin"], h, 1, secrets_[1], {**served, "round": 2}
    )
    with pytest.raises(Refused) as refused:
        await act(pool, trustees.post_decryption, log=log, primary_id=pid, body=wrong_round)
    assert refused.value.reason == "tally-sums-missing"
    assert await logged_kinds(pool, log, pid) == before


async def test_definition_members_for_encrypted_ballots(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    from voting.definition import validate_definition

    body = validate_definition(definition())
    assert (body["ballots"], body["trustees"], body["trustee_threshold"]) == ("encrypted", 3, 2)
    assert "ballots" not in validate_definition(definition(ballots="sealed", trustees=None,
                                                           trustee_threshold=None))  # fmt: skip
    for changes, reason, field in (
        ({"credentials": "server"}, "encrypted-needs-voter-credentials", "credentials"),
        ({"trustee_threshold": 4}, "out-of-range", "trustee_threshold"),
        ({"trustee_threshold": 0}, "out-of-range", "trustee_threshold"),
        ({"trustees": None}, "required", "trustees"),
        ({"ballots": "sealed"}, "trustees-need-encrypted-ballots", "ballots"),
        ({"ballots": "clear"}, "unknown-choice", "ballots"),
    ):
        with pytest.raises(Refused) as refused:
            validate_definition(definition(**changes))
        assert (refused.value.reason, refused.value.field) == (reason, field), changes


async def test_the_in_process_trustees_the_demo_plays(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    """web.trustee.local_ceremony / local_decryption: the same steps as the commands, with
    key files kept in folders (the demo's data folder), reused when they exist."""
    pool, log = log_pool, log_service
    pid = (await encrypted_primary(pool, log)).id
    folders = [public_tmp_path / "demo" / f"garant-{i}" for i in (1, 2, 3)]
    TrusteeKeys.create(folders[0])
    kept = TrusteeKeys(folders[0]).signing_key
    keys = await local_ceremony(pool, log, pid, folders, ["Ada", "Bob", "Cyd"])
    assert keys[0].signing_key == kept
    state = await ceremony_state(pool, pid)
    assert state["state"] == "done"
    h = b64decode(state["election_key"])
    a = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    sums = {a: [math.encrypt(h, 2), math.encrypt(h, 1)]}
    await act(pool, trustees.publish_sums, log=log, primary_id=pid, round_number=1, ballots=3,
              sums=sums, blank=math.encrypt(h, 0))  # fmt: skip
    await local_decryption(pool, log, pid, 1, folders[1:])
    async with pool.acquire() as conn:
        decrypted = await trustees.decrypt_round(conn, pid, 1, candidates=[a], grades=2)
    assert decrypted.profiles == {a: [2, 1]} and decrypted.blank == 0


async def test_scrutin_audit_replays_the_ceremony_the_service_logged(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    """The producer and the independent verifier agree on the service's ceremony entries:
    scrutin-audit replays them and finds nothing wrong (its tests, tests/audit/
    test_encrypted.py, show it catching each forgery an operator could log)."""
    from tests.audit.util import failed, run

    pool, log = log_pool, log_service
    pid = (await encrypted_primary(pool, log)).id
    await local_ceremony(
        pool, log, pid, [public_tmp_path / f"v{i}" for i in (1, 2, 3)], ["Ada", "Bob", "Cyd"]
    )
    doc = await log.export(pool, pid)
    assert [canonical.loads(b64decode(e))["kind"] for e in doc["entries"]][-1] == "election-key"
    report = run(doc, doc["vkey"])
    assert failed(report) == {}
    assert 14 in report.checks  # the key ceremony's check ran on these entries


async def test_registered_trustees_fix_how_the_primary_is_counted(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    from voting.primaries import update_definition

    pool, log = log_pool, log_service
    pid = (await encrypted_primary(pool, log)).id
    async with pool.acquire() as conn, conn.transaction():  # before any trustee: allowed
        await update_definition(conn, log, pid, {"trustee_threshold": 3}, by=None)
    k = TrusteeKeys.create(public_tmp_path / "un")
    await act(pool, trustees.register, log=log, primary_id=pid, name="Un",
              signing_key=k.signing_key, box_key=k.box_key)  # fmt: skip
    for changes, field in (
        ({"trustee_threshold": 2}, "trustee_threshold"),
        ({"trustees": 4}, "trustees"),
        ({"ballots": "sealed", "trustees": None, "trustee_threshold": None}, "ballots"),
    ):
        with pytest.raises(Refused) as refused:
            async with pool.acquire() as conn, conn.transaction():
                await update_definition(conn, log, pid, changes, by=None)
        assert (refused.value.reason, refused.value.field) == ("trustees-fixed", field)
    async with pool.acquire() as conn, conn.transaction():  # other members still change
        await update_definition(conn, log, pid, {"description": "Autre texte"}, by=None)
