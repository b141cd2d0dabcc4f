"""Supports: a citizen backs a candidate collecting supports; qualification follows.

Counts stay exact under concurrency: every support locks, in this order, the primary row
(FOR SHARE: closing the phase or revising the definition waits), the supporter (a transaction
advisory lock per primary and account: the cap holds across candidates), then the candidacy
row (FOR UPDATE: its count and the qualification decision are serialised). The primary key of
`supports` (candidacy, account) is the last line of defence against a duplicate.

In the log a supporter appears only as a pseudonym: HMAC-SHA-256, keyed with a per-primary
key derived from the service secret, over the account id — stable within a primary (so
observers can check the cap and duplicates), unlinkable across primaries.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from crypto.encoding import b64encode
from voting.candidacies import Candidacy, get_candidacy, lock_candidacy
from voting.credentials import (
    credential_in_force,
    sign_assisted,
    support_message,
    uses_voter_credentials,
    verify_signature,
)
from voting.definition import format_instant, parse_instant
from voting.eligibility import eligibility
from voting.entry_kinds import Qualification, Support, SupportWithdrawal
from voting.log import readers as log_readers
from voting.primaries import (
    LogAppender,
    Primary,
    get_primary_by_id,
    update_definition,
    voting_has_started,
)
from voting.qualification import qualification_body, qualified_at_phase_end, qualifies_on_support
from voting.refusals import Refused

PSEUDONYM_DOMAIN = b"scrutin-supporter/v1\x00"


def supporter_key(secret_key: str, primary_id: uuid.UUID) -> bytes:
    """The per-primary pseudonym key, derived from the service secret."""
    return hmac.new(
        secret_key.encode("utf-8"), PSEUDONYM_DOMAIN + str(primary_id).encode("ascii"),
        hashlib.sha256,
    ).digest()  # fmt: skip


def supporter_pseudonym(secret_key: str, primary_id: uuid.UUID, account_id: uuid.UUID) -> str:
    return hmac.new(
        supporter_key(secret_key, primary_id), str(account_id).encode("ascii"), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class SupportResult:
    candidacy: Candidacy
    count: int
    qualified: bool


# `support` or `withdraw_support`, called alike by the views (a support also takes the
# service's secret key and, under voter credentials, the device's signature).
SupportChange = Callable[..., Awaitable[SupportResult]]


async def _prepare(
    conn: asyncpg.Connection,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    now: datetime | None,
) -> tuple[Primary, Candidacy]:
    async def supports_open(primary: Primary) -> None:
        if primary.supports_closed or await voting_has_started(conn, primary.id):
            raise Refused("supports-closed")
        if not primary.phases(now).is_open("supports"):
            raise Refused("supports-not-open")
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"scrutin-support:{primary.id}:{account_id}",
        )

    return await lock_candidacy(conn, candidacy_id, supports_open)


async def support(
    conn: asyncpg.Connection,
    log: LogAppender,
    *,
    secret_key: str,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    now: datetime | None = None,
    credential_sig: bytes | None = None,
) -> SupportResult:
    """Support a published candidate; qualify it in the same transaction at the threshold.

    Under `credentials: voter` the support carries the citizen's key and `credential_sig`,
    their device's signature (docs/audit-log.md §8); an assisted key is signed for here."""
    now = now or datetime.now(UTC)
    primary, candidacy = await _prepare(conn, candidacy_id, account_id, now)
    allowed = await eligibility(conn, primary.id, account_id, lock=True)
    if not allowed:
        # REASONS holds French source strings, translated by the web layer like ours.
        raise Refused(f"ineligible-{allowed.reason}", field="eligibility")
    if candidacy.status != "published":
        raise Refused("not-collecting-supports")
    if candidacy.account_id == account_id:
        raise Refused("own-candidacy")
    if await conn.fetchval(
        "SELECT 1 FROM supports WHERE candidacy_id = $1 AND account_id = $2",
        candidacy.id,
        account_id,
    ):
        raise Refused("already-supported")
    if primary.support_cap:
        given = await conn.fetchval(
            "SELECT count(*) FROM supports WHERE primary_id = $1 AND account_id = $2",
            primary.id,
            account_id,
        )
        if given >= primary.support_cap:
            raise Refused("support-cap", cap=primary.support_cap)
    pseudonym = supporter_pseudonym(secret_key, primary.id, account_id)
    body = {"candidate": str(candidacy.id), "supporter": pseudonym}
    if uses_voter_credentials(primary.definition):
        body.update(
            await _signed(
                conn, secret_key, primary.id, account_id, body["candidate"], credential_sig
            )
        )
    await conn.execute(
        """
        INSERT INTO supports (candidacy_id, account_id, primary_id, supporter)
        VALUES ($1, $2, $3, $4)
        """,
        candidacy.id,
        account_id,
        primary.id,
        pseudonym,
    )
    count = await _count(conn, candidacy.id, +1)
    await log.append(conn, primary.id, Support(**body), at=now)
    qualified = qualifies_on_support(primary.definition, count)
    if qualified:
        await _qualify(conn, log, primary, candidacy.id, count, now)
    return await _result(conn, candidacy.id, count, qualified)


