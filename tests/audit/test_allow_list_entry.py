"""`allow-list` entries (docs/audit-log.md §8): counts and a digest of an imported list."""

from __future__ import annotations

import hashlib

import pytest

from tests.audit.builder import LogBuilder, definition_body
from tests.audit.util import failed, run

DIGEST = hashlib.sha256(b'["email:a@example.org","voter_number:FR-1"]').hexdigest()
GOOD = {"emails": 1, "numbers": 1, "added": 2, "removed": 0, "digest": DIGEST}


def _log(body: dict) -> tuple[dict, str]:
    b = LogBuilder()
    b.add("definition", definition_body(eligibility="allow-list"))
    b.add("allow-list", body)
    return b.export(), b.vkey


def test_an_allow_list_entry_is_a_known_kind() -> None:
    doc, vkey = _log(GOOD)
    assert failed(run(doc, vkey)) == {}


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD, "removed": -1},
        {**GOOD, "digest": DIGEST.upper()},
        {k: v for k, v in GOOD.items() if k != "digest"},
        {**GOOD, "emails": ["a@example.org"]},
        {**GOOD, "extra": 1},
    ],
)
def test_a_malformed_allow_list_entry_fails_check_4(body: dict) -> None:
    doc, vkey = _log(body)
    assert [index for index, _ in failed(run(doc, vkey)).get(4, [])] == [1]
