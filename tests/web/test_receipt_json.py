"""The JSON receipt as the service serves it is exactly the one docs/audit-log.md §7 specifies
(issue 11, item 9), and scrutin-audit reads it, and refuses anything else, by that text."""

from __future__ import annotations

import base64
import json
import pathlib
import re

import pytest
from starlette.testclient import TestClient

from audit.cli import main as audit_main
from tests.fixtures.accounts import another_client, sign_in
from tests.fixtures.rounds import (
    cast_over_http,
    export_and_key,
    open_round_over_http,
    seed_round_primary,
)

SPEC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"


def _spec_members() -> list[str]:
    """The members of the §7 receipt table, in the spec's order."""
    text = SPEC.read_text(encoding="utf-8")
    table = text.split("The body is one JSON object with exactly these eight members:")[1]
    table = table.split("\n\n")[1]
    return re.findall(r"^\| `([a-z_]+)` \|", table, re.M)


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = audit_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_served_receipt_has_exactly_the_specified_members(
    client: TestClient, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    primary = seed_round_primary(client, candidates=3)
    base = f"/primaries/{primary.slug}"
    open_round_over_http(client, primary)
    voter = another_client(client)
    sign_in(voter, "receipt-json@example.org")
    grades = {f"grade-{c}": "3" for c in primary.candidates}
    _, receipt = cast_over_http(voter, base, 1, grades)

    members = _spec_members()
    assert members == [
        "format", "origin", "vkey", "index", "entry", "tracker", "inclusion_proof", "checkpoint",
    ]  # fmt: skip
    assert sorted(receipt) == sorted(members)
    export, vkey = export_and_key(client, primary.slug)
    assert receipt["format"] == "scrutin-receipt/v1"
    assert receipt["vkey"] == vkey and receipt["origin"] == vkey.split("+")[0]
    assert type(receipt["index"]) is int and receipt["index"] >= 0
    entry = base64.b64decode(receipt["entry"])
    assert base64.b64encode(entry).decode() == receipt["entry"]
    assert re.fullmatch(r"[0-9a-f]{64}", receipt["tracker"])
    assert all(len(base64.b64decode(h)) == 32 for h in receipt["inclusion_proof"])
    size = int(receipt["checkpoint"].split("\n")[1])
    assert size > receipt["index"]
    # The same document with format=json, and an unknown tracker or format refused.
    again = voter.get(f"{base}/receipt?tracker={receipt['tracker'].upper()}&format=json")
    assert again.status_code == 200 and again.json()["entry"] == receipt["entry"]
    assert again.headers["cache-control"] == "no-store"
    missing = voter.get(
        f"{base}/receipt?tracker={'0' * 64}", headers={"accept": "application/json"}
    )
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404
    assert voter.get(f"{base}/receipt?tracker=abc").status_code == 400
    assert voter.get(f"{base}/receipt?tracker={receipt['tracker']}&format=xml").status_code == 400

    # scrutin-audit accepts it as served…
    (tmp_path / "export.json").write_bytes(export)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt), "utf-8")
    log = str(tmp_path / "export.json")
    code, out, err = _audit(capsys, "receipt", str(path), "--log", log, "--log-key", vkey)
    assert code == 0, out + err
    # …and refuses, as unusable input, what §7 does not allow.
    for change, message in [
        ({"note": "ajout"}, "receipt members: missing [], unexpected ['note']"),
        ({"origin": None}, "receipt members: missing ['origin'], unexpected []"),
        ({"index": True}, "receipt 'index' is not of type int"),
        ({"origin": "evil.example/primaries/demo"}, "receipt 'origin' is not the key name"),
        ({"tracker": receipt["tracker"].upper()}, "receipt 'tracker' is not 64 lowercase hex"),
        ({"inclusion_proof": ["AAAA"]}, "receipt proof hashes are not 32-byte base64"),
    ]:
        bad = {**receipt, **change}
        bad = {k: v for k, v in bad.items() if v is not None}
        path.write_text(json.dumps(bad), "utf-8")
        code, out, err = _audit(capsys, "receipt", str(path), "--log-key", vkey)
        assert code == 2 and out == "", (change, err)
        assert err.startswith(f"scrutin-audit: {path}: {message}"), (change, err)
