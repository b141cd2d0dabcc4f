"""Restarting a key ceremony in the service (voting.trustees.restart_ceremony,
docs/audit-log.md §10 item 5): when the organiser may, what it changes, what the next attempt
requires of the trustees' bodies, and that scrutin-audit replays the result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from crypto import trustees as math
from crypto.encoding import b64decode
from tests.audit.util import failed, run
from tests.fixtures.rounds import make_round_primary
from tests.fixtures.trustees import act, ceremony_state, encrypted_primary, logged_kinds
from voting import trustees
from voting.log import LogService
from voting.refusals import Refused
from voting.rounds import open_round
from voting.unit_of_work import UnitOfWork
from web.trustee import TrusteeKeys, ack_body, check_received, keygen_body, local_ceremony

pytestmark = pytest.mark.anyio


async def _refused(pool, service, **kw) -> Refused:
    with pytest.raises(Refused) as refused:
        await act(pool, service, **kw)
    return refused.value


async def _register(pool, log, pid, name: str, keys: TrusteeKeys) -> int:
    return await act(
        pool, trustees.register, log=log, primary_id=pid, name=name,
        signing_key=keys.signing_key, box_key=keys.box_key,
    )  # fmt: skip


async def _keygens(pool, log, pid, keys: dict[int, TrusteeKeys], cheat: int | None = None):
    """Every trustee posts its keygen; `cheat` deals shares that miss its commitments."""
    state = await ceremony_state(pool, pid)
    dealings = {}
    for index, k in keys.items():
        dealings[index] = dealing = math.deal(state["origin"], index, state["threshold"])
        if index == cheat:
            a = dealing.coefficients
            dealing = math.Dealing(index, (a[0] + 1, *a[1:]), dealing.commitments, dealing.pok)
        await act(pool, trustees.post_keygen, log=log, primary_id=pid,
                  body=keygen_body(k, state, index, dealing))  # fmt: skip
    return dealings


async def _acks(pool, log, pid, keys: dict[int, TrusteeKeys], dealings) -> list[list[int]]:
    state = await ceremony_state(pool, pid)
    said = []
    for index, k in keys.items():
        complaints, _ = check_received(k, state, index, dealings[index].share_for(index))
        body = ack_body(k, state["origin"], index, complaints, state["attempt"])
        await act(pool, trustees.post_ack, log=log, primary_id=pid, body=body)
        said.append(complaints)
    return said


def _commitments(entries: list[tuple[str, dict]]) -> list[list[bytes]]:
    return [[b64decode(c) for c in body["commitments"]]
            for kind, body in entries if kind == "trustee-keygen"]  # fmt: skip


async def _restart(pool, log, pid, replaced: Any, reason: Any = "Un garant a triché.") -> int:
    return await act(pool, trustees.restart_ceremony, log=log, primary_id=pid,
                     replaced=replaced, reason=reason)  # fmt: skip


async def test_a_failed_ceremony_restarts_with_a_new_trustee_and_gives_the_key(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    pool, log = log_pool, log_service
    pid = (await encrypted_primary(pool, log)).id
    keys = {i: TrusteeKeys.create(public_tmp_path / f"t{i}") for i in (1, 2, 3)}
    for i in (1, 2):
        await _register(pool, log, pid, f"Garant {i}", keys[i])
    refused = await _refused(pool, trustees.restart_ceremony, log=log, primary_id=pid,
                             replaced=[], reason="Trop tôt")  # fmt: skip
    assert refused.reason == "ceremony-restart-not-now"  # still registering
    await _register(pool, log, pid, "Garant 3", keys[3])

    # Bad input is refused and changes nothing.
    before = (await logged_kinds(pool, log, pid), await ceremony_state(pool, pid))
    for replaced in ("3", [0], [4], [3, 1], [1, 1], [True], None):
        refused = await _refused(pool, trustees.restart_ceremony, log=log, primary_id=pid,
                                 replaced=replaced, reason="Motif")  # fmt: skip
        assert (refused.reason, refused.field) == ("ceremony-restart-replaced", "replaced")
    for reason in ("", "  \n ", "x" * 501, "a\x00b", 5, None):
        refused = await _refused(pool, trustees.restart_ceremony, log=log, primary_id=pid,
                                 replaced=[3], reason=reason)  # fmt: skip
        assert (refused.reason, refused.field) == ("ceremony-restart-reason", "reason")
    assert (await logged_kinds(pool, log, pid), await ceremony_state(pool, pid)) == before

    # Attempt 1: trustee 3 deals false shares, 1 and 2 complain: the ceremony fails.
    first = await _keygens(pool, log, pid, keys, cheat=3)
    origin = before[1]["origin"]
    extra = keys[1].sign("trustee-ack", origin, {"index": 1, "complaints": [3], "attempt": 1})
    refused = await _refused(pool, trustees.post_ack, log=log, primary_id=pid, body=extra)
    assert (refused.reason, refused.field) == ("trustee-bad-body", "attempt")
    assert await _acks(pool, log, pid, keys, first) == [[3], [3], []]
    assert (await ceremony_state(pool, pid))["state"] == "failed"
    attempt_1 = _commitments(await logged_kinds(pool, log, pid))

    assert await _restart(pool, log, pid, [3], "  Le garant 3 a triché.\nIl est remplacé.  ") == 2
    state = await ceremony_state(pool, pid)
    assert state["attempt"] == 2 and state["state"] == "registering"
    assert state["restarts"] == [
        {"attempt": 2, "replaced": [3], "reason": "Le garant 3 a triché.\nIl est remplacé."}
    ]
    assert [(t["index"], t["keygen"], t["ack"]) for t in state["trustees"]] == [
        (1, None, None), (2, None, None),
    ]  # fmt: skip
    kind, body = (await logged_kinds(pool, log, pid))[-1]
    assert (kind, body) == ("ceremony-restart", state["restarts"][0])

    # The replaced trustee's keys never come back; the new trustee takes index 3.
    for old in (keys[3], keys[1]):
        refused = await _refused(pool, trustees.register, log=log, primary_id=pid, name="X",
                                 signing_key=old.signing_key, box_key=old.box_key)  # fmt: skip
        assert refused.reason == "trustee-key-taken"
    keys[3] = TrusteeKeys.create(public_tmp_path / "t3-bis")
    assert await _register(pool, log, pid, "Garante 3", keys[3]) == 3
    state = await ceremony_state(pool, pid)
    assert state["state"] == "keygen"

    # Attempt 2's bodies name it: without `attempt`, or with another, they are refused.
    dealing = math.deal(state["origin"], 1, 2)
    good = keygen_body(keys[1], state, 1, dealing)
    assert good["attempt"] == 2
    for attempt in (None, 1, 3, "2"):
        unsigned = {k: v for k, v in good.items() if k not in ("trustee_sig", "attempt")}
        if attempt is not None:
            unsigned["attempt"] = attempt
        body = keys[1].sign("trustee-keygen", state["origin"], unsigned)
        refused = await _refused(pool, trustees.post_keygen, log=log, primary_id=pid, body=body)
        assert (refused.reason, refused.field) == ("trustee-bad-body", "attempt")
    second = await _keygens(pool, log, pid, keys)
    refused = await _refused(pool, trustees.post_ack, log=log, primary_id=pid,
                             body=ack_body(keys[1], state["origin"], 1, []))  # fmt: skip
    assert (refused.reason, refused.field) == ("trustee-bad-body", "attempt")
    assert await _acks(pool, log, pid, keys, second) == [[], [], []]

    state = await ceremony_state(pool, pid)
    assert state["state"] == "done"
    attempt_2 = _commitments((await logged_kinds(pool, log, pid))[-7:])
    assert len(attempt_2) == 3
    assert b64decode(state["election_key"]) == math.election_key(attempt_2)
    assert math.election_key(attempt_2) != math.election_key(attempt_1)
    refused = await _refused(pool, trustees.restart_ceremony, log=log, primary_id=pid,
                             replaced=[], reason="Trop tard")  # fmt: skip
    assert refused.reason == "ceremony-restart-not-now"  # the election key is written

    doc = await log.export(pool, pid)
    report = run(doc, doc["vkey"])
    assert failed(report) == {}
    assert 14 in report.checks


async def test_no_restart_once_round_1_is_open(
    log_pool: asyncpg.Pool, log_service: LogService, public_tmp_path: Path
) -> None:
    pool, log = log_pool, log_service
    async with pool.acquire() as conn:
        primary = await make_round_primary(
            conn, log, candidates=2, credentials="voter",
            extra={"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2},
        )  # fmt: skip
    folders = [public_tmp_path / f"g{i}" for i in (1, 2, 3)]
    await local_ceremony(pool, log, primary.id, folders, ["Ada", "Bob", "Cyd"])
    async with UnitOfWork(pool, log) as uow:
        await open_round(uow.conn, uow.log, primary_id=primary.id, opened_by=None)
    before = await logged_kinds(pool, log, primary.id)
    refused = await _refused(pool, trustees.restart_ceremony, log=log, primary_id=primary.id,
                             replaced=[1], reason="Trop tard")  # fmt: skip
    assert refused.reason == "voting-started"
    assert await logged_kinds(pool, log, primary.id) == before
