"""The organiser chooses voter-held credentials in the primary's form; without JavaScript a
citizen gets an assisted key from the key page, which says what it trades, in French and in
English (docs/audit-log.md §8 "Voter-held credentials")."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, post_form, sign_in
from tests.fixtures.primaries import create_primary_http, log_entries


def test_the_form_option_puts_voter_credentials_in_the_definition(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, "cles", voter_credentials="on")
    create_primary_http(organiser_client, "serveur")
    (definition,) = [b for k, b in log_entries(client, "cles") if k == "definition"]
    assert definition["credentials"] == "voter"
    (plain,) = [b for k, b in log_entries(client, "serveur") if k == "definition"]
    assert "credentials" not in plain  # absent means server: older logs stay as they were
    page = client.get("/primaries/cles")
    assert "Bulletins signés par" in page.text and "/primaries/cles/credential" in page.text


def test_without_javascript_a_citizen_gets_an_assisted_key(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client, "aidee", voter_credentials="on")
    citizen = another_client(client)
    sign_in(citizen, "sans-js@example.org")
    page = citizen.get("/primaries/aidee/credential")
    assert page.status_code == 200
    assert "il pourrait voter à votre place" in page.text
    done = post_form(citizen, "/primaries/aidee/credential", {})
    assert done.status_code == 303
    page = citizen.get(done.headers["location"])
    assert "clé assistée, détenue par le service" in page.text
    again = post_form(citizen, "/primaries/aidee/credential", {})
    assert again.status_code == 409 and "déjà une clé de vote" in again.text
    (entry,) = [b for k, b in log_entries(client, "aidee") if k == "credential"]
    assert entry["assisted"] is True and "sans-js" not in str(entry)
    english = citizen.get("/primaries/aidee/credential", headers={"Accept-Language": "en"})
    assert "My voting key" in english.text and "assisted key, held by the service" in english.text
