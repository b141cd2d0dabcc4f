"""A person's account over HTTP: organisers set and change a password (citizens have none),
"my account" lists my supports and my candidacy, and signing in comes back to the page
that asked for it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, api_request, post_form, run_db, sign_in
from tests.fixtures.candidacies import declare, publish
from tests.fixtures.primaries import create_primary_http
from web.ratelimit import limiter_for

# ---------------------------------------------------------------------------- passwords


def test_an_organiser_sets_then_changes_their_password(client: TestClient) -> None:
    organiser = another_client(client)
    sign_in(organiser, "orga@example.org", organiser=True)
    elsewhere = another_client(client)
    sign_in(elsewhere, "orga@example.org")
    page = organiser.get("/account")
    assert 'id="new_password"' in page.text and 'id="current_password"' not in page.text

    short = post_form(
        organiser, "/account/password", {"new_password": "court", "new_password_again": "court"}
    )
    assert short.status_code == 400 and "au moins 10 caractères" in short.text
    differ = post_form(
        organiser,
        "/account/password",
        {"new_password": "premier mot de passe", "new_password_again": "autre chose"},
    )
    assert differ.status_code == 400 and "diffèrent" in differ.text
    assert run_db(client, "SELECT password_hash FROM accounts")[0]["password_hash"] is None

    first = "premier mot de passe"
    saved = post_form(
        organiser, "/account/password", {"new_password": first, "new_password_again": first}
    )
    assert saved.status_code == 303
    stored = run_db(client, "SELECT password_hash FROM accounts")[0]["password_hash"]
    assert stored.startswith("$argon2id$")
    assert elsewhere.get("/api/session").json()["account"] is None  # other sessions ended
    assert organiser.get("/api/session").json()["account"] is not None

    page = organiser.get("/account")
    assert 'id="current_password"' in page.text
    second = "second mot de passe"
    wrong = post_form(
        organiser,
        "/account/password",
        {"current_password": "pas le bon", "new_password": second, "new_password_again": second},
    )
    assert wrong.status_code == 400 and "mot de passe actuel est incorrect" in wrong.text
    missing = post_form(
        organiser, "/account/password", {"new_password": second, "new_password_again": second}
    )
    assert missing.status_code == 400 and "Saisissez votre mot de passe actuel" in missing.text
    assert run_db(client, "SELECT password_hash FROM accounts")[0]["password_hash"] == stored
    changed = post_form(
        organiser,
        "/account/password",
        {"current_password": first, "new_password": second, "new_password_again": second},
    )
    assert changed.status_code == 303

    limiter_for(client.app).reset("signin")  # password changes count as password tries
    anonymous = another_client(client)
    old = post_form(
        anonymous, "/signin/password", {"organiser_email": "orga@example.org", "password": first}
    )
    assert old.status_code == 400
    new = post_form(
        anonymous, "/signin/password", {"organiser_email": "orga@example.org", "password": second}
    )
    assert new.status_code == 303
    subject, _ = run_db(client, "SELECT subject, body FROM mail_queue ORDER BY id DESC LIMIT 1")[
        0
    ].values()
    assert "mot de passe modifié" in subject


def test_citizens_have_no_password_and_the_api_checks_the_current_one(
    client: TestClient, citizen_client: TestClient, organiser_client: TestClient
) -> None:
    refused = post_form(
        citizen_client,
        "/account/password",
        {"new_password": "un mot de passe", "new_password_again": "un mot de passe"},
    )
    assert refused.status_code == 400 and "Seuls les organisateur·rices" in refused.text
    api = api_request(
        citizen_client, "POST", "/api/account/password", {"new_password": "un mot de passe"}
    )
    assert api.status_code == 422 and api.json()["error"]["field"] == "new_password"

    url = "/api/account/password"
    assert api_request(organiser_client, "POST", url, {"new_password": 12}).status_code == 422
    assert api_request(organiser_client, "POST", url, {"x": "y"}).status_code == 422
    ok = api_request(organiser_client, "POST", url, {"new_password": "organisatrice 2026"})
    assert ok.status_code == 200
    wrong = api_request(
        organiser_client, "POST", url, {"current_password": "non", "new_password": "0123456789"}
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["field"] == "current_password"
    assert api_request(client, "POST", url, {"new_password": "0123456789"}).status_code == 401
    hashes = run_db(client, "SELECT count(*) AS n FROM accounts WHERE password_hash IS NOT NULL")
    assert hashes[0]["n"] == 1


# --------------------------------------------------------------------------- my account


def test_my_account_shows_my_supports_and_my_candidacy(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client, threshold="5")
    cid = declare(citizen_client)
    publish(organiser_client, cid)
    supporter = another_client(client)
    sign_in(supporter, "soutien@example.org")
    assert post_form(supporter, f"/primaries/ville/candidates/{cid}/support").status_code == 303

    mine = supporter.get("/account")
    assert mine.status_code == 200
    supports_part = mine.text.split("Mes soutiens", 2)[2].split("Mes candidatures")[0]
    assert "Léa Dupont" in supports_part and "Recueille des soutiens" in supports_part
    own = citizen_client.get("/account")
    assert "Léa Dupont" in own.text.split("Mes candidatures", 1)[1]
    assert "1 / 5" in own.text

    data = supporter.get("/api/account").json()
    assert [s["candidate"] for s in data["supports"]] == [cid] and data["candidacies"] == []
    assert citizen_client.get("/api/account").json()["candidacies"][0]["threshold"] == 5
    assert client.get("/api/account").status_code == 401
    renamed = api_request(supporter, "PATCH", "/api/account", {"display_name": "Sam"})
    assert renamed.status_code == 200 and renamed.json()["account"]["display_name"] == "Sam"
    bad = api_request(supporter, "PATCH", "/api/account", {"display_name": "x" * 121})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "display_name"


# ------------------------------------------------------------------ back where you were


@pytest.mark.parametrize("how", ["link", "code"])
def test_signing_in_goes_back_to_the_page_that_asked(client: TestClient, how: str) -> None:
    import re

    from tests.fixtures.accounts import last_mail

    target = "/primaries/ville/candidates?q=sant%C3%A9"
    page = client.get(f"/signin?next={target}")
    assert page.status_code == 200
    sent = post_form(client, "/signin", {"email": "retour@example.org", "next": target})
    assert sent.status_code == 303
    _, body = last_mail(client, "retour@example.org")
    if how == "link":
        token = re.search(r"token=([A-Za-z0-9_-]+)", body)
        assert token is not None
        done = post_form(client, "/signin/link", {"token": token[1]})
    else:
        code = re.search(r"code : (\d{6})", body)
        assert code is not None
        done = post_form(client, "/signin/code", {"email": "retour@example.org", "code": code[1]})
    assert done.status_code == 303 and done.headers["location"] == target
