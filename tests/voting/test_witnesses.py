"""The service gets its checkpoints cosigned by the primary's witnesses (voting/log/witnesses.py),
real `scrutin-witness` servers on loopback: a witness down never stops voting, and once it is
back the latest checkpoint reaches the quorum with every ballot in it."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from crypto import note
from crypto.cosignature import CosignerKey
from crypto.merkle import verify_consistency
from tests.fixtures.rounds import PASSPHRASE, make_round_primary, make_voters
from tests.fixtures.witnesses import WitnessServer
from voting.ballots import cast
from voting.log import LogService
from voting.primaries import update_definition
from voting.refusals import Refused
from voting.rounds import open_round

pytestmark = pytest.mark.anyio


def policy_for(*witnesses: WitnessServer) -> str:
    lines = [f"witness w{i} {w.vkey} {w.url}\n" for i, w in enumerate(witnesses, 1)]
    names = " ".join(f"w{i}" for i in range(1, len(witnesses) + 1))
    return "".join(lines) + f"group all-of-them all {names}\nquorum all-of-them\n"


def cosigners(checkpoint_note: str, witnesses: list[WitnessServer]) -> set[str]:
    text, signatures = note.parse_note(checkpoint_note)
    return {
        w.key.name
        for w in witnesses
        for s in signatures
        if w.key.cosigner.verify(text, s) is not None
    }


async def test_a_witness_down_while_ballots_are_cast(
    log_pool: asyncpg.Pool, log_service: LogService, tmp_path: Path
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=2)
        vkey = await log_service.vkey(conn, primary.id)
        up = WitnessServer(tmp_path / "up", "witness.test/up", [vkey]).start()
        down = WitnessServer(tmp_path / "down", "witness.test/down", [vkey])  # not started
        try:
            async with conn.transaction():
                await update_definition(
                    conn, log_service, primary.id, {"witness_policy": policy_for(up, down)},
                    by=None,
                )  # fmt: skip
            await log_service.publish_checkpoint(log_pool, primary.id)
            status = await log_service.witnesses.status(log_pool, primary.id)
            assert status["quorum_met"] is False
            assert [w["cosigned_size"] is not None for w in status["witnesses"]] == [True, False]

            # Voting goes on with a witness down: every cast and receipt works.
            async with conn.transaction():
                opened = await open_round(
                    conn, log_service, primary_id=primary.id, opened_by=None,
                    passphrase=PASSPHRASE,
                )  # fmt: skip
            receipts = []
            for voter in await make_voters(conn, 4):
                async with conn.transaction():
                    queued = await cast(
                        conn, log_service, primary_id=primary.id, number=1, account_id=voter,
                        grades=dict.fromkeys(opened.round.candidate_ids, 2),
                    )  # fmt: skip
                entry = await log_service.wait(log_pool, queued)
                receipts.append(await log_service.receipt(log_pool, primary.id, entry.index))
            assert all(
                cosigners(r["checkpoint"], [up, down]) == {"witness.test/up"} for r in receipts
            )
            status = await log_service.witnesses.status(log_pool, primary.id)
            assert status["quorum_met"] is False

            # The witness comes back: the next background round gets its cosignature.
            down.start()
            await log_service.tick(log_pool)
            status = await log_service.witnesses.status(log_pool, primary.id)
            assert status["quorum_met"] is True
            latest = await log_service.latest_checkpoint(log_pool, primary.id)
            assert cosigners(latest.note, [up, down]) == {"witness.test/up", "witness.test/down"}
            assert status["latest_with_quorum_checkpoint"] == latest.note
            # Nothing lost: the cosigned tree holds every ballot and extends each receipt's.
            head = await log_service.head(log_pool, primary.id)
            assert latest.size == head.size
            kinds = [e.kind for e in await log_service.entries(log_pool, primary.id, 0, head.size)]
            assert kinds.count("ballot") == 4
            for receipt in receipts:
                old = note.open_checkpoint(receipt["checkpoint"], vkey)
                proof = await log_service.consistency_proof(
                    log_pool, primary.id, old.size, latest.size
                )
                verify_consistency(old.size, latest.size, old.root_hash, latest.root, proof.hashes)
        finally:
            up.stop()
            down.stop()


async def test_a_witness_that_refuses_leaves_the_checkpoint_uncosigned(
    log_pool: asyncpg.Pool, log_service: LogService, tmp_path: Path
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=2)
        # This witness witnesses another log only: it answers 404 for ours.
        stranger = WitnessServer(tmp_path / "s", "witness.test/stranger", []).start()
        try:
            async with conn.transaction():
                await update_definition(
                    conn, log_service, primary.id, {"witness_policy": policy_for(stranger)},
                    by=None,
                )  # fmt: skip
            checkpoint = await log_service.publish_checkpoint(log_pool, primary.id)
            assert cosigners(checkpoint, [stranger]) == set()
            status = await log_service.witnesses.status(log_pool, primary.id)
            assert status["quorum_met"] is False
            assert status["latest_with_quorum"] is None
        finally:
            stranger.stop()


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ("quorum w1\n", "not defined"),
        ("witness w1 {key}\nquorum w1\n", "URL"),
        ("witness w1 {key} ftp://x\nquorum w1\n", "URL"),
        ("log {log}\nwitness w1 {key} http://x\nquorum w1\n", "log"),
    ],
)
async def test_a_bad_policy_is_refused(
    log_pool: asyncpg.Pool, log_service: LogService, policy: str, reason: str
) -> None:
    key = CosignerKey.generate("w.example").vkey
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=2)
        log = await log_service.vkey(conn, primary.id)
        with pytest.raises(Refused) as refused:
            async with conn.transaction():
                await update_definition(
                    conn, log_service, primary.id,
                    {"witness_policy": policy.format(key=key, log=log)}, by=None,
                )  # fmt: skip
        assert refused.value.field == "witness_policy"
        assert reason in str(refused.value)


async def test_cosigning_on_one_connection_reaches_every_witness(
    log_pool: asyncpg.Pool, log_service: LogService, tmp_path: Path
) -> None:
    """A caller holding one connection (not the pool) gets every cosignature too."""
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=2)
        vkey = await log_service.vkey(conn, primary.id)
        both = [
            WitnessServer(tmp_path / name, f"witness.test/{name}", [vkey]).start()
            for name in ("a", "b")
        ]
        try:
            async with conn.transaction():
                await update_definition(
                    conn, log_service, primary.id, {"witness_policy": policy_for(*both)}, by=None
                )
            checkpoint = await log_service.publish_checkpoint(conn, primary.id)
            assert cosigners(checkpoint, both) == {"witness.test/a", "witness.test/b"}
        finally:
            for witness in both:
                witness.stop()
