"""The demo, as a new voter lives it. The demo primary runs under voter-held credentials and
round 2's roll froze when it opened: a newcomer is told plainly at the booth that they cannot
vote in it, and the console names the demo voters on the roll a visitor can use. As the
assisted one (no JavaScript needed): grade, review, cast, keep the receipt, change one's mind
and vote again; after the organiser closes and reveals, read the result with its charts and
explanations, check both receipts (the first replaced, the last counted) and the key (online
and with `scrutin-audit receipt`); an abstainer's key carries no ballot."""

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
from web.demo import DEMO_SLUG, ORGANISER_EMAIL, device_seed, recovery_code, seed_demo
from web.demo_rounds import VISITOR_ASSISTED_EMAIL, VISITOR_KEY_EMAIL, demo_passphrase
from web.settings import Settings

ROW = re.compile(r'<legend class="booth-name">([^<]+)</legend>')
RADIO = re.compile(r'name="grade-([0-9a-f-]{36})" value="(\d+)"')


def test_a_new_voter_in_the_demo(settings: Settings, database_url: str, tmp_path) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lines = asyncio.run(seed_demo(database_url, settings))
    # The console names the demo voters a visitor can use, with the key holder's recovery code.
    code = recovery_code(device_seed(settings.secret_key or "", VISITOR_KEY_EMAIL))
    console = "\n".join(lines)
    assert VISITOR_ASSISTED_EMAIL in console and code in console
    base = f"/primaries/{DEMO_SLUG}"
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        # Round 1 is finished: its result is public.
        assert client.get(f"{base}/rounds/1/results").status_code == 200
        newcomer = another_client(client)
        sign_in(newcomer, "nouvelle-votante@example.org")
        rounds = newcomer.get(f"{base}/rounds")
        assert f'href="{base}/rounds/2/vote"' in rounds.text
        refused = newcomer.get(f"{base}/rounds/2/vote")
        assert refused.status_code == 403
        assert "pas de clé de vote sur la liste des votants" in refused.text
        assert 'name="grade-' not in refused.text

        voter = another_client(client)
        sign_in(voter, VISITOR_ASSISTED_EMAIL)
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
        first_page, first = cast_over_http(voter, base, 2, data)
        assert "A voté" in first_page.text and first["tracker"][:12] in first_page.text
        # A change of mind before the close: the new ballot replaces the first.
        grades = {c: (i * 2 + 4) % 6 for i, c in enumerate(candidates)}
        data = {f"grade-{c}": str(g) for c, g in grades.items()}
        assert voter.get(f"{base}/rounds/2/vote").status_code == 200
        page, receipt = cast_over_http(voter, base, 2, data)
        assert "A voté" in page.text and receipt["tracker"] != first["tracker"]
        (tmp_path / "receipt.json").write_text(json.dumps(receipt), "utf-8")
        mine = voter.get(f"/api/primaries/{DEMO_SLUG}/credential").json()
        assert mine["assisted"] is True

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
        check = voter.get(f"{base}/check", params={"tracker": first["tracker"][:12]})
        assert "non compté : remplacé par un bulletin plus récent" in check.text
        # The key check: on the roll of round 2, two ballots, the last one counts.
        key = voter.get(f"{base}/check", params={"credential": mine["credential"]})
        assert key.status_code == 200
        assert "sur la liste figée du tour 1, 2" in key.text
        assert key.text.count("remplacé par un bulletin plus récent") == 1
        assert key.text.count("c’est lui qui compte") == 1
        assert receipt["tracker"][:12] in key.text and first["tracker"][:12] in key.text
        # The key holder abstained: no ballot carries their key.
        from nacl.signing import SigningKey

        from crypto.encoding import b64encode

        seed = device_seed(settings.secret_key or "", VISITOR_KEY_EMAIL)
        abstainer = b64encode(bytes(SigningKey(seed).verify_key))
        key = client.get(f"{base}/check", params={"credential": abstainer})
        assert "aucun bulletin du journal ne porte cette clé" in key.text
        assert "sur la liste figée du tour 1, 2" in key.text
        bad = client.get(f"{base}/check", params={"credential": "pas une clé"})
        assert bad.status_code == 400 and "32 octets" in bad.text

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
