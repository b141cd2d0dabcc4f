"""Refusals over HTTP: a clear message, never a 500, and nothing appended to the log.

Casts outside the window, blank ballots where not allowed, grades out of range or for
candidates not on the ballot, odd form values; wrong tally keys; rounds that could never be
tallied; and, before the close, no page, endpoint or export showing a count.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.log import settled_tree_size
from tests.fixtures.rounds import (
    PASSPHRASE,
    RoundPrimary,
    cast_over_http,
    open_round_over_http,
    seed_round_primary,
)


def _tree(client: TestClient, primary: RoundPrimary) -> int:
    """The size of the primary's log, every committed entry integrated."""
    return settled_tree_size(client, primary.id)


def _ballots(client: TestClient, primary: RoundPrimary) -> int:
    return run_db(
        client,
        "SELECT (SELECT count(*) FROM log_entries WHERE primary_id = $1 AND kind = 'ballot')"
        " + (SELECT count(*) FROM log_queue WHERE primary_id = $1 AND kind = 'ballot') AS n",
        primary.id,
    )[0]["n"]


def _voter(client: TestClient, email: str) -> TestClient:
    voter = another_client(client)
    sign_in(voter, email)
    return voter


@pytest.fixture
def primary(client: TestClient) -> RoundPrimary:
    return seed_round_primary(client)


def test_odd_grade_values_get_a_clear_message_and_change_nothing(client, primary) -> None:
    open_round_over_http(client, primary)
    voter = _voter(client, "odd@example.org")
    base = f"/primaries/{primary.slug}/rounds/1"
    first = primary.candidates[0]
    full = {f"grade-{c}": "3" for c in primary.candidates}
    odd_values = {
        "-1": "n’existe pas sur l’échelle",
        "7": "n’existe pas sur l’échelle",
        "99999999999999999999999999": "n’existe pas sur l’échelle",
        "9" * 5000: "Choisissez une mention",  # beyond Python's int() digit limit
        "1.5": "Choisissez une mention",
        "trois": "Choisissez une mention",
        "": "Choisissez une mention",
    }
    for value, message in odd_values.items():
        for path in ("/vote", "/cast"):
            response = post_form(voter, base + path, {**full, f"grade-{first}": value})
            assert response.status_code == 400, (path, value[:20], response.status_code)
            assert message in response.text, (path, value[:20])
            assert f'aria-describedby="err-{first}"' in response.text
    # Fields naming no candidate of the round at all.
    for extra in ({"grade-<script>": "1"}, {"grade-": "1"}, {f"grade-{first}x": "2"}):
        response = post_form(voter, f"{base}/cast", {**full, **extra})
        assert response.status_code == 400 and "ne figure pas sur votre bulletin" in response.text
    assert _ballots(client, primary) == 0
    # In English too.
    english = post_form(
        voter, f"{base}/cast", {**full, f"grade-{first}": "8"}, headers={"accept-language": "en"}
    )
    assert english.status_code == 400 and "This grade is not on the scale." in english.text


def test_casts_outside_the_window_are_refused_with_a_message(client, primary) -> None:
    organiser = open_round_over_http(client, primary)
    base = f"/primaries/{primary.slug}/rounds/1"
    full = {f"grade-{c}": "4" for c in primary.candidates}
    late = _voter(client, "late@example.org")
    # Closing time passed (the organiser set one at opening).
    run_db(client, "UPDATE rounds SET closes_at = now() - interval '1 minute'")
    booth = late.get(f"{base}/vote")
    assert booth.status_code == 409 and "n’accepte pas de bulletin" in booth.text
    refused = post_form(late, f"{base}/cast", full)
    assert refused.status_code == 409
    assert "Ce tour n’est pas ouvert au vote." in refused.text
    assert "Aucun bulletin n’a été enregistré." in refused.text
    run_db(client, "UPDATE rounds SET closes_at = NULL")
    cast_over_http(_voter(client, "ontime@example.org"), f"/primaries/{primary.slug}", 1, full)
    # Closed by the organiser.
    assert post_form(organiser, f"{base}/close", {}).status_code == 303
    before = _tree(client, primary)
    twice = post_form(organiser, f"{base}/close", {})
    assert twice.status_code == 409 and "Ce tour est déjà clos." in twice.text
    refused = post_form(late, f"{base}/cast", full)
    assert refused.status_code == 409 and "Ce tour n’est pas ouvert au vote." in refused.text
    review = post_form(late, f"{base}/vote", full)
    assert review.status_code == 409
    assert _tree(client, primary) == before and _ballots(client, primary) == 1
    # A round that does not exist.
    assert post_form(late, f"/primaries/{primary.slug}/rounds/2/cast", full).status_code == 404


