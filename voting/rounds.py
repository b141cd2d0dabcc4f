"""Voting rounds: open over a frozen candidate list, close with the turnout.

Each service runs inside the caller's transaction and appends its log entry there
(docs/audit-log.md §8 `round-open`, `round-close`). Order between ballots and the close is
kept by row locks on the round: a cast holds ``FOR SHARE`` on it, the close takes
``FOR UPDATE``, so the close waits for every cast in flight and every later cast sees the
round closed.

The tally key: each round has its own X25519 key pair. The public half is in the
``round-open`` entry; the secret half is either sealed with a passphrase the organiser
chooses (Argon2id + SecretBox, crypto.keys) or handed to the organiser once as a file and not
stored at all. Nobody, not even someone with the database and the service secret, can open a
ballot before the organiser reveals the key at close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from crypto import canonical, keys, tiles
from crypto.ballots import ballot_plaintext_size, generate_tally_keypair
from crypto.encoding import b64encode
from voting.definition import DefinitionBody, parse_instant
from voting.entry_kinds import RoundClose, RoundOpen
from voting.log import LogService, Queued
from voting.log import readers as log_readers
from voting.refusals import Refused

logger = logging.getLogger("scrutin.rounds")

__all__ = [
    "KEY_FILE_FORMAT",
    "MIN_PASSPHRASE_LENGTH",
    "OpenedRound",
    "Round",
    "close_round",
    "count_ballot_entries",
    "eligible_candidates",
    "get_round",
    "key_file",
    "latest_round",
    "list_rounds",
    "open_round",
]

KEY_FILE_FORMAT = "scrutin-tally-key/v1"
MIN_PASSPHRASE_LENGTH = 12
TALLY_KEY_PURPOSE = "tally-key"


@dataclass(frozen=True)
class Round:
    id: UUID
    primary_id: UUID
    number: int
    status: str  # open, closed, tallied
    candidates: list[dict[str, str]]  # [{candidate, name, declaration}] as in round-open
    # The primary's `DefinitionBody` when the round opened, typed as a plain dict while
    # voting.results passes its members to the tally as one dict and tests build partial ones.
    definition: dict[str, Any]
    subset_size: int
    allow_blank: bool
    pad_to: int
    tally_public_key: bytes
    key_custody: str  # passphrase or file
    sealed_tally_key: bytes | None
    closes_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None
    turnout: int | None
    tallied_at: datetime | None

    @property
    def candidate_ids(self) -> list[str]:
        return [c["candidate"] for c in self.candidates]

    @property
    def names(self) -> dict[str, str]:
        return {c["candidate"]: c["name"] for c in self.candidates}

    @property
    def grades(self) -> list[str]:
        return list(self.definition["grades"])

    @property
    def uses_subsets(self) -> bool:
        return 0 < self.subset_size < len(self.candidates)

    def window(self) -> tuple[datetime, datetime | None]:
        """When ballots are accepted: from the opening (the organiser's decision) until the
        close, and never after the closing time set at opening nor after the end of the
        definition's `round-N` phase when it has one."""
        end = self.closes_at
        for phase in self.definition.get("phases", []):
            if phase.get("name") == f"round-{self.number}":
                phase_end = parse_instant(phase["end"], "end")
                end = phase_end if end is None else min(end, phase_end)
        return self.opened_at, end

    def accepts_ballots(self, now: datetime) -> bool:
        start, end = self.window()
        return self.status == "open" and now >= start and (end is None or now < end)


_ROUND_COLUMNS = """
    id, primary_id, number, status, candidates, definition, subset_size, allow_blank, pad_to,
    tally_public_key, key_custody, sealed_tally_key, closes_at, opened_at, closed_at, turnout,
    tallied_at
"""


def _jsonish(value: object) -> Any:  # a json column's value: the JSON it holds is untyped
    # The pool decodes json columns; a bare connection (tests, scripts) returns text.
    return json.loads(value) if isinstance(value, str) else value


def _round(row: asyncpg.Record) -> Round:
    data = dict(row)
    data["candidates"] = _jsonish(data["candidates"])
    data["definition"] = _jsonish(data["definition"])
    data["tally_public_key"] = bytes(data["tally_public_key"])
    if data["sealed_tally_key"] is not None:
        data["sealed_tally_key"] = bytes(data["sealed_tally_key"])
    return Round(**data)


async def get_round(
    conn: asyncpg.Connection, primary_id: UUID, number: int, *, lock: str | None = None
) -> Round | None:
    """One round; ``lock`` is ``"share"`` or ``"update"`` to take the row lock."""
    clause = {"share": " FOR SHARE", "update": " FOR UPDATE", None: ""}[lock]
    row = await conn.fetchrow(
        f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE primary_id = $1 AND number = $2{clause}",
        primary_id,
        number,
    )
    return None if row is None else _round(row)


async def list_rounds(conn: asyncpg.Connection, primary_id: UUID) -> list[Round]:
    rows = await conn.fetch(
        f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE primary_id = $1 ORDER BY number", primary_id
    )
    return [_round(row) for row in rows]


async def latest_rounds(conn: asyncpg.Connection) -> dict[UUID, Round]:
    """Each primary's latest round (the home page's cards), by primary id."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (primary_id) {_ROUND_COLUMNS} FROM rounds"
        " ORDER BY primary_id, number DESC"
    )
    return {r.primary_id: r for r in map(_round, rows)}


async def latest_round(conn: asyncpg.Connection, primary_id: UUID) -> Round | None:
    row = await conn.fetchrow(
        f"SELECT {_ROUND_COLUMNS} FROM rounds WHERE primary_id = $1 ORDER BY number DESC LIMIT 1",
        primary_id,
    )
    return None if row is None else _round(row)


async def eligible_candidates(conn: asyncpg.Connection, primary_id: UUID) -> list[dict[str, str]]:
    """Confirmed candidacies, as round-open list items, ordered by name."""
    rows = await conn.fetch(
        """
        SELECT id, name, declaration FROM candidacies
        WHERE primary_id = $1 AND status = 'confirmed'
        ORDER BY name, id
        """,
        primary_id,
    )
    return [
        {"candidate": str(row["id"]), "name": row["name"], "declaration": row["declaration"]}
        for row in rows
    ]


MIN_CANDIDATES = 2


def opening_refusal(
    definition: DefinitionBody,
    previous: Round | None,
    eligible: int,
    now: datetime,
    *,
    supports_closed: bool = False,
) -> Refused | None:
    """Why the next round cannot open now, whatever the organiser types, or None: the
    previous round is not tallied, round 1 would open before the supports phase is over (no
    candidate list is final before qualification), fewer than two candidates may stand, or
    the calendar's phase for the round has not begun or has ended. `open_round` refuses with
    it and the page to open a round shows it instead of a form the service would refuse."""
    if previous is not None and previous.status != "tallied":
        return Refused("previous-round-open", number=previous.number)
    number = 1 if previous is None else previous.number + 1
    moment = now.astimezone(UTC)
    phases = definition.get("phases", [])
    if number == 1 and not supports_closed:
        for phase in phases:
            if phase.get("name") == "supports" and parse_instant(phase["end"], "end") > moment:
                return Refused("supports-not-ended")
    if eligible < MIN_CANDIDATES:
        return Refused("too-few-candidates", field="candidates")
    for phase in phases:
        if (
            phase.get("name") == f"round-{number}"
            and parse_instant(phase["start"], "start") > moment
        ):
            # Its round-open entry would fall before the phase the calendar announces for it
            # (docs/audit-log.md §9 check 11), and the pages would still show the phase before.
            return Refused(
                "round-phase-not-started",
                field="closes_at",
                number=number,
                start=phase["start"].replace("T", " ").removesuffix("Z"),
            )
        if phase.get("name") == f"round-{number}" and parse_instant(phase["end"], "end") <= moment:
            # It could never accept a ballot (Round.window), and once voting has started the
            # calendar can no longer be revised: refuse now rather than open a dead round.
            return Refused("round-phase-ended", field="closes_at", number=number)
    return None


@dataclass(frozen=True)
class OpenedRound:
    round: Round
    queued: Queued
    # Only when the organiser chose the key file: the one and only copy of the secret.
    key_file: dict[str, str | int] | None


def key_file(
    origin: str, primary_id: UUID, number: int, public: bytes, secret: bytes
) -> dict[str, str | int]:
    """The JSON file an organiser keeps instead of a passphrase."""
    return {
        "format": KEY_FILE_FORMAT,
        "origin": origin,
        "primary": str(primary_id),
        "round": number,
        "tally_public_key": b64encode(public),
        "tally_secret_key": b64encode(secret),
    }


# Bounds of a result entry's variable parts: counts of at most 8 digits (more voters than any
# national roll), and the envelope of a long origin (a 253-character host, a 63-character slug).
_RESULT_COUNT_BOUND = 99_999_999
_ENVELOPE_BOUND = 600


def worst_result_entry_size(number: int, candidate_ids: Sequence[str], n_grades: int) -> int:
    """An upper bound of the bytes of the round's `result` entry (docs/audit-log.md §8): every
    count at its bound, every candidate in one tie group, plus the envelope."""
    big = _RESULT_COUNT_BOUND
    body = {
        "round": number,
        "tree_size": big,
        "root": "A" * 44,
        "rule": "majority-value",
        "missing": "worst-grade",
        "upper_median": False,
        "default_grade": n_grades - 1,
        "counts": {"valid": big, "blank": big, "invalid": big},
        "candidates": {
            c: {
                "profile": [big] * n_grades,
                "majority_grade": n_grades - 1,
                "rank": len(candidate_ids),
            }
            for c in candidate_ids
        },
        "ranking": list(candidate_ids),
        "tie_groups": [list(candidate_ids)],
    }
    return len(canonical.dumps(body)) + _ENVELOPE_BOUND


async def open_round(
    conn: asyncpg.Connection,
    log: LogService,
    *,
    primary_id: UUID,
    opened_by: UUID | None,
    candidate_ids: Sequence[str] | None = None,
    passphrase: str | None = None,
    closes_at: datetime | None = None,
    now: datetime | None = None,
) -> OpenedRound:
    """Open the next round over a frozen candidate list; append `round-open`.

    ``candidate_ids`` None means every confirmed candidacy (round 1) or every candidate of
    the previous round still confirmed (later rounds). With a ``passphrase`` the tally
    secret is stored sealed with it; without one, it is returned once as a key file and not
    stored. Opening round 1 marks the primary's voting as started.
    """
    primary = await conn.fetchrow(
        "SELECT id, slug, definition, supports_closed_at FROM primaries WHERE id = $1 FOR UPDATE",
        primary_id,
    )
    if primary is None:
        raise Refused("primary-not-found")
    definition: DefinitionBody = _jsonish(primary["definition"])
    previous = await latest_round(conn, primary_id)
    if previous is not None and previous.status != "tallied":
        raise Refused("previous-round-open", number=previous.number)
    if closes_at is not None and now is not None and closes_at <= now:
        raise Refused("closes-at-past", field="closes_at")
    confirmed = {c["candidate"]: c for c in await eligible_candidates(conn, primary_id)}
    if previous is not None:
        allowed = [confirmed[c] for c in previous.candidate_ids if c in confirmed]
    else:
        allowed = list(confirmed.values())
    allowed_ids = {c["candidate"] for c in allowed}
    if candidate_ids is None:
        chosen = allowed
    else:
        wanted = list(dict.fromkeys(str(c) for c in candidate_ids))
        for cid in wanted:
            if cid not in allowed_ids:
                if previous is not None and cid in confirmed:
                    raise Refused("not-in-previous-round", field="candidates")
                raise Refused("candidate-not-confirmed", field="candidates")
        chosen = [c for c in allowed if c["candidate"] in set(wanted)]
    moment = now or datetime.now(UTC)
    refusal = opening_refusal(
        definition, previous, len(allowed), moment,
        supports_closed=primary["supports_closed_at"] is not None,
    )  # fmt: skip
    if refusal is not None:
        raise refusal
    if len(chosen) < MIN_CANDIDATES:
        raise Refused("too-few-candidates", field="candidates")
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise Refused("passphrase-too-short", field="passphrase", n=MIN_PASSPHRASE_LENGTH)

    subset_size = int(definition.get("subset_size", 0))
    if definition.get("missing") == "strict" and 0 < subset_size < len(chosen):
        # Each voter grades only a subset, so every candidate lacks judgments: the strict
        # policy could never tally this round.
        raise Refused("strict-with-subsets", field="candidates", k=subset_size, n=len(chosen))
    number = 1 if previous is None else previous.number + 1
    # The result of this round must fit in one log entry as well (§7): refuse now a round
    # whose result could never be published, rather than a reveal that can never succeed.
    worst = worst_result_entry_size(
        number, [c["candidate"] for c in chosen], len(definition["grades"])
    )
    if worst > tiles.MAX_ENTRY_SIZE:
        raise Refused(
            "result-too-large", field="candidates", size=worst, limit=tiles.MAX_ENTRY_SIZE
        )
    from voting.encrypted_rounds import uses_encrypted_ballots

    encrypted = uses_encrypted_ballots(definition)
    election_key = None
    if encrypted:  # §10: the trustees' election key, no tally key at all
        from voting.trustees import election_key as trustees_key

        election_key = await trustees_key(conn, primary_id)
        if election_key is None:
            raise Refused("election-key-missing")
    pair = generate_tally_keypair()
    sealed = None
    if passphrase is not None and not encrypted:
        sealed = await asyncio.to_thread(
            keys.seal_with_passphrase, pair.secret_key, passphrase, TALLY_KEY_PURPOSE
        )
    grades = list(definition["grades"])
    allow_blank = bool(definition.get("allow_blank", False))
    pad_to = ballot_plaintext_size(number, [c["candidate"] for c in chosen], len(grades))
    row = await conn.fetchrow(
        f"""
        INSERT INTO rounds (primary_id, number, candidates, definition, subset_size,
                            allow_blank, pad_to, tally_public_key, key_custody,
                            sealed_tally_key, closes_at, opened_by, opened_at)
        VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb, $5, $6, $7, $8, $9, $10, $11, $12,
                $13)
        RETURNING {_ROUND_COLUMNS}
        """,
        primary_id,
        number,
        json.dumps(chosen, ensure_ascii=False),
        json.dumps(definition, ensure_ascii=False),
        subset_size,
        allow_blank,
        pad_to,
        election_key or pair.public_key,
        "trustees" if encrypted else "passphrase" if sealed is not None else "file",
        sealed,
        closes_at,
        opened_by,
        moment,
    )
    assert row is not None  # INSERT … RETURNING gives the new row
    opened = _round(row)
    if opened.uses_subsets:
        await conn.executemany(
            "INSERT INTO round_exposure (round_id, candidate, shown) VALUES ($1, $2, 0)",
            [(opened.id, c["candidate"]) for c in chosen],
        )
    if number == 1:
        # The list closes: a qualified candidate who did not confirm is not silently left off.
        from voting.candidacies import lapse_unconfirmed

        await lapse_unconfirmed(conn, log, primary_id)
    from voting.credentials import freeze_roll, uses_voter_credentials

    if uses_voter_credentials(definition):  # the keys that may sign this round's ballots
        await freeze_roll(conn, log, primary_id, number, moment)
    # The verifier checks subset_size and allow_blank against the definition (§8).
    key_member = (
        {"election_public_key": b64encode(election_key)}
        if election_key is not None
        else {"tally_public_key": b64encode(pair.public_key)}
    )
    queued = await log.append(
        conn,
        primary_id,
        RoundOpen(
            round=number,
            candidates=chosen,
            subset_size=subset_size,
            allow_blank=allow_blank,
            **key_member,
        ),
        at=moment,
    )
    if number == 1:
        from voting.primaries import mark_voting_started

        await mark_voting_started(conn, primary_id)
    from voting.notifications import round_opened

    await round_opened(conn, primary_id, number, [c["candidate"] for c in chosen], closes_at)
    file = None
    if sealed is None and not encrypted:
        origin = log.origin_for(primary["slug"])
        file = key_file(origin, primary_id, number, pair.public_key, pair.secret_key)
    return OpenedRound(opened, queued, file)


async def count_ballot_entries(conn: asyncpg.Connection, primary_id: UUID, number: int) -> int:
    """Ballot entries of a round in the log, integrated or still queued (committed); a
    voter's revotes count once (one per credential, docs/audit-log.md §8 "Revoting")."""
    return await log_readers.count_round_ballots(conn, primary_id, number)


