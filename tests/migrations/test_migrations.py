import asyncio

import asyncpg

from web.migrate import current_revision, downgrade, head_revision, upgrade

BASE_TABLES = {"accounts", "primaries"}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database_url: str) -> None:
    assert asyncio.run(current_revision(empty_database_url)) is None

    upgrade(empty_database_url)
    assert asyncio.run(current_revision(empty_database_url)) == head_revision()
    tables = asyncio.run(_tables(empty_database_url))
    assert BASE_TABLES <= tables

    downgrade(empty_database_url, "base")
    assert asyncio.run(current_revision(empty_database_url)) is None
    assert asyncio.run(_tables(empty_database_url)) == set()

    upgrade(empty_database_url)
    assert asyncio.run(_tables(empty_database_url)) == tables


def test_every_revision_is_plain_sql_with_a_downgrade() -> None:
    from pathlib import Path

    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    for path in sorted(versions.glob("[0-9]*.py")):
        text = path.read_text("utf-8")
        assert "def downgrade" in text, path.name
        assert "execute_script(" in text, path.name
        assert "sqlalchemy" not in text.replace("migrations.sql", ""), path.name
