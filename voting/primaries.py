"""Primaries: creation, definition revisions, phase, the "voting has started" freeze.

Services take an asyncpg connection inside a transaction opened by the caller, and append
their log entry through the log service in that same transaction (docs/architecture.md).
After commit the caller publishes a checkpoint (`log.publish_checkpoint(pool, primary_id)`):
creating a primary and revising its definition are phase-level events.

For the rounds feature:

* `await get_primary_by_id(conn, primary_id)` → `Primary` (`.definition` is the current
  `definition` body, `.revision` its revision);
* `await mark_voting_started(conn, primary_id)` in the transaction that opens round 1: from
  then on the definition cannot change and supports/qualifications are refused;
* `await voting_has_started(conn, primary_id)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypedDict

import asyncpg

from voting.definition import (
    DefinitionBody,
    PhaseState,
    changed_members,
    check_schedule_change,
    clean_text,
    phase_state,
    validate_definition,
)
from voting.entry_kinds import Definition, EntryBody
from voting.log import Queued
from voting.refusals import Refused

MAX_CHARTER = 20_000
PRIMARY_COLUMNS = """
    id, slug, title, description, definition, revision, charter, voting_started,
    supports_closed_at, created_by, created_at, updated_at
"""


class LogAppender(Protocol):
    """What the services need of `voting.log.LogService`."""

    async def create_log(
        self, conn: asyncpg.Connection, primary_id: uuid.UUID, slug: str
    ) -> str: ...

    async def append(
        self,
        conn: asyncpg.Connection,
        primary_id: uuid.UUID,
        kind: str | EntryBody,
        body: Mapping[str, object] | None = None,
        *,
        at: datetime | None = None,
    ) -> Queued: ...


@dataclass(frozen=True)
class Primary:
    id: uuid.UUID
    slug: str
    title: str
    description: str
    definition: DefinitionBody
    revision: int
    charter: str
    voting_started: bool
    supports_closed_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Primary:
        definition = row["definition"]
        if isinstance(definition, str):  # a connection without the json codec
            import json

            definition = json.loads(definition)
        return cls(**{**dict(row), "definition": definition})

    def phases(self, now: datetime | None = None) -> PhaseState:
        return phase_state(self.definition["phases"], now)

    def accepts_candidacies(self, now: datetime | None = None) -> bool:
        """Whether a declaration is accepted now: the one test the service applies and the
        pages use to offer (or not) "Déclarer ma candidature"."""
        return self.phases(now).is_open("candidacies")

    def accepts_supports(self, now: datetime | None = None) -> bool:
        """Whether supports are accepted now (given or taken back): the supports phase is
        open, not closed early, and voting has not begun. The service refuses outside it and
        the pages offer no "Soutenir" outside it."""
        return (
            self.phases(now).is_open("supports")
            and not self.supports_closed
            and not self.voting_started
        )

    def supports_closing(self, now: datetime | None = None) -> str:
        """How the organiser may close the supports phase now, the one test the services
        (`supports.close_supports_phase`, `close_supports_now`) apply and the admin page uses:
        `closed` (already: nothing to offer), `not-started` (nothing to close yet), `early`
        (under way: closing appends a revision ending it now) or `ended` (its end has passed:
        close it as scheduled)."""
        if self.supports_closed:
            return "closed"
        phase = self.phases(now).get("supports")
        if phase is None or phase.status == "future":
            return "not-started"
        return "early" if phase.status == "current" else "ended"

    @property
    def threshold(self) -> int:
        return int(self.definition["threshold"])

    @property
    def support_cap(self) -> int:
        return int(self.definition["support_cap"])

    @property
    def grades(self) -> list[str]:
        return list(self.definition["grades"])

    @property
    def supports_closed(self) -> bool:
        return self.supports_closed_at is not None

    def administered_by(self, account: object) -> bool:
        """Who may change the settings, moderate and manage eligibility: every organiser (an
        account with `is_organiser`), and the account that created the primary, even if it
        is no longer an organiser (docs/architecture.md, "Accounts and security")."""
        if account is None:
            return False
        if getattr(account, "is_organiser", False):
            return True
        return self.created_by is not None and getattr(account, "id", None) == self.created_by


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def create_primary(
    conn: asyncpg.Connection,
    log: LogAppender,
    definition: Mapping[str, object],
    *,
    created_by: uuid.UUID | None,
    charter: str = "",
) -> Primary:
    """Create a primary, its log, and the log's first entry: the definition (revision 1)."""
    body = validate_definition(definition, revision=1)
    charter_text = clean_text(charter, "charter", max_length=MAX_CHARTER)
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO primaries (slug, title, description, definition, revision, charter,
                                   created_by)
            VALUES ($1, $2, $3, $4::text::jsonb, 1, $5, $6)
            RETURNING {PRIMARY_COLUMNS}
            """,
            body["slug"],
            body["title"],
            body["description"],
            _json(body),
            charter_text,
            created_by,
        )
    except asyncpg.UniqueViolationError:  # taken, possibly by a concurrent request
        raise Refused("slug-taken", field="slug") from None
    assert row is not None  # INSERT … RETURNING gives the new row
    await conn.execute(
        """
        INSERT INTO primary_definitions (primary_id, revision, definition, created_by)
        VALUES ($1, 1, $2::text::jsonb, $3)
        """,
        row["id"],
        _json(body),
        created_by,
    )
    await log.create_log(conn, row["id"], body["slug"])
    await log.append(conn, row["id"], Definition(body))
    return Primary.from_row(row)


async def voting_has_started(conn: asyncpg.Connection, primary_id: uuid.UUID) -> bool:
    """True once a round exists (or the rounds feature marked the primary)."""
    flag = await conn.fetchval("SELECT voting_started FROM primaries WHERE id = $1", primary_id)
    if flag:
        return True
    if await conn.fetchval("SELECT to_regclass('rounds') IS NOT NULL"):
        try:
            async with conn.transaction():  # a savepoint: a schema surprise must not abort ours
                return bool(
                    await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM rounds WHERE primary_id = $1)", primary_id
                    )
                )
        except asyncpg.PostgresError:
            return False
    return False


async def mark_voting_started(conn: asyncpg.Connection, primary_id: uuid.UUID) -> None:
    """Freeze the definition and supports: called by the rounds feature when round 1 opens."""
    await conn.execute(
        "UPDATE primaries SET voting_started = true, updated_at = now() WHERE id = $1",
        primary_id,
    )


async def update_definition(
    conn: asyncpg.Connection,
    log: LogAppender,
    primary_id: uuid.UUID,
    changes: Mapping[str, object],
    *,
    by: uuid.UUID | None,
    charter: str | None = None,
    now: datetime | None = None,
) -> Primary:
    """Append the next revision of the definition (the old entry is never edited).

    `changes` are merged into the current definition. Refused once voting has started, when
    the slug changes (it names the log), when the schedule would rewrite the past
    (`check_schedule_change`), and for threshold or qualification mode once a candidate has
    qualified under the old rule.
    """
    current = await get_primary_by_id(conn, primary_id, for_update=True)
    if current is None:
        raise Refused("primary-not-found")
    if await voting_has_started(conn, primary_id):
        raise Refused("voting-started")
    wanted = changes.get("revision")
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int)):
        raise Refused("revision-not-integer", field="revision")
    if wanted not in (None, current.revision + 1):
        raise Refused("revision-expected", field="revision", next=current.revision + 1)
    merged = {**current.definition, **{k: v for k, v in changes.items() if k != "revision"}}
    body = validate_definition(merged, revision=current.revision + 1)
    if body["slug"] != current.slug:
        raise Refused("slug-fixed", field="slug")
    changed = changed_members(current.definition, body)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if "phases" in changed:
        check_schedule_change(current.definition["phases"], body["phases"], now)
    if {"threshold", "qualification"} & set(changed):
        qualified = await conn.fetchval(
            "SELECT count(*) FROM candidacies WHERE primary_id = $1 AND qualified_at IS NOT NULL",
            primary_id,
        )
        if qualified:
            raise Refused(
                "threshold-fixed", field="threshold" if "threshold" in changed else "qualification"
            )
    if {"ballots", "trustees", "trustee_threshold", "credentials"} & set(changed):
        # The trustees registered for an encrypted primary fix how it is counted (§10).
        if await conn.fetchval("SELECT 1 FROM trustees WHERE primary_id = $1 LIMIT 1", primary_id):
            raise Refused(
                "trustees-fixed",
                field=sorted(
                    {"ballots", "trustees", "trustee_threshold", "credentials"} & set(changed)
                )[0],
            )
    new_charter = current.charter
    if charter is not None:
        new_charter = clean_text(charter, "charter", max_length=MAX_CHARTER)
    if not changed:
        if new_charter != current.charter:
            row = await conn.fetchrow(
                f"UPDATE primaries SET charter = $2, updated_at = now() WHERE id = $1 "
                f"RETURNING {PRIMARY_COLUMNS}",
                primary_id,
                new_charter,
            )
            assert row is not None, primary_id  # read and locked above
            return Primary.from_row(row)
        return current
    row = await conn.fetchrow(
        f"""
        UPDATE primaries
           SET title = $2, description = $3, definition = $4::text::jsonb, revision = $5,
               charter = $6, updated_at = now()
         WHERE id = $1
        RETURNING {PRIMARY_COLUMNS}
        """,
        primary_id,
        body["title"],
        body["description"],
        _json(body),
        body["revision"],
        new_charter,
    )
    assert row is not None, primary_id  # read and locked above
    await conn.execute(
        """
        INSERT INTO primary_definitions (primary_id, revision, definition, created_by)
        VALUES ($1, $2, $3::text::jsonb, $4)
        """,
        primary_id,
        body["revision"],
        _json(body),
        by,
    )
    # Dated at the instant the schedule change was checked against (§9 check 11).
    await log.append(conn, primary_id, Definition(body), at=now)
    return Primary.from_row(row)


async def get_primary(
    conn: asyncpg.Connection, slug: str, *, for_update: bool = False, for_share: bool = False
) -> Primary | None:
    lock = " FOR UPDATE" if for_update else " FOR SHARE" if for_share else ""
    row = await conn.fetchrow(
        f"SELECT {PRIMARY_COLUMNS} FROM primaries WHERE slug = $1{lock}", slug
    )
    return Primary.from_row(row) if row else None


async def get_primary_by_id(
    conn: asyncpg.Connection,
    primary_id: uuid.UUID,
    *,
    for_update: bool = False,
    for_share: bool = False,
) -> Primary | None:
    lock = " FOR UPDATE" if for_update else " FOR SHARE" if for_share else ""
    row = await conn.fetchrow(
        f"SELECT {PRIMARY_COLUMNS} FROM primaries WHERE id = $1{lock}", primary_id
    )
    return Primary.from_row(row) if row else None


async def list_primaries(conn: asyncpg.Connection) -> list[Primary]:
    rows = await conn.fetch(f"SELECT {PRIMARY_COLUMNS} FROM primaries ORDER BY created_at DESC")
    return [Primary.from_row(r) for r in rows]


class Revision(TypedDict):
    """One revision of a primary's definition, as stored when it was made."""

    revision: int
    definition: DefinitionBody
    created_at: datetime


async def definition_history(conn: asyncpg.Connection, primary_id: uuid.UUID) -> list[Revision]:
    rows = await conn.fetch(
        """
        SELECT revision, definition, created_at FROM primary_definitions
         WHERE primary_id = $1 ORDER BY revision
        """,
        primary_id,
    )
    return [
        {"revision": r["revision"], "definition": r["definition"], "created_at": r["created_at"]}
        for r in rows
    ]
