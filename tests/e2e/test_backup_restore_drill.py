"""The backup drill an operator runs: back up, lose the data folder, restore, and the log is
the same log (same root, scrutin-audit passes, its signing key still opens).

The commands run as separate processes (`scrutin recovery-key`, `scrutin backup`,
`scrutin restore`), on an embedded PostgreSQL in a data folder of its own; bad input (wrong
key, truncated file, non-empty target) is one line and exit 1, with nothing restored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.fixtures.rounds import export_and_key, seed_round_primary
from web.app import create_app
from web.database import EmbeddedPostgres, ensure_database
from web.settings import Settings

SCRUTIN = [sys.executable, "-c", "import sys; from web.cli import main; sys.exit(main())"]
REPO = Path(__file__).resolve().parents[2]


def scrutin(*args: str, runtime: Path) -> subprocess.CompletedProcess[str]:
    # The embedded server keeps its lock file under XDG_RUNTIME_DIR: outside the data folder.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    return subprocess.run(
        [*SCRUTIN, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


@pytest.fixture
def folder() -> Iterator[Path]:
    # The embedded PostgreSQL runs as its own system user, which must reach its data folder.
    path = Path(tempfile.mkdtemp(prefix="scrutin-backup-drill-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_service(data_dir: Path, work) -> object:  # type: ignore[no-untyped-def]
    """Start the embedded database of `data_dir`, run `work(client)` on the app, stop."""
    import asyncio

    server = EmbeddedPostgres(data_dir).start()
    try:
        asyncio.run(ensure_database(server.admin_url()))
        settings = Settings(data_dir=data_dir, checkpoint_interval=0.2)
        with TestClient(create_app(settings, database_url=server.url())) as client:
            return work(client)
    finally:
        server.stop()


def audit(export: bytes, vkey: str, where: Path) -> subprocess.CompletedProcess[str]:
    where.write_bytes(export)
    return subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(where), "--log-key", vkey, "--lang", "en"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def latest_root(export: bytes) -> str:
    return json.loads(export)["checkpoints"][-1].split("\n")[2]


def test_restore_after_losing_the_data_folder_gives_back_the_same_log(folder: Path) -> None:
    data = folder / "data"
    assert scrutin("migrate", "--data-dir", str(data), runtime=folder).returncode == 0

    def seed(client: TestClient) -> tuple[str, bytes, str]:
        primary = seed_round_primary(client, candidates=3)
        return (primary.slug, *export_and_key(client, primary.slug))

    slug, before, vkey = run_service(data, seed)  # type: ignore[misc]
    checked = audit(before, vkey, folder / "before.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    made = scrutin("recovery-key", str(folder / "recovery"), runtime=folder)
    assert made.returncode == 0, made.stderr
    assert (folder / "recovery").stat().st_mode & 0o077 == 0  # the secret half is private
    backup = folder / "primaire.backup"
    done = scrutin("backup", str(backup), "--recipient", str(folder / "recovery.pub"),
                   "--data-dir", str(data), runtime=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"scrutin" not in backup.read_bytes()  # nothing of the database in clear

    # Disaster: the whole data folder (cluster and secret key) is gone.
    shutil.rmtree(data)

    # Bad input is one line, exit 1, and restores nothing.
    other = scrutin("recovery-key", str(folder / "other"), runtime=folder)
    assert other.returncode == 0
    truncated = folder / "truncated.backup"
    truncated.write_bytes(backup.read_bytes()[:-20])
    occupied = folder / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("someone's files")
    refusals = {
        "this backup was not made for this recovery key": (backup, "other", data),
        "the backup file is truncated or damaged": (truncated, "recovery", data),
        "is not empty: restore into a new or empty data folder": (backup, "recovery", occupied),
        "is the other half of a recovery key": (backup, "recovery.pub", data),
    }
    for message, (source, key, target) in refusals.items():
        result = scrutin("restore", str(source), "--key", str(folder / key),
                         "--data-dir", str(target), runtime=folder)  # fmt: skip
        assert result.returncode == 1, (message, result.stdout, result.stderr)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not data.exists()
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
    assert not [p for p in folder.iterdir() if ".restoring-" in p.name]

    restored = scrutin("restore", str(backup), "--key", str(folder / "recovery"),
                       "--data-dir", str(data), runtime=folder)  # fmt: skip
    assert restored.returncode == 0, restored.stderr

    def reread(client: TestClient) -> tuple[bytes, str]:
        export, key = export_and_key(client, slug)
        app = client.app
        assert isinstance(app, Starlette)
        primary_id = client.portal.call(  # type: ignore[call-arg]  # slug: set below, read later
            app.state.log.primary_id_for_slug, app.state.pool, slug
        )
        # The restored secret key still opens the log's sealed signing key.
        opened = client.portal.call(app.state.log._log_key, app.state.pool, primary_id)
        assert opened.vkey == key
        return export, key

    after, vkey_after = run_service(data, reread)  # type: ignore[misc]
    assert vkey_after == vkey
    assert latest_root(after) == latest_root(before)
    assert json.loads(after)["entries"] == json.loads(before)["entries"]
    checked = audit(after, vkey, folder / "after.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
