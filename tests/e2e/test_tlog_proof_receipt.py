"""A voter's receipt as a C2SP tlog-proof file (docs/audit-log.md §7), downloaded from the
receipt page and checked with the real `scrutin-audit receipt` command, and by hand with
nothing but the C2SP formats (hashlib + PyNaCl)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from crypto.merkle import InclusionProof
from crypto.note import open_checkpoint
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

PROOF_LINK = re.compile(r'href="([^"]+format=tlog-proof)" download="([^"]+\.tlog-proof)"')
PROOF_COMMAND = re.compile(r"<code>(scrutin-audit receipt \S+\.tlog-proof [^<]+)</code>")


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit", "receipt", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tlog_proof_receipt_from_the_page_to_the_observers_tool(
    client: TestClient, tmp_path: Path
) -> None:
    primary = seed_round_primary(client, candidates=3)
    base = f"/primaries/{primary.slug}"
    organiser = open_round_over_http(client, primary)
    voter = another_client(client)
    sign_in(voter, "tlog-proof-voter@example.org")
    ballot = dict(zip(primary.candidates, [5, 3, 1], strict=True))
    grades = {f"grade-{c}": str(g) for c, g in ballot.items()}
    page, receipt = cast_over_http(voter, base, 1, grades)

    # The receipt page offers the file and the command that checks it.
    link = PROOF_LINK.search(page.text)
    assert link is not None, page.text
    url, name = html.unescape(link.group(1)), link.group(2)
    assert name == f"recu-{primary.slug}-tour1-{receipt['tracker'][:12]}.tlog-proof"
    download = voter.get(url)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/plain; charset=utf-8"
    assert download.headers["content-disposition"] == f'attachment; filename="{name}"'
    text = download.text

    # By hand, from the C2SP formats only: header, extra (the entry), index, proof, checkpoint.
    head, _, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    entry = base64.b64decode(lines[1].removeprefix("extra "), validate=True)
    assert lines[2] == f"index {receipt['index']}"
    hashes = tuple(base64.b64decode(h, validate=True) for h in lines[3:])
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    assert leaf.hex() == receipt["tracker"]
    assert checkpoint == receipt["checkpoint"]
    opened = open_checkpoint(checkpoint, receipt["vkey"])
    InclusionProof(receipt["index"], opened.size, leaf, hashes).verify(opened.root_hash)

    # The observers' tool, with the command the page shows (the key is the pinned one).
    command = PROOF_COMMAND.search(page.text)
    assert command is not None
    words = shlex.split(html.unescape(command.group(1)))
    assert words[:3] == ["scrutin-audit", "receipt", name]
    (tmp_path / name).write_text(text, "utf-8")
    done = _audit(str(tmp_path / name), *words[3:], "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"]

    # After the reveal, against the published log, it shows what the ballot says.
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    reveal = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert reveal.status_code == 303
    export, vkey = export_and_key(client, primary.slug)
    (tmp_path / "log.json").write_bytes(export)
    log = str(tmp_path / "log.json")
    done = _audit(str(tmp_path / name), "--log", log, "--log-key", vkey, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {primary.names[c]: GRADES[g] for c, g in ballot.items()}
    assert json.loads(done.stdout)["summary"]["ballot"] == expected

    # A changed proof hash fails the inclusion check; no key, or no entry, is unusable input.
    first_hash = lines[3]
    flipped = ("A" if first_hash[0] != "A" else "B") + first_hash[1:]
    (tmp_path / "forged.tlog-proof").write_text(text.replace(first_hash, flipped, 1), "utf-8")
    done = _audit(str(tmp_path / "forged.tlog-proof"), "--log-key", vkey, "--json")
    assert done.returncode == 1
    failed = [c for c in json.loads(done.stdout)["checks"] if not c["ok"]]
    assert [c["number"] for c in failed] == [2]
    done = _audit(str(tmp_path / name))
    assert done.returncode == 2 and "--log-key" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "bare.tlog-proof").write_text(text.replace(lines[1] + "\n", "", 1), "utf-8")
    done = _audit(str(tmp_path / "bare.tlog-proof"), "--log-key", vkey)
    assert done.returncode == 2 and "extra" in done.stderr

    # Bad formats are refused with a clear 400.
    refused = voter.get(f"{base}/receipt", params={"tracker": receipt["tracker"], "format": "xml"})
    assert refused.status_code == 400
    assert "tlog-proof" in refused.text
