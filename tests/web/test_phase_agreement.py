"""One source of truth for phases: what a page offers is what the service accepts.

Walking the demo (round 2 open) and demo-soutiens (candidacies and supports open), each
action a page offers (declare, support, vote) is accepted by the service, and each action
the service refuses is offered nowhere. The declaration page says when candidacies are
closed instead of showing a form the service would refuse, and at the support cap a
candidate page links to the citizen's supports instead of a button that would be refused."""

from __future__ import annotations

import asyncio
import re

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.candidacies import citizen, declare, publish
from tests.fixtures.primaries import create_primary_http
from tests.fixtures.rounds import open_round_over_http, seed_round_primary
from web.app import create_app
from web.demo import CITIZEN_EMAIL, DEMO_SLUG, SUPPORTS_SLUG, seed_demo
from web.settings import Settings

SUPPORT_FORM = re.compile(r'action="(/primaries/[a-z0-9-]+/candidates/[0-9a-f-]{36})/support"')
VOTE_LINK = re.compile(r'href="(/primaries/[a-z0-9-]+/rounds/\d+/vote)"')
DECLARATION = {"name": "Nouvelle Venue", "bio": "", "programme": "", "links": "", "charter": "on"}


def _candidate_pages(browser: TestClient, slug: str) -> list[str]:
    listing = browser.get(f"/primaries/{slug}/candidates").text
    link = re.compile(rf'href="(/primaries/{slug}/candidates/[0-9a-f-]{{36}})"')
    return list(dict.fromkeys(link.findall(listing)))


def _home_card_actions(html: str) -> dict[str, str]:
    """The call to action of each home page card, by primary slug."""
    actions: dict[str, str] = {}
    for slug in (DEMO_SLUG, SUPPORTS_SLUG):
        found = re.findall(rf'href="(/primaries/{slug}(?:/[^"]*)?)"', html)
        actions[slug] = " ".join(found)
    return actions


