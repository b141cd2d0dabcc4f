"""A primary's witness policy through the JSON API: a bad policy is a 422 naming the field,
a good one is published in the definition entry, and the log's `log/witnesses` lists it."""

from __future__ import annotations

from starlette.testclient import TestClient

from crypto.cosignature import CosignerKey
from tests.fixtures.accounts import api_request, post_form, run_db
from tests.fixtures.primaries import definition_input, log_entries, primary_form

KEY = CosignerKey.generate("news.example/witness").vkey
POLICY = f"witness presse {KEY} http://127.0.0.1:9\nquorum presse\n"


def test_a_bad_policy_is_refused_with_its_field(organiser_client: TestClient) -> None:
    for policy in ["quorum presse\n", f"witness presse {KEY}\nquorum presse\n", "x" * 10_001]:
        body = definition_input("temoins", witness_policy=policy)
        response = api_request(organiser_client, "POST", "/api/primaries", body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "witness_policy"


def test_a_policy_is_published_in_the_definition(
    client: TestClient, organiser_client: TestClient
) -> None:
    body = definition_input("temoins", witness_policy=POLICY)
    response = api_request(organiser_client, "POST", "/api/primaries", body)
    assert response.status_code == 201, response.text
    definition = next(b for kind, b in log_entries(client, "temoins") if kind == "definition")
    assert definition["witness_policy"] == POLICY
    status = client.get("/primaries/temoins/log/witnesses").json()
    assert status["quorum"] == "presse"
    assert status["quorum_met"] is False  # the witness is not reachable from the test
    assert status["witnesses"] == [
        {"name": "presse", "vkey": KEY, "url": "http://127.0.0.1:9", "cosigned_size": None}
    ]
    checkpoint = client.get("/primaries/temoins/log/checkpoint")
    assert checkpoint.headers["Scrutin-Witness-Quorum"] == "missing"
    # Without a policy the definition has no such member and the header says so.
    response = api_request(organiser_client, "POST", "/api/primaries", definition_input("sans"))
    assert "witness_policy" not in next(
        b for k, b in log_entries(client, "sans") if k == "definition"
    )
    assert client.get("/primaries/sans/log/checkpoint").headers["Scrutin-Witness-Quorum"] == "none"


def test_the_settings_form_takes_a_policy_and_keeps_a_bad_one_with_its_error(
    client: TestClient, organiser_client: TestClient
) -> None:
    bad = f"witness presse {KEY}\nquorum presse\n"  # no URL to submit to
    response = post_form(
        organiser_client, "/primaries/new", {**primary_form("t"), "witness_policy": bad}
    )
    assert response.status_code == 422
    assert 'aria-errormessage="witness_policy-error"' in response.text
    assert "URL" in response.text and KEY in response.text  # the input is kept
    assert run_db(client, "SELECT count(*) AS n FROM primaries")[0]["n"] == 0

    response = post_form(
        organiser_client, "/primaries/new", {**primary_form("t"), "witness_policy": POLICY}
    )
    assert response.status_code in (200, 303), response.status_code
    definition = next(b for kind, b in log_entries(client, "t") if kind == "definition")
    assert definition["witness_policy"] == POLICY
    assert KEY in organiser_client.get("/primaries/t/admin").text  # shown again in the settings
    english = client.get("/primaries/t/observers?lang=en")
    assert "Independent witnesses" in english.text and KEY in english.text
    assert "does not have the quorum yet" in english.text
