"""Trustees of encrypted ballots: the key ceremony and the tally's decryption (issue 14).

docs/audit-log.md §10 is the contract. The organiser registers n trustees (`register`); each
trustee posts its Feldman commitments, proof of knowledge and shares sealed to the others
(`post_keygen`), then its check of the shares it received (`post_ack`); when all n have
acknowledged, the service writes the election key. After a round closes, the service publishes
the sums of the counted ballots' ciphertexts (`publish_sums`; a trustee fetches them with
their log entry, `logged_sums`), each trustee posts its decryption shares with their proofs
(`post_decryption`), and with k of them `decrypt_round` gives the merit profiles the result is
computed from (`accept_decryption` posts a share in its own unit of work and publishes the
result at the k-th, `voting.encrypted_rounds.publish_encrypted_result`).

Every trustee-made body is signed by the trustee's own key (`trustee_sig`) and checked here
before it is logged: the operator can refuse a contribution but not forge one. The service
stores public data only; no secret share ever reaches it in clear.

Services take a connection inside the caller's transaction and a log appender (the unit of
work's `uow.log` or `voting.log.LogService`), like every service of voting/.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from crypto import canonical, elgamal
from crypto import trustees as math
from crypto.encoding import Base64Error, b64decode, b64encode
from voting import entry_kinds as kinds
from voting.definition import clean_text
from voting.log import LogEntry, LogService, Queued
from voting.log import readers as log_readers
from voting.refusals import Refused

MAX_NAME = 200
MAX_REASON = 500  # a restart's reason (docs/audit-log.md §10 item 5)


class LogAppender(Protocol):
    """What these services need of `voting.log.LogService` (or a unit of work's `uow.log`)."""

    async def append(
        self, conn: asyncpg.Connection, primary_id: UUID, kind: kinds.EntryBody
    ) -> Queued: ...


Ciphertext = tuple[bytes, bytes]

__all__ = [
    "Ceremony",
    "Decrypted",
    "DecryptionPosted",
    "LoggedSums",
    "accept_decryption",
    "ceremony",
    "decrypt_round",
    "election_key",
    "logged_sums",
    "post_ack",
    "post_decryption",
    "post_keygen",
    "publish_sums",
    "register",
    "restart_ceremony",
    "tally_sums",
    "trustee_message",
]


def trustee_message(kind: str, origin: str, body: Mapping[str, object]) -> bytes:
    """What `trustee_sig` signs (docs/audit-log.md §10 "Trustee signatures")."""
    unsigned = {k: v for k, v in body.items() if k != "trustee_sig"}
    return (
        b"scrutin-"
        + kind.encode("ascii")
        + b"/v2\x00"
        + origin.encode("ascii")
        + b"\x00"
        + canonical.dumps(unsigned)
    )


def position(candidate: str, grade: int | None) -> str:
    """The text a decryption proof binds for a cell: `<candidate>/<grade>` or `blank`."""
    return "blank" if grade is None else f"{candidate}/{grade}"


def encode_ciphertext(ciphertext: Ciphertext | elgamal.Ciphertext) -> str:
    """(α, β), or a `crypto.elgamal.Ciphertext` (E1's sums), as base64 of α ‖ β."""
    if isinstance(ciphertext, elgamal.Ciphertext):
        return b64encode(ciphertext.alpha + ciphertext.beta)
    return b64encode(ciphertext[0] + ciphertext[1])


def decode_ciphertext(text: object, what: str) -> Ciphertext:
    raw = _b64(text, what, 64)
    return math.point(raw[:32], what), math.point(raw[32:], what)


def _bad(detail: str, field: str = "body") -> Refused:
    return Refused("trustee-bad-body", field=field, detail=detail)


def _b64(value: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{what}: base64 text expected", what)
    try:
        return b64decode(value, length=length, what=what)
    except (Base64Error, ValueError) as error:
        raise _bad(f"{what}: {error}", what) from error


def _members(body: object, expected: set[str]) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise _bad("an object is expected")
    if set(body) != expected:
        raise _bad("members " + ", ".join(sorted(expected)) + " expected")
    return dict(body)


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"{what}: an integer is expected")
    return value


@dataclass(frozen=True)
class Trustee:
    index: int
    name: str
    signing_key: bytes
    box_key: bytes
    keygen: dict[str, Any] | None
    ack: dict[str, Any] | None

    def public(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "signing_key": b64encode(self.signing_key),
            "box_key": b64encode(self.box_key),
            "keygen": self.keygen,
            "ack": self.ack,
        }


@dataclass(frozen=True)
class Restart:
    """A logged `ceremony-restart`: the attempt it started, who left, and why."""

    attempt: int
    replaced: list[int]
    reason: str

    def public(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "replaced": self.replaced, "reason": self.reason}


@dataclass(frozen=True)
class Ceremony:
    """Where a primary's key ceremony stands, from public data only. `trustees` are those of
    the current `attempt` (1, then one more at each of the `restarts`)."""

    origin: str
    trustees_wanted: int
    threshold: int
    trustees: list[Trustee]
    public_key: bytes | None
    verification_keys: list[bytes]
    restarts: list[Restart] = dataclasses.field(default_factory=list)

    @property
    def attempt(self) -> int:
        return self.restarts[-1].attempt if self.restarts else 1

    @property
    def state(self) -> str:
        """registering → keygen → checking → done (or failed: a complaint)."""
        if self.public_key is not None:
            return "done"
        if len(self.trustees) < self.trustees_wanted:
            return "registering"
        if any(t.keygen is None for t in self.trustees):
            return "keygen"
        if any(t.ack is not None and t.ack["complaints"] for t in self.trustees):
            return "failed"
        return "checking"

    def trustee(self, index: int) -> Trustee | None:
        return next((t for t in self.trustees if t.index == index), None)

    def public(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "trustees_wanted": self.trustees_wanted,
            "threshold": self.threshold,
            "state": self.state,
            "attempt": self.attempt,
            "restarts": [r.public() for r in self.restarts],
            "trustees": [t.public() for t in self.trustees],
            "election_key": b64encode(self.public_key) if self.public_key else None,
            "verification_keys": [b64encode(v) for v in self.verification_keys],
        }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _lock(conn: asyncpg.Connection, primary_id: UUID) -> None:
    """Ceremony steps of one primary happen one after the other (their entries' order)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"scrutin-trustees:{primary_id}"
    )


async def ceremony(conn: asyncpg.Connection, primary_id: UUID) -> Ceremony:
    found = await conn.fetchval("SELECT definition FROM primaries WHERE id = $1", primary_id)
    origin = await log_readers.origin(conn, primary_id)
    if found is None or origin is None:
        raise Refused("primary-not-found")
    definition = _json(found)
    if definition.get("ballots") != "encrypted":
        raise Refused("trustees-not-used")
    rows = await conn.fetch(
        "SELECT index, name, signing_key, box_key, keygen, ack FROM trustees "
        "WHERE primary_id = $1 ORDER BY index",
        primary_id,
    )
    key = await conn.fetchrow(
        "SELECT public_key, verification_keys FROM election_keys WHERE primary_id = $1",
        primary_id,
    )
    restarts = await conn.fetch(
        "SELECT attempt, replaced, reason FROM ceremony_restarts "
        "WHERE primary_id = $1 ORDER BY attempt",
        primary_id,
    )
    return Ceremony(
        origin=origin,
        trustees_wanted=definition["trustees"],
        threshold=definition["trustee_threshold"],
        trustees=[
            Trustee(
                r["index"],
                r["name"],
                bytes(r["signing_key"]),
                bytes(r["box_key"]),
                _json(r["keygen"]),
                _json(r["ack"]),
            )
            for r in rows
        ],
        public_key=bytes(key["public_key"]) if key else None,
        verification_keys=[b64decode(v) for v in _json(key["verification_keys"])] if key else [],
        restarts=[Restart(r["attempt"], list(r["replaced"]), r["reason"]) for r in restarts],
    )


async def election_key(conn: asyncpg.Connection, primary_id: UUID) -> bytes | None:
    """The election public key h, once the ceremony is done."""
    value = await conn.fetchval(
        "SELECT public_key FROM election_keys WHERE primary_id = $1", primary_id
    )
    return bytes(value) if value is not None else None


async def _no_round_yet(conn: asyncpg.Connection, primary_id: UUID) -> None:
    # The ceremony's entries come before round 1's roll (§10).
    if await conn.fetchval("SELECT 1 FROM rounds WHERE primary_id = $1 LIMIT 1", primary_id):
        raise Refused("voting-started")


async def register(
    conn: asyncpg.Connection,
    log: LogAppender,
    *,
    primary_id: UUID,
    name: Any,
    signing_key: Any,
    box_key: Any,
) -> int:
    """Register the next trustee (the lowest free index of 1 … n: after a restart, a replaced
    one) with its public keys (base64); the three are untrusted input, anything else than the
    expected text is refused, and so are keys of any trustee ever registered in the primary."""
    await _lock(conn, primary_id)
    state = await ceremony(conn, primary_id)
    await _no_round_yet(conn, primary_id)
    clean = clean_text(name, "name", max_length=MAX_NAME, multiline=False)
    if not clean:
        raise Refused("trustee-name-required", field="name")
    keys = {}
    for field, value in (("signing_key", signing_key), ("box_key", box_key)):
        try:
            keys[field] = b64decode(value, length=32, what=field)
        except (Base64Error, ValueError, TypeError):
            raise Refused("bad-trustee-key", field=field) from None
    try:
        VerifyKey(keys["signing_key"])
    except ValueError:
        raise Refused("bad-trustee-key", field="signing_key") from None
    if len(state.trustees) >= state.trustees_wanted:
        raise Refused("trustees-complete", count=state.trustees_wanted)
    taken = await conn.fetchval(
        "SELECT 1 FROM (SELECT signing_key, box_key FROM trustees WHERE primary_id = $1 "
        "UNION ALL SELECT signing_key, box_key FROM replaced_trustees WHERE primary_id = $1) t "
        "WHERE signing_key IN ($2, $3) OR box_key IN ($2, $3) LIMIT 1",
        primary_id,
        keys["signing_key"],
        keys["box_key"],
    )
    if taken:
        raise Refused("trustee-key-taken", field="signing_key")
    used = {t.index for t in state.trustees}
    index = min(i for i in range(1, state.trustees_wanted + 1) if i not in used)
    await conn.execute(
        "INSERT INTO trustees (primary_id, index, name, signing_key, box_key) "
        "VALUES ($1, $2, $3, $4, $5)",
        primary_id,
        index,
        clean,
        keys["signing_key"],
        keys["box_key"],
    )
    await log.append(
        conn,
        primary_id,
        kinds.Trustee(index=index, name=clean, signing_key=signing_key, box_key=box_key),
    )
    return index


async def restart_ceremony(
    conn: asyncpg.Connection,
    log: LogAppender,
    *,
    primary_id: UUID,
    replaced: object,
    reason: object,
) -> int:
    """Restart a key ceremony that has all its trustees but no election key (docs/audit-log.md
    §10 item 5): every keygen and ack is void, the `replaced` trustees (indexes, increasing)
    are unregistered, and their keys can never come back. `replaced` and `reason` are
    untrusted input. Returns the attempt that starts."""
    await _lock(conn, primary_id)
    state = await ceremony(conn, primary_id)
    await _no_round_yet(conn, primary_id)
    if state.state in ("registering", "done"):
        raise Refused("ceremony-restart-not-now")
    if (
        not isinstance(replaced, list)
        or any(
            not isinstance(i, int) or isinstance(i, bool) or not 1 <= i <= state.trustees_wanted
            for i in replaced
        )
        or replaced != sorted(set(replaced))
    ):
        raise Refused("ceremony-restart-replaced", field="replaced")
    try:
        clean = clean_text(reason, "reason", max_length=MAX_REASON, required=True)
    except Refused:
        raise Refused("ceremony-restart-reason", field="reason") from None
    attempt = state.attempt + 1
    await conn.execute(
        "INSERT INTO ceremony_restarts (primary_id, attempt, replaced, reason) "
        "VALUES ($1, $2, $3, $4)",
        primary_id,
        attempt,
        replaced,
        clean,
    )
    await conn.execute(
        "WITH gone AS (DELETE FROM trustees WHERE primary_id = $1 AND index = ANY($3::int[]) "
        "RETURNING primary_id, index, name, signing_key, box_key, created_at) "
        "INSERT INTO replaced_trustees "
        "(primary_id, attempt, index, name, signing_key, box_key, registered_at) "
        "SELECT primary_id, $2, index, name, signing_key, box_key, created_at FROM gone",
        primary_id,
        attempt,
        replaced,
    )
    await conn.execute(
        "UPDATE trustees SET keygen = NULL, ack = NULL WHERE primary_id = $1", primary_id
    )
    await log.append(
        conn,
        primary_id,
        kinds.CeremonyRestart(attempt=attempt, replaced=list(replaced), reason=clean),
    )
    return attempt


def _step_members(state: Ceremony, body: object, expected: set[str]) -> dict[str, Any]:
    """A keygen or ack body's members: with `attempt`, equal to the current attempt, exactly
    from attempt 2 on (§10 item 5: a contribution is signed for one attempt only)."""
    if not isinstance(body, Mapping):
        raise _bad("an object is expected")
    if state.attempt >= 2:
        expected = expected | {"attempt"}
    if set(body) ^ expected == {"attempt"} or (
        "attempt" in expected and "attempt" in body and body["attempt"] != state.attempt
    ):
        if state.attempt == 1:
            raise _bad("attempt: absent in the ceremony's first attempt", "attempt")
        raise _bad(f"attempt: {state.attempt} expected (the current attempt)", "attempt")
    body = _members(body, expected)
    if "attempt" in body:
        _int(body["attempt"], "attempt")
    return body


def _signed_by(state: Ceremony, kind: str, body: dict[str, Any]) -> Trustee:
    trustee = state.trustee(_int(body.get("index"), "index"))
    if trustee is None:
        raise Refused("trustee-not-found", field="index")
    signature = _b64(body.get("trustee_sig"), "trustee_sig", 64)
    try:
        VerifyKey(trustee.signing_key).verify(trustee_message(kind, state.origin, body), signature)
    except (BadSignatureError, ValueError):
        raise Refused("trustee-bad-signature", field="trustee_sig") from None
    return trustee


def check_keygen(state: Ceremony, body: dict[str, Any]) -> tuple[bytes, ...]:
    """The commitments of a well-formed `trustee-keygen` body (signature apart)."""
    index = body["index"]
    commitments = body["commitments"]
    if not isinstance(commitments, list):
        raise _bad("commitments: a list is expected", "commitments")
    raw = [_b64(c, f"commitments[{t}]", 32) for t, c in enumerate(commitments)]
    pok = _b64(body["pok"], "pok", 64)
    try:
        points = math.check_commitments(state.origin, index, raw, pok, state.threshold)
    except math.TrusteeError as error:
        raise _bad(str(error), "pok" if "proof" in str(error) else "commitments") from error
    shares = body["shares"]
    others = [t.index for t in state.trustees if t.index != index]
    if not isinstance(shares, list) or len(shares) != len(others):
        raise _bad(f"shares: {len(others)} boxes expected, one for each other trustee", "shares")
    for expected, share in zip(others, shares, strict=True):
        if not isinstance(share, Mapping) or set(share) != {"box", "to"}:
            raise _bad("shares: items are {box, to}", "shares")
        if share["to"] != expected:
            raise _bad("shares: one box for each other trustee, in increasing order", "shares")
        size = 24 + 16 + len(math.share_box_message(state.origin, index, expected, 0))
        if len(_b64(share["box"], f"shares[{expected}].box")) != size:
            raise _bad(
                f"shares[{expected}].box: a box of {size} bytes expected", f"shares[{expected}].box"
            )
    return points


async def post_keygen(
    conn: asyncpg.Connection, log: LogAppender, *, primary_id: UUID, body: object
) -> None:
    """Log a trustee's `trustee-keygen` once every trustee is registered."""
    await _lock(conn, primary_id)
    state = await ceremony(conn, primary_id)
    body = _step_members(state, body, {"index", "commitments", "pok", "shares", "trustee_sig"})
    await _no_round_yet(conn, primary_id)
    trustee = _signed_by(state, "trustee-keygen", body)
    if len(state.trustees) < state.trustees_wanted:
        raise Refused("trustees-incomplete")
    if trustee.keygen is not None:
        raise Refused("trustee-keygen-done")
    check_keygen(state, body)
    await _record_step(conn, log, primary_id, trustee, kinds.TrusteeKeygen(**body))


async def _record_step(
    conn: asyncpg.Connection,
    log: LogAppender,
    primary_id: UUID,
    trustee: Trustee,
    entry: kinds.TrusteeKeygen | kinds.TrusteeAck,
) -> None:
    """Keep a trustee's signed keygen or ack body on its row, and log it."""
    column = "keygen" if isinstance(entry, kinds.TrusteeKeygen) else "ack"
    await conn.execute(
        f"UPDATE trustees SET {column} = $3 WHERE primary_id = $1 AND index = $2",
        primary_id,
        trustee.index,
        entry.body(),
    )
    await log.append(conn, primary_id, entry)


async def post_ack(
    conn: asyncpg.Connection, log: LogAppender, *, primary_id: UUID, body: object
) -> bool:
    """Log a trustee's `trustee-ack`; the last acknowledgement also writes the election key.
    True when the election key was written."""
    await _lock(conn, primary_id)
    state = await ceremony(conn, primary_id)
    body = _step_members(state, body, {"index", "complaints", "trustee_sig"})
    await _no_round_yet(conn, primary_id)
    trustee = _signed_by(state, "trustee-ack", body)
    if state.state not in ("checking", "failed"):
        raise Refused("trustee-keygen-pending")
    if trustee.ack is not None:
        raise Refused("trustee-ack-done")
    complaints = body["complaints"]
    others = [t.index for t in state.trustees if t.index != trustee.index]
    if (
        not isinstance(complaints, list)
        or any(not isinstance(c, int) or isinstance(c, bool) or c not in others for c in complaints)
        or complaints != sorted(set(complaints))
    ):
        raise _bad("complaints: other trustees' indexes in increasing order", "complaints")
    await _record_step(conn, log, primary_id, trustee, kinds.TrusteeAck(**body))
    acks = [t.ack for t in state.trustees if t.index != trustee.index] + [body]
    if any(a is None or a["complaints"] for a in acks):
        return False
    all_commitments = [
        [b64decode(c) for c in t.keygen["commitments"]] for t in state.trustees if t.keygen
    ]
    public_key = math.election_key(all_commitments)
    verification = [math.verification_key(all_commitments, t.index) for t in state.trustees]
    entry = kinds.ElectionKey(
        public_key=b64encode(public_key),
        verification_keys=[b64encode(v) for v in verification],
        trustees=state.trustees_wanted,
        threshold=state.threshold,
    )
    await conn.execute(
        "INSERT INTO election_keys (primary_id, public_key, verification_keys, threshold) "
        "VALUES ($1, $2, $3, $4)",
        primary_id,
        public_key,
        entry.verification_keys,
        state.threshold,
    )
    await log.append(conn, primary_id, entry)
    return True


# --- the encrypted tally ----------------------------------------------------------------------


async def publish_sums(
    conn: asyncpg.Connection,
    log: LogAppender,
    *,
    primary_id: UUID,
    round_number: int,
    ballots: int,
    sums: Mapping[str, Sequence[elgamal.Ciphertext]],
    blank: elgamal.Ciphertext | None,
) -> dict[str, Any]:
    """Log the `tally-sums` of a closed round: per candidate (those on a counted ballot) one
    summed ciphertext per grade, and the blank sum when the round allows blank ballots. The
    caller (the round's close) computes the sums from the counted ballots."""
    await _lock(conn, primary_id)
    if await election_key(conn, primary_id) is None:
        raise Refused("election-key-missing")
    if await conn.fetchval(
        "SELECT 1 FROM tally_sums WHERE primary_id = $1 AND round = $2", primary_id, round_number
    ):
        raise Refused("tally-sums-done")
    body: dict[str, Any] = {
        "round": round_number,
        "ballots": ballots,
        "sums": {
            candidate: [encode_ciphertext(c) for c in cells]
            for candidate, cells in sorted(sums.items())
        },
    }
    if blank is not None:
        body["blank"] = encode_ciphertext(blank)
    await conn.execute(
        "INSERT INTO tally_sums (primary_id, round, body) VALUES ($1, $2, $3)",
        primary_id,
        round_number,
        body,
    )
    await log.append(conn, primary_id, kinds.TallySums(**body))
    return body


async def tally_sums(
    conn: asyncpg.Connection, primary_id: UUID, round_number: int
) -> dict[str, Any] | None:
    body = await conn.fetchval(
        "SELECT body FROM tally_sums WHERE primary_id = $1 AND round = $2",
        primary_id,
        round_number,
    )
    return _json(body) if body is not None else None


@dataclass(frozen=True)
class LoggedSums:
    """A round's `tally-sums` body with the integrated log entry carrying it."""

    sums: dict[str, Any]
    entry: LogEntry


async def logged_sums(
    pool: asyncpg.Pool, log: LogService, primary_id: UUID, round_number: int
) -> LoggedSums | None:
    """The round's sums and their log entry, once both exist (None before): what a trustee
    checks against the public log before decrypting."""
    async with pool.acquire() as conn:
        body = await tally_sums(conn, primary_id, round_number)
    if body is None:
        return None
    await log.integrate(pool, primary_id)  # the entry is in the tree before anyone reads it
    entry = await log_readers.round_entry(pool, primary_id, kinds.TallySums.kind, round_number)
    return None if entry is None else LoggedSums(body, entry)


def _cells(sums: Mapping[str, Any]) -> list[tuple[str, str, int | None, str]]:
    """(path in the body, candidate, grade or None for blank, ciphertext) of every sum."""
    cells: list[tuple[str, str, int | None, str]] = [
        (f"shares.{candidate}[{grade}]", candidate, grade, text)
        for candidate, texts in sums["sums"].items()
        for grade, text in enumerate(texts)
    ]
    if "blank" in sums:
        cells.append(("blank", "", None, sums["blank"]))
    return cells


@dataclass(frozen=True)
class DecryptionPosted:
    """A trustee's decryption shares were logged: the round has `decryptions` of the
    `threshold` needed (and, from `accept_decryption`, whether its result is published)."""

    round: int
    decryptions: int
    threshold: int
    result_published: bool = False

    @property
    def decrypted(self) -> bool:
        return self.decryptions >= self.threshold


async def post_decryption(
    conn: asyncpg.Connection, log: LogAppender, *, primary_id: UUID, body: object
) -> DecryptionPosted:
    """Log a trustee's `trustee-decryption` for a round after checking every proof."""
    if not isinstance(body, Mapping):
        raise _bad("an object is expected")
    members = {"round", "index", "shares", "trustee_sig"}
    await _lock(conn, primary_id)
    round_number = _int(body.get("round"), "round")
    sums = await tally_sums(conn, primary_id, round_number)
    if sums is None:
        raise Refused("tally-sums-missing")
    # A decryption comes before the round's result (docs/audit-log.md §9 check 6: one after
    # it fails). The row lock orders this with the result's publication (FOR UPDATE).
    status = await conn.fetchval(
        "SELECT status FROM rounds WHERE primary_id = $1 AND number = $2 FOR SHARE",
        primary_id,
        round_number,
    )
    if status == "tallied":
        raise Refused("already-tallied")
    if "blank" in sums:
        members.add("blank")
    body = _members(body, members)
    state = await ceremony(conn, primary_id)
    assert state.public_key is not None  # sums exist only under an election key
    trustee = _signed_by(state, "trustee-decryption", body)
    if await conn.fetchval(
        "SELECT 1 FROM trustee_decryptions WHERE primary_id = $1 AND round = $2 AND index = $3",
        primary_id,
        round_number,
        trustee.index,
    ):
        raise Refused("trustee-decryption-done")
    shares = body["shares"]
    if not isinstance(shares, Mapping) or set(shares) != set(sums["sums"]):
        raise _bad("shares: one list per candidate of the sums", "shares")
    for candidate, texts in sums["sums"].items():
        if not isinstance(shares[candidate], list) or len(shares[candidate]) != len(texts):
            raise _bad(f"shares.{candidate}: one share per grade", f"shares.{candidate}")
    context = math.Context(state.origin, round_number, state.public_key)
    verification = state.verification_keys[trustee.index - 1]
    for path, candidate, grade, text in _cells(sums):
        alpha, _ = decode_ciphertext(text, path)
        value = body["blank"] if grade is None else shares[candidate][grade]
        try:
            math.verify_decryption_share(
                context,
                trustee.index,
                verification,
                position(candidate, grade),
                alpha,
                _b64(value, path, 96),
            )
        except math.TrusteeError as error:
            raise _bad(f"{path}: {error}", path) from error
    await conn.execute(
        "INSERT INTO trustee_decryptions (primary_id, round, index, body) VALUES ($1, $2, $3, $4)",
        primary_id,
        round_number,
        trustee.index,
        body,
    )
    await log.append(conn, primary_id, kinds.TrusteeDecryption(**body))
    count: int = await conn.fetchval(
        "SELECT count(*) FROM trustee_decryptions WHERE primary_id = $1 AND round = $2",
        primary_id,
        round_number,
    )
    return DecryptionPosted(round_number, count, state.threshold)


async def accept_decryption(
    pool: asyncpg.Pool, log: LogService, *, primary_id: UUID, body: object
) -> DecryptionPosted:
    """`post_decryption` in its own unit of work; the k-th share also publishes the round's
    result (`voting.encrypted_rounds.publish_encrypted_result`). `result_published` is true
    once the round's result is out, whoever published it."""
    from voting.encrypted_rounds import publish_encrypted_result
    from voting.unit_of_work import UnitOfWork

    async with UnitOfWork(pool, log) as uow:
        posted = await post_decryption(uow.conn, uow.log, primary_id=primary_id, body=body)
    if not posted.decrypted:
        return posted
    try:
        await publish_encrypted_result(pool, log, primary_id=primary_id, number=posted.round)
        published = True
    except Refused as refusal:
        published = refusal.reason == "already-tallied"
    return dataclasses.replace(posted, result_published=published)


@dataclass(frozen=True)
class RoundDecryption:
    """Where a round's decryption stands: its sums are out, these trustees have decrypted."""

    round: int
    ballots: int
    trustees: list[int]


async def decryption_status(conn: asyncpg.Connection, primary_id: UUID) -> list[RoundDecryption]:
    rows = await conn.fetch(
        """
        SELECT s.round, (s.body->>'ballots')::int AS ballots,
               array_remove(array_agg(d.index ORDER BY d.index), NULL) AS trustees
        FROM tally_sums s LEFT JOIN trustee_decryptions d USING (primary_id, round)
        WHERE s.primary_id = $1 GROUP BY s.round, s.body ORDER BY s.round
        """,
        primary_id,
    )
    return [RoundDecryption(r["round"], r["ballots"], list(r["trustees"])) for r in rows]


@dataclass(frozen=True)
class Decrypted:
    """A round's counts from the trustees' shares: profiles worst→best per candidate."""

    ballots: int
    profiles: dict[str, list[int]]
    blank: int
    trustees: tuple[int, ...]


async def decrypt_round(
    conn: asyncpg.Connection,
    primary_id: UUID,
    round_number: int,
    *,
    candidates: Sequence[str],
    grades: int,
) -> Decrypted:
    """Combine the first k posted decryption shares (each checked when it was posted) into the
    round's profiles; `candidates` is the round's list (a candidate left out of the sums has
    an all-zero profile). Refused with fewer than k shares."""
    sums = await tally_sums(conn, primary_id, round_number)
    if sums is None:
        raise Refused("tally-sums-missing")
    state = await ceremony(conn, primary_id)
    rows = await conn.fetch(
        "SELECT index, body FROM trustee_decryptions WHERE primary_id = $1 AND round = $2 "
        "ORDER BY created_at, index LIMIT $3",
        primary_id,
        round_number,
        state.threshold,
    )
    if len(rows) < state.threshold:
        raise Refused("too-few-decryptions", count=len(rows), threshold=state.threshold)
    bodies = {r["index"]: _json(r["body"]) for r in rows}
    dlog = math.DiscreteLog(sums["ballots"])
    counts: dict[tuple[str, int | None], int] = {}
    for _path, candidate, grade, text in _cells(sums):
        _, beta = decode_ciphertext(text, _path)
        shares = {
            index: b64decode(body["blank"] if grade is None else body["shares"][candidate][grade])[
                :32
            ]
            for index, body in bodies.items()
        }
        counts[(candidate, grade)] = math.decrypt(beta, math.combine(shares), dlog)
    profiles = {c: [counts.get((c, g), 0) for g in range(grades)] for c in candidates}
    return Decrypted(
        ballots=sums["ballots"],
        profiles=profiles,
        blank=counts.get(("", None), 0),
        trustees=tuple(sorted(bodies)),
    )
