"""Revealing the tally key, opening, tallying and the result entry (services)."""

from __future__ import annotations

import json
import random

import asyncpg
import pytest

from audit import recount
from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from crypto import canonical
from crypto.ballots import generate_tally_keypair
from crypto.encoding import b64encode
from tests.fixtures.rounds import GRADES, PASSPHRASE, make_round_primary, make_voters
from voting.ballots import assigned_candidates, cast
from voting.log import LogService
from voting.majority import tally
from voting.refusals import Refused
from voting.results import get_result, reveal_and_tally
from voting.rounds import close_round, get_round, key_file, open_round

pytestmark = pytest.mark.anyio


async def _bodies(pool, log: LogService, primary_id, kind: str) -> list[dict]:
    await log.integrate(pool, primary_id)
    head = await log.head(pool, primary_id)
    return [
        canonical.loads(e.entry)["body"]
        for e in await log.entries(pool, primary_id, 0, head.size)
        if e.kind == kind
    ]


async def _vote_and_close(pool, log, primary, voters, *, blank_every=5, seed=3, **open_kwargs):
    rng = random.Random(seed)
    async with pool.acquire() as conn:
        async with conn.transaction():
            opened = await open_round(
                conn, log, primary_id=primary.id, opened_by=None, **open_kwargs
            )
        cast_ballots = []
        for i, voter in enumerate(voters):
            async with conn.transaction():
                assigned = await assigned_candidates(conn, opened.round, voter)
                blank = blank_every and i % blank_every == 0
                grades = {} if blank else {c: rng.randrange(len(GRADES)) for c in assigned}
                await cast(
                    conn,
                    log,
                    primary_id=primary.id,
                    number=opened.round.number,
                    account_id=voter,
                    grades=grades,
                    blank=bool(blank),
                )
            cast_ballots.append(grades)
        async with conn.transaction():
            await close_round(conn, log, primary_id=primary.id, number=opened.round.number)
    return opened, cast_ballots


async def test_wrong_passphrase_or_key_is_refused_and_changes_nothing(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary, round_voters
) -> None:
    await _vote_and_close(
        log_pool, log_service, round_primary, round_voters[:4], passphrase=PASSPHRASE
    )
    await log_service.integrate(log_pool, round_primary.id)
    before = await log_service.head(log_pool, round_primary.id)
    other = generate_tally_keypair()
    wrong_file = json.dumps(key_file("o", round_primary.id, 1, other.public_key, other.secret_key))
    attempts = [
        {"passphrase": "not the passphrase at all"},
        {"key_file": wrong_file},
        {"key_file": "{not json"},
        {"key_file": json.dumps({"format": "scrutin-tally-key/v1", "tally_secret_key": "%%"})},
        {},
    ]
    for attempt in attempts:
        with pytest.raises(Refused):
            await reveal_and_tally(
                log_pool, log_service, primary_id=round_primary.id, number=1, **attempt
            )
    after = await log_service.head(log_pool, round_primary.id)
    assert after == before
    async with log_pool.acquire() as conn:
        round_ = await get_round(conn, round_primary.id, 1)
        assert round_ is not None and round_.status == "closed"
        assert await get_result(conn, round_.id) is None
    # Revealing before the close is refused too.
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service)
        async with conn.transaction():
            await open_round(
                conn, log_service, primary_id=primary.id, opened_by=None, passphrase=PASSPHRASE
            )
    with pytest.raises(Refused, match="Clôturez"):
        await reveal_and_tally(
            log_pool, log_service, primary_id=primary.id, number=1, passphrase=PASSPHRASE
        )


async def test_result_matches_the_engine_and_the_independent_verifier(
    log_pool: asyncpg.Pool, log_service: LogService, round_primary, round_voters
) -> None:
    opened, ballots = await _vote_and_close(
        log_pool, log_service, round_primary, round_voters, passphrase=PASSPHRASE
    )
    tallied = await reveal_and_tally(
        log_pool, log_service, primary_id=round_primary.id, number=1, passphrase=PASSPHRASE
    )
    [body] = await _bodies(log_pool, log_service, round_primary.id, "result")
    assert body == tallied.body
    [key_body] = await _bodies(log_pool, log_service, round_primary.id, "tally-key")
    assert key_body["round"] == 1
    ids = opened.round.candidate_ids
    valid = sum(1 for b in ballots if b)
    engine = tally(GRADES, ids, ballots=ballots, participants=valid)
    assert body["counts"] == {"valid": valid, "blank": len(ballots) - valid, "invalid": 0}
    assert body["ranking"] == list(engine.ranking)
    for c in ids:
        assert body["candidates"][c] == {
            "profile": list(engine.profiles[c]),
            "majority_grade": engine.majority_grades[c],
            "rank": engine.ranks[c],
        }
    independent = recount.tally(
        GRADES,
        ids,
        ballots,
        rule="majority-value",
        missing="normalize",
        default_grade=0,
        upper_median=False,
    )
    assert independent["candidates"] == body["candidates"]
    assert {frozenset(g) for g in independent["tie_groups"]} == {
        frozenset(g) for g in body["tie_groups"]
    }
    assert set(tallied.explanations) == {"fr", "en"}
    assert any(round_primary.names[ids[0]].split()[0] in s for s in tallied.explanations["fr"])
    # The whole log verifies with the independent tool, recount included.
    export = await log_service.export(log_pool, round_primary.id)
    data = parse_export(json.dumps(export).encode(), "export")
    report = verify(data, parse_verifier_key(export["vkey"]))
    assert report.ok, report.render("en")
    # Revealing twice is refused.
    with pytest.raises(Refused, match="déjà publié"):
        await reveal_and_tally(
            log_pool, log_service, primary_id=round_primary.id, number=1, passphrase=PASSPHRASE
        )


async def test_subset_round_with_key_file_then_second_round(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(
            conn, log_service, candidates=7, subset_size=3, missing="worst-grade"
        )
        voters = await make_voters(conn, 21)
    opened, ballots = await _vote_and_close(log_pool, log_service, primary, voters, blank_every=7)
    assert opened.key_file is not None
    tallied = await reveal_and_tally(
        log_pool, log_service, primary_id=primary.id, number=1, key_file=json.dumps(opened.key_file)
    )
    ids = opened.round.candidate_ids
    valid = sum(1 for b in ballots if b)
    engine = tally(GRADES, ids, ballots=ballots, participants=valid, missing="worst-grade")
    assert tallied.body["ranking"] == list(engine.ranking)
    assert all(sum(v["profile"]) < valid for v in tallied.body["candidates"].values())
    # Round 2 with the best three of round 1.
    best = tallied.body["ranking"][:3]
    opened2, _ = await _vote_and_close(
        log_pool, log_service, primary, voters[:6], candidate_ids=best, passphrase=PASSPHRASE
    )
    assert opened2.round.number == 2 and sorted(opened2.round.candidate_ids) == sorted(best)
    await reveal_and_tally(
        log_pool, log_service, primary_id=primary.id, number=2, passphrase=PASSPHRASE
    )
    export = await log_service.export(log_pool, primary.id)
    report = verify(
        parse_export(json.dumps(export).encode(), "export"), parse_verifier_key(export["vkey"])
    )
    assert report.ok, report.render("en")
    assert b64encode(opened.round.tally_public_key)  # the key file matched the published key
