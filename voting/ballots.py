"""Casting a ballot: check, seal, log, mark as voted — in one transaction.

What the database keeps, and why it does not break ballot secrecy:

- the sealed ballot only in the log (a `ballot` entry: round + SealedBox, no voter identity);
- `voters_voted (round, account)`: who voted, with no ballot id, tracker or time;
- on subset rounds, each voter's candidate subset (`round_assignments`), needed to show the
  same ballot on every visit. A subset is close to a fingerprint of a ballot (it is the set of
  candidates the ballot grades), so the table exists only while no ballot can be opened: it
  is deleted in the close transaction, before the tally key can be revealed. Only the counts
  per candidate (`round_exposure`) remain, which link nobody to anything.

The receipt (tracker, index, proof) is given to the voter and never stored with the account.
What remains is the order of arrival: someone watching the database *while* people vote
can see who votes when, as with any online vote server; the close rewrites `voters_voted` in
random order so that the stored rows no longer follow the log's order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from crypto.ballots import seal_ballot
from crypto.encoding import b64encode
from voting.credentials import (
    Credential,
    ballot_message,
    credential_in_force,
    seal_token,
    sign_assisted,
    uses_voter_credentials,
    verify_signature,
)
from voting.encrypted_rounds import EncryptedCast, cast_encrypted, uses_encrypted_ballots
from voting.entry_kinds import Ballot
from voting.log import LogService, Queued
from voting.log import readers as log_readers
from voting.refusals import Refused, _
from voting.rounds import Round, get_round
from voting.subsets import draw_subset, shuffled

__all__ = [
    "BallotError",
    "SignedBallot",
    "assigned_candidates",
    "cast",
    "display_order",
    "has_voted",
    "parse_grades",
    "seal_for_signature",
]


class BallotError(Refused):
    """The choices on a ballot are incomplete or wrong: `errors` maps a candidate id (or ""
    for the whole ballot) to its French message, which the booth shows next to it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("ballot-invalid")
        self.errors = errors

    def __str__(self) -> str:
        return "; ".join(f"{k or 'ballot'}: {v}" for k, v in self.errors.items())


async def assigned_candidates(
    conn: asyncpg.Connection, round_: Round, account_id: UUID, *, rng: random.Random | None = None
) -> list[str]:
    """The candidates on this voter's ballot, in round order: all, or the voter's subset.

    On a subset round the subset is drawn at the first visit (balanced exposure, see
    voting.subsets) and stored until the round closes. Call inside a transaction.
    """
    if not round_.uses_subsets:
        return round_.candidate_ids
    stored = await conn.fetchval(
        "SELECT candidates FROM round_assignments WHERE round_id = $1 AND account_id = $2",
        round_.id,
        account_id,
    )
    if stored is not None:
        return _id_list(stored)
    if round_.status != "open":
        return []
    # Lock the counts: concurrent first visits draw one after the other, which keeps the
    # balance bound of voting.subsets exact.
    rows = await conn.fetch(
        "SELECT candidate, shown FROM round_exposure WHERE round_id = $1 ORDER BY candidate "
        "FOR UPDATE",
        round_.id,
    )
    exposure = {row["candidate"]: row["shown"] for row in rows}
    subset = draw_subset(
        round_.candidate_ids, exposure, round_.subset_size, rng or random.SystemRandom()
    )
    inserted = await conn.fetchval(
        """
        INSERT INTO round_assignments (round_id, account_id, candidates)
        VALUES ($1, $2, $3::text::jsonb) ON CONFLICT DO NOTHING RETURNING candidates
        """,
        round_.id,
        account_id,
        json.dumps(subset),
    )
    if inserted is None:  # a concurrent first visit won
        return _id_list(
            await conn.fetchval(
                "SELECT candidates FROM round_assignments WHERE round_id = $1 AND account_id = $2",
                round_.id,
                account_id,
            )
        )
    await conn.execute(
        "UPDATE round_exposure SET shown = shown + 1 WHERE round_id = $1 AND candidate = ANY($2)",
        round_.id,
        subset,
    )
    return subset


def _id_list(value: Any) -> list[str]:
    """A jsonb list of candidate ids (text on a connection without the json codec): the
    column's value, which asyncpg leaves untyped, gets its type here."""
    ids: list[str] = json.loads(value) if isinstance(value, str) else value
    return ids


