from starlette.testclient import TestClient


def test_home_is_french_by_default(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert "Primaires citoyennes" in response.text
    assert 'href="/lang/en?next=/"' in response.text


def test_home_follows_the_browser_language(client: TestClient) -> None:
    response = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert '<html lang="en">' in response.text
    assert "Citizen primaries" in response.text
    assert "Primaires citoyennes" not in response.text


def test_language_switch_sets_a_cookie_and_returns_to_the_page(client: TestClient) -> None:
    response = client.get("/lang/en?next=/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "lang=en" in response.headers["set-cookie"]
    page = client.get("/")
    assert '<html lang="en">' in page.text
    back = client.get("/lang/fr?next=/", follow_redirects=True)
    assert '<html lang="fr">' in back.text


def test_language_switch_is_not_an_open_redirect(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = client.get(f"/lang/en?next={target}", follow_redirects=False)
        assert response.headers["location"] == "/"


def test_home_lists_primaries(client: TestClient) -> None:
    pool = client.app.state.pool  # type: ignore[attr-defined]
    client.portal.call(  # type: ignore[union-attr]
        pool.execute,
        "INSERT INTO primaries (slug, title, definition)"
        " VALUES ('essai', 'Primaire d''essai', '{}')",
    )
    assert "Primaire d&#39;essai" in client.get("/").text


def test_unknown_page_is_a_friendly_404_in_the_visitor_language(client: TestClient) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "Page not found." in response.text
    assert "Traceback" not in response.text


def test_api_errors_are_json(client: TestClient) -> None:
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_security_headers_are_set(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
