"""The organiser's pages agree with the service: every action the primary's settings, the
candidacy moderation and the round pages offer is accepted at that moment, and an action the
service would refuse (close supports before they began or after they closed, open round 1
before the supports phase is over or before its calendar phase, refuse a published
candidacy, exclude a closed one, close a closed round) is offered nowhere, or with its
reason in its place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.candidacies import citizen, declare, publish
from tests.fixtures.primaries import create_primary_http, local
from tests.fixtures.rounds import open_round_over_http, seed_round_primary

CLOSE_SUPPORTS = 'action="/primaries/ville/admin/close-supports"'
EN = {"accept-language": "en"}


def _instant(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_supports_are_offered_for_closing_only_while_the_service_would_close_them(
    client: TestClient, organiser_client: TestClient
) -> None:
    # Supports begin in two days: there is nothing to close yet.
    create_primary_http(organiser_client, supports_start=local(2), candidacies_start=local(1))
    page = organiser_client.get("/primaries/ville/admin").text
    assert CLOSE_SUPPORTS not in page
    assert "La phase des soutiens n’a pas commencé" in page
    english = organiser_client.get("/primaries/ville/admin", headers=EN).text
    assert "The supports phase has not begun" in english
    for form in ({}, {"early": "1"}):
        refused = post_form(organiser_client, "/primaries/ville/admin/close-supports", form)
        assert refused.status_code == 409, form


def test_supports_closed_early_are_not_offered_for_closing_again(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)  # supports under way
    page = organiser_client.get("/primaries/ville/admin").text
    assert CLOSE_SUPPORTS in page and 'name="early" value="1"' in page  # offered...
    closed = post_form(organiser_client, "/primaries/ville/admin/close-supports", {"early": "1"})
    assert closed.status_code == 303  # ...and accepted
    page = organiser_client.get("/primaries/ville/admin").text
    assert CLOSE_SUPPORTS not in page and "Phase des soutiens close le" in page
    again = post_form(organiser_client, "/primaries/ville/admin/close-supports", {"early": "1"})
    assert again.status_code == 409


def test_moderation_offers_only_what_the_candidacys_state_allows(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    cid = declare(citizen(client, "cand@example.org"))
    base = f"/primaries/ville/admin/candidacies/{cid}"
    page = organiser_client.get("/primaries/ville/admin/candidacies").text
    assert f'action="{base}/accept"' in page and f'action="{base}/reject"' in page
    assert f'action="{base}/exclude"' not in page
    assert organiser_client.get(f"{base}/reject?reason=Hors+sujet").status_code == 200
    publish(organiser_client, cid)  # offered, accepted
    # Published: it can no longer be refused; the confirmation page says why, with no form.
    stale = organiser_client.get(f"{base}/reject?reason=Hors+sujet")
    assert stale.status_code == 409 and f'action="{base}/reject"' not in stale.text
    assert "Impossible dans l’état actuel de la candidature" in stale.text
    assert post_form(organiser_client, f"{base}/reject", {"reason": "x"}).status_code == 409
    page = organiser_client.get("/primaries/ville/admin/candidacies").text
    assert f'action="{base}/exclude"' in page and f'action="{base}/accept"' not in page
    confirm = organiser_client.get(f"{base}/exclude?reason=Propos+haineux")
    assert confirm.status_code == 200 and f'action="{base}/exclude"' in confirm.text
    excluded = post_form(organiser_client, f"{base}/exclude", {"reason": "Propos haineux"})
    assert excluded.status_code == 303
    # Excluded: closed; excluding it again is offered nowhere and refused.
    page = organiser_client.get("/primaries/ville/admin/candidacies").text
    assert f"{base}/" not in page
    stale = organiser_client.get(f"{base}/exclude?reason=encore")
    assert stale.status_code == 409 and f'action="{base}/exclude"' not in stale.text
    assert post_form(organiser_client, f"{base}/exclude", {"reason": "encore"}).status_code == 409


OPEN_FORM = 'action="/primaries/{slug}/rounds"'


def _organiser(client: TestClient, slug: str) -> TestClient:
    browser = another_client(client)
    sign_in(browser, f"orga-{slug}@example.org", organiser=True)
    return browser


def _open_attempt(organiser: TestClient, slug: str, candidates: list[str]) -> int:
    phrase = "une phrase assez longue"
    form = {"candidates": candidates, "custody": "passphrase",
            "passphrase": phrase, "passphrase_again": phrase}  # fmt: skip
    return post_form(organiser, f"/primaries/{slug}/rounds", form).status_code


def test_round_one_is_not_offered_before_the_supports_phase_is_over(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)  # supports under way, nobody qualified
    page = organiser_client.get("/primaries/ville/rounds/new")
    assert OPEN_FORM.format(slug="ville") not in page.text
    assert "La phase des soutiens n’est pas terminée" in page.text
    english = organiser_client.get("/primaries/ville/rounds/new", headers=EN).text
    assert "This round cannot be opened yet" in english
    assert _open_attempt(organiser_client, "ville", []) == 400


def test_round_one_is_not_offered_before_its_calendar_phase(client: TestClient) -> None:
    phases = [{"name": "round-1", "start": _instant(2), "end": _instant(9)}]
    primary = seed_round_primary(client, candidates=3, phases=phases)
    organiser = _organiser(client, primary.slug)
    page = organiser.get(f"/primaries/{primary.slug}/rounds/new").text
    assert OPEN_FORM.format(slug=primary.slug) not in page
    assert "n’a pas commencé" in page
    assert _open_attempt(organiser, primary.slug, primary.candidates) == 400


def test_round_one_with_fewer_than_two_candidates_is_not_offered(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=1)
    organiser = _organiser(client, primary.slug)
    page = organiser.get(f"/primaries/{primary.slug}/rounds/new").text
    assert OPEN_FORM.format(slug=primary.slug) not in page
    assert "Il faut au moins deux candidatures confirmées" in page
    assert _open_attempt(organiser, primary.slug, primary.candidates) == 400


def test_round_actions_follow_the_rounds_state(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=3)
    base = f"/primaries/{primary.slug}"
    organiser = _organiser(client, primary.slug)
    assert OPEN_FORM.format(slug=primary.slug) in organiser.get(f"{base}/rounds/new").text
    organiser = open_round_over_http(client, primary)  # offered, accepted
    # Open: a second round is not offered; closing is, and is accepted.
    page = organiser.get(f"{base}/rounds/new").text
    assert OPEN_FORM.format(slug=primary.slug) not in page
    assert _open_attempt(organiser, primary.slug, primary.candidates) == 400
    round_page = organiser.get(f"{base}/rounds/1").text
    assert f'href="{base}/rounds/1/close"' in round_page
    assert f'action="{base}/rounds/1/close"' in organiser.get(f"{base}/rounds/1/close").text
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 303
    # Closed: closing is offered nowhere and refused; revealing the key is offered.
    round_page = organiser.get(f"{base}/rounds/1").text
    assert f"{base}/rounds/1/close" not in round_page
    assert f'action="{base}/rounds/1/reveal"' in round_page
    again = organiser.get(f"{base}/rounds/1/close", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"{base}/rounds/1"
    assert post_form(organiser, f"{base}/rounds/1/close", {}).status_code == 409
