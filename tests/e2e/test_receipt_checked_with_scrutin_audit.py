"""Receipts produced by the service, checked with the real `scrutin-audit receipt` command.

Voters cast over HTTP and download their receipt file as a browser does; an observer runs
`python -m audit receipt FILE --log EXPORT --log-key KEY` (a separate process, the installed
tool's code path) before the close, and again after the tally key is revealed, when the tool
also opens the ballot and prints what it says.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from tests.conftest import REPO_ROOT
from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import (
    GRADES,
    PASSPHRASE,
    cast_over_http,
    export_and_key,
    open_round_over_http,
    seed_round_primary,
)

COMMAND = re.compile(r"<pre class=\"wrap\"><code>(scrutin-audit receipt [^<]+)</code></pre>")


def _audit_receipt(receipt: Path, export: Path, vkey: str, *extra: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "audit", "receipt", str(receipt), "--log", str(export),
         "--log-key", vkey, *extra],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_scrutin_audit_receipt_before_and_after_the_reveal(client: TestClient, tmp_path) -> None:
    primary = seed_round_primary(client, candidates=3)
    base = f"/primaries/{primary.slug}"
    organiser = open_round_over_http(client, primary)
    choices = [
        dict(zip(primary.candidates, [6, 2, 0], strict=True)),
        {},  # blank
        dict(zip(primary.candidates, [1, 4, 5], strict=True)),
    ]
    receipts: list[Path] = []
    commands: list[str] = []
    for i, ballot in enumerate(choices):
        voter = another_client(client)
        sign_in(voter, f"cli-voter-{i}@example.org")
        data = {f"grade-{c}": str(g) for c, g in ballot.items()} if ballot else {"choice": "blank"}
        page, document = cast_over_http(voter, base, 1, data)
        commands.append(html.unescape(COMMAND.search(page.text).group(1)))
        path = tmp_path / f"receipt-{i}.json"
        path.write_text(json.dumps(document), "utf-8")
        receipts.append(path)

    # Before the close: each receipt verifies against the published log; the ballot is sealed.
    export, vkey = export_and_key(client, primary.slug)
    (tmp_path / "before.json").write_bytes(export)
    for path in receipts:
        status, out, err = _audit_receipt(path, tmp_path / "before.json", vkey, "--json")
        assert status == 0, out + err
        report = json.loads(out)
        assert report["ok"] and all(check["ok"] for check in report["checks"])
        assert "ballot" not in report["summary"]

    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    reveal = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert reveal.status_code == 303

    # After the reveal: the same receipts, against the grown log, show what each ballot says.
    export, vkey = export_and_key(client, primary.slug)
    (tmp_path / "after.json").write_bytes(export)
    for path, ballot in zip(receipts, choices, strict=True):
        status, out, err = _audit_receipt(path, tmp_path / "after.json", vkey, "--json")
        assert status == 0, out + err
        report = json.loads(out)
        assert report["ok"]
        expected = {primary.names[c]: GRADES[g] for c, g in ballot.items()}
        assert report["summary"]["ballot"] == expected
    status, out, _err = _audit_receipt(receipts[0], tmp_path / "after.json", vkey, "--lang", "en")
    assert status == 0
    for cid, grade in choices[0].items():
        assert f"{primary.names[cid]} : {GRADES[grade]}" in out

    # The command the receipt page shows is the one to run: same file name, this primary's
    # address and key (here the address is replaced by the downloaded export).
    url = f"http://testserver{base}"
    for command, path in zip(commands, receipts, strict=True):
        words = shlex.split(command)
        assert words[:3] == ["scrutin-audit", "receipt", words[2]]
        assert words[2].startswith(f"recu-{primary.slug}-tour1-") and words[2].endswith(".json")
        assert words[3:] == ["--log", url, "--log-key", vkey]
        named = tmp_path / words[2]
        named.write_bytes(path.read_bytes())
        status, _out, err = _audit_receipt(named, tmp_path / "after.json", words[6])
        assert status == 0, err
    observers = html.unescape(client.get(f"{base}/observers").text)
    assert f"scrutin-audit verify {url} --log-key '{vkey}'" in observers
    assert f"scrutin-audit receipt receipt.json --log {url} --log-key '{vkey}'" in observers

    # A receipt checked against another primary's log fails, with a non-zero exit.
    other = seed_round_primary(client, candidates=2)
    foreign, foreign_key = export_and_key(client, other.slug)
    (tmp_path / "foreign.json").write_bytes(foreign)
    status, _out, _err = _audit_receipt(receipts[0], tmp_path / "foreign.json", foreign_key)
    assert status != 0
