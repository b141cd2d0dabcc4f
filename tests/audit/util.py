"""Shared test helpers: run the verifier on an export document."""

from __future__ import annotations

import base64
import json
from typing import Any

from audit.note import parse_verifier_key
from audit.report import Report
from audit.sources import parse_export
from audit.verify import verify


def run(
    doc: dict[str, Any], vkey: str, *, state: str | None = None, workers: int | None = 1
) -> Report:
    log = parse_export(json.dumps(doc).encode(), "test-export")
    return verify(log, parse_verifier_key(vkey), state_dir=state, workers=workers)


def failed(report: Report) -> dict[int, list[tuple[int | None, str]]]:
    """{check number: [(index, code), …]} for the failed checks."""
    return {
        n: [(f.index, f.code) for f in c.failures] for n, c in report.checks.items() if not c.ok
    }


def entry(doc: dict[str, Any], index: int) -> bytes:
    return base64.b64decode(doc["entries"][index])


def set_entry(doc: dict[str, Any], index: int, raw: bytes) -> None:
    doc["entries"][index] = base64.b64encode(raw).decode()