def test_blank_ballot_refused_where_not_allowed(client) -> None:
    primary = seed_round_primary(client, allow_blank=False)
    open_round_over_http(client, primary)
    voter = _voter(client, "noblank@example.org")
    base = f"/primaries/{primary.slug}/rounds/1"
    booth = voter.get(f"{base}/vote")
    assert "Voter blanc" not in booth.text
    for path in ("/vote", "/cast"):
        response = post_form(voter, base + path, {"choice": "blank"})
        assert response.status_code == 400
        assert "Le vote blanc n’est pas prévu pour ce tour." in response.text
    assert _ballots(client, primary) == 0


def test_wrong_tally_keys_are_refused_and_change_nothing(client) -> None:
    first = seed_round_primary(client)
    other = seed_round_primary(client)
    organiser = another_client(client)
    sign_in(organiser, "orga-keys@example.org", organiser=True)
    key_files = {}
    for p in (first, other):
        opened = post_form(
            organiser,
            f"/primaries/{p.slug}/rounds",
            {"candidates": p.candidates, "custody": "file"},
        )
        assert opened.status_code == 200
        text = re.search(
            r'<textarea id="key-text" rows="10" readonly>([^<]+)</textarea>', opened.text
        )
        key_files[p.slug] = text.group(1).replace("&#34;", '"').replace("&quot;", '"')
        assert json.loads(key_files[p.slug])["format"] == "scrutin-tally-key/v1"
    base = f"/primaries/{first.slug}/rounds/1"
    voter = _voter(client, "keys-voter@example.org")
    cast_over_http(
        voter, f"/primaries/{first.slug}", 1, {f"grade-{c}": "5" for c in first.candidates}
    )
    early = post_form(organiser, f"{base}/reveal", {"key_text": key_files[first.slug]})
    assert early.status_code == 400 and "Clôturez le tour avant de révéler la clé." in early.text
    assert post_form(organiser, f"{base}/close", {}).status_code == 303
    before = _tree(client, first)
    attempts = [
        ({"key_text": key_files[other.slug]}, "ne correspond pas à la clé publique du tour"),
        ({"key_text": "not json at all"}, "n’est pas un fichier de clé"),
        ({"key_text": '{"format": "scrutin-tally-key/v1", "tally_secret_key": "@@"}'}, "illisible"),
        ({"passphrase": PASSPHRASE}, "remise sous forme de fichier"),
        ({}, "Donnez la phrase secrète ou le fichier de clé."),
    ]
    for data, message in attempts:
        response = post_form(organiser, f"{base}/reveal", data)
        assert response.status_code == 400 and message in response.text, message
        assert 'aria-invalid="true"' in response.text
    assert _tree(client, first) == before
    assert (
        run_db(client, "SELECT status FROM rounds WHERE primary_id = $1", first.id)[0]["status"]
        == "closed"
    )
    assert client.get(f"{base}/results").status_code == 200  # the notice, no numbers
    assert "Profils de mérite" not in client.get(f"{base}/results").text
    right = post_form(organiser, f"{base}/reveal", {"key_text": key_files[first.slug]})
    assert right.status_code == 303
    again = post_form(organiser, f"{base}/reveal", {"key_text": key_files[first.slug]})
    assert again.status_code == 400 and "déjà publié" in again.text


def _refused_opening(client: TestClient, primary: RoundPrimary) -> str:
    """The organiser tries to open round 1; it must be refused with nothing written.
    Returns the page's text."""
    organiser = another_client(client)
    sign_in(organiser, f"orga-{primary.slug}@example.org", organiser=True)
    before = _tree(client, primary)
    response = post_form(
        organiser,
        f"/primaries/{primary.slug}/rounds",
        {
            "candidates": primary.candidates,
            "custody": "passphrase",
            "passphrase": PASSPHRASE,
            "passphrase_again": PASSPHRASE,
        },
    )
    assert response.status_code == 400
    assert _tree(client, primary) == before
    assert run_db(client, "SELECT count(*) AS n FROM rounds")[0]["n"] == 0
    return response.text


