"""Small safeguards people tripped over (issue 16, item 8): no self-support, a second ballot
is refused without suggesting the first was lost, a favicon, candidate names that cannot hide
or imitate, and a demo outbox that does not hand every account's codes to anyone."""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, run_db, sign_in
from tests.fixtures.candidacies import citizen, declare
from tests.fixtures.primaries import create_primary_http, log_entries
from tests.fixtures.rounds import cast_over_http, open_round_over_http, seed_round_primary
from tests.fixtures.waiting import wait_until
from web.app import create_app
from web.settings import Settings


def test_a_candidate_cannot_support_their_own_candidacy(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="1")
    author = citizen(client, "self@example.org")
    cid = declare(author, name="Moi-même")
    post_form(organiser_client, f"/primaries/ville/admin/candidacies/{cid}/accept")
    url = f"/primaries/ville/candidates/{cid}"
    page = author.get(url).text
    assert f"{url}/support" not in page
    assert "Vous ne pouvez pas soutenir votre propre candidature." in page
    refused = post_form(author, f"{url}/support")
    assert refused.status_code == 403
    assert "Vous ne pouvez pas soutenir votre propre candidature." in refused.text
    english = post_form(author, f"{url}/support", headers={"accept-language": "en"})
    assert "You cannot support your own candidacy." in english.text
    # Nothing counted, nothing logged, not qualified by its own support.
    assert run_db(client, "SELECT support_count FROM candidacies")[0]["support_count"] == 0
    assert not [k for k, _b in log_entries(client, "ville") if k == "support"]
    assert "Recueille des soutiens" in client.get(url).text and "0 / 1" in client.get(url).text


def test_a_second_ballot_says_the_first_one_stands(client: TestClient) -> None:
    primary = seed_round_primary(client, candidates=2)
    open_round_over_http(client, primary)
    voter = another_client(client)
    sign_in(voter, "twice@example.org")
    base = f"/primaries/{primary.slug}"
    ballot = {f"grade-{c}": "4" for c in primary.candidates}
    cast_over_http(voter, base, 1, ballot)
    again = post_form(voter, f"{base}/rounds/1/cast", ballot)
    assert again.status_code == 409 and "Vous avez déjà voté à ce tour." in again.text
    assert "Votre premier bulletin reste enregistré et sera compté" in again.text
    assert "Aucun bulletin n’a été enregistré." not in again.text
    english = post_form(voter, f"{base}/rounds/1/cast", ballot, headers={"accept-language": "en"})
    assert "Your first ballot stays recorded and will be counted" in english.text


def test_the_site_has_a_favicon(client: TestClient) -> None:
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/").text
    moved = client.get("/favicon.ico", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == "/static/favicon.svg"
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Léa\u202eDupont", "caractère invisible ou de mise en forme (U+202E)"),
        ("Karim\u200bHaddad", "caractère invisible ou de mise en forme (U+200B)"),
        ("K\u0430rim Haddad", "« K\u0430rim » mélange des lettres de plusieurs alphabets"),
        ("Ｋarim", "lettre stylisée (Ｋ, U+FF2B)"),
    ],
)
def test_names_that_hide_or_imitate_are_refused_inline(
    client: TestClient, organiser_client: TestClient, name: str, message: str
) -> None:
    create_primary_http(organiser_client)
    author = citizen(client, "names@example.org")
    form = {"name": name, "bio": "Bio.", "programme": "Prog", "charter": "on", "submit_now": "1"}
    refused = post_form(author, "/primaries/ville/declare", form)
    assert refused.status_code == 422
    assert message in refused.text
    assert 'aria-invalid="true"' in refused.text  # next to the name field
    assert "Prog" in refused.text  # the rest of the input is kept
    assert run_db(client, "SELECT count(*) AS n FROM candidacies")[0]["n"] == 0


def test_names_are_nfc_and_other_scripts_are_welcome(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    cid = declare(citizen(client, "nfc@example.org"), name="Le\u0301a Ольга 田中さん")
    stored = run_db(client, "SELECT name FROM candidacies WHERE id = $1::uuid", cid)[0]["name"]
    assert stored == "Léa Ольга 田中さん" and len(stored.split()[0]) == 3


def test_demo_outbox_shows_others_only_their_own_mail(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(replace(settings, demo=True))
    with TestClient(app) as client:
        post_form(client, "/signin", {"email": "orga@example.org"})
        asker = another_client(client)
        post_form(asker, "/signin", {"email": "mine@example.org"})
        outbox = settings.data_dir / "outbox"
        wait_until(lambda: len(list(outbox.glob("*.eml"))) >= 2, "two mails in the outbox")
        # Another machine: only the address this browser asked a code for; a loud warning.
        page = asker.get("/demo/outbox").text
        assert "mine@example.org" in page and "orga@example.org" not in page
        assert "quiconque lit un code de connexion peut se connecter" in page
        stranger = another_client(client)
        assert "@example.org" not in stranger.get("/demo/outbox").text
        # The machine running the demo sees everything, and is told so.
        local = TestClient(app, client=("127.0.0.1", 40000))
        local.portal = client.portal
        page = local.get("/demo/outbox").text
        assert "orga@example.org" in page and "mine@example.org" in page
        assert "organisatrice comprise" in page


def test_a_name_drawn_like_another_candidates_is_refused(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    declare(citizen(client, "alice@example.org"), name="Alice Martin")
    declare(citizen(client, "olga@example.org"), name="Olga Pope")
    form = {"bio": "Bio.", "programme": "Prog", "charter": "on", "submit_now": "1"}
    imitator = citizen(client, "imitator@example.org")
    # A capital I for the l; a whole word in Cyrillic letters that look Latin (Р, о, р, е).
    for name, imitated in (
        ("AIice Martin", "Alice Martin"),
        ("Olga \u0420\u043e\u0440\u0435", "Olga Pope"),
    ):
        refused = post_form(imitator, "/primaries/ville/declare", {**form, "name": name})
        assert refused.status_code == 422, name
        assert f"Ce nom imite celui d’une autre candidature (« {imitated} »)" in refused.text
    # Homonyms exist: the very same name is not an imitation.
    declare(citizen(client, "alice2@example.org"), name="Alice Martin")
    # Editing into a look-alike is refused too.
    other = declare(imitator, name="Bob Martin")
    edit = post_form(imitator, f"/primaries/ville/candidates/{other}/edit",
                     {"name": "AIice Martin", "bio": "", "programme": ""})  # fmt: skip
    assert edit.status_code == 422 and "imite celui d’une autre candidature" in edit.text
