"""An encrypted round over HTTP (issue 14, docs/audit-log.md §10): three `scrutin trustee`
processes make a 2-of-3 election key on a live loopback service; voters cast through the
no-JavaScript booth (the service encrypts under their assisted key) and through the API with
a blob built and signed on their device, one revotes; the organiser closes, the sums are
published; one trustee's shares decrypt nothing, the second one's publish the result; and
scrutin-audit verifies the whole log."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from starlette.testclient import TestClient

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from crypto import canonical
from crypto import encrypted_ballots as eb
from tests.fixtures.accounts import another_client, api_request, post_form, sign_in
from tests.fixtures.live import LiveService, start_keygens, trustee
from tests.fixtures.rounds import export_and_key, seed_round_primary
from tests.fixtures.waiting import wait_until
from web.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GRADES4 = ["Insuffisant", "Passable", "Bien", "Très bien"]
ENCRYPTED = {"ballots": "encrypted", "trustees": 3, "trustee_threshold": 2}


def _vote_without_javascript(voter: TestClient, slug: str, fields: dict[str, Any]) -> None:
    """The booth's two forms, as a browser without JavaScript posts them."""
    assert voter.get(f"/primaries/{slug}/rounds/1/vote").status_code == 200
    review = post_form(voter, f"/primaries/{slug}/rounds/1/vote", fields)
    assert review.status_code == 200, review.text
    cast = post_form(voter, f"/primaries/{slug}/rounds/1/cast", fields)
    assert cast.status_code == 303, cast.text


async def _append_raw(settings: Settings, primary_id: Any, body: dict[str, Any]) -> str:
    """Log a ballot entry as it is, bypassing the service's checks; its tracker."""
    from voting.log import LogService
    from web.app import create_pool

    log = LogService(secret_key=settings.secret_key or "", public_host=settings.public_host)
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            queued = await log.append(conn, primary_id, "ballot", body)
    finally:
        await pool.close()
    return queued.leaf_hash.hex()


def _result_entry(client: TestClient, slug: str) -> dict[str, Any] | None:
    raw, _ = export_and_key(client, slug)
    for text in json.loads(raw)["entries"]:
        entry = canonical.loads(base64.b64decode(text))
        if entry["kind"] == "result":
            return entry["body"]
    return None