async def _count(conn: asyncpg.Connection, candidacy_id: uuid.UUID, change: int) -> int:
    """The candidacy's support count once `change` is added (its row is locked: exact)."""
    count: int = await conn.fetchval(
        "UPDATE candidacies SET support_count = support_count + $2 WHERE id = $1 "
        "RETURNING support_count",
        candidacy_id,
        change,
    )
    return count


async def _result(
    conn: asyncpg.Connection, candidacy_id: uuid.UUID, count: int, qualified: bool
) -> SupportResult:
    """What a support or its withdrawal answers: the candidacy as it now stands."""
    updated = await get_candidacy(conn, candidacy_id)
    assert updated is not None
    return SupportResult(updated, count, qualified)


async def _signed(
    conn: asyncpg.Connection,
    secret_key: str,
    primary_id: uuid.UUID,
    account_id: uuid.UUID,
    candidate: str,
    signature: bytes | None,
) -> dict[str, str]:
    """The `credential` and `credential_sig` members of a support, or Refused."""
    credential = await credential_in_force(conn, primary_id, account_id, secret_key=secret_key)
    if credential is None:
        raise Refused("credential-first", field="credential")
    origin = await log_readers.origin(conn, primary_id)
    assert origin is not None, primary_id  # a primary's log is created with it
    message = support_message(origin, candidate)
    if signature is None and credential.assisted:
        signature = sign_assisted(credential, message)
    if signature is None or not verify_signature(credential.public_key, message, signature):
        raise Refused("support-signature-required", field="credential_sig")
    return {"credential": credential.b64, "credential_sig": b64encode(signature)}


async def _qualify(
    conn: asyncpg.Connection,
    log: LogAppender,
    primary: Primary,
    candidacy_id: uuid.UUID,
    count: int,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE candidacies SET status = 'qualified', qualified_at = now(), updated_at = now() "
        "WHERE id = $1",
        candidacy_id,
    )
    await log.append(
        conn, primary.id,
        Qualification(**qualification_body(str(candidacy_id), count, primary.threshold)), at=now,
    )  # fmt: skip
    from voting.notifications import qualified

    await qualified(conn, primary.id, candidacy_id)


