"""The encrypted demo primary (issue 14): three trustees whose key files are in the demo's data
folder (k = 2), round 1 tallied from the sums two of them decrypted, round 2 open for
encrypted ballots; its log passes every check of `scrutin-audit verify`, and an observer sees
the ceremony, the sums and the shares but no tally key and no ballot in clear."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crypto import canonical
from voting.log import LogService
from web.app import create_pool
from web.demo import ENCRYPTED_SLUG, seed_demo
from web.demo_rounds import trustee_folders
from web.settings import Settings

REPO = Path(__file__).resolve().parents[2]


async def _export(url: str, settings: Settings) -> tuple[dict[str, Any], list[tuple]]:
    log = LogService(secret_key=settings.secret_key or "", public_host=settings.public_host)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        pid = await pool.fetchval("SELECT id FROM primaries WHERE slug = $1", ENCRYPTED_SLUG)
        export = await log.export(pool, pid)
        rounds = await pool.fetch(
            "SELECT number, status, key_custody FROM rounds WHERE primary_id = $1 ORDER BY number",
            pid,
        )
    finally:
        await pool.close()
    return export, [tuple(r) for r in rounds]


def test_the_encrypted_demo_verifies(
    tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, template_database: str
) -> None:
    from tests.conftest import _fresh_database, admin_execute, with_database

    name = _fresh_database(pg_admin_url, template_database)
    url = with_database(pg_admin_url, name)
    try:
        data = tmp_path_factory.mktemp("demo-data")
        settings = Settings(data_dir=data, database_url=url, secret_key="e" * 48)
        lines = asyncio.run(seed_demo(url, settings))
        console = "\n".join(lines)
        assert f"--primary {ENCRYPTED_SLUG} --round 2" in console, console
        for folder in trustee_folders(settings):
            assert (folder / "trustee-key.json").is_file()
        export, rounds = asyncio.run(_export(url, settings))
        assert rounds == [(1, "tallied", "trustees"), (2, "open", "trustees")]
        bodies = [canonical.loads(base64.b64decode(e)) for e in export["entries"]]
        kinds = [e["kind"] for e in bodies]
        assert kinds.count("trustee") == 3 and kinds.count("election-key") == 1
        assert kinds.count("trustee-decryption") == 2 and "tally-key" not in kinds
        ballots = [e["body"] for e in bodies if e["kind"] == "ballot"]
        assert ballots and all("encrypted" in b and "sealed" not in b for b in ballots)
        result = next(e["body"] for e in bodies if e["kind"] == "result")
        assert result["counts"]["valid"] >= 30

        path = data / "export.json"
        path.write_text(json.dumps(export))
        done = subprocess.run(
            [sys.executable, "-m", "audit", "verify", str(path), "--log-key", export["vkey"],
             "--json"],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        report = json.loads(done.stdout)
        assert all(check["ok"] for check in report["checks"])

        again = asyncio.run(seed_demo(url, settings))  # idempotent: nothing new
        assert f"--primary {ENCRYPTED_SLUG} --round 2" in "\n".join(again)
        export_again, _ = asyncio.run(_export(url, settings))
        assert len(export_again["entries"]) >= len(export["entries"])
    finally:
        admin_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
