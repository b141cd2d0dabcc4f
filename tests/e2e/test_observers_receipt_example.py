"""The observers' page's receipt example works as written: a voter who saves the receipt
downloaded after voting under the name the page gives, and runs the page's command line word
for word, gets a passing `scrutin-audit receipt`.

The command names the service's own address; scrutin-audit runs in this process with its
HTTP reads answered by the test client (the test server has no socket)."""

from __future__ import annotations

import html
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

import audit.sources
from audit.cli import main as audit_main
from tests.fixtures.accounts import another_client, sign_in
from tests.fixtures.rounds import cast_over_http, open_round_over_http, seed_round_primary

BLOCKS = re.compile(r"<pre class=\"wrap\"><code>([^<]+)</code></pre>")


def test_the_observers_receipt_example_runs_as_written(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    primary = seed_round_primary(client, candidates=2)
    base = f"/primaries/{primary.slug}"
    open_round_over_http(client, primary)
    voter = another_client(client)
    sign_in(voter, "observed-voter@example.org")
    ballot = {f"grade-{c}": "3" for c in primary.candidates}
    _page, receipt = cast_over_http(voter, base, 1, ballot)

    page = html.unescape(client.get(f"{base}/observers").text)
    command = next(b for b in BLOCKS.findall(page) if b.startswith("scrutin-audit receipt "))
    words = shlex.split(command)
    filename = words[2]
    # The page says under which name to save the downloaded receipt, the one the command uses.
    assert f"<code>{filename}</code>" in page
    assert "Télécharger mon reçu" in page
    english = html.unescape(client.get(f"{base}/observers", headers={"accept-language": "en"}).text)
    assert f"button of the receipt page) as <code>{filename}</code>" in english

    (tmp_path / filename).write_text(json.dumps(receipt), "utf-8")
    monkeypatch.chdir(tmp_path)

    def fetch(url: str, timeout: float = 60.0) -> bytes | None:
        parts = urlsplit(url)
        answer = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        return None if answer.status_code == 404 else answer.content

    monkeypatch.setattr(audit.sources, "_fetch", fetch)
    status = audit_main(words[1:])
    out = capsys.readouterr()
    assert status == 0, out.out + out.err
