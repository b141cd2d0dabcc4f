"""CSRF, rate limits, body and field size limits, escaping."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, csrf_token, post_form, run_db, sign_in
from web.ratelimit import RateLimiter, limiter_for


def _mail_count(client: TestClient) -> int:
    return run_db(client, "SELECT count(*) AS n FROM mail_queue")[0]["n"]


def test_a_post_without_token_is_refused(client: TestClient) -> None:
    client.get("/signin")
    response = client.post("/signin", data={"email": "a@example.org"})
    assert response.status_code == 403
    assert "Jeton de sécurité" in response.text
    assert _mail_count(client) == 0


def test_a_token_from_another_session_is_refused(client: TestClient) -> None:
    foreign = csrf_token(another_client(client))
    client.get("/signin")
    response = client.post("/signin", data={"email": "a@example.org", "csrf_token": foreign})
    assert response.status_code == 403


def test_a_forged_token_is_refused(client: TestClient) -> None:
    client.get("/signin")
    for forged in ("x", "A" * 86, "", "é" * 10):
        response = client.post("/signin", data={"email": "a@example.org", "csrf_token": forged})
        assert response.status_code == 403


def test_a_foreign_origin_is_refused_even_with_the_token(client: TestClient) -> None:
    token = csrf_token(client)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ):
        response = client.post(
            "/signin", data={"email": "a@example.org", "csrf_token": token}, headers=headers
        )
        assert response.status_code == 403, headers
        assert "ne vient pas de ce site" in response.text
    assert _mail_count(client) == 0


def test_same_origin_with_the_token_is_accepted(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post(
        "/signin",
        data={"email": "a@example.org", "csrf_token": token},
        headers={"Origin": "http://testserver", "Referer": "http://testserver/signin"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_json_requests_use_the_header(client: TestClient) -> None:
    without = client.post("/api/signin", json={"email": "a@example.org"})
    assert without.status_code == 403
    assert without.json()["error"]["status"] == 403
    token = csrf_token(client)
    ok = client.post(
        "/api/signin", json={"email": "a@example.org"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 202


def test_tokens_change_at_sign_in(client: TestClient) -> None:
    before = csrf_token(client)
    sign_in(client, "rotate@example.org")
    response = client.post(
        "/account", data={"display_name": "x", "csrf_token": before}, follow_redirects=False
    )
    assert response.status_code == 403


def test_pages_carry_the_token_in_forms(client: TestClient) -> None:
    page = client.get("/signin")
    assert page.text.count('name="csrf_token"') == 2


def test_sign_in_requests_are_rate_limited(client: TestClient) -> None:
    statuses = [
        post_form(client, "/signin", {"email": "flood@example.org"}).status_code for _ in range(7)
    ]
    assert statuses[:5] == [303] * 5
    assert statuses[5] == 429
    limited = post_form(client, "/signin", {"email": "flood@example.org"})
    wait = int(limited.headers["retry-after"])
    assert wait > 0
    assert _mail_count(client) == 5
    # The page says how long to wait (the window is 15 minutes, not "a moment").
    minutes = -(-wait // 60)
    assert f"Trop de requêtes : réessayez dans {minutes} min." in limited.text
    english = post_form(
        client, "/signin", {"email": "flood@example.org"}, headers={"Accept-Language": "en"}
    )
    assert "Too many requests: try again in " in english.text


def test_rate_limit_per_ip_across_addresses(client: TestClient) -> None:
    statuses = [
        post_form(client, "/signin", {"email": f"p{n}@example.org"}).status_code for n in range(21)
    ]
    assert statuses.count(429) == 1 and statuses[-1] == 429


def test_sliding_window_forgets_old_hits() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.hit("b", "k", 2, 60) for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.hit("b", "k", 2, 60) > 0
    now[0] += 61
    assert limiter.hit("b", "k", 2, 60) == 0.0
    assert limiter.hit("b", "other", 2, 60) == 0.0


def test_rate_limit_helper_counts_per_account(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from web.ratelimit import rate_limit

    async def support(request: Request) -> PlainTextResponse:
        await rate_limit(request, "support", 2, 60)
        return PlainTextResponse("ok")

    client.app.router.routes.insert(0, Route("/test-support", support, methods=["POST"]))  # type: ignore[attr-defined]
    sign_in(client, "s@example.org")
    # A stopped clock: however slow the requests, they all fall in the same 60 s window.
    monkeypatch.setattr(limiter_for(client.app), "clock", lambda: 1000.0)
    assert [post_form(client, "/test-support").status_code for _ in range(3)] == [200, 200, 429]
    limiter_for(client.app).windows.pop(("support", "ip:testclient"))
    assert post_form(client, "/test-support").status_code == 429  # the account is still over


def test_an_oversized_body_is_refused_with_413(client: TestClient) -> None:
    token = csrf_token(client)
    big = "a" * (2 * 1024 * 1024 + 10)
    response = client.post("/signin", data={"email": big, "csrf_token": token})
    assert response.status_code == 413
    assert _mail_count(client) == 0


def test_an_oversized_chunked_body_is_refused_with_413(client: TestClient) -> None:
    token = csrf_token(client)

    def chunks():  # no Content-Length: the limit applies while reading
        yield b"csrf_token=" + token.encode() + b"&email="
        for _ in range(40):
            yield b"a" * 65536

    response = client.post(
        "/signin",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_an_oversized_email_is_an_inline_error(client: TestClient) -> None:
    response = post_form(client, "/signin", {"email": "a" * 300 + "@example.org"})
    assert response.status_code == 400
    assert "trop longue" in response.text
    assert _mail_count(client) == 0


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe garbage", b"csrf_token=%ZZ&&&==", b"--boundary\r\nnope"],
)
def test_malformed_bodies_never_cause_a_500(client: TestClient, body: bytes) -> None:
    token = csrf_token(client)
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=b"):
        response = client.post(
            "/signin",
            content=body,
            headers={"Content-Type": content_type, "X-CSRF-Token": token},
        )
        assert response.status_code in (400, 403), response.text
    bad_json = client.post(
        "/api/signin",
        content=b"{not json",
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )
    assert bad_json.status_code == 400


def test_a_display_name_with_script_is_escaped_everywhere(client: TestClient) -> None:
    organiser = another_client(client)
    sign_in(organiser, "orga@example.org", organiser=True)
    run_db(
        client,
        "INSERT INTO primaries (slug, title, definition)"
        " VALUES ('p', 'P', '{\"eligibility\": \"approval\"}')",
    )
    sign_in(client, "xss@example.org", name='"><script>alert(1)</script>')
    post_form(client, "/primaries/p/eligibility", {})
    page = organiser.get("/primaries/p/admin/eligibility")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_secure_cookies_can_be_required(settings, database_url) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from web.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(replace(settings, secure_cookies=True))
    with TestClient(app, base_url="https://testserver") as secure:
        response = secure.get("/api/session")
        assert "secure" in response.headers["set-cookie"].lower()
