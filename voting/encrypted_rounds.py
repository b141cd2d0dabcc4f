"""Rounds of a primary with `ballots: "encrypted"` (issue 14; docs/audit-log.md §10).

What changes from a sealed (v1) round, and where:

- opening (`voting.rounds.open_round`): the round's key is the election key the trustees made
  (`voting.trustees.election_key`); none exists yet, no round opens. The `round-open` entry
  carries it as `election_public_key`; the `rounds` row keeps it in `tally_public_key` with the
  custody `trustees` (migration 0015). No tally secret exists anywhere;
- casting (`voting.ballots.cast` → :func:`encrypted_ballot_body`): the JavaScript booth posts
  the blob its browser encrypted and proved (web/static/ballot-crypto.js) and the credential's
  signature; the service checks the signature, then every proof (in a worker thread), and
  refuses an invalid ballot. Without JavaScript the voter's credential is an assisted one (the
  service holds its seed): the service encrypts and signs on the voter's behalf, and the roll
  already counts the credential as assisted;
- the close (:func:`publish_round_sums`): the sums of the last *valid* ballot of each
  credential, per candidate per grade and blank, in a `tally-sums` entry;
- the result (:func:`publish_encrypted_result`): once k trustees have posted their decryption
  shares (`voting.trustees.post_decryption`), the profiles and the blank count they decrypt go
  to the engine (`voting.majority.tally(profiles=…)`) and the `result` entry is written. No
  individual ballot is ever decrypted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

import asyncpg
from nacl.signing import SigningKey

from crypto import canonical
from crypto import encrypted_ballots as eb
from crypto.encoding import b64decode, b64encode
from voting.credentials import Credential
from voting.entry_kinds import Ballot
from voting.log import LogService, Queued
from voting.log import readers as log_readers
from voting.majority import TallyError, TallyResult, tally
from voting.refusals import Refused
from voting.rounds import Round, get_round

__all__ = [
    "EncryptedCast",
    "RoundCount",
    "cast_encrypted",
    "count_round",
    "encrypted_ballot_body",
    "publish_encrypted_result",
    "publish_round_sums",
    "round_params",
    "uses_encrypted_ballots",
    "verdict_of_entry",
]


def uses_encrypted_ballots(definition: Mapping[str, object]) -> bool:
    return definition.get("ballots") == "encrypted"


def round_params(round_: Round, origin: str) -> eb.RoundParams:
    """What a ballot of this round is built and checked against (the `round-open`'s election
    key and candidate list, the definition's grades, allow_blank and subset_size)."""
    return eb.RoundParams(
        origin=origin,
        round=round_.number,
        election_key=round_.tally_public_key,
        candidates=tuple(round_.candidate_ids),
        n_grades=len(round_.grades),
        allow_blank=round_.allow_blank,
        subset_size=round_.subset_size,
    )


async def origin_of(conn: asyncpg.Connection, primary_id: UUID) -> str:
    origin = await log_readers.origin(conn, primary_id)
    assert origin is not None  # every primary has its log
    return origin


class EncryptedBallotBody(TypedDict):
    """The `ballot` entry body of an encrypted round (`voting.entry_kinds.Ballot`)."""

    round: int
    encrypted: str
    credential: str
    credential_sig: str


@dataclass(frozen=True)
class EncryptedCast:
    """A ballot the voter's browser encrypted, proved and signed with its credential."""

    blob: bytes
    signature: bytes


async def encrypted_ballot_body(
    conn: asyncpg.Connection,
    round_: Round,
    credential: Credential,
    *,
    assigned: Sequence[str],
    ballot: Mapping[str, int] | None,
    cast: EncryptedCast | None,
) -> EncryptedBallotBody:
    """The `ballot` entry body of an encrypted round, checked: from the browser's blob
    (`cast`), or encrypted here for an assisted credential (`ballot`: the checked grades of
    the voter's `assigned` candidates, None for a blank ballot). Refused otherwise."""
    origin = await origin_of(conn, round_.primary_id)
    params = round_params(round_, origin)
    if cast is None:
        if not credential.assisted or credential.seed is None:
            raise Refused("signature-required")
        key = SigningKey(credential.seed)
        built = await asyncio.to_thread(eb.build_ballot, params, list(assigned), ballot, key)
        return typing.cast(EncryptedBallotBody, built)  # the members build_ballot documents
    body: EncryptedBallotBody = {
        "round": round_.number,
        "encrypted": b64encode(cast.blob),
        "credential": credential.b64,
        "credential_sig": b64encode(cast.signature),
    }
    if not eb.check_signature(origin, body):
        raise Refused("bad-signature")
    verdict = await asyncio.to_thread(eb.check, params, credential.public_key, cast.blob)
    if not verdict.valid:
        raise Refused("encrypted-ballot-invalid", why=verdict.reason)
    assert verdict.ballot is not None
    if round_.uses_subsets:
        # The subset the service drew is public per row; a ballot grading others is refused.
        rows = sorted(r.candidate for r in verdict.ballot.rows)
        if rows != sorted(assigned):
            raise Refused("encrypted-ballot-invalid", why="not-your-subset")
    return body


async def cast_encrypted(
    conn: asyncpg.Connection,
    log: LogService,
    round_: Round,
    credential: Credential,
    *,
    account_id: UUID,
    grades: Mapping[str, object] | None,
    blank: bool,
    encrypted: EncryptedCast | None,
    now: datetime,
) -> Queued:
    """`voting.ballots.cast` for an encrypted round, after its checks of the round, the
    eligibility and the credential: check or build the ballot, mark the voter, log it."""
    from voting.ballots import assigned_candidates, check_choices

    assigned = await assigned_candidates(conn, round_, account_id)
    ballot: Mapping[str, int] | None = None
    if encrypted is None:
        if not credential.assisted:
            raise Refused("signature-required")
        checked = check_choices(
            grades or {}, assigned, len(round_.grades), blank=blank,
            allow_blank=round_.allow_blank,
        )  # fmt: skip
        ballot = None if blank else checked
    body = await encrypted_ballot_body(
        conn, round_, credential, assigned=assigned, ballot=ballot, cast=encrypted
    )
    if encrypted is not None:
        fresh = await conn.fetchval(
            "INSERT INTO sealed_ballots_cast (round_id, digest) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            round_.id,
            hashlib.sha256(encrypted.blob).digest(),
        )
        if fresh is None:  # the same signed ballot posted twice: it is already in the log
            raise Refused("already-cast")
    await conn.execute(
        "INSERT INTO voters_voted (round_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        round_.id,
        account_id,
    )
    # Dated when the round's window was checked open (§9 check 11).
    return await log.append(conn, round_.primary_id, Ballot(**body), at=now)


def verdict_of_entry(params: eb.RoundParams, body: Mapping[str, object]) -> eb.Verdict:
    """Whether a logged encrypted ballot is valid (signature first: a forged one is invalid
    here as well, being counted nowhere)."""
    if not eb.check_signature(params.origin, body):
        return eb.Verdict(False, "bad-signature", None)
    try:
        blob = b64decode(str(body["encrypted"]), what="encrypted")
        credential = b64decode(str(body["credential"]), length=32, what="credential")
    except (KeyError, ValueError):
        return eb.Verdict(False, "bad-layout", None)
    return eb.check(params, credential, blob)


def invalidity_check(
    conn: asyncpg.Connection, primary_id: UUID
) -> Callable[[int, Mapping[str, object]], Awaitable[str | None]]:
    """For `credentials.key_history`: why a logged ballot counts nowhere (the reason of an
    encrypted ballot whose proofs or signature fail), or None (a valid encrypted ballot, or a
    ballot of a round that is not encrypted, which §8 counts as the last one whatever)."""
    params: dict[int, eb.RoundParams | None] = {}

    async def invalid(number: int, body: Mapping[str, object]) -> str | None:
        if "encrypted" not in body:
            return None
        if number not in params:
            round_ = await get_round(conn, primary_id, number)
            params[number] = (
                None if round_ is None else round_params(round_, await origin_of(conn, primary_id))
            )
        round_params_ = params[number]
        if round_params_ is None:
            return "unknown-round"
        verdict = await asyncio.to_thread(verdict_of_entry, round_params_, body)
        return None if verdict.valid else verdict.reason

    return invalid


@dataclass
class RoundCount:
    """The counted ballots of a closed encrypted round, still encrypted."""

    sums: eb.Sums
    invalid: list[tuple[str, str]]  # (tracker, reason) of every invalid ballot
    lost: int  # credentials with no valid ballot: counted as invalid in the result
    close_index: int


async def _close_index(conn: asyncpg.Connection, primary_id: UUID, number: int) -> int:
    index = await log_readers.round_close_index(conn, primary_id, number)
    if index is None:
        raise Refused("close-not-logged")
    return index


def _count(
    params: eb.RoundParams, entries: Sequence[tuple[str, Mapping[str, object]]]
) -> RoundCount:
    last: dict[str, eb.EncryptedBallot | None] = {}
    invalid: list[tuple[str, str]] = []
    for tracker, body in entries:
        verdict = verdict_of_entry(params, body)
        key = str(body.get("credential"))
        if verdict.valid:
            last[key] = verdict.ballot  # only the last valid ballot of a credential counts
        else:
            invalid.append((tracker, verdict.reason))
            last.setdefault(key, None)
    counted = [b for b in last.values() if b is not None]
    sums = eb.sum_ballots(params.n_grades, counted)
    return RoundCount(sums, invalid, len(last) - len(counted), -1)


async def count_round(conn: asyncpg.Connection, round_: Round, origin: str) -> RoundCount:
    """Verify every ballot of a closed round (in a worker thread) and add up the counted
    ones: the last valid ballot of each credential. The log must be integrated up to the
    round's close."""
    close_index = await _close_index(conn, round_.primary_id, round_.number)
    rows = await log_readers.ballot_rows(conn, round_.primary_id, before=close_index)
    entries = []
    for row in rows:
        body = canonical.loads(bytes(row["entry"]))["body"]
        if body.get("round") == round_.number:
            entries.append((bytes(row["leaf_hash"]).hex(), body))
    count = await asyncio.to_thread(_count, round_params(round_, origin), entries)
    count.close_index = close_index
    return count


# The `tally-sums` and `result` bodies below are those of voting.trustees.publish_sums and
# voting.results.result_body, returned as they type them.


async def publish_round_sums(
    pool: asyncpg.Pool, log: LogService, *, primary_id: UUID, number: int
) -> dict[str, Any] | None:
    """After an encrypted round's close: verify and add up its counted ballots and log the
    `tally-sums` the trustees decrypt. Nothing for a round that is not encrypted, not closed,
    or whose sums are out (then None)."""
    from voting import trustees
    from voting.unit_of_work import UnitOfWork

    async with pool.acquire() as conn:
        round_ = await get_round(conn, primary_id, number)
        if round_ is None or not uses_encrypted_ballots(round_.definition):
            return None
        if round_.status != "closed" or await trustees.tally_sums(conn, primary_id, number):
            return None
    await log.integrate(pool, primary_id)  # every ballot precedes the close in the tree
    async with pool.acquire() as conn:
        count = await count_round(conn, round_, await origin_of(conn, primary_id))
    async with UnitOfWork(pool, log) as uow:
        if await trustees.tally_sums(uow.conn, primary_id, number) is not None:
            return None  # published meanwhile (the lock in publish_sums orders the two)
        return await trustees.publish_sums(
            uow.conn,
            uow.log,
            primary_id=primary_id,
            round_number=number,
            ballots=count.sums.ballots,
            sums=count.sums.rows,
            blank=count.sums.blank if round_.allow_blank and count.sums.ballots else None,
        )


def tally_profiles(
    round_: Round, profiles: Mapping[str, Sequence[int]], *, valid: int, blank: int, invalid: int
) -> TallyResult:
    """The engine's result for decrypted profiles (every rule and missing-judgment policy):
    the participants are the voters of valid non-blank ballots."""
    from voting.grades import grade_scale

    d = round_.definition
    result = tally(
        grade_scale(d["grades"], d.get("grade_labels")),
        round_.candidate_ids,
        profiles={c: list(profiles.get(c, [0] * len(d["grades"]))) for c in round_.candidate_ids},
        participants=valid,
        rule=d["rule"],
        missing=d["missing"],
        default_grade=d["default_grade"],
        upper_median=d["upper_median"],
    )
    return dataclasses.replace(result, counts={"valid": valid, "blank": blank, "invalid": invalid})


async def publish_encrypted_result(
    pool: asyncpg.Pool, log: LogService, *, primary_id: UUID, number: int
) -> dict[str, Any]:
    """Combine the first k decryption shares of a closed round, tally the profiles and write
    the `result` entry; the round is then tallied. Refused with fewer than k shares."""
    from voting import trustees
    from voting.results import (
        _unique_names,
        closed_round,
        record_result,
        result_body,
        store_result_index,
    )

    async with pool.acquire() as conn:
        round_ = await closed_round(conn, primary_id, number)
    await log.integrate(pool, primary_id)
    async with pool.acquire() as conn:
        count = await count_round(conn, round_, await origin_of(conn, primary_id))
        decrypted = await trustees.decrypt_round(
            conn, primary_id, number, candidates=round_.candidate_ids, grades=len(round_.grades)
        )
    valid = decrypted.ballots - decrypted.blank
    try:
        result = tally_profiles(
            round_, decrypted.profiles, valid=valid, blank=decrypted.blank, invalid=count.lost
        )
    except TallyError:
        raise Refused("tally-refused") from None
    names = _unique_names(round_)
    explanations = {lang: result.explanations(lang, names=names) for lang in ("fr", "en")}
    from voting.unit_of_work import UnitOfWork

    async with UnitOfWork(pool, log) as uow:
        locked = await get_round(uow.conn, primary_id, number, lock="update")
        assert locked is not None
        if locked.status != "closed":
            raise Refused("already-tallied")
        head = await log.head(uow.conn, primary_id)
        body = result_body(round_, result, tree_size=head.size, root=head.root)
        invalid = [tracker for tracker, _ in count.invalid]
        queued = await record_result(uow, round_, body, explanations, invalid)
    await store_result_index(pool, uow, round_, queued)
    return body