def display_order(
    candidates: Sequence[str], round_id: UUID, account_id: UUID, secret: str
) -> list[str]:
    """This voter's order of the candidates: shuffled, the same on every visit.

    The seed is an HMAC with the service secret, so nobody can predict another voter's order
    (ballot position effects average out over voters).
    """
    seed = hmac.new(
        secret.encode("utf-8"), f"booth-order/{round_id}/{account_id}".encode(), hashlib.sha256
    ).digest()
    return shuffled(candidates, seed)


def parse_grades(
    form: Mapping[str, object], candidates: Sequence[str], n_grades: int, *, prefix: str = "grade-"
) -> dict[str, int | None]:
    """Read ``grade-<candidate>`` fields; None where missing or not a number."""
    grades: dict[str, int | None] = {}
    for cid in candidates:
        raw = form.get(prefix + cid)
        try:
            grades[cid] = int(str(raw)) if raw not in (None, "") else None
        except ValueError:
            grades[cid] = None
    return grades


def check_choices(
    grades: Mapping[str, object],
    assigned: Sequence[str],
    n_grades: int,
    *,
    blank: bool,
    allow_blank: bool,
) -> dict[str, int]:
    """The ballot to seal, or BallotError naming what is wrong.

    Every assigned candidate must be graded with a grade on the scale, unless the voter
    chose a blank ballot (where the round allows it); no other candidate may be graded.
    """
    errors: dict[str, str] = {}
    if blank:
        if not allow_blank:
            raise BallotError({"": _("Le vote blanc n’est pas prévu pour ce tour.")})
        if any(v is not None for v in grades.values()):
            raise BallotError(
                {"": _("Un vote blanc ne contient aucune mention : choisissez l’un ou l’autre.")}
            )
        return {}
    allowed = set(assigned)
    for cid in grades:
        if cid not in allowed:
            errors[cid] = _("Ce candidat ne figure pas sur votre bulletin.")
    clean: dict[str, int] = {}
    for cid in assigned:
        value = grades.get(cid)
        if value is None:
            errors[cid] = _("Choisissez une mention pour ce candidat.")
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n_grades:
            errors[cid] = _("Cette mention n’existe pas sur l’échelle.")
        else:
            clean[cid] = value
    if errors:
        raise BallotError(errors)
    return clean


async def has_voted(conn: asyncpg.Connection, round_id: UUID, account_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM voters_voted WHERE round_id = $1 AND account_id = $2",
            round_id,
            account_id,
        )
    )


@dataclass(frozen=True)
class SignedBallot:
    """A ballot sealed by the service (`seal_for_signature`) and signed on the voter's device."""

    sealed: bytes
    token: str
    signature: bytes


async def _checked(
    conn: asyncpg.Connection,
    *,
    primary_id: UUID,
    number: int,
    account_id: UUID,
    now: datetime,
) -> Round:
    round_ = await get_round(conn, primary_id, number, lock="share")
    if round_ is None:
        raise Refused("round-not-found")
    if not round_.accepts_ballots(now):
        raise Refused("round-closed")
    from voting.eligibility import is_eligible

    if not await is_eligible(conn, primary_id, account_id, lock=True):
        raise Refused("not-eligible")
    return round_


async def _credential(
    conn: asyncpg.Connection, primary_id: UUID, account_id: UUID, secret_key: str
) -> Credential:
    credential = await credential_in_force(conn, primary_id, account_id, secret_key=secret_key)
    if credential is None:
        raise Refused("no-credential")
    return credential


async def seal_for_signature(
    conn: asyncpg.Connection,
    *,
    secret_key: str,
    primary_id: UUID,
    number: int,
    account_id: UUID,
    grades: Mapping[str, object],
    blank: bool = False,
    now: datetime | None = None,
) -> tuple[bytes, str]:
    """Check and seal a ballot for the voter's device to sign: (sealed bytes, token).

    Nothing is written; `cast(signed=SignedBallot(sealed, token, signature))` logs it.
    """
    now = now or datetime.now(UTC)
    round_ = await _checked(
        conn, primary_id=primary_id, number=number, account_id=account_id, now=now
    )
    await _credential(conn, primary_id, account_id, secret_key)
    if uses_encrypted_ballots(round_.definition):  # the browser encrypts; nothing to seal
        raise Refused("encrypted-ballot-expected")
    assigned = await assigned_candidates(conn, round_, account_id)
    ballot = check_choices(
        grades, assigned, len(round_.grades), blank=blank, allow_blank=round_.allow_blank
    )
    sealed = seal_ballot(round_.tally_public_key, number, ballot, pad_to=round_.pad_to)
    return sealed, seal_token(secret_key, round_.id, account_id, sealed)


