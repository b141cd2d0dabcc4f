"""Voter-held credentials: a signing key per citizen per primary (docs/audit-log.md §8).

Under `credentials: voter` in a primary's definition, every ballot and every support is
signed by the citizen's own Ed25519 key, made on their device; only the public half reaches
the service, in a `credential` entry of the log with a commitment to the citizen (never the
identity). Before each round opens, a `roll` entry freezes the keys in force, and no key can
be registered or replaced until that round closes. A citizen without a device able to keep a
key (no JavaScript, no WebCrypto) gets an *assisted* credential: the service makes and keeps
the key and signs for them; the log marks it, and scrutin-audit counts those ballots.

Ballots are sealed by the service (the voter must not know the SealedBox's randomness, or
they could prove their vote to a buyer), so casting with a device key takes two steps:
`seal_for_signature` returns the sealed bytes and a token binding them to the voter and the
round; the device signs the bytes; `voting.ballots.cast` checks the token and the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from nacl.exceptions import BadSignatureError
from nacl.secret import SecretBox
from nacl.signing import SigningKey, VerifyKey

from crypto import canonical
from crypto.encoding import b64encode
from voting.entry_kinds import Credential as CredentialEntry
from voting.entry_kinds import Roll
from voting.log import readers as log_readers
from voting.primaries import LogAppender
from voting.refusals import Refused

BALLOT_DOMAIN = b"scrutin-ballot/v1\x00"
SUPPORT_DOMAIN = b"scrutin-support/v1\x00"
CITIZEN_DOMAIN = b"scrutin-citizen/v1\x00"
SECRET_DOMAIN = b"scrutin-citizen-secret/v1\x00"
SEALED_DOMAIN = b"scrutin-sealed-ballot/v1\x00"
ASSISTED_DOMAIN = b"scrutin-assisted-credential/v1\x00"

__all__ = [
    "Credential",
    "ballot_message",
    "citizen_commitment",
    "credential_in_force",
    "freeze_roll",
    "register",
    "seal_token",
    "sign_assisted",
    "support_message",
    "uses_voter_credentials",
    "verify_signature",
]


@dataclass(frozen=True)
class Credential:
    public_key: bytes
    assisted: bool
    seed: bytes | None

    @property
    def b64(self) -> str:
        return b64encode(self.public_key)


def uses_voter_credentials(definition: Mapping[str, object]) -> bool:
    return definition.get("credentials") == "voter"


def ballot_message(origin: str, number: int, sealed: bytes) -> bytes:
    return (
        BALLOT_DOMAIN + origin.encode("ascii") + b"\x00" + str(number).encode() + b"\x00" + sealed
    )


def support_message(origin: str, candidate: str) -> bytes:
    return SUPPORT_DOMAIN + origin.encode("ascii") + b"\x00" + candidate.encode("ascii")


def citizen_secret(secret_key: str, primary_id: UUID, account_id: UUID) -> bytes:
    """The per-citizen secret behind the commitment (the service can show it to the citizen)."""
    return hmac.new(
        secret_key.encode("utf-8"),
        SECRET_DOMAIN + f"{primary_id}/{account_id}".encode("ascii"),
        hashlib.sha256,
    ).digest()


def citizen_commitment(secret: bytes, origin: str) -> str:
    return hmac.new(secret, CITIZEN_DOMAIN + origin.encode("ascii"), hashlib.sha256).hexdigest()


def seal_token(secret_key: str, round_id: UUID, account_id: UUID, sealed: bytes) -> str:
    """Binds sealed bytes made by the service to one voter and round (hex HMAC)."""
    return hmac.new(
        secret_key.encode("utf-8"),
        SEALED_DOMAIN + f"{round_id}/{account_id}/".encode("ascii") + sealed,
        hashlib.sha256,
    ).hexdigest()


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


def sign_assisted(credential: Credential, message: bytes) -> bytes:
    assert credential.seed is not None
    return SigningKey(credential.seed).sign(message).signature


def _seed_box(secret_key: str, primary_id: UUID, account_id: UUID) -> SecretBox:
    """The assisted seed is stored sealed under a key derived from the service secret."""
    return SecretBox(
        hmac.new(
            secret_key.encode("utf-8"),
            ASSISTED_DOMAIN + f"{primary_id}/{account_id}".encode("ascii"),
            hashlib.sha256,
        ).digest()
    )


async def _origin(conn: asyncpg.Connection, primary_id: UUID) -> str:
    origin = await log_readers.origin(conn, primary_id)
    assert origin is not None, primary_id
    return origin


async def credential_in_force(
    conn: asyncpg.Connection, primary_id: UUID, account_id: UUID, *, secret_key: str = ""
) -> Credential | None:
    """The account's key in force; an assisted key's seed is opened with `secret_key`."""
    row = await conn.fetchrow(
        "SELECT public_key, assisted, sealed_seed FROM credentials "
        "WHERE primary_id = $1 AND account_id = $2 AND revoked_at IS NULL",
        primary_id,
        account_id,
    )
    if row is None:
        return None
    seed = None
    if row["sealed_seed"] is not None and secret_key:
        seed = _seed_box(secret_key, primary_id, account_id).decrypt(bytes(row["sealed_seed"]))
    return Credential(bytes(row["public_key"]), row["assisted"], seed)


async def register(
    conn: asyncpg.Connection,
    log: LogAppender,
    *,
    secret_key: str,
    primary_id: UUID,
    account_id: UUID,
    public_key: bytes | None = None,
    replace: bool = False,
    now: datetime | None = None,
) -> Credential:
    """Register the citizen's key (`public_key`, made on their device) or, without one, an
    assisted key the service makes and keeps; `replace` revokes the key in force (a lost
    device) in the same entry. Refused while a round is open: its roll is frozen."""
    now = now or datetime.now(UTC)
    primary = await conn.fetchrow(
        "SELECT definition FROM primaries WHERE id = $1 FOR SHARE", primary_id
    )
    if primary is None:
        raise Refused("primary-not-found")
    definition = primary["definition"]
    if isinstance(definition, str):
        definition = json.loads(definition)  # jsonb text (a connection without the codec)
    if not uses_voter_credentials(definition):
        raise Refused("credentials-not-used")
    from voting.eligibility import eligibility

    allowed = await eligibility(conn, primary_id, account_id, lock=True)
    if not allowed:
        raise Refused(f"ineligible-{allowed.reason}", field="eligibility")
    if await conn.fetchval(
        "SELECT 1 FROM rounds WHERE primary_id = $1 AND status = 'open'", primary_id
    ):
        raise Refused("credential-roll-frozen", field="credential")
    if public_key is not None and len(public_key) != 32:
        raise Refused("bad-public-key", field="credential")
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        f"scrutin-credential:{primary_id}:{account_id}",
    )
    current = await credential_in_force(conn, primary_id, account_id)
    if current is not None and not replace:
        raise Refused("credential-exists", field="credential")
    seed = None
    if public_key is None:
        seed = os.urandom(32)
        public_key = bytes(SigningKey(seed).verify_key)
    if await conn.fetchval(
        "SELECT 1 FROM credentials WHERE primary_id = $1 AND public_key = $2",
        primary_id,
        public_key,
    ):
        raise Refused("credential-taken", field="credential")
    citizen = citizen_commitment(
        citizen_secret(secret_key, primary_id, account_id), await _origin(conn, primary_id)
    )
    if current is not None:
        await conn.execute(
            "UPDATE credentials SET revoked_at = $3 "
            "WHERE primary_id = $1 AND account_id = $2 AND revoked_at IS NULL",
            primary_id,
            account_id,
            now,
        )
    await conn.execute(
        """
        INSERT INTO credentials (primary_id, account_id, public_key, citizen, assisted,
                                 sealed_seed, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        primary_id,
        account_id,
        public_key,
        citizen,
        seed is not None,
        None if seed is None else _seed_box(secret_key, primary_id, account_id).encrypt(seed),
        now,
    )
    entry = CredentialEntry(
        credential=b64encode(public_key),
        citizen=citizen,
        assisted=seed is not None,
        replaces=None if current is None else current.b64,
    )
    await log.append(conn, primary_id, entry, at=now)
    return Credential(public_key, seed is not None, seed)