def test_strict_policy_cannot_open_a_subset_round(client) -> None:
    primary = seed_round_primary(client, candidates=5, subset_size=3, missing="strict")
    text = _refused_opening(client, primary)
    assert "La politique « strict » exige que chaque votant évalue chaque candidat" in text
    assert "tirer 3 candidats sur 5" in text


def test_odd_addresses_never_give_a_server_error(client, primary) -> None:
    open_round_over_http(client, primary)
    voter = _voter(client, "addresses@example.org")
    slug = primary.slug
    cases = {
        f"/primaries/{slug}/rounds/99999999999999999999999/vote": 404,
        f"/primaries/{slug}/rounds/0/vote": 404,
        f"/primaries/{slug}/rounds/2": 404,
        "/primaries/no-such-primary/rounds/1/vote": 404,
        f"/primaries/{slug}/rounds/1/receipt": 404,  # nothing cast from this browser
        f"/primaries/{slug}/receipt?tracker=zz": 400,
        f"/primaries/{slug}/receipt?tracker=" + "0" * 64: 404,
        f"/primaries/{slug}/check?tracker=" + "g" * 20: 400,
        f"/primaries/{slug}/check?tracker=" + "0" * 200: 400,
        f"/primaries/{slug}/check?tracker=" + "0" * 13: 404,
        f"/primaries/{slug}/data/nothing.csv": 404,
    }
    for path, status in cases.items():
        response = voter.get(path)
        assert response.status_code == status, (path, response.status_code)
    no_receipt = voter.get(f"/primaries/{slug}/rounds/1/receipt")
    assert "Aucun reçu de ce tour n’est gardé dans ce navigateur." in no_receipt.text
    bad = voter.get(f"/primaries/{slug}/receipt?tracker=zz")
    assert "Donnez le traceur complet" in bad.text


def test_no_count_anywhere_before_the_close(client, primary) -> None:
    organiser = open_round_over_http(client, primary)
    trackers = []
    for i in range(3):
        _page, receipt = cast_over_http(
            _voter(client, f"secret{i}@example.org"),
            f"/primaries/{primary.slug}",
            1,
            {f"grade-{c}": str(i + 2) for c in primary.candidates},
        )
        trackers.append(receipt["tracker"])
    base = f"/primaries/{primary.slug}"
    pages = [
        "",
        "/rounds",
        "/rounds/1",
        "/rounds/1/results",
        "/observers",
        "/data",
        f"/check?tracker={trackers[0]}",
    ]
    for who in (client, organiser):
        for path in pages:
            html = who.get(base + path).text
            assert "Participation :" not in html and "Turnout:" not in html, path
            assert not re.search(r"\b3 (votants|bulletins|voters|ballots)\b", html), path
            assert "Profils de mérite" not in html and "<svg" not in html, path
    rows = list(csv.reader(io.StringIO(client.get(f"{base}/data/results.csv").text)))
    assert len(rows) == 1
    for url in (f"{base}/data/results.json", f"/api/primaries/{primary.slug}/rounds"):
        [item] = client.get(url).json()["rounds"]
        assert "turnout" not in item and "result" not in item
    export = client.get(f"{base}/log/export").json()
    assert '"grades"' not in json.dumps(export)
    # The rounds table holds only the sealed tally key; the log only sealed ballots.
    row = run_db(client, "SELECT key_custody, sealed_tally_key, turnout FROM rounds")[0]
    assert row["key_custody"] == "passphrase" and row["turnout"] is None
    assert len(row["sealed_tally_key"]) > 32


def test_a_round_whose_phase_has_ended_is_not_opened(client) -> None:
    """Its calendar phase over, a round could never take a ballot, and once voting has
    started the calendar can no longer change: opening it is refused, nothing is logged."""
    ended = {"name": "round-1", "start": "2020-04-01T00:00:00Z", "end": "2020-04-08T00:00:00Z"}
    primary = seed_round_primary(client, phases=[ended])
    assert "ce tour ne pourrait recevoir aucun bulletin" in _refused_opening(client, primary)