def test_walking_the_demo_every_offered_action_is_accepted_and_no_refused_one_offered(
    settings: Settings, database_url: str
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(seed_demo(database_url, settings))
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        cards = _home_card_actions(client.get("/").text)
        # The demo's card invites to vote in round 2, demo-soutiens' to declare.
        assert f"/primaries/{DEMO_SLUG}/rounds/2/vote" in cards[DEMO_SLUG]
        assert f"/primaries/{DEMO_SLUG}/declare" not in cards[DEMO_SLUG]
        assert f"/primaries/{SUPPORTS_SLUG}/declare" in cards[SUPPORTS_SLUG]

        newcomer = another_client(client)
        sign_in(newcomer, "nouvelle@example.org")

        # --- demo: round 2 is open; declaring and supporting are over.
        page = newcomer.get(f"/primaries/{DEMO_SLUG}").text
        assert f'href="/primaries/{DEMO_SLUG}/declare"' not in page
        votes = VOTE_LINK.findall(page)
        assert f"/primaries/{DEMO_SLUG}/rounds/2/vote" in votes
        # The phase's action is the big button, before the others.
        assert re.search(
            rf'<a class="button button-main" href="/primaries/{DEMO_SLUG}/rounds/2/vote">', page
        )
        # A demo voter on round 2's frozen roll reaches the booth's ballot (a newcomer is
        # turned away with the reason: not on the roll, which tests/e2e covers).
        voter = another_client(client)
        sign_in(voter, CITIZEN_EMAIL.format(1))
        booth = voter.get(f"/primaries/{DEMO_SLUG}/rounds/2/vote")
        assert booth.status_code == 200 and 'type="radio"' in booth.text
        closed = newcomer.get(f"/primaries/{DEMO_SLUG}/declare")
        assert closed.status_code == 409 and "Les candidatures sont closes" in closed.text
        assert 'name="charter"' not in closed.text
        refused = post_form(newcomer, f"/primaries/{DEMO_SLUG}/declare", DECLARATION)
        assert refused.status_code == 409
        pages = _candidate_pages(newcomer, DEMO_SLUG)
        assert pages
        for url in pages:
            html = newcomer.get(url).text
            assert not SUPPORT_FORM.search(html) and "Soutenir" not in html, url
        support = post_form(newcomer, f"{pages[0]}/support")
        assert support.status_code == 409  # refused, as no page offered it

        # --- demo-soutiens: candidacies and supports open; no round yet.
        page = newcomer.get(f"/primaries/{SUPPORTS_SLUG}").text
        assert not VOTE_LINK.search(page)
        assert f'href="/primaries/{SUPPORTS_SLUG}/declare"' in page
        offered = newcomer.get(f"/primaries/{SUPPORTS_SLUG}/declare")
        assert offered.status_code == 200 and 'name="charter"' in offered.text
        pages = _candidate_pages(newcomer, SUPPORTS_SLUG)
        assert pages
        for url in pages:
            forms = SUPPORT_FORM.findall(newcomer.get(url).text)
            assert forms == [url], url  # offered...
            assert post_form(newcomer, f"{url}/support").status_code == 303  # ...and accepted
        accepted = post_form(newcomer, f"/primaries/{SUPPORTS_SLUG}/declare", DECLARATION)
        assert accepted.status_code == 303


def test_the_declaration_page_says_candidacies_are_closed(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    assert 'name="charter"' in citizen_client.get("/primaries/ville/declare").text
    past = """UPDATE primaries SET definition = jsonb_set(jsonb_set(definition,
              '{phases,0,start}', '"2020-01-01T00:00:00Z"'),
              '{phases,0,end}', '"2020-02-01T00:00:00Z"') WHERE slug = 'ville'"""
    run_db(client, past)
    page = citizen_client.get("/primaries/ville/declare")
    assert page.status_code == 409
    assert "Les candidatures sont closes" in page.text and "s’est terminée le" in page.text
    assert 'name="charter"' not in page.text  # no form the service would refuse
    assert 'href="/primaries/ville/declare"' not in citizen_client.get("/primaries/ville").text
    english = citizen_client.get("/primaries/ville/declare", headers={"accept-language": "en"})
    assert "Candidacies are closed" in english.text and "ended on" in english.text
    refused = post_form(citizen_client, "/primaries/ville/declare", DECLARATION)
    assert refused.status_code == 409


def test_at_the_support_cap_a_candidate_page_links_to_the_supports_page(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="50", support_cap="1")
    ids = []
    for n in range(2):
        ids.append(declare(citizen(client, f"cand{n}@example.org"), name=f"Cand {n}"))
        publish(organiser_client, ids[-1])
    supporter = citizen(client, "soutien@example.org")
    first, second = (f"/primaries/ville/candidates/{cid}" for cid in ids)
    assert SUPPORT_FORM.findall(supporter.get(second).text) == [second]
    assert post_form(supporter, f"{first}/support").status_code == 303
    page = supporter.get(second).text
    assert not SUPPORT_FORM.search(page)  # the service would refuse it
    assert "Vous avez déjà donné vos 1 soutiens" in page
    assert 'href="/account/participation"' in page
    assert post_form(supporter, f"{second}/support").status_code == 409
    mine = supporter.get("/account/participation").text
    assert f'href="{first}"' in mine  # from there, the supported candidate's page...
    assert "Retirer mon soutien" in supporter.get(first).text  # ...takes it back
    english = supporter.get(second, headers={"accept-language": "en"}).text
    assert "Take back a support to give it to this candidate" in english


def test_supports_closed_early_are_offered_nowhere(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="50")
    cid = declare(citizen(client, "cand@example.org"))
    publish(organiser_client, cid)
    past = """UPDATE primaries SET definition = jsonb_set(jsonb_set(definition,
              '{phases,0,start}', '"2020-01-01T00:00:00Z"'),
              '{phases,0,end}', '"2020-02-01T00:00:00Z"') WHERE slug = 'ville'"""
    run_db(client, past)
    url = f"/primaries/ville/candidates/{cid}"
    assert 'href="/primaries/ville/candidates">Soutenir des candidats' in client.get("/").text
    assert SUPPORT_FORM.findall(citizen_client.get(url).text) == [url]
    # The supports phase closed before its scheduled end: the service refuses supports...
    run_db(client, "UPDATE primaries SET supports_closed_at = now() WHERE slug = 'ville'")
    assert post_form(citizen_client, f"{url}/support").status_code == 409
    # ...and neither the home card nor the candidate page offers one.
    assert "Soutenir des candidats" not in client.get("/").text
    assert not SUPPORT_FORM.search(citizen_client.get(url).text)


def test_the_vote_is_offered_while_the_round_accepts_ballots_only(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=2)
    base = f"/primaries/{primary.slug}"
    open_round_over_http(client, primary)
    voter = another_client(client)
    sign_in(voter, "late-voter@example.org")
    vote = f'href="{base}/rounds/1/vote"'
    assert f'<a class="button button-main" {vote}' in voter.get(base).text
    assert vote in voter.get("/").text
    # The round's closing time has passed, though nobody has closed it yet: the service
    # refuses ballots, so neither the primary page nor the home card offers the vote.
    run_db(client, "UPDATE rounds SET closes_at = now() - interval '1 minute'")
    ballot = {f"grade-{c}": "3" for c in primary.candidates}
    assert post_form(voter, f"{base}/rounds/1/cast", ballot).status_code == 409
    page = voter.get(base).text
    assert "button-main" not in page and vote not in page
    assert "Vote terminé ; clôture en attente." in page
    assert vote not in voter.get(f"{base}/rounds").text
    english = voter.get(base, headers={"accept-language": "en"}).text
    assert "Voting over; waiting for the close." in english
    assert vote not in voter.get("/").text


def test_a_draft_is_not_offered_for_submission_once_candidacies_are_closed(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    form = {"name": "Léa Brouillon", "bio": "", "programme": "", "links": "", "charter": "on"}
    drafted = post_form(citizen_client, "/primaries/ville/declare", form)
    assert drafted.status_code == 303
    url = drafted.headers["location"]
    submit = f'action="{url}/submit"'
    assert submit in citizen_client.get(url).text
    past = """UPDATE primaries SET definition = jsonb_set(jsonb_set(definition,
              '{phases,0,start}', '"2020-01-01T00:00:00Z"'),
              '{phases,0,end}', '"2020-02-01T00:00:00Z"') WHERE slug = 'ville'"""
    run_db(client, past)
    assert post_form(citizen_client, f"{url}/submit").status_code == 409
    page = citizen_client.get(url).text
    assert submit not in page
    assert "Les candidatures sont closes : ce brouillon ne peut plus être déposé." in page
    english = citizen_client.get(url, headers={"accept-language": "en"}).text
    assert "this draft can no longer be submitted." in english
