"""Opening round 1 closes the list: a qualified candidate who never confirmed lapses, and the
log says so just before the round-open entry (docs/audit-log.md §8 "Candidacy actions")."""

from __future__ import annotations

import hashlib
import json

import asyncpg
import pytest

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from crypto import canonical
from tests.fixtures.rounds import HISTORY_TIME, PASSPHRASE, make_round_primary
from voting.candidacies import LAPSED_REASON, confirm
from voting.log import LogService
from voting.qualification import qualification_body
from voting.refusals import Refused
from voting.rounds import open_round

pytestmark = pytest.mark.anyio


async def _qualified_unconfirmed(conn: asyncpg.Connection, log: LogService, primary) -> tuple:  # type: ignore[no-untyped-def]
    """A fourth candidacy, qualified like the fixture's but without confirming."""
    account = await conn.fetchval(
        "INSERT INTO accounts (email, email_verified_at) VALUES ($1, now()) RETURNING id",
        f"late-{primary.slug}@example.org",
    )
    name = "Marc Dubois"
    declaration = hashlib.sha256(name.encode()).hexdigest()
    async with conn.transaction():
        cid = str(
            await conn.fetchval(
                """
                INSERT INTO candidacies (primary_id, account_id, name, charter_accepted_at,
                                         status, declaration, support_count, qualified_at)
                VALUES ($1, $2, $3, now(), 'qualified', $4, 1, now()) RETURNING id
                """,
                primary.id, account, name, declaration,
            )
        )  # fmt: skip
        entry = {"candidate": cid, "name": name, "declaration": declaration, "reason": ""}
        at = {"at": HISTORY_TIME}
        for action in ("submitted", "published"):
            await log.append(conn, primary.id, "candidacy", {**entry, "action": action}, **at)
        supporter = hashlib.sha256(f"supporter/{cid}".encode()).hexdigest()
        await log.append(
            conn, primary.id, "support", {"candidate": cid, "supporter": supporter}, **at
        )
        await log.append(conn, primary.id, "qualification", qualification_body(cid, 1, 1), **at)
    return cid, account


async def test_opening_round_one_lapses_the_unconfirmed_and_logs_why(
    log_pool: asyncpg.Pool, log_service: LogService
) -> None:
    async with log_pool.acquire() as conn:
        primary = await make_round_primary(conn, log_service, candidates=3)
        late, owner = await _qualified_unconfirmed(conn, log_service, primary)
        async with conn.transaction():
            opened = await open_round(
                conn, log_service, primary_id=primary.id, opened_by=None, passphrase=PASSPHRASE
            )
        assert late not in opened.round.candidate_ids
        assert sorted(opened.round.candidate_ids) == sorted(primary.candidates)
        row = await conn.fetchrow(
            "SELECT status, status_reason FROM candidacies WHERE id = $1", late
        )
        assert (row["status"], row["status_reason"]) == ("lapsed", LAPSED_REASON)
        # Too late to confirm now: the list is closed.
        with pytest.raises(Refused):
            async with conn.transaction():
                await confirm(conn, log_service, late, owner)
    placed = await log_service.wait(log_pool, opened.queued)
    entries = [
        canonical.loads(e.entry)
        for e in await log_service.entries(log_pool, primary.id, 0, placed.index + 1)
    ]
    lapse = entries[-2]
    assert (lapse["kind"], lapse["body"]["candidate"], lapse["body"]["action"]) == (
        "candidacy", late, "lapsed",
    )  # fmt: skip
    assert lapse["body"]["reason"] == LAPSED_REASON and entries[-1]["kind"] == "round-open"
    export = await log_service.export(log_pool, primary.id)
    report = verify(
        parse_export(json.dumps(export).encode(), "export"), parse_verifier_key(export["vkey"])
    )
    assert report.ok, report.render("en")
