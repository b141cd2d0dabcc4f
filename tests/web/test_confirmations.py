"""Actions that cannot be undone ask first, on a second page that works without JavaScript.

Declining, withdrawing a candidacy, refusing or excluding one, closing a round: the page that
offers the action only links to (or GETs) a confirmation page; that page spells out the
consequences and holds the one POST form, whose button is styled as destructive.
"""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.candidacies import citizen, declare
from tests.fixtures.primaries import create_primary_http, log_entries
from tests.fixtures.rounds import open_round_over_http, seed_round_primary


def post_forms(html: str) -> list[str]:
    """The action of every POST form of a page (signing out of the header aside)."""
    found = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html)
    return [action for action in found if action != "/signout"]


def confirm(browser: TestClient, url: str, **fields: str) -> str:
    """Follow a confirmation page as a browser without JavaScript would: read its one POST
    form (and its destructive button), send it with the fields the page holds."""
    page = browser.get(url)
    assert page.status_code == 200, page.text
    (action,) = post_forms(page.text)
    assert re.search(r'<button type="submit" class="danger">', page.text)
    response = post_form(browser, action, fields)
    assert response.status_code == 303, response.text
    return page.text


def test_candidate_declines_and_withdraws_through_a_confirmation_page(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="1")
    first, second = citizen(client, "c1@example.org"), citizen(client, "c2@example.org")
    ids = [declare(first, name="Décline"), declare(second, name="Retire")]
    for cid in ids:
        post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
        fan = citizen(client, f"fan-{cid[:6]}@example.org")
        assert post_form(fan, f"/primaries/ville/candidates/{cid}/support").status_code == 303

    url = f"/primaries/ville/candidates/{ids[0]}"
    page = first.get(url).text
    # "Confirmer" is still one click; "Renoncer" is a link to the second page, styled apart.
    assert post_forms(page) == [f"{url}/confirm"]
    assert f'<a class="button danger" href="{url}/decline">Renoncer…</a>' in page
    assert f'<a class="button danger" href="{url}/withdraw">Retirer ma candidature…</a>' in page
    # Nothing happens on the GET: a visitor who opens the link and leaves changes nothing.
    asked = first.get(f"{url}/decline")
    assert "Renoncer à participer au vote ?" in asked.text
    assert "La candidature « Décline » ne figurera pas sur le bulletin de vote." in asked.text
    assert "définitive" in asked.text and f'href="{url}"' in asked.text  # cancel leads back
    assert "Qualifiée" in client.get(url).text
    # Someone else's candidacy: no confirmation page for them.
    assert second.get(f"{url}/decline").status_code == 403
    assert client.get(f"{url}/decline", follow_redirects=False).status_code in (302, 303, 401)

    confirm(first, f"{url}/decline")
    assert "Renoncé" in client.get(url).text or "renoncé" in client.get(url).text.lower()
    # Once declined, the confirmation page leads back to the candidacy.
    assert first.get(f"{url}/decline", follow_redirects=False).status_code == 303

    url = f"/primaries/ville/candidates/{ids[1]}"
    english = second.get(f"{url}/withdraw", headers={"accept-language": "en"}).text
    assert "Withdraw your candidacy?" in english and "This action is final" in english
    text = confirm(second, f"{url}/withdraw", reason="Raisons familiales")
    assert 'name="reason"' in text and "Motif du retrait (facultatif, public)" in text
    assert "Raisons familiales" in client.get(url).text
    actions = [(b["candidate"], b["action"]) for k, b in log_entries(client, "ville")
               if k == "candidacy" and b["action"] in ("declined", "withdrawn")]  # fmt: skip
    assert actions == [(ids[0], "declined"), (ids[1], "withdrawn")]


def test_organiser_refuses_and_excludes_through_a_confirmation_page(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="5")
    refused = declare(citizen(client, "r@example.org"), name="À refuser")
    excluded = declare(citizen(client, "e@example.org"), name="À exclure")
    base = "/primaries/ville/admin/candidacies"
    post_form(organiser_client, f"{base}/{excluded}/accept")

    queue = organiser_client.get(base).text
    # Publishing stays one click; refusing and excluding only lead to the second page.
    assert post_forms(queue) == [f"{base}/{refused}/accept"]
    assert f'<form method="get" action="{base}/{refused}/reject">' in queue
    assert '<button type="submit" class="danger">Refuser…</button>' in queue
    assert '<button type="submit" class="danger">Exclure…</button>' in queue

    # The reason typed on the moderation page is shown again, still editable, then sent.
    asked = organiser_client.get(f"{base}/{refused}/reject", params={"reason": "Hors charte"})
    assert "Refuser la candidature « À refuser » ?" in asked.text
    assert ">Hors charte</textarea>" in asked.text and "required" in asked.text
    assert (
        "En attente de modération"
        in organiser_client.get(f"/primaries/ville/candidates/{refused}").text
    )  # nothing happened yet
    confirm(organiser_client, f"{base}/{refused}/reject", reason="Hors charte")
    confirm(organiser_client, f"{base}/{excluded}/exclude", reason="Fraude")
    actions = [(b["candidate"], b["action"], b["reason"])
               for k, b in log_entries(client, "ville") if k == "candidacy"
               and b["action"] in ("rejected", "excluded")]  # fmt: skip
    assert actions == [(refused, "rejected", "Hors charte"), (excluded, "excluded", "Fraude")]
    # Only the primary's organisers see these pages.
    other = citizen(client, "x@example.org")
    assert other.get(f"{base}/{refused}/reject").status_code == 403
    assert organiser_client.get(f"{base}/{refused}/publish").status_code == 404


def test_closing_a_round_early_says_who_loses_their_vote(client: TestClient) -> None:
    primary = seed_round_primary(client)
    organiser = open_round_over_http(client, primary, closes_at="2099-01-01T10:00")
    url = f"/primaries/{primary.slug}/rounds/1"
    page = organiser.get(url).text
    assert f"{url}/close" not in post_forms(page)
    assert f'<a class="button danger" href="{url}/close">Clore le tour…</a>' in page
    asked = organiser.get(f"{url}/close").text
    assert "Clore le tour 1 maintenant ?" in asked
    assert "La fin du vote était prévue le 1 janv. 2099" in asked
    assert "ne pourront plus le faire" in asked
    english = organiser.get(f"{url}/close", headers={"accept-language": "en"}).text
    assert "Voting was scheduled to end on Jan 1, 2099" in english
    # A citizen cannot reach it; the round is still open until the POST.
    voter = another_client(client)
    sign_in(voter, "v@example.org")
    assert voter.get(f"{url}/close").status_code == 403
    assert "Clore le tour…" in organiser.get(url).text
    confirm(organiser, f"{url}/close")
    assert organiser.get(f"{url}/close", follow_redirects=False).status_code == 303


def test_destructive_buttons_differ_by_more_than_colour(client: TestClient) -> None:
    css = client.get("/static/scrutin.css").text
    rule = re.search(r"button\.danger, \.button\.danger \{([^}]*)\}", css)
    assert rule is not None and "border: 2px solid" in rule.group(1)
    assert re.search(r"\.danger::before \{ content: \"⚠ \"", css)
