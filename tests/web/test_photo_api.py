"""A candidate's photo through the JSON API: bad bodies are refused with the field named and
nothing logged, only the candidate may set or remove it."""

from __future__ import annotations

import httpx2 as httpx
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, api_request, sign_in
from tests.fixtures.candidacies import PNG, declare, publish
from tests.fixtures.primaries import create_primary_http, log_entries

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def test_photo_through_the_api(
    client: TestClient, organiser_client: TestClient, citizen_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    cid = declare(citizen_client)
    url = f"/api/candidacies/{cid}/photo"
    before = log_entries(client, "ville")

    def put(browser: TestClient, body: bytes, content_type: str) -> httpx.Response:
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
