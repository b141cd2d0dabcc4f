"""The random-subset booth over HTTP (subset_size > 0).

Each voter sees exactly k candidates, the same ones (in the same order) on every visit, also
after an error or a new sign-in; exposure stays balanced; the published result, computed
with the definition's missing-judgment policy, equals the engine on the very ballots cast;
the independent verifier passes on the export.
"""

from __future__ import annotations

import random
import re

import pytest
from starlette.testclient import TestClient

from audit.note import parse_verifier_key
from audit.sources import parse_export
from audit.verify import verify
from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.rounds import (
    GRADES,
    PASSPHRASE,
    cast_over_http,
    export_and_key,
    open_round_over_http,
    seed_round_primary,
)
from voting.majority import tally

ROWS = re.compile(r'<legend class="booth-name">([^<]+)</legend>')
FIRST_RADIO = re.compile(r'name="grade-([0-9a-f-]{36})" value="0"')


@pytest.mark.parametrize("missing", ["normalize", "median"])
def test_subset_booth_end_to_end(client: TestClient, missing: str) -> None:
    k, n, voters = 3, 7, 14
    primary = seed_round_primary(client, candidates=n, subset_size=k, missing=missing)
    base = f"/primaries/{primary.slug}"
    organiser = open_round_over_http(client, primary)
    rng = random.Random(f"subsets/{missing}")
    ballots: list[dict[str, int]] = []
    receipts = []
    for i in range(voters):
        email = f"subset-{missing}-{i}@example.org"
        voter = another_client(client)
        sign_in(voter, email)
        first = voter.get(f"{base}/rounds/1/vote")
        shown = FIRST_RADIO.findall(first.text)
        assert len(shown) == k and len(set(shown)) == k and set(shown) <= set(primary.candidates)
        names = ROWS.findall(first.text)
        assert names == [primary.names[c] for c in shown]
        # The same subset and order on a second visit, after an incomplete ballot, and from
        # another browser signed in as the same person.
        assert ROWS.findall(voter.get(f"{base}/rounds/1/vote").text) == names
        partial = post_form(voter, f"{base}/rounds/1/vote", {f"grade-{shown[0]}": "3"})
        assert partial.status_code == 400 and ROWS.findall(partial.text) == names
        again = another_client(client)
        sign_in(again, email)
        assert ROWS.findall(again.get(f"{base}/rounds/1/vote").text) == names
        # A candidate outside the subset cannot be graded.
        outside = next(c for c in primary.candidates if c not in shown)
        forged = {f"grade-{c}": "2" for c in [*shown, outside]}
        refused = post_form(voter, f"{base}/rounds/1/cast", forged)
        assert refused.status_code == 400 and "ne figure pas sur votre bulletin" in refused.text
        if i % 6 == 5:
            ballot: dict[str, int] = {}
            data = {"choice": "blank"}
        else:
            ballot = {c: rng.randrange(len(GRADES)) for c in shown}
            data = {f"grade-{c}": str(g) for c, g in ballot.items()}
        _page, receipt = cast_over_http(voter, base, 1, data)
        ballots.append(ballot)
        receipts.append(receipt)

    # Balanced exposure: every voter was shown k candidates, no candidate far behind.
    shown_counts = [r["shown"] for r in run_db(client, "SELECT shown FROM round_exposure")]
    assert len(shown_counts) == n and sum(shown_counts) == k * voters
    assert max(shown_counts) - min(shown_counts) <= 2

    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    assert run_db(client, "SELECT count(*) AS n FROM round_assignments")[0]["n"] == 0
    reveal = post_form(organiser, f"{base}/rounds/1/reveal", {"passphrase": PASSPHRASE})
    assert reveal.status_code == 303, reveal.text

    [published] = client.get(f"{base}/data/results.json").json()["rounds"]
    result = published["result"]
    ids = [c["candidate"] for c in published["candidates"]]
    valid = sum(1 for b in ballots if b)
    engine = tally(GRADES, ids, ballots=ballots, participants=valid, missing=missing)
    assert result["missing"] == missing
    assert result["counts"] == {"valid": valid, "blank": voters - valid, "invalid": 0}
    assert result["ranking"] == list(engine.ranking)
    for c in ids:
        assert result["candidates"][c]["profile"] == list(engine.profiles[c])
        assert result["candidates"][c]["majority_grade"] == engine.majority_grades[c]
        assert result["candidates"][c]["rank"] == engine.ranks[c]
    assert sum(sum(result["candidates"][c]["profile"]) for c in ids) == k * valid

    export, vkey = export_and_key(client, primary.slug)
    report = verify(parse_export(export, "export"), parse_verifier_key(vkey))
    assert report.ok, report.render("en")
    page = client.get(f"{base}/rounds/1/results")
    assert page.status_code == 200 and page.text.count('role="img"') == n + 1  # and overview
    for receipt in receipts[:3]:
        check = client.get(f"{base}/check", params={"tracker": receipt["tracker"][:12]})
        assert "compté dans le résultat publié" in check.text
