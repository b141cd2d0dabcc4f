"""Organising a primary over HTTP, the resulting log checked: refusing disposable addresses
is a logged eligibility setting (that the verifier accepts), who administers a primary,
and ending the supports phase early through a definition revision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from audit.envelope import EntryError, check_body
from tests.fixtures.accounts import another_client, api_request, post_form, run_db, sign_in
from tests.fixtures.candidacies import declare, publish
from tests.fixtures.primaries import (
    create_primary_http,
    definition_input,
    log_entries,
    primary_form,
)


def count(client: TestClient, table: str) -> int:
    return run_db(client, f"SELECT count(*) AS n FROM {table}")[0]["n"]


# ----------------------------------------------------------------- disposable addresses


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


# ----------------------------------------------------------------- who administers what


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


# ---------------------------------------------------------------- ending supports early


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
