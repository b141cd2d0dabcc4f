"""A voter whose receipt never arrived (the connection was cut between the ballot's commit and
the answer; here: the same account on a browser that never got the answer) is told plainly
that the ballot is recorded, why the service cannot give the receipt back, and what they can
still check, in French and English."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.rounds import PASSPHRASE, cast_over_http, seed_round_primary


def test_voter_marked_as_voted_without_a_receipt_is_told_what_they_can_check(
    client: TestClient,
) -> None:
    primary = seed_round_primary(client)
    organiser = another_client(client)
    sign_in(organiser, f"orga-{primary.slug}@example.org", organiser=True)
    opened = post_form(
        organiser,
        f"/primaries/{primary.slug}/rounds",
        {"candidates": primary.candidates, "custody": "passphrase",
         "passphrase": PASSPHRASE, "passphrase_again": PASSPHRASE},
    )  # fmt: skip
    assert opened.status_code == 303, opened.text
    voter = another_client(client)
    sign_in(voter, "perdu@example.org")
    choices = {f"grade-{c}": "3" for c in primary.candidates}
    cast_over_http(voter, f"/primaries/{primary.slug}", 1, choices)

    # The browser that cast keeps its receipt: no lost-receipt notice there.
    same = voter.get(f"/primaries/{primary.slug}/rounds/1/vote")
    assert "Revoir mon reçu" in same.text and "n’a pas de reçu" not in same.text

    # The answer never reached this browser: it has no receipt.
    other = another_client(client)
    sign_in(other, "perdu@example.org")
    page = other.get(f"/primaries/{primary.slug}/rounds/1/vote")
    assert "Vous avez déjà voté à ce tour" in page.text
    assert "votre bulletin a bien été enregistré et sera compté" in page.text
    assert "ne relie jamais un compte à un bulletin" in page.text
    assert "scrutin-audit verify --credential" in page.text
    assert f'href="/primaries/{primary.slug}/check"' in page.text
    assert "Revoir mon reçu" not in page.text
    english = other.get(
        f"/primaries/{primary.slug}/rounds/1/vote", headers={"accept-language": "en"}
    )
    assert "only the receipt did not reach you" in english.text
    assert "The service never links an account to a ballot" in english.text
    assert "What you can still check" in english.text
