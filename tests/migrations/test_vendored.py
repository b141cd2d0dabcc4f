"""The third-party SQL the revisions run is exactly what migrations/vendor/VENDORED.md records.

procrastinate's schema is run by revision 0017 from a file kept verbatim; a changed byte (a
hand edit, a careless upgrade) would give databases a schema its authors never shipped.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import procrastinate

from tests.fixtures import vendored

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
VENDOR = MIGRATIONS / "vendor"
RECORD = VENDOR / "VENDORED.md"
SCHEMA = "procrastinate-3.10.0-schema.sql"


def recorded_files() -> dict[str, tuple[str, int]]:
    return vendored.recorded_files(RECORD)


def test_every_vendored_file_has_the_recorded_hash() -> None:
    files = recorded_files()
    assert SCHEMA in files
    vendored.assert_recorded_hashes(VENDOR, files)


def test_nothing_unrecorded_sits_in_the_vendor_folder() -> None:
    present = {p.name for p in VENDOR.iterdir()} - {"VENDORED.md"}
    assert present == set(recorded_files())


def test_the_job_queue_revision_runs_the_recorded_schema() -> None:
    source = (MIGRATIONS / "versions" / "0017_job_queue.py").read_text(encoding="utf-8")
    assert f'"vendor" / "{SCHEMA}"' in source
    assert "| procrastinate | 3.10.0 | `procrastinate/sql/schema.sql`" in RECORD.read_text("utf-8")


def test_the_installed_procrastinate_ships_the_same_schema() -> None:
    """While the pin allows only 3.10.x, the worker's library and the schema agree."""
    installed = Path(procrastinate.__file__).parent / "sql" / "schema.sql"
    version = importlib.metadata.version("procrastinate")
    assert version.startswith("3.10."), version
    if version == "3.10.0":
        assert installed.read_bytes() == (VENDOR / SCHEMA).read_bytes()