async def withdraw_support(
    conn: asyncpg.Connection,
    log: LogAppender,
    *,
    candidacy_id: uuid.UUID | str,
    account_id: uuid.UUID,
    now: datetime | None = None,
) -> SupportResult:
    """Take a support back while the phase is open: from a candidate still collecting, or
    one who left without qualifying (which gives the citizen the support back under the cap)."""
    now = now or datetime.now(UTC)
    primary, candidacy = await _prepare(conn, candidacy_id, account_id, now)
    if not candidacy.releases_supports:
        raise Refused("support-final")
    deleted = await conn.fetchval(
        "DELETE FROM supports WHERE candidacy_id = $1 AND account_id = $2 RETURNING supporter",
        candidacy.id,
        account_id,
    )
    if deleted is None:
        raise Refused("not-supported")
    count = await _count(conn, candidacy.id, -1)
    await log.append(
        conn, primary.id,
        SupportWithdrawal(candidate=str(candidacy.id), supporter=deleted), at=now,
    )  # fmt: skip
    return await _result(conn, candidacy.id, count, False)


async def close_supports_phase(
    conn: asyncpg.Connection,
    log: LogAppender,
    primary_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """The organiser closes the supports phase once its end has passed: supports are frozen
    and every candidate still collecting with at least the threshold qualifies (one
    `qualification` entry each). Returns the candidates qualified now."""
    primary = await get_primary_by_id(conn, primary_id, for_update=True)
    if primary is None:
        raise Refused("primary-not-found")
    now = now or datetime.now(UTC)
    closing = primary.supports_closing(now)
    if closing == "closed":
        raise Refused("supports-already-closed")
    if closing != "ended":
        raise Refused("supports-not-ended")
    rows = await conn.fetch(
        "SELECT id, support_count FROM candidacies WHERE primary_id = $1 AND status = 'published' "
        "ORDER BY id FOR UPDATE",
        primary_id,
    )
    counts = {str(r["id"]): r["support_count"] for r in rows}
    qualified = qualified_at_phase_end(counts, primary.threshold)
    for candidate in qualified:
        await _qualify(conn, log, primary, uuid.UUID(candidate), counts[candidate], now)
    await conn.execute(
        "UPDATE primaries SET supports_closed_at = now(), updated_at = now() WHERE id = $1",
        primary_id,
    )
    return [uuid.UUID(c) for c in qualified]


async def close_supports_now(
    conn: asyncpg.Connection,
    log: LogAppender,
    primary_id: uuid.UUID,
    *,
    by: uuid.UUID | None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """The organiser ends the supports phase early: a new definition revision moves its end
    (and the candidacies' end, if later) to now, then the phase closes as at its end.

    The log tells the whole story in order: the `definition` entry with the new schedule,
    then one `qualification` entry per candidate at the threshold. Once the phase's end has
    passed this is the same as `close_supports_phase`.
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    primary = await get_primary_by_id(conn, primary_id, for_update=True)
    if primary is None:
        raise Refused("primary-not-found")
    closing = primary.supports_closing(moment)
    if closing == "closed":
        raise Refused("supports-already-closed")
    if closing == "not-started":
        raise Refused("supports-not-started")
    if closing == "early":
        end = format_instant(moment)
        phases = []
        for item in primary.definition["phases"]:
            item = dict(item)
            if item["name"] == "supports" or (
                item["name"] == "candidacies" and parse_instant(item["end"], "end") > moment
            ):
                item["end"] = end
            phases.append(item)
        await update_definition(conn, log, primary_id, {"phases": phases}, by=by, now=moment)
    return await close_supports_phase(conn, log, primary_id, now=moment)


async def supported_by(
    conn: asyncpg.Connection, primary_id: uuid.UUID, account_id: uuid.UUID
) -> set[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT candidacy_id FROM supports WHERE primary_id = $1 AND account_id = $2",
        primary_id,
        account_id,
    )
    return {r["candidacy_id"] for r in rows}


async def supports_of_account(
    conn: asyncpg.Connection, account_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT c.id, c.name, c.status, c.support_count, p.slug, p.title, s.created_at
          FROM supports s JOIN candidacies c ON c.id = s.candidacy_id
          JOIN primaries p ON p.id = s.primary_id
         WHERE s.account_id = $1 ORDER BY s.created_at DESC
        """,
        account_id,
    )
    return [dict(r) for r in rows]