def roll_digest(keys: list[str]) -> str:
    return hashlib.sha256(canonical.dumps(sorted(keys))).hexdigest()


async def freeze_roll(
    conn: asyncpg.Connection, log: LogAppender, primary_id: UUID, number: int, at: datetime
) -> None:
    """Append the round's `roll` (in the opening's transaction, before `round-open`)."""
    rows = await conn.fetch(
        "SELECT public_key, assisted FROM credentials WHERE primary_id = $1 AND revoked_at IS NULL",
        primary_id,
    )
    keys = [b64encode(bytes(r["public_key"])) for r in rows]
    await log.append(
        conn,
        primary_id,
        Roll(
            round=number,
            count=len(keys),
            assisted=sum(1 for r in rows if r["assisted"]),
            digest=roll_digest(keys),
        ),
        at=at,
    )


@dataclass(frozen=True)
class KeyBallot:
    index: int
    round: int
    tracker: str
    counted: bool  # the last valid ballot of this key in its round (§8, §10 "Revoting")
    invalid_reason: str | None = None  # an encrypted ballot whose proofs fail (§10)


@dataclass(frozen=True)
class KeyHistory:
    """What the public log says of one key: the voter's check (docs/audit-log.md §9, 13)."""

    registered: int | None  # index of its `credential` entry
    assisted: bool
    replaced_at: int | None  # index of the entry that revoked it
    rolls: list[int]  # rounds whose roll holds it
    ballots: list[KeyBallot]


async def key_history(
    conn: asyncpg.Connection,
    primary_id: UUID,
    key: str,
    invalid: Callable[[int, Mapping[str, object]], Awaitable[str | None]] | None = None,
) -> KeyHistory:
    """Read from the log alone (as scrutin-audit --credential does): where `key` (base64)
    was registered, which rounds' rolls hold it, and which ballots carry it. `invalid(round,
    body)` names why a ballot counts nowhere (an encrypted ballot whose proofs fail): the
    counted ballot of a round is then its last valid one, not merely its last (§10)."""
    rows = await log_readers.key_rows(conn, primary_id, key)
    registered = replaced = None
    assisted = False
    rolls: list[int] = []
    ballots: list[tuple[int, int, str, str | None]] = []
    for row in rows:
        body = row["body"]
        if isinstance(body, str):
            body = json.loads(body)
        if row["kind"] == "credential":
            if body.get("credential") == key and registered is None:
                registered, assisted = row["idx"], bool(body.get("assisted"))
            elif body.get("replaces") == key and registered is not None and replaced is None:
                replaced = row["idx"]
        elif row["kind"] == "roll":
            if registered is not None and replaced is None:
                rolls.append(int(body["round"]))
        else:
            number = int(body["round"])
            reason = await invalid(number, body) if invalid is not None else None
            ballots.append((row["idx"], number, bytes(row["leaf_hash"]).hex(), reason))
    last = {number: index for index, number, _, reason in ballots if reason is None}
    return KeyHistory(
        registered,
        assisted,
        replaced,
        rolls,
        [KeyBallot(i, n, t, last.get(n) == i, why) for i, n, t, why in ballots],
    )
