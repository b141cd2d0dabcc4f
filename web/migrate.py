"""Schema migrations: alembic revisions under `migrations/`, applied over asyncpg."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from web.database import DatabaseError, connect, sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaError(RuntimeError):
    """The database schema does not match this version of the code."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None, "migrations/ has no revision"
    return head


def known_revisions() -> set[str]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return {rev.revision for rev in script.walk_revisions()}


def upgrade(database_url: str, target: str = "head") -> None:
    """Bring the schema to `target` (default: head). Must run outside an event loop."""
    command.upgrade(alembic_config(database_url), target)


def downgrade(database_url: str, target: str = "base") -> None:
    command.downgrade(alembic_config(database_url), target)


async def current_revision(conn_or_url: object) -> str | None:
    """The revision recorded in the database, or None for an empty database."""
    conn = await connect(conn_or_url) if isinstance(conn_or_url, str) else conn_or_url
    try:
        has_table = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")  # type: ignore[attr-defined]
        if not has_table:
            return None
        return await conn.fetchval("SELECT version_num FROM alembic_version")  # type: ignore[attr-defined]
    finally:
        if isinstance(conn_or_url, str):
            await conn.close()  # type: ignore[attr-defined]


def check_schema(revision: str | None) -> None:
    """Raise SchemaError unless the schema is exactly at this code's head."""
    head = head_revision()
    if revision == head:
        return
    if revision is None:
        raise SchemaError("the database has no schema yet: run `scrutin migrate`")
    if revision not in known_revisions():
        raise SchemaError(
            f"the database schema is at revision {revision}, unknown to this version of "
            "scrutin (was it migrated by a newer version?)"
        )
    raise SchemaError(
        f"migrations are out of date: the database is at revision {revision}, "
        f"this version needs {head}: run `scrutin migrate`"
    )


def verify_schema(database_url: str) -> None:
    """Check reachability and schema head in one go (for start-up)."""
    try:
        revision = asyncio.run(current_revision(database_url))
    except DatabaseError:
        raise
    check_schema(revision)
