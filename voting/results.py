"""Revealing a round's tally key, opening the ballots, tallying, publishing the result.

`reveal_and_tally` checks the key first (passphrase or key file against the round's public
key): a wrong one is refused and nothing changes. Then, in one transaction, it appends the
`tally-key` entry, opens every ballot entry of the round, tallies them with the engine under
the definition's rule and policies, and appends the `result` entry (docs/audit-log.md §8),
computed over the tree as it stood (size and root stated in the entry).
"""

from __future__ import annotations

import asyncio
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from crypto import canonical, keys
from crypto.ballots import OpenedBallot, check_tally_key, open_ballot
from crypto.encoding import Base64Error, b64decode, b64encode
from crypto.json_types import JSONObject
from voting.entry_kinds import Result, TallyKey
from voting.grades import grade_scale
from voting.log import LogService, Queued
from voting.log import readers as log_readers
from voting.majority import TallyError, TallyResult, tally
from voting.refusals import Refused
from voting.rounds import KEY_FILE_FORMAT, TALLY_KEY_PURPOSE, Round, get_round
from voting.unit_of_work import UnitOfWork

__all__ = [
    "Tallied",
    "ballot_entries",
    "get_result",
    "read_key_file",
    "reveal_and_tally",
    "tally_round",
    "unlock_tally_key",
]


@dataclass(frozen=True)
class BallotEntry:
    index: int
    tracker: str
    sealed: str


@dataclass(frozen=True)
class Tallied:
    body: dict[str, Any]
    result: TallyResult
    explanations: dict[str, list[str]]
    invalid: list[str]
    tally_key_queued: Queued
    result_queued: Queued


def read_key_file(data: bytes | str) -> JSONObject:
    """Parse an uploaded key file; RevealError when it is not one."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise Refused("not-a-key-file", field="key_file") from None
    if not isinstance(value, dict) or value.get("format") != KEY_FILE_FORMAT:
        raise Refused("not-a-key-file", field="key_file")
    return value


async def unlock_tally_key(
    round_: Round, *, passphrase: str | None = None, key_file: bytes | str | None = None
) -> bytes:
    """The round's tally secret key from the passphrase or the key file, checked against the
    published public key. RevealError otherwise."""
    secret: bytes | None = None
    if key_file:
        value = read_key_file(key_file)
        try:
            secret = b64decode(str(value.get("tally_secret_key", "")), length=32, what="key")
        except (Base64Error, binascii.Error):
            raise Refused("unreadable-key", field="key_file") from None
    elif passphrase:
        if round_.sealed_tally_key is None:
            raise Refused("key-file-expected", field="key_file")
        try:
            secret = await asyncio.to_thread(
                keys.open_with_passphrase, round_.sealed_tally_key, passphrase, TALLY_KEY_PURPOSE
            )
        except keys.SealError:
            raise Refused("wrong-passphrase", field="passphrase") from None
    else:
        raise Refused("key-required", field="passphrase")
    if not check_tally_key(secret, round_.tally_public_key):
        raise Refused("wrong-key", field="key_file" if key_file else "passphrase")
    return secret


async def ballot_entries(
    conn: asyncpg.Connection, primary_id: UUID, number: int, *, before: int | None = None
) -> list[BallotEntry]:
    """The integrated ballot entries of a round, in log order."""
    rows = await log_readers.ballot_rows(conn, primary_id, before=before)
    found: dict[str | int, BallotEntry] = {}  # by credential, or by index without
    for row in rows:
        body = canonical.loads(bytes(row["entry"]))["body"]
        if body.get("round") == number:
            # Under voter credentials only the last ballot of each credential counts (§8).
            found.pop(body.get("credential"), None)
            found[body.get("credential") or row["idx"]] = BallotEntry(
                row["idx"], bytes(row["leaf_hash"]).hex(), body["sealed"]
            )
    return sorted(found.values(), key=lambda e: e.index)


def tally_round(
    round_: Round, opened: Sequence[OpenedBallot]
) -> tuple[TallyResult, dict[str, list[str]]]:
    """The engine's result for opened ballots, and the explanations with candidates' names."""
    d = round_.definition
    ids = round_.candidate_ids
    ballots: list[dict[str, int] | None] = [
        None if b.status == "invalid" else dict(b.grades) for b in opened
    ]
    valid = sum(1 for b in opened if b.status == "valid")
    options = {
        "rule": d["rule"],
        "missing": d["missing"],
        "default_grade": d["default_grade"],
        "upper_median": d["upper_median"],
    }
    # English explanations quote English grades (the organiser's, or a preset word's).
    scale = grade_scale(d["grades"], d.get("grade_labels"))
    # Every voter who graded someone is a participant (subset rounds: the missing policy
    # decides what a candidate not on a voter's ballot counts as).
    result = tally(scale, ids, ballots=ballots, participants=valid, **options)
    names = _unique_names(round_)
    return result, {lang: result.explanations(lang, names=names) for lang in ("fr", "en")}


def _unique_names(round_: Round) -> dict[str, str]:
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for c in round_.candidates:
        name = c["name"]
        seen[name] = seen.get(name, 0) + 1
        names[c["candidate"]] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return names


def result_body(
    round_: Round, result: TallyResult, *, tree_size: int, root: bytes
) -> dict[str, Any]:
    d = round_.definition
    return {
        "round": round_.number,
        "tree_size": tree_size,
        "root": b64encode(root),
        "rule": d["rule"],
        "missing": d["missing"],
        "upper_median": d["upper_median"],
        "default_grade": d["default_grade"],
        "counts": {k: result.counts[k] for k in ("valid", "blank", "invalid")},
        "candidates": {c: result.standing(c) for c in round_.candidate_ids},
        "ranking": list(result.ranking),
        "tie_groups": [list(g) for g in result.tie_groups if len(g) > 1],
    }


async def reveal_and_tally(
    pool: asyncpg.Pool,
    log: LogService,
    *,
    primary_id: UUID,
    number: int,
    passphrase: str | None = None,
    key_file: bytes | str | None = None,
) -> Tallied:
    """Reveal the key, open, tally, append `tally-key` then `result` in a unit of work (which
    publishes the checkpoint after commit), then record the result's index."""
    async with pool.acquire() as conn:
        round_ = await closed_round(conn, primary_id, number)
        if round_.key_custody == "trustees":  # §10: no tally key; the trustees decrypt
            raise Refused("encrypted-result-pending")
        secret = await unlock_tally_key(round_, passphrase=passphrase, key_file=key_file)
        # Every ballot precedes the close in the log: integrate up to it first.
        await log.integrate(pool, primary_id)
    async with UnitOfWork(pool, log) as uow:
        locked = await get_round(uow.conn, primary_id, number, lock="update")
        if locked is None or locked.status != "closed":
            raise Refused("already-tallied")
        round_ = locked
        close_index = await log_readers.round_close_index(uow.conn, primary_id, number)
        if close_index is None:
            raise Refused("close-not-logged")
        head = await log.head(uow.conn, primary_id)
        entries = await ballot_entries(uow.conn, primary_id, number, before=close_index)
        opened = await asyncio.to_thread(_open_all, secret, round_, entries)
        try:
            result, explanations = tally_round(round_, opened)
        except TallyError:
            # Rolled back with the transaction: the key stays secret, nothing appended.
            raise Refused("tally-refused") from None
        body = result_body(round_, result, tree_size=head.size, root=head.root)
        invalid = [e.tracker for e, o in zip(entries, opened, strict=True) if o.status == "invalid"]
        key_queued = await uow.log.append(
            uow.conn,
            primary_id,
            TallyKey(round=number, tally_secret_key=b64encode(secret)),
        )
        result_queued = await record_result(uow, round_, body, explanations, invalid)
    await store_result_index(pool, uow, round_, result_queued)
    return Tallied(body, result, explanations, invalid, key_queued, result_queued)


