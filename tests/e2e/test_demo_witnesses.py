"""The demo with its two witnesses (as `scrutin demo` runs it): the demo's checkpoint carries
the log's signature and both cosignatures, `scrutin-audit verify` reports the 2-of-2 quorum as
met, and the observers' page and `log/witnesses` list the witnesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from crypto import note
from tests.fixtures.witnesses import free_port
from voting.log import LogService
from web import demo_witnesses
from web.app import create_app, create_pool
from web.demo import DEMO_SLUG, seed_demo
from web.settings import Settings

REPO = Path(__file__).resolve().parents[2]


async def _export(database_url: str, settings: Settings) -> dict[str, Any]:
    log = LogService(secret_key=settings.secret_key or "", public_host=settings.public_host)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        primary_id = await pool.fetchval("SELECT id FROM primaries WHERE slug = $1", DEMO_SLUG)
        return await log.export(pool, primary_id)
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, template_database: str):  # type: ignore[no-untyped-def]
    from tests.conftest import _fresh_database, admin_execute, with_database

    name = _fresh_database(pg_admin_url, template_database)
    url = with_database(pg_admin_url, name)
    data = tmp_path_factory.mktemp("demo-data")
    settings = Settings(data_dir=data, database_url=url, secret_key="d" * 48)
    witnesses = demo_witnesses.prepare(data, free_port())
    try:
        for witness in witnesses:
            witness.start()
        asyncio.run(seed_demo(url, settings, witnesses))
        yield url, settings, witnesses, asyncio.run(_export(url, settings))
    finally:
        for witness in witnesses:
            witness.stop()
        admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_demo_checkpoint_is_cosigned_by_both_witnesses(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, witnesses, export = demo
    latest = export["checkpoints"][-1]
    text, signatures = note.parse_note(latest)
    assert signatures[0].name == export["origin"]  # the log's own signature first
    cosigned = {w.key.name for w in witnesses for s in signatures if w.key.cosigner.verify(text, s)}
    assert cosigned == set(demo_witnesses.NAMES)

    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    result = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", export["vkey"],
         "--lang", "en"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    assert "quorum met (demo-witnesses: 2 of (w1, w2)) by: w1, w2" in result.stdout
    report = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", export["vkey"], "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    doc = json.loads(report.stdout)
    assert doc["summary"]["witnesses"]["met"] is True
    assert next(c for c in doc["checks"] if c["number"] == 12)["ok"] is True


def test_observers_see_the_witnesses(demo) -> None:  # type: ignore[no-untyped-def]
    url, settings, witnesses, _ = demo
    with TestClient(create_app(settings, database_url=url)) as client:
        response = client.get(f"/primaries/{DEMO_SLUG}/log/checkpoint")
        assert response.headers["Scrutin-Witness-Quorum"] == "met"
        status = client.get(f"/primaries/{DEMO_SLUG}/log/witnesses").json()
        assert status["quorum_met"] is True
        assert [w["vkey"] for w in status["witnesses"]] == [w.vkey for w in witnesses]
        page = client.get(f"/primaries/{DEMO_SLUG}/observers", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        for witness in witnesses:
            assert witness.vkey in page.text
        assert "meets the policy" in page.text or "atteint le quorum" in page.text
