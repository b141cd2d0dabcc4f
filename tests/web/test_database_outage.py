"""When the database goes away: a clear 503 page (never a 500 or a traceback), /healthz says
the process cannot serve, and everything comes back by itself once the database returns.
A client leaving in the middle of its request is not an error.

The outage is real: a PostgreSQL of this module's own (not the suite's shared one) is
stopped and started again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.fixtures.waiting import wait_until
from web.app import create_app
from web.database import EmbeddedPostgres, ensure_database
from web.migrate import upgrade
from web.settings import Settings

SECRET = "outage-secret-key-0123456789abcdefghijklmnop"


class Database:
    """A PostgreSQL server of our own, which the test can stop and start again."""

    def __init__(self) -> None:
        # Not under pytest's private tmp dir: as root, the server runs as its own user.
        self.folder = Path(tempfile.mkdtemp(prefix="scrutin-outage-pg-"))
        self.folder.chmod(0o755)
        self.server: EmbeddedPostgres | None = None

    def start(self) -> None:
        self.server = EmbeddedPostgres(self.folder).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url()


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    db = Database()
    db.start()
    try:
        asyncio.run(ensure_database(db.server.admin_url()))  # type: ignore[union-attr]
        upgrade(db.url)
        yield db
    finally:
        if db.server is not None:
            db.stop()
        shutil.rmtree(db.folder, ignore_errors=True)


def _status(client: TestClient, path: str, **headers: str) -> int:
    return client.get(path, headers=headers).status_code


def test_pages_answer_503_while_the_database_is_away_and_recover_when_it_returns(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=database.url, secret_key=SECRET, checkpoint_interval=0.2
    )
    with TestClient(create_app(settings)) as client:
        assert _status(client, "/") == 200
        assert client.get("/healthz").json() == {"status": "ok"}

        database.stop()
        wait_until(lambda: _status(client, "/") == 503, "the home page to say 503")
        page = client.get("/")
        assert "Le service est momentanément indisponible" in page.text
        assert page.headers["retry-after"] == "5"
        assert "Traceback" not in page.text
        english = client.get("/", headers={"Accept-Language": "en"})
        assert "The service is unavailable for a moment" in english.text
        api = client.get("/api/primaries")
        assert api.status_code == 503
        assert api.json()["error"]["status"] == 503
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"

        database.start()
        wait_until(lambda: _status(client, "/") == 200, "the home page to come back")
        wait_until(lambda: _status(client, "/healthz") == 200, "/healthz to say ok again")
        assert _status(client, "/api/primaries") == 200
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors


@pytest.mark.anyio
async def test_a_client_leaving_mid_request_is_not_an_unhandled_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}  # the browser closed the tab while sending

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/signin",
        "raw_path": b"/signin",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"40"),
        ],
        "client": ("192.0.2.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    assert not [m for m in sent if m.get("status") == 500]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