def test_an_encrypted_round_over_http_with_trustee_processes(
    client: TestClient, settings: Settings, public_tmp_path: Path
) -> None:
    primary = seed_round_primary(
        client, candidates=3, credentials="voter", grades=GRADES4, extra=ENCRYPTED
    )
    slug = primary.slug
    a, b, c = primary.candidates
    organiser = another_client(client)
    sign_in(organiser, f"orga-{slug}@example.org", organiser=True)

    # The organiser registers three trustees, each of whom made their keys with the command.
    folders = [public_tmp_path / f"garant-{i}" for i in (1, 2, 3)]
    for i, folder in enumerate(folders, start=1):
        made = trustee("init", str(folder))
        assert made.returncode == 0, made.stderr
        lines = made.stdout.splitlines()
        registered = api_request(
            organiser, "POST", f"/api/primaries/{slug}/trustees",
            {"name": f"Garant {i}", "signing_key": lines[0].split()[-1],
             "box_key": lines[1].split()[-1]},
        )  # fmt: skip
        assert registered.status_code == 201, registered.text

    # Voters: two without JavaScript (assisted keys), one with a key on their device.
    helped, blank_voter, device = (another_client(client) for _ in range(3))
    sign_in(helped, "helene-aide@example.org")
    sign_in(blank_voter, "bernard-blanc@example.org")
    sign_in(device, "diane-appareil@example.org")
    key = SigningKey.generate()
    url = f"/api/primaries/{slug}/credential"
    for voter in (helped, blank_voter):
        assert api_request(voter, "POST", url, {}).json()["assisted"] is True
    public = base64.b64encode(bytes(key.verify_key)).decode()
    assert api_request(device, "POST", url, {"public_key": public}).status_code == 201

    live = LiveService(settings.database_url, public_tmp_path / "live", settings.secret_key or "")
    try:
        runs = start_keygens(live.url, slug, folders)
        for run in runs:
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, (out, err)
        ceremony = json.loads(
            urllib.request.urlopen(live.url + f"/api/primaries/{slug}/trustees").read()  # noqa: S310
        )
        assert ceremony["state"] == "done"

        # (no sign-in from here on: the live service's mail worker may deliver the mail)
        opened = post_form(
            organiser, f"/primaries/{slug}/rounds", {"candidates": [a, b, c], "custody": "file"}
        )
        assert opened.status_code == 303, opened.text  # no key file: the trustees hold it
        page = client.get(f"/primaries/{slug}/rounds/1")
        assert ceremony["election_key"] in page.text and "garants" in page.text

        _vote_without_javascript(helped, slug, {f"grade-{a}": "0", f"grade-{b}": "1",
                                                f"grade-{c}": "2", "choice": "grades"})  # fmt: skip
        _vote_without_javascript(helped, slug, {f"grade-{a}": "3", f"grade-{b}": "3",
                                                f"grade-{c}": "0", "choice": "grades"})  # fmt: skip
        _vote_without_javascript(blank_voter, slug, {"choice": "blank"})
        # The device's ballot, built and signed as the JavaScript booth does (the browser test
        # drives the real booth); a plaintext ballot from a device key is refused.
        plain = api_request(
            device, "POST", f"/api/primaries/{slug}/rounds/1/ballot", {"grades": {a: 1, b: 1,
                                                                                c: 1}},
        )  # fmt: skip
        assert plain.headers["scrutin-refusal"] == "signature-required", plain.text
        params = eb.RoundParams(ceremony["origin"], 1, base64.b64decode(ceremony["election_key"]),
                                (a, b, c), 4, True, 0)  # fmt: skip
        body = eb.build_ballot(params, [a, b, c], {a: 2, b: 0, c: 3}, key)
        cast = api_request(
            device, "POST", f"/api/primaries/{slug}/rounds/1/ballot",
            {"encrypted": body["encrypted"], "credential_sig": body["credential_sig"]},
        )  # fmt: skip
        assert cast.status_code == 201, cast.text
        bad = bytearray(base64.b64decode(body["encrypted"]))
        bad[-40] ^= 1
        altered = base64.b64encode(bytes(bad)).decode()
        sig = base64.b64encode(
            key.sign(eb.signed_message(ceremony["origin"], 1, bytes(bad))).signature
        ).decode()
        refused = api_request(
            device, "POST", f"/api/primaries/{slug}/rounds/1/ballot",
            {"encrypted": altered, "credential_sig": sig},
        )  # fmt: skip
        assert refused.headers["scrutin-refusal"] == "encrypted-ballot-invalid", refused.text
        # Were such a ballot in the log all the same (an operator's bug), check-my-ballot says
        # it is invalid, and it neither counts nor replaces the device's valid ballot.
        tracker = asyncio.run(_append_raw(settings, primary.id, {
            "round": 1, "encrypted": altered, "credential": public, "credential_sig": sig,
        }))  # fmt: skip
        check = wait_until(
            lambda: (
                (
                    page := client.get(f"/primaries/{slug}/check", params={"tracker": tracker})
                ).status_code
                == 200
                and page
            ),
            "the invalid ballot in the log",
        )
        assert "bulletin chiffré invalide" in check.text and "proof-failed" in check.text

        closed = post_form(organiser, f"/primaries/{slug}/rounds/1/close", {})
        assert closed.status_code == 303, closed.text
        sums = client.get(f"/api/primaries/{slug}/rounds/1/sums").json()["sums"]
        assert sums["ballots"] == 3

        run = ["decrypt", "--url", live.url, "--primary", slug, "--round", "1", "--key"]
        # Three ballots are too few for a trustee's default: their profiles would come close to
        # showing single ballots. The trustee decides otherwise, knowingly, for this round.
        few = trustee(*run, str(folders[1]))
        assert few.returncode == 1 and "fewer than 10" in few.stderr, (few.stdout, few.stderr)
        run = [*run[:-1], "--min-ballots", "3", "--key"]
        first = trustee(*run, str(folders[1]))
        assert first.returncode == 0, first.stderr
        assert "the log verifies" in first.stdout and "its 3 counted ballots" in first.stdout
        assert "1 of the 2 needed" in first.stdout and "published" not in first.stdout
        # One share of the two needed: nothing decrypts, no result.
        assert _result_entry(client, slug) is None
        twice = trustee(*run, str(folders[1]))
        assert twice.returncode == 1 and "déjà publié" in twice.stderr, twice.stderr
        second = trustee(*run, str(folders[2]))
        assert second.returncode == 0, second.stderr
        assert "2 of the 2 needed" in second.stdout
        assert f"the result of round 1 is published: {live.url}" in second.stdout
        page = live.get(f"/primaries/{slug}/trustees")
        assert "Tour 1 : sommes de 3 bulletin(s) publiées" in page
        assert "parts de déchiffrement de 2 garant(s) sur les 2 nécessaires (2, 3)" in page

        result = _result_entry(client, slug)
        assert result is not None
        assert result["counts"] == {"valid": 2, "blank": 1, "invalid": 0}  # the invalid one: none
        assert {x: v["profile"] for x, v in result["candidates"].items()} == {
            a: [0, 0, 1, 1], b: [1, 0, 0, 1], c: [1, 0, 0, 1],
        }  # fmt: skip
        assert client.get(f"/primaries/{slug}/rounds/1/results").status_code == 200

        raw, vkey = export_and_key(client, slug)
        report = verify(parse_export(raw, "export"), parse_verifier_key(vkey), workers=1)
        assert report.ok, report.render("en")
        summary = report.summary["credentials"]
        assert summary["counted"] == 3 and summary["revotes"] >= 1
        assert summary["assisted_ballots"] >= 2  # the service encrypted and signed those
        # And as an observer runs it: `scrutin-audit verify` on the downloaded export.
        (public_tmp_path / "export.json").write_bytes(raw)
        done = subprocess.run(
            [sys.executable, "-m", "audit", "verify", str(public_tmp_path / "export.json"),
             "--log-key", vkey],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finally:
        live.stop()
