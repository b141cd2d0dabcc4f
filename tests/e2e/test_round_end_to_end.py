"""A whole round over HTTP: open, vote (subsets, blank), receipts, close, reveal, result.

The published result is compared with the tally engine on the very ballots the voters cast,
every receipt is verified with crypto.merkle / crypto.note, and the whole log with the
independent verifier (audit/).
"""

from __future__ import annotations

import json
import random
import re

from starlette.testclient import TestClient

from audit.note import parse_verifier_key
from audit.receipt import verify_receipt
from audit.sources import parse_export
from audit.verify import verify
from crypto import merkle
from crypto.encoding import b64decode
from crypto.note import open_checkpoint
from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.rounds import GRADES, PASSPHRASE, cast_over_http, seed_round_primary
from voting.majority import tally

RADIO = re.compile(r'name="grade-([0-9a-f-]{36})" value="0"')


def _check_receipt(receipt: dict) -> None:
    """What a voter's own tool does with the receipt file (docs/audit-log.md §7)."""
    checkpoint = open_checkpoint(receipt["checkpoint"], receipt["vkey"])
    entry = b64decode(receipt["entry"])
    leaf = merkle.leaf_hash(entry)
    assert leaf.hex() == receipt["tracker"]
    proof = [b64decode(h) for h in receipt["inclusion_proof"]]
    merkle.verify_inclusion(leaf, receipt["index"], checkpoint.size, proof, checkpoint.root_hash)
    assert json.loads(entry)["kind"] == "ballot"


def test_round_end_to_end(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=6, subset_size=3, missing="worst-grade")
    base = f"/primaries/{primary.slug}"
    organiser = another_client(client)
    sign_in(organiser, "orga-e2e@example.org", organiser=True)
    opened = post_form(
        organiser,
        f"{base}/rounds",
        {
            "candidates": primary.candidates,
            "custody": "passphrase",
            "passphrase": PASSPHRASE,
            "passphrase_again": PASSPHRASE,
        },
    )
    assert opened.status_code == 303, opened.text

    rng = random.Random(42)
    ballots: list[dict[str, int]] = []
    receipts: list[dict] = []
    for i in range(14):
        voter = another_client(client)
        sign_in(voter, f"e2e-voter-{i}@example.org")
        booth = voter.get(f"{base}/rounds/1/vote")
        assert booth.status_code == 200
        shown = RADIO.findall(booth.text)
        assert len(shown) == 3 and set(shown) <= set(primary.candidates)
        if i % 5 == 4:
            data = {"choice": "blank"}
            ballot: dict[str, int] = {}
        else:
            ballot = {c: rng.randrange(len(GRADES)) for c in shown}
            data = {f"grade-{c}": str(g) for c, g in ballot.items()}
        review = post_form(voter, f"{base}/rounds/1/vote", data)
        assert review.status_code == 200 and "Confirmer mon vote" in review.text
        hidden = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', review.text)
        )
        hidden.pop("csrf_token")
        _page, receipt = cast_over_http(voter, base, 1, hidden)
        _check_receipt(receipt)
        receipts.append(receipt)
        ballots.append(ballot)

    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    assert (
        post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE}).status_code
        == 303
    )

    data = client.get(f"{base}/data/results.json").json()
    [round_data] = data["rounds"]
    result = round_data["result"]
    ids = [c["candidate"] for c in round_data["candidates"]]
    valid = sum(1 for b in ballots if b)
    engine = tally(GRADES, ids, ballots=ballots, participants=valid, missing="worst-grade")
    assert round_data["turnout"] == 14
    assert result["counts"] == {"valid": valid, "blank": 14 - valid, "invalid": 0}
    assert result["ranking"] == list(engine.ranking)
    for c in ids:
        assert result["candidates"][c]["profile"] == list(engine.profiles[c])
        assert result["candidates"][c]["majority_grade"] == engine.majority_grades[c]
        assert result["candidates"][c]["rank"] == engine.ranks[c]
    # Balanced subsets: every voter was shown 3 candidates, exposures within the window (2);
    # judgments received also miss the subsets of blank voters.
    shown = [r["shown"] for r in run_db(client, "SELECT shown FROM round_exposure")]
    assert sum(shown) == 3 * 14 and max(shown) - min(shown) <= 2
    judged = [sum(result["candidates"][c]["profile"]) for c in ids]
    assert sum(judged) == 3 * valid and max(judged) - min(judged) <= 2 + (14 - valid)

    export = client.get(f"{base}/log/export").content
    log = parse_export(export, "export")
    key = parse_verifier_key(client.get(f"{base}/log/vkey").text.strip())
    report = verify(log, key)
    assert report.ok, report.render("en")
    for receipt in receipts:
        checked = verify_receipt(receipt, log=log, pinned=key)
        assert checked.ok, checked.render("en")
        page = client.get(f"{base}/check", params={"tracker": receipt["tracker"][:12]})
        assert "compté dans le résultat publié" in page.text
