"""The voting booth over HTTP: accessible grid, inline errors, review, cast, receipt."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.rounds import PASSPHRASE, RoundPrimary, cast_over_http, seed_round_primary


def _open_round(client: TestClient, primary: RoundPrimary, **extra: object) -> TestClient:
    organiser = another_client(client)
    sign_in(organiser, f"orga-{primary.slug}@example.org", organiser=True)
    response = post_form(
        organiser,
        f"/primaries/{primary.slug}/rounds",
        {
            "candidates": extra.pop("candidates", primary.candidates),
            "custody": "passphrase",
            "passphrase": PASSPHRASE,
            "passphrase_again": PASSPHRASE,
            **extra,
        },
    )
    assert response.status_code == 303, response.text
    return organiser


def _voter(client: TestClient, email: str) -> TestClient:
    voter = another_client(client)
    sign_in(voter, email)
    return voter


def _ballot_count(client: TestClient, primary: RoundPrimary) -> int:
    return run_db(
        client,
        "SELECT (SELECT count(*) FROM log_entries WHERE primary_id = $1 AND kind = 'ballot')"
        " + (SELECT count(*) FROM log_queue WHERE primary_id = $1 AND kind = 'ballot') AS n",
        primary.id,
    )[0]["n"]


@pytest.fixture
def primary(client: TestClient) -> RoundPrimary:
    return seed_round_primary(client)


def test_booth_is_an_accessible_grid_without_javascript(client, primary) -> None:
    _open_round(client, primary)
    voter = _voter(client, "v1@example.org")
    page = voter.get(f"/primaries/{primary.slug}/rounds/1/vote")
    assert page.status_code == 200
    html = page.text
    assert "<script" not in html and "style=" not in html
    assert 'name="csrf_token"' in html
    assert html.count("<fieldset") == 4 and html.count("<legend") == 4
    for cid, name in primary.names.items():
        assert f'<legend class="booth-name">{name}</legend>' in html
        for grade in range(7):
            assert f'id="g-{cid}-{grade}" name="grade-{cid}" value="{grade}"' in html
            assert f'<label for="g-{cid}-{grade}">' in html
    assert "Voter blanc" in html  # the definition allows blank ballots


def test_booth_needs_an_account(client, primary) -> None:
    _open_round(client, primary)
    anonymous = another_client(client)
    response = anonymous.get(f"/primaries/{primary.slug}/rounds/1/vote", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")


def test_order_is_shuffled_per_voter_and_stable(client) -> None:
    primary = seed_round_primary(client, candidates=8)
    _open_round(client, primary)
    orders = set()
    for i in range(6):
        voter = _voter(client, f"order{i}@example.org")
        first = re.findall(
            r'<legend class="booth-name">([^<]+)</legend>',
            voter.get(f"/primaries/{primary.slug}/rounds/1/vote").text,
        )
        again = re.findall(
            r'<legend class="booth-name">([^<]+)</legend>',
            voter.get(f"/primaries/{primary.slug}/rounds/1/vote").text,
        )
        assert first == again and sorted(first) == sorted(primary.names.values())
        orders.add(tuple(first))
    assert len(orders) > 1


def test_missing_grade_gives_inline_errors_and_keeps_choices(client, primary) -> None:
    _open_round(client, primary)
    voter = _voter(client, "v2@example.org")
    first, second = primary.candidates[:2]
    response = post_form(
        voter,
        f"/primaries/{primary.slug}/rounds/1/vote",
        {f"grade-{first}": "5", f"grade-{second}": "2"},
    )
    assert response.status_code == 400
    html = response.text
    assert 'role="alert"' in html and "Choisissez une mention pour ce candidat." in html
    assert f'id="g-{first}-5" name="grade-{first}" value="5" checked' in html
    assert f'id="g-{second}-2" name="grade-{second}" value="2" checked' in html
    missing = primary.candidates[2]
    assert f'aria-describedby="err-{missing}"' in html
    assert _ballot_count(client, primary) == 0


def test_review_then_confirm_then_receipt(client, primary) -> None:
    _open_round(client, primary)
    voter = _voter(client, "v3@example.org")
    choices = {f"grade-{c}": str(i + 2) for i, c in enumerate(primary.candidates)}
    review = post_form(voter, f"/primaries/{primary.slug}/rounds/1/vote", choices)
    assert review.status_code == 200
    assert "Confirmer mon vote" in review.text and "Modifier mes choix" in review.text
    assert _ballot_count(client, primary) == 0  # nothing cast before the confirmation
    # "Modifier mes choix" brings the booth back, filled in.
    edit = post_form(voter, f"/primaries/{primary.slug}/rounds/1/vote", {**choices, "edit": "1"})
    first = primary.candidates[0]
    assert f'id="g-{first}-2" name="grade-{first}" value="2" checked' in edit.text
    receipt, document = cast_over_http(voter, f"/primaries/{primary.slug}", 1, choices)
    tracker = re.search(r'<code class="wrap">([0-9a-f]{64})</code>', receipt.text).group(1)
    assert f'<code class="tracker">{tracker[:12]}</code>' in receipt.text
    assert document["format"] == "scrutin-receipt/v1" and document["tracker"] == tracker
    assert _ballot_count(client, primary) == 1
    # Post/Redirect/Get: reloading the receipt page shows it again and casts nothing.
    reload = voter.get(f"/primaries/{primary.slug}/rounds/1/receipt")
    assert reload.status_code == 200 and tracker in reload.text
    assert reload.headers["cache-control"] == "no-store"
    assert _ballot_count(client, primary) == 1
    # Once voted: the booth says so, and a second cast is refused.
    again = voter.get(f"/primaries/{primary.slug}/rounds/1/vote")
    assert "déjà voté" in again.text
    second = post_form(voter, f"/primaries/{primary.slug}/rounds/1/cast", choices)
    assert second.status_code == 409 and "déjà voté" in second.text
    assert _ballot_count(client, primary) == 1
    # The check page finds it and verifies its inclusion.
    check = voter.get(f"/primaries/{primary.slug}/check", params={"tracker": tracker[:12]})
    assert check.status_code == 200 and "✔" in check.text and str(document["index"]) in check.text
    # Every digit counts, an odd last one too: a mistyped 13th digit finds nothing.
    odd = voter.get(f"/primaries/{primary.slug}/check", params={"tracker": tracker[:13]})
    assert odd.status_code == 200 and "✔" in odd.text
    wrong = tracker[:12] + ("0" if tracker[12] != "0" else "1")
    mistyped = voter.get(f"/primaries/{primary.slug}/check", params={"tracker": wrong})
    assert mistyped.status_code == 404 and "✔" not in mistyped.text
    downloaded = voter.get(f"/primaries/{primary.slug}/receipt", params={"tracker": tracker})
    assert downloaded.status_code == 200 and downloaded.json()["tracker"] == tracker


def test_blank_ballot(client, primary) -> None:
    _open_round(client, primary)
    voter = _voter(client, "v4@example.org")
    review = post_form(voter, f"/primaries/{primary.slug}/rounds/1/vote", {"choice": "blank"})
    assert review.status_code == 200 and "Vous votez blanc." in review.text
    receipt, _ = cast_over_http(voter, f"/primaries/{primary.slug}", 1, {"choice": "blank"})
    assert "A voté" in receipt.text
    assert _ballot_count(client, primary) == 1


def test_forged_posts_are_refused_with_a_clear_message(client, primary) -> None:
    _open_round(client, primary, candidates=primary.candidates[:3])
    voter = _voter(client, "v5@example.org")
    on_ballot = {f"grade-{c}": "3" for c in primary.candidates[:3]}
    cases = [
        ({**on_ballot, f"grade-{primary.candidates[3]}": "3"}, "ne figure pas sur votre bulletin"),
        ({**on_ballot, f"grade-{primary.candidates[0]}": "9"}, "n’existe pas sur l’échelle"),
        ({**on_ballot, f"grade-{primary.candidates[0]}": "abc"}, "Choisissez une mention"),
    ]
    for data, message in cases:
        response = post_form(voter, f"/primaries/{primary.slug}/rounds/1/cast", data)
        assert response.status_code == 400 and message in response.text
    no_csrf = voter.post(f"/primaries/{primary.slug}/rounds/1/cast", data=on_ballot)
    assert no_csrf.status_code == 403
    assert _ballot_count(client, primary) == 0


def test_ineligible_voter_is_told_why(client, primary) -> None:
    _open_round(client, primary)
    voter = _voter(client, "v6@example.org")
    run_db(client, "UPDATE accounts SET email_verified_at = NULL WHERE email = 'v6@example.org'")
    page = voter.get(f"/primaries/{primary.slug}/rounds/1/vote")
    assert page.status_code == 403 and "/eligibility" in page.text
    response = post_form(
        voter,
        f"/primaries/{primary.slug}/rounds/1/cast",
        {f"grade-{c}": "3" for c in primary.candidates},
    )
    assert response.status_code == 403 and "liste des votants" in response.text
    assert _ballot_count(client, primary) == 0


def test_english_booth(client, primary) -> None:
    _open_round(client, primary)
    voter = _voter(client, "v7@example.org")
    page = voter.get(f"/primaries/{primary.slug}/rounds/1/vote", headers={"accept-language": "en"})
    assert "Your ballot" in page.text and "Review my ballot" in page.text
