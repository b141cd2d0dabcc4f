"""The demo, as a new voter lives it: open the booth of the open round, grade, review, cast,
keep the receipt; after the organiser closes and reveals, read the result with its charts
and explanations, and check the receipt (online and with `scrutin-audit receipt`)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

from starlette.testclient import TestClient

from tests.conftest import REPO_ROOT
from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import cast_over_http
from web.app import create_app
from web.demo import DEMO_SLUG, ORGANISER_EMAIL, seed_demo
from web.demo_rounds import demo_passphrase
from web.settings import Settings

ROW = re.compile(r'<legend class="booth-name">([^<]+)</legend>')
RADIO = re.compile(r'name="grade-([0-9a-f-]{36})" value="(\d+)"')


def test_a_new_voter_in_the_demo(settings: Settings, database_url: str, tmp_path) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed_demo(database_url, settings))
    base = f"/primaries/{DEMO_SLUG}"
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        # Round 1 is finished: its result is public.
        assert client.get(f"{base}/rounds/1/results").status_code == 200
        voter = another_client(client)
        sign_in(voter, "nouvelle-votante@example.org")
        rounds = voter.get(f"{base}/rounds")
        assert f'href="{base}/rounds/2/vote"' in rounds.text
        booth = voter.get(f"{base}/rounds/2/vote")
        assert booth.status_code == 200
        names = ROW.findall(booth.text)
        candidates = list(dict.fromkeys(c for c, _ in RADIO.findall(booth.text)))
        assert len(names) == len(candidates) >= 2
        grades = {c: (i * 2 + 1) % 6 for i, c in enumerate(candidates)}
        data = {f"grade-{c}": str(g) for c, g in grades.items()}
        review = post_form(voter, f"{base}/rounds/2/vote", data)
        assert review.status_code == 200 and "Confirmer mon vote" in review.text
        for name in names:
            assert name in review.text
        page, receipt = cast_over_http(voter, base, 2, data)
        assert "A voté" in page.text and receipt["tracker"][:12] in page.text
        (tmp_path / "receipt.json").write_text(json.dumps(receipt), "utf-8")
        assert "déjà voté" in voter.get(f"{base}/rounds/2/vote").text

        organiser = another_client(client)
        sign_in(organiser, ORGANISER_EMAIL)
        assert post_form(organiser, f"{base}/rounds/2/close", {}).status_code == 303
        passphrase = demo_passphrase(settings.secret_key or "", 2)
        reveal = post_form(organiser, f"{base}/rounds/2/reveal", {"passphrase": passphrase})
        assert reveal.status_code == 303, reveal.text

        results = voter.get(f"{base}/rounds/2/results")
        assert results.status_code == 200
        html = results.text
        assert html.count('role="img"') == len(candidates) + 1  # one each, and the overview
        assert html.count('class="profile-table"') == len(candidates)
        assert "Pourquoi cet ordre" in html and "Participation :" in html
        check = voter.get(f"{base}/check", params={"tracker": receipt["tracker"][:12]})
        assert "compté dans le résultat publié" in check.text

        export = client.get(f"{base}/log/export")
        (tmp_path / "export.json").write_bytes(export.content)
        vkey = client.get(f"{base}/log/vkey").text.strip()
        scale = client.get(f"{base}/data/results.json").json()["rounds"][1]["grades"]
    done = subprocess.run(
        [sys.executable, "-m", "audit", "receipt", str(tmp_path / "receipt.json"),
         "--log", str(tmp_path / "export.json"), "--log-key", vkey, "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    named = dict(zip(candidates, names, strict=True))
    assert report["summary"]["ballot"] == {named[c]: scale[g] for c, g in grades.items()}
