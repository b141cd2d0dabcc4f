"""Issue 6 follow-up, over HTTP with the resulting log checked: disposable addresses as a
logged eligibility setting, organiser passwords, "my account" inline, the photo API, who
administers a primary, and ending the supports phase early through a definition revision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from audit.envelope import EntryError, check_body
from tests.fixtures.accounts import another_client, api_request, post_form, run_db, sign_in
from tests.fixtures.candidacies import PNG, declare
from tests.fixtures.primaries import (
    create_primary_http,
    definition_input,
    log_entries,
    primary_form,
)
from web.ratelimit import limiter_for

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def publish(organiser: TestClient, cid: str, slug: str = "ville") -> None:
    url = f"/primaries/{slug}/admin/candidacies/{cid}/accept"
    assert post_form(organiser, url).status_code == 303


def count(client: TestClient, table: str) -> int:
    return run_db(client, f"SELECT count(*) AS n FROM {table}")[0]["n"]


# ------------------------------------------------------------------ disposable addresses


def test_refusing_disposable_addresses_is_a_logged_setting(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client, refuse_disposable="on")
    settings = organiser_client.get("/primaries/ville/admin")
    assert 'id="refuse_disposable" name="refuse_disposable" aria-describedby' in settings.text
    assert "checked" in settings.text.split('id="refuse_disposable"', 1)[1].split(">", 1)[0]
    definition = log_entries(client, "ville")[0][1]
    assert definition["refuse_disposable"] is True
    check_body("definition", definition)  # the independent verifier accepts it
    assert "adresses jetables refusées" in client.get("/primaries/ville").text

    cid = declare(citizen_client)
    publish(organiser_client, cid)
    throwaway = another_client(client)
    sign_in(throwaway, "someone@yopmail.com")
    before = len(log_entries(client, "ville"))
    refused = post_form(throwaway, f"/primaries/ville/candidates/{cid}/support")
    assert refused.status_code == 403
    assert "adresses jetables ne sont pas acceptées" in refused.text
    assert len(log_entries(client, "ville")) == before and count(client, "supports") == 0
    status = throwaway.get("/primaries/ville/eligibility")
    assert "adresses jetables" in status.text

    # Turning it off is a new revision; then the same citizen may support.
    changed = post_form(organiser_client, "/primaries/ville/admin", primary_form("ville"))
    assert changed.status_code == 303
    revision = log_entries(client, "ville")[-1][1]
    assert revision["revision"] == 2 and revision["refuse_disposable"] is False
    assert post_form(throwaway, f"/primaries/ville/candidates/{cid}/support").status_code == 303


def test_refuse_disposable_through_the_api_and_the_verifier(
    client: TestClient, organiser_client: TestClient
) -> None:
    created = api_request(organiser_client, "POST", "/api/primaries", definition_input("api"))
    assert created.json()["definition"]["refuse_disposable"] is False
    for bad in ("yes", 1, None, [], {}):
        if bad is None:
            continue  # null means "keep the current value"
        response = api_request(
            organiser_client, "PUT", "/api/primaries/api/definition", {"refuse_disposable": bad}
        )
        assert response.status_code == 422, bad
        assert response.json()["error"]["field"] == "refuse_disposable"
    ok = api_request(
        organiser_client, "PUT", "/api/primaries/api/definition", {"refuse_disposable": True}
    )
    assert ok.status_code == 200 and ok.json()["definition"]["refuse_disposable"] is True
    entries = log_entries(client, "api")
    assert [b["refuse_disposable"] for _, b in entries] == [False, True]
    # Logs written before the member existed stay valid; anything but a boolean is refused.
    older = {k: v for k, v in entries[0][1].items() if k != "refuse_disposable"}
    check_body("definition", older)
    with pytest.raises(EntryError):
        check_body("definition", {**older, "refuse_disposable": "true"})
    # A revision number sent as text is a type error, not "the next revision is 3".
    text = api_request(organiser_client, "PUT", "/api/primaries/api/definition", {"revision": "3"})
    assert text.status_code == 422 and text.json()["error"]["field"] == "revision"
    assert "nombre entier" in text.json()["error"]["message"]


# ------------------------------------------------------------------------------ passwords


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


# ------------------------------------------------------------------------------- photo API


def test_photo_through_the_api(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    cid = declare(citizen_client)
    url = f"/api/candidacies/{cid}/photo"
    before = log_entries(client, "ville")

    def put(browser: TestClient, body: bytes, content_type: str) -> object:
        return api_request(
            browser, "PUT", url, content=body, headers={"Content-Type": content_type}
        )

    for body, content_type, status in (
        (b"GIF89a" + b"\x00" * 20, "image/png", 422),
        (JPEG, "image/png", 422),
        (PNG, "image/gif", 415),
        (PNG, "text/html", 415),
        (b"", "image/png", 422),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "image/png", 413),
    ):
        response = put(citizen_client, body, content_type)
        assert response.status_code == status, (content_type, response.text)
        assert response.json()["error"]["field"] == "photo"
    stranger = another_client(client)
    sign_in(stranger, "autre@example.org")
    assert put(stranger, JPEG, "image/jpeg").status_code == 404  # submitted: not visible
    assert put(client, JPEG, "image/jpeg").status_code == 401
    assert log_entries(client, "ville") == before

    ok = put(citizen_client, JPEG, "image/jpeg")
    assert ok.status_code == 200, ok.text
    assert ok.json()["photo_url"] == f"/primaries/ville/candidates/{cid}/photo"
    assert citizen_client.get(ok.json()["photo_url"]).content == JPEG
    entries = log_entries(client, "ville")
    assert entries[-1][0] == "candidacy" and entries[-1][1]["action"] == "revised"
    assert entries[-1][1]["declaration"] == ok.json()["declaration"]

    publish(organiser_client, cid)
    assert put(stranger, PNG, "image/png").status_code == 403  # public now, but not theirs
    removed = api_request(citizen_client, "DELETE", url)
    assert removed.status_code == 200 and removed.json()["photo_url"] is None
    assert client.get(f"/primaries/ville/candidates/{cid}/photo").status_code == 404
    document = client.get("/api/openapi.json").json()["paths"]["/api/candidacies/{id}/photo"]
    assert set(document["put"]["requestBody"]["content"]) == {"image/png", "image/jpeg"}


# ------------------------------------------------------------------- who administers what


def test_a_primary_is_administered_by_organisers_and_its_creator(client: TestClient) -> None:
    creator = another_client(client)
    sign_in(creator, "createur@example.org", organiser=True)
    create_primary_http(creator)
    citizen = another_client(client)
    sign_in(citizen, "citoyen@example.org")
    other_organiser = another_client(client)
    sign_in(other_organiser, "autre-orga@example.org", organiser=True)

    pages = ("/primaries/ville/admin", "/primaries/ville/admin/candidacies",
             "/primaries/ville/admin/eligibility")  # fmt: skip
    for page in pages:
        assert citizen.get(page).status_code == 403
        assert other_organiser.get(page).status_code == 200
    # The creator keeps their primary after losing the organiser role, but cannot create.
    run_db(client, "UPDATE accounts SET is_organiser = false WHERE email = 'createur@example.org'")
    for page in pages:
        assert creator.get(page).status_code == 200
    assert creator.get("/primaries/new").status_code == 403
    assert "/primaries/ville/admin" in creator.get("/primaries/ville").text
    assert "/primaries/ville/admin" not in citizen.get("/primaries/ville").text
    revised = post_form(creator, "/primaries/ville/admin", primary_form("ville", threshold="7"))
    assert revised.status_code == 303
    api = api_request(citizen, "PUT", "/api/primaries/ville/definition", {"threshold": 9})
    assert api.status_code == 403
    assert [b["threshold"] for _, b in log_entries(client, "ville")] == [2, 7]


# ------------------------------------------------------------- ending supports early


def test_ending_the_supports_phase_early_is_a_logged_revision(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client, qualification="phase-end", threshold="1")
    cid = declare(citizen_client)
    publish(organiser_client, cid)
    supporter = another_client(client)
    sign_in(supporter, "soutien@example.org")
    assert post_form(supporter, f"/primaries/ville/candidates/{cid}/support").status_code == 303
    settings = organiser_client.get("/primaries/ville/admin")
    assert "Clore les soutiens maintenant" in settings.text

    plain = post_form(organiser_client, "/primaries/ville/admin/close-supports")
    assert plain.status_code == 409  # before the end, only the explicit early close
    refused = post_form(citizen_client, "/primaries/ville/admin/close-supports", {"early": "1"})
    assert refused.status_code == 403
    count_before = len(log_entries(client, "ville"))
    earliest = datetime.now(UTC).replace(microsecond=0)
    closed = post_form(organiser_client, "/primaries/ville/admin/close-supports", {"early": "1"})
    latest = datetime.now(UTC)
    assert closed.status_code == 303
    entries = log_entries(client, "ville")[count_before:]
    assert [k for k, _ in entries] == ["definition", "qualification"]
    revision = entries[0][1]
    ends = {p["name"]: p["end"] for p in revision["phases"]}
    end = datetime.fromisoformat(ends["supports"].replace("Z", "+00:00"))
    assert earliest <= end <= latest  # the moment of the request, however long it took
    assert ends["candidacies"] <= ends["supports"]
    assert entries[1][1] == {"candidate": cid, "supports": 1, "threshold": 1}
    late = another_client(client)
    sign_in(late, "tard@example.org")
    assert post_form(late, f"/primaries/ville/candidates/{cid}/support").status_code == 409
    again = post_form(organiser_client, "/primaries/ville/admin/close-supports", {"early": "1"})
    assert again.status_code == 409


def test_a_revision_cannot_rewrite_the_past_and_the_api_can_close_early(
    client: TestClient, organiser_client: TestClient
) -> None:
    created = api_request(organiser_client, "POST", "/api/primaries", definition_input("api"))
    phases = created.json()["definition"]["phases"]
    moved = [dict(p) for p in phases]
    moved[0]["start"] = "2020-01-01T00:00:00Z"  # the candidacies began in the past already
    past = api_request(organiser_client, "PUT", "/api/primaries/api/definition", {"phases": moved})
    assert past.status_code == 422 and past.json()["error"]["field"] == "phases[0].start"
    into_past = [dict(p) for p in phases]
    into_past[1]["end"] = "2021-01-01T00:00:00Z"
    response = api_request(
        organiser_client, "PUT", "/api/primaries/api/definition", {"phases": into_past}
    )
    assert response.status_code == 422
    dropped = [p for p in phases if p["name"] != "round-1"]  # future: may go
    ok = api_request(organiser_client, "PUT", "/api/primaries/api/definition", {"phases": dropped})
    assert ok.status_code == 200 and ok.json()["revision"] == 2
    url = "/api/primaries/api/close-supports"
    assert api_request(organiser_client, "POST", url, {"early": "yes"}).status_code == 422
    assert api_request(organiser_client, "POST", url, {"soon": True}).status_code == 422
    assert api_request(organiser_client, "POST", url).status_code == 409
    assert len(log_entries(client, "api")) == 2
    early = api_request(organiser_client, "POST", url, {"early": True})
    assert early.status_code == 200 and early.json() == {"qualified": []}
    kinds = [k for k, _ in log_entries(client, "api")]
    assert kinds == ["definition", "definition", "definition"]
    assert api_request(organiser_client, "GET", "/api/primaries/api").json()["supports_closed"]


# ------------------------------------------------------------------- back where you were


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
