"""Input PostgreSQL cannot store (a NUL character) is the client's error: 400, never a 500."""

from starlette.testclient import TestClient

from tests.fixtures.primaries import create_primary_http


def test_nul_character_in_a_search_is_refused_clearly(
    client: TestClient, organiser_client: TestClient
) -> None:
    create_primary_http(organiser_client)
    api = client.get("/api/primaries/ville/candidacies", params={"q": "a\x00b"})
    assert api.status_code == 400
    assert "caractère nul" in api.json()["error"]["message"]
    page = client.get(
        "/primaries/ville/candidates", params={"q": "\x00"}, headers={"Accept-Language": "en"}
    )
    assert page.status_code == 400
    assert "null character" in page.text
    assert "Traceback" not in page.text
