"""JSON API: every route, its errors with a field path, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, api_request, run_db, sign_in
from tests.fixtures.primaries import definition_input, log_entries


def create(organiser: TestClient, slug: str = "api", **changes: Any) -> dict:
    response = api_request(organiser, "POST", "/api/primaries", definition_input(slug, **changes))
    assert response.status_code == 201, response.text
    return response.json()


def error_of(response: Any) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "message", "field"}
    assert body["error"]["status"] == response.status_code
    return body["error"]


def test_openapi_lists_every_api_route_and_is_valid_json(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    documented = document["paths"]
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith("/api/"):
            assert route.path in documented, route.path
            for method in route.methods or ():
                if method != "HEAD":
                    assert method.lower() in documented[route.path], (route.path, method)
    refs = {value for value in _walk(document) if isinstance(value, str) and value.startswith("#/")}
    for ref in refs:
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], ref


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def test_primary_and_candidacy_lifecycle_through_the_api(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    primary = create(organiser_client, threshold=1)
    assert primary["revision"] == 1 and primary["definition"]["threshold"] == 1
    assert primary["open_phases"] == ["candidacies", "supports"]
    assert client.get("/api/primaries").json()["primaries"][0]["slug"] == "api"
    assert client.get("/api/primaries/api").json()["voting_started"] is False

    revised = api_request(organiser_client, "PUT", "/api/primaries/api/definition",
                          {"title": "API 2", "charter": "Soyons corrects."})  # fmt: skip
    assert revised.status_code == 200 and revised.json()["revision"] == 2

    declared = api_request(
        citizen_client, "POST", "/api/primaries/api/candidacies",
        {"name": "Inès Moreau", "bio": "Maire.", "programme": "**Vélo**",
         "links": ["https://ines.example"], "charter_accepted": True, "submit": True},
    )  # fmt: skip
    assert declared.status_code == 201, declared.text
    cid = declared.json()["id"]
    assert declared.json()["status"] == "submitted"
    assert client.get(f"/api/candidacies/{cid}").status_code == 404  # not public yet
    pending = api_request(
        organiser_client, "GET", "/api/primaries/api/candidacies?status=submitted"
    )
    assert [c["id"] for c in pending.json()["candidacies"]] == [cid]
    assert client.get("/api/primaries/api/candidacies?status=submitted").status_code == 403
    unknown = client.get("/api/primaries/api/candidacies?status=zzz")
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "status"
    assert "draft, submitted, published" in unknown.json()["error"]["message"]

    accepted = api_request(organiser_client, "POST", f"/api/candidacies/{cid}/accept")
    assert accepted.json()["status"] == "published"
    patched = api_request(citizen_client, "PATCH", f"/api/candidacies/{cid}", {"bio": "Maire."})
    assert patched.json()["version"] == 1  # nothing changed
    patched = api_request(citizen_client, "PATCH", f"/api/candidacies/{cid}",
                          {"bio": "Maire de Lyon."})  # fmt: skip
    assert patched.json()["version"] == 2

    voter = another_client(client)
    sign_in(voter, "votante@example.org")
    supported = api_request(voter, "POST", f"/api/candidacies/{cid}/support")
    assert supported.status_code == 201
    assert supported.json() == {"candidate": cid, "support_count": 1, "qualified": True,
                                "status": "qualified"}  # fmt: skip
    counts = api_request(voter, "GET", "/api/primaries/api/supports").json()
    assert counts["counts"] == {cid: 1} and counts["mine"] == [cid]
    undo = api_request(voter, "DELETE", f"/api/candidacies/{cid}/support")
    assert undo.status_code == 409 and "définitif" in error_of(undo)["message"]
    confirmed = api_request(citizen_client, "POST", f"/api/candidacies/{cid}/confirm")
    assert confirmed.json()["status"] == "confirmed"

    public = client.get(f"/api/candidacies/{cid}").json()
    assert [v["version"] for v in public["versions"]] == [2, 1]
    import hashlib

    assert hashlib.sha256(public["declaration_text"].encode()).hexdigest() == public["declaration"]
    kinds = [(k, b.get("action")) for k, b in log_entries(client, "api")]
    assert kinds == [
        ("definition", None), ("definition", None), ("candidacy", "submitted"),
        ("candidacy", "published"), ("candidacy", "revised"), ("support", None),
        ("qualification", None), ("candidacy", "confirmed"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**definition_input("bad"), "slug": "NOPE"}, 422, "slug"),
        ({**definition_input("bad"), "threshold": "lots"}, 422, "threshold"),
        ({**definition_input("bad"), "threshold": 2.5}, 422, "threshold"),
        ({**definition_input("bad"), "grades": ["Seule"]}, 422, "grades"),
        ({**definition_input("bad"), "phases": [{"name": "candidacies"}]}, 422, "phases[0].start"),
        ({**definition_input("bad"), "title": "<script>" * 40}, 422, "title"),
        ({**definition_input("bad"), "extra": True}, 422, "extra"),
        ({**definition_input("bad"), "charter": ["x"]}, 422, "charter"),
        ([1, 2], 400, None),
    ],
)
def test_bad_primary_bodies(
    client: TestClient, organiser_client: TestClient, body: Any, status: int, field: str | None
) -> None:
    response = api_request(organiser_client, "POST", "/api/primaries", body)
    assert response.status_code == status
    assert error_of(response)["field"] == field
    assert run_db(client, "SELECT count(*) AS n FROM primaries")[0]["n"] == 0


def test_malformed_oversized_and_unauthorised_requests(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create(organiser_client)
    token = client.get("/api/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": token, "content-type": "application/json"}
    garbled = organiser_client.post(
        "/api/primaries",
        content=b"{not json",
        headers={**headers, "X-CSRF-Token": organiser_client.get("/api/session").json()[
            "csrf_token"]},
    )  # fmt: skip
    assert garbled.status_code == 400 and error_of(garbled)["message"] == "Corps JSON illisible."
    huge = api_request(citizen_client, "POST", "/api/primaries/api/candidacies",
                       {"name": "x", "programme": "p" * 300_000})  # fmt: skip
    assert huge.status_code == 413
    anonymous = api_request(client, "POST", "/api/primaries/api/candidacies", {"name": "x"})
    assert anonymous.status_code == 401 and error_of(anonymous)["field"] is None
    forbidden = api_request(citizen_client, "POST", "/api/primaries", definition_input("x"))
    assert forbidden.status_code == 403
    no_csrf = citizen_client.post("/api/primaries/api/candidacies", json={"name": "x"})
    assert no_csrf.status_code == 403
    english = api_request(citizen_client, "POST", "/api/primaries/api/candidacies",
                          {"name": "x"}, headers={"Accept-Language": "en"})  # fmt: skip
    assert english.status_code == 422
    assert error_of(english) == {
        "status": 422,
        "field": "charter_accepted",
        "message": "You must accept the charter of the primary.",
    }
    for body, field in [
        ({"name": "", "charter_accepted": True}, "name"),
        ({"name": 12, "charter_accepted": True}, "name"),
        ({"name": "x", "links": "https://a.example", "charter_accepted": True}, "links"),
        ({"name": "x", "links": ["javascript:alert(1)"], "charter_accepted": True}, "links[0]"),
        ({"name": "x", "bio": "b" * 1001, "charter_accepted": True}, "bio"),
        ({"name": "x", "admin": True, "charter_accepted": True}, "admin"),
    ]:
        response = api_request(citizen_client, "POST", "/api/primaries/api/candidacies", body)
        assert response.status_code == 422 and error_of(response)["field"] == field, body
    assert run_db(client, "SELECT count(*) AS n FROM candidacies")[0]["n"] == 0
    assert api_request(client, "GET", "/api/primaries/nope").status_code == 404
    assert client.get("/api/candidacies/not-a-uuid").status_code == 404
    unknown = api_request(organiser_client, "POST",
                          "/api/candidacies/00000000-0000-0000-0000-000000000000/fly")  # fmt: skip
    assert unknown.status_code == 404
    assert len(log_entries(client, "api")) == 1
