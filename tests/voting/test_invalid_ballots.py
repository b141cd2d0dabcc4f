"""The service's own tally classifies ballots as §8 says, like scrutin-audit (issue 11, item 1).

A ballot whose pad carries a mark (a way to sign a ballot for a buyer), or whose plaintext is
not the round's length, is invalid: counted as such, never in the profiles.
"""

from __future__ import annotations

import json

import asyncpg
import nacl.public
import pytest

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from crypto import canonical
from crypto.encoding import b64encode
from tests.fixtures.rounds import PASSPHRASE
from voting.ballots import cast
from voting.log import LogService
from voting.results import reveal_and_tally
from voting.rounds import close_round, open_round

pytestmark = pytest.mark.anyio


def _sealed(public_key: bytes, plaintext: bytes) -> str:
    box = nacl.public.SealedBox(nacl.public.PublicKey(public_key))
    return b64encode(bytes(box.encrypt(plaintext)))


async def test_marked_pad_and_wrong_length_are_counted_invalid_by_the_service(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary, round_voters
) -> None:
    async with log_pool.acquire() as conn:
        async with conn.transaction():
            opened = await open_round(
                conn, log_service, primary_id=round_primary.id, opened_by=None,
                passphrase=PASSPHRASE,
            )  # fmt: skip
        round_ = opened.round
        first = round_.candidate_ids[0]
        for voter in round_voters[:3]:
            async with conn.transaction():
                await cast(
                    conn, log_service, primary_id=round_primary.id, number=1,
                    account_id=voter, grades=dict.fromkeys(round_.candidate_ids, 6),
                    blank=False,
                )  # fmt: skip
        # A dishonest client (or operator) writes two more ballots grading one candidate: one
        # with a mark in its pad, one cut short. Each belongs to a voter marked as voted.
        bare = canonical.dumps({"round": 1, "grades": {first: 6}, "pad": ""})
        fill = round_.pad_to - len(bare)
        plaintexts = [
            canonical.dumps({"round": 1, "grades": {first: 6}, "pad": "x" * fill}),
            canonical.dumps({"round": 1, "grades": {first: 6}, "pad": " " * (fill - 1)}),
        ]
        for voter, plain in zip(round_voters[3:5], plaintexts, strict=True):
            async with conn.transaction():
                await log_service.append(
                    conn,
                    round_primary.id,
                    "ballot",
                    {"round": 1, "sealed": _sealed(round_.tally_public_key, plain)},
                )
                await conn.execute(
                    "INSERT INTO voters_voted (round_id, account_id) VALUES ($1, $2)",
                    round_.id,
                    voter,
                )
        async with conn.transaction():
            await close_round(conn, log_service, primary_id=round_primary.id, number=1)
    tallied = await reveal_and_tally(
        log_pool, log_service, primary_id=round_primary.id, number=1, passphrase=PASSPHRASE
    )
    assert tallied.body["counts"] == {"valid": 3, "blank": 0, "invalid": 2}
    assert tallied.body["candidates"][first]["profile"] == [0, 0, 0, 0, 0, 0, 3]
    assert len(tallied.invalid) == 2
    # scrutin-audit reads the same log and agrees, ballot for ballot.
    export = await log_service.export(log_pool, round_primary.id)
    report = verify(
        parse_export(json.dumps(export).encode(), "export"), parse_verifier_key(export["vkey"])
    )
    assert report.ok, report.render("en")
    assert sorted(w.code for w in report.checks[9].warnings) == [
        "invalid-pad-not-spaces",
        "invalid-wrong-length",
    ]