async def close_round(
    conn: asyncpg.Connection,
    log: LogService,
    *,
    primary_id: UUID,
    number: int,
    now: datetime | None = None,
) -> tuple[Round, Queued]:
    """Close an open round: append `round-close` with the turnout.

    The turnout is the number of voters marked as having voted; it must equal the number of
    ballot entries of the round, otherwise the close is refused (and logged as an alert).
    Subset assignments are deleted and `voters_voted` is rewritten in random order, so that
    nothing left in the database orders voters like the ballots in the log.
    """
    current = await get_round(conn, primary_id, number, lock="update")
    if current is None:
        raise Refused("round-not-found")
    if current.status != "open":
        raise Refused("round-already-closed")
    moment = now or log.clock()
    turnout = await conn.fetchval(
        "SELECT count(*) FROM voters_voted WHERE round_id = $1", current.id
    )
    ballots = await count_ballot_entries(conn, primary_id, number)
    if turnout != ballots:
        logger.error(
            "ALERT: round %s of primary %s: %s voters marked as voted but %s ballot entries",
            number,
            primary_id,
            turnout,
            ballots,
        )
        raise Refused("close-mismatch", voters=turnout, ballots=ballots)
    await conn.execute("DELETE FROM round_assignments WHERE round_id = $1", current.id)
    voters = [
        row["account_id"]
        for row in await conn.fetch(
            "DELETE FROM voters_voted WHERE round_id = $1 RETURNING account_id", current.id
        )
    ]
    random.SystemRandom().shuffle(voters)
    await conn.execute(
        """
        INSERT INTO voters_voted (round_id, account_id)
        SELECT $1, account_id FROM unnest($2::uuid[]) WITH ORDINALITY AS v (account_id, n)
        ORDER BY n
        """,
        current.id,
        voters,
    )
    row = await conn.fetchrow(
        f"""
        UPDATE rounds SET status = 'closed', closed_at = $3, turnout = $2
        WHERE id = $1 RETURNING {_ROUND_COLUMNS}
        """,
        current.id,
        turnout,
        moment,
    )
    assert row is not None  # the round was read and locked above
    queued = await log.append(
        conn, primary_id, RoundClose(round=number, turnout=turnout), at=moment
    )
    return _round(row), queued