async def closed_round(conn: asyncpg.Connection, primary_id: UUID, number: int) -> Round:
    """The round to tally: it exists, is closed and has no result yet (else refused)."""
    round_ = await get_round(conn, primary_id, number)
    if round_ is None:
        raise Refused("round-not-found")
    if round_.status == "open":
        raise Refused("round-still-open")
    if round_.status == "tallied":
        raise Refused("already-tallied")
    return round_


async def record_result(
    uow: UnitOfWork,
    round_: Round,
    body: dict[str, Any],
    explanations: dict[str, list[str]],
    invalid_trackers: list[str],
) -> Queued:
    """In the unit of work: append the round's `result` entry, store it with its explanations
    and invalid trackers, mark the round tallied and tell its voters. The entry's index is
    known after commit: then `store_result_index`."""
    queued = await uow.log.append(uow.conn, round_.primary_id, Result(**body))
    await uow.conn.execute(
        """
        INSERT INTO round_results (round_id, result_index, body, explanations,
                                   invalid_trackers)
        VALUES ($1, -1, $2::text::jsonb, $3::text::jsonb, $4::text::jsonb)
        """,
        round_.id,
        json.dumps(body, ensure_ascii=False),
        json.dumps(explanations, ensure_ascii=False),
        json.dumps(invalid_trackers),
    )
    await uow.conn.execute(
        "UPDATE rounds SET status = 'tallied', tallied_at = now() WHERE id = $1", round_.id
    )
    from voting.notifications import results_published

    await results_published(uow.conn, round_.primary_id, round_.number, round_.candidate_ids)
    return queued


async def store_result_index(
    pool: asyncpg.Pool, uow: UnitOfWork, round_: Round, queued: Queued
) -> None:
    """After the unit of work committed (it published the checkpoint and integrated the
    result): the stored result learns its log index."""
    placed = uow.placed(queued)
    await pool.execute(
        "UPDATE round_results SET result_index = $2 WHERE round_id = $1", round_.id, placed.index
    )


def _open_all(secret: bytes, round_: Round, entries: Sequence[BallotEntry]) -> list[OpenedBallot]:
    ids = round_.candidate_ids
    n = len(round_.grades)
    return [
        open_ballot(
            secret,
            e.sealed,
            round_.number,
            ids,
            n,
            allow_blank=round_.allow_blank,
            subset_size=round_.subset_size,
        )
        for e in entries
    ]


async def get_result(conn: asyncpg.Connection, round_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT result_index, body, explanations, invalid_trackers, tallied_at "
        "FROM round_results WHERE round_id = $1",
        round_id,
    )
    if row is None:
        return None
    data = dict(row)
    for name in ("body", "explanations", "invalid_trackers"):
        if isinstance(data[name], str):
            data[name] = json.loads(data[name])
    return data