async def cast(
    conn: asyncpg.Connection,
    log: LogService,
    *,
    primary_id: UUID,
    number: int,
    account_id: UUID,
    grades: Mapping[str, object] | None = None,
    blank: bool = False,
    now: datetime | None = None,
    secret_key: str = "",
    signed: SignedBallot | None = None,
    encrypted: EncryptedCast | None = None,
) -> Queued:
    """Seal and log one ballot; mark the voter as having voted. In the caller's transaction.

    Raises Refused (round not open, not eligible, already voted) or BallotError (choices).
    Concurrent casts by one voter: the primary key of voters_voted lets exactly one through.

    Under `credentials: voter` (docs/audit-log.md §8) the ballot carries the voter's key and
    signature: `signed` from the voter's device, or, for an assisted credential, a signature
    the service makes with the key it keeps; the voter may cast again until the round
    closes, and only the last ballot counts.

    Under `ballots: "encrypted"` (§10) the voter's browser posts `encrypted` (its blob and
    signature; `voting.encrypted_rounds`), or, for an assisted credential, the service
    encrypts `grades` on the voter's behalf; the service never seals such a ballot.
    """
    now = now or datetime.now(UTC)
    round_ = await _checked(
        conn, primary_id=primary_id, number=number, account_id=account_id, now=now
    )
    voter = uses_voter_credentials(round_.definition)
    credential = await _credential(conn, primary_id, account_id, secret_key) if voter else None
    if not voter and await has_voted(conn, round_.id, account_id):
        raise Refused("already-voted")
    if credential is not None and uses_encrypted_ballots(round_.definition):
        if signed is not None:  # a sealed ballot: the service never seals in this round
            raise Refused("encrypted-ballot-expected")
        return await cast_encrypted(
            conn, log, round_, credential, account_id=account_id, grades=grades, blank=blank,
            encrypted=encrypted, now=now,
        )  # fmt: skip
    if credential is not None and signed is not None:
        if not hmac.compare_digest(
            signed.token, seal_token(secret_key, round_.id, account_id, signed.sealed)
        ):
            raise Refused("bad-sealed-token")
        sealed = signed.sealed
        fresh = await conn.fetchval(
            "INSERT INTO sealed_ballots_cast (round_id, digest) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            round_.id,
            hashlib.sha256(sealed).digest(),
        )
        if fresh is None:  # the same signed ballot posted twice: it is already in the log
            raise Refused("already-cast")
    else:
        if credential is not None and not credential.assisted:
            raise Refused("signature-required")
        assigned = await assigned_candidates(conn, round_, account_id)
        ballot = check_choices(
            grades or {}, assigned, len(round_.grades), blank=blank,
            allow_blank=round_.allow_blank,
        )  # fmt: skip
        sealed = seal_ballot(round_.tally_public_key, number, ballot, pad_to=round_.pad_to)
    marked = await conn.fetchval(
        """
        INSERT INTO voters_voted (round_id, account_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING RETURNING 1
        """,
        round_.id,
        account_id,
    )
    if marked is None and not voter:  # a concurrent cast by the same voter committed first
        raise Refused("already-voted")
    entry = Ballot(round=number, sealed=b64encode(sealed))
    if credential is not None:
        origin = await log_readers.origin(conn, primary_id)
        assert origin is not None, primary_id  # a primary's log is created with it
        message = ballot_message(origin, number, sealed)
        signature = signed.signature if signed is not None else sign_assisted(credential, message)
        if not verify_signature(credential.public_key, message, signature):
            raise Refused("bad-signature")
        entry = dataclasses.replace(
            entry, credential=credential.b64, credential_sig=b64encode(signature)
        )
    return await log.append(
        conn, primary_id, entry, at=now
    )  # dated when the round's window was checked open (§9 check 11)
