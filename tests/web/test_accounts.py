"""Sign-in by e-mail (link and code), organiser passwords, sessions, my account."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import nacl.pwhash
from starlette.testclient import TestClient

from tests.fixtures.accounts import (
    LINK,
    another_client,
    last_mail,
    post_form,
    run_db,
    sign_in,
)
from web.ratelimit import limiter_for

CODE = re.compile(r"code : (\d{6})")


def _request_mail(client: TestClient, email: str) -> tuple[str, str]:
    limiter_for(client.app).reset("signin")
    response = post_form(client, "/signin", {"email": email})
    assert response.status_code == 303
    assert response.headers["location"] == "/signin/code"
    _, body = last_mail(client, email)
    token = LINK.search(body)
    code = CODE.search(body)
    assert token and code
    return token.group(1), code.group(1)


def test_sign_in_with_the_link_creates_a_verified_account(client: TestClient) -> None:
    account = sign_in(client, "Nouvelle@Example.org")
    assert account.email == "nouvelle@example.org"
    assert not account.is_organiser
    row = run_db(client, "SELECT email_verified_at FROM accounts WHERE id = $1", account.id)[0]
    assert row["email_verified_at"] is not None
    page = client.get("/account")
    assert page.status_code == 200
    assert "nouvelle@example.org" in page.text


def test_sign_in_with_the_code(client: TestClient) -> None:
    _, code = _request_mail(client, "code@example.org")
    page = client.get("/signin/code")
    assert "code@example.org" in page.text
    response = post_form(client, "/signin/code", {"email": "code@example.org", "code": code})
    assert response.status_code == 303
    assert client.get("/api/session").json()["account"]["email"] == "code@example.org"


def test_a_wrong_code_is_refused_inline_and_keeps_the_address(client: TestClient) -> None:
    _, code = _request_mail(client, "code@example.org")
    wrong = "000000" if code != "000000" else "111111"
    response = post_form(client, "/signin/code", {"email": "code@example.org", "code": wrong})
    assert response.status_code == 400
    assert "Ce code n’est pas valable" in response.text
    assert 'value="code@example.org"' in response.text
    assert client.get("/api/session").json()["account"] is None


def test_codes_die_after_five_wrong_tries(client: TestClient) -> None:
    _, code = _request_mail(client, "code@example.org")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        post_form(client, "/signin/code", {"email": "code@example.org", "code": wrong})
    limited = post_form(client, "/signin/code", {"email": "code@example.org", "code": code})
    assert limited.status_code == 429  # the per-address rate limit answers first
    limiter_for(client.app).reset("signin")
    response = post_form(client, "/signin/code", {"email": "code@example.org", "code": code})
    assert response.status_code == 400  # and the code itself is dead


def test_the_link_is_single_use(client: TestClient) -> None:
    token, _ = _request_mail(client, "once@example.org")
    assert post_form(client, "/signin/link", {"token": token}).status_code == 303
    other = another_client(client)
    second = post_form(other, "/signin/link", {"token": token})
    assert second.status_code == 400
    assert "n’est plus valable" in second.text
    assert other.get("/api/session").json()["account"] is None


def test_the_code_is_single_use_and_dies_with_the_link(client: TestClient) -> None:
    token, code = _request_mail(client, "once@example.org")
    assert post_form(client, "/signin/link", {"token": token}).status_code == 303
    other = another_client(client)
    response = post_form(other, "/signin/code", {"email": "once@example.org", "code": code})
    assert response.status_code == 400


def test_an_expired_link_and_code_are_refused(client: TestClient) -> None:
    token, code = _request_mail(client, "late@example.org")
    run_db(
        client,
        "UPDATE signin_tokens SET expires_at = $1 WHERE email = 'late@example.org'",
        datetime.now(UTC) - timedelta(seconds=1),
    )
    assert post_form(client, "/signin/link", {"token": token}).status_code == 400
    response = post_form(client, "/signin/code", {"email": "late@example.org", "code": code})
    assert response.status_code == 400
    assert client.get("/api/session").json()["account"] is None


def test_older_links_die_once_the_account_signed_in(client: TestClient) -> None:
    first, _ = _request_mail(client, "twice@example.org")
    second, _ = _request_mail(client, "twice@example.org")
    assert post_form(client, "/signin/link", {"token": second}).status_code == 303
    other = another_client(client)
    assert post_form(other, "/signin/link", {"token": first}).status_code == 400


def test_a_password_sign_in_kills_pending_links(client: TestClient) -> None:
    _set_password(client, "orga@example.org", "un mot de passe solide")
    token, _ = _request_mail(client, "orga@example.org")
    other = another_client(client)
    response = post_form(
        other,
        "/signin/password",
        {"organiser_email": "orga@example.org", "password": "un mot de passe solide"},
    )
    assert response.status_code == 303
    assert post_form(client, "/signin/link", {"token": token}).status_code == 400


def test_the_link_page_does_not_spend_the_token(client: TestClient) -> None:
    token, _ = _request_mail(client, "scanner@example.org")
    for _ in range(3):  # mail scanners open links
        page = client.get(f"/signin/link?token={token}")
        assert page.status_code == 200
    assert post_form(client, "/signin/link", {"token": token}).status_code == 303


def test_the_link_page_says_which_account_it_signs_into(client: TestClient) -> None:
    token, _ = _request_mail(client, "marie.curie@example.org")
    page = client.get(f"/signin/link?token={token}")
    assert "Ce lien vous connecte au compte <strong>ma•••@example.org</strong>" in page.text
    assert "marie.curie" not in page.text  # partly masked
    english = client.get(f"/signin/link?token={token}", headers={"accept-language": "en"})
    assert "This link signs you into the account <strong>ma•••@example.org</strong>" in (
        english.text
    )
    assert post_form(client, "/signin/link", {"token": token}).status_code == 303
    spent = client.get(f"/signin/link?token={token}")
    assert "n’est plus valable" in spent.text and 'name="token"' not in spent.text
    assert 'href="/signin"' in spent.text


def test_signin_mail_asks_nothing_about_existing_accounts(client: TestClient) -> None:
    sign_in(client, "exists@example.org")
    other = another_client(client)
    a = post_form(other, "/signin", {"email": "exists@example.org"})
    b = post_form(other, "/signin", {"email": "absent@example.org"})
    assert a.status_code == b.status_code == 303


def test_an_invalid_address_is_refused_inline(client: TestClient) -> None:
    response = post_form(client, "/signin", {"email": "pas une adresse"})
    assert response.status_code == 400
    assert "Saisissez une adresse électronique valide" in response.text
    assert 'value="pas une adresse"' in response.text
    assert run_db(client, "SELECT count(*) AS n FROM mail_queue")[0]["n"] == 0


def _set_password(client: TestClient, email: str, password: str, organiser: bool = True) -> None:
    hashed = nacl.pwhash.argon2id.str(password.encode()).decode()
    run_db(
        client,
        "INSERT INTO accounts (email, is_organiser, password_hash, email_verified_at)"
        " VALUES ($1, $2, $3, now())",
        email,
        organiser,
        hashed,
    )


def test_organiser_password_sign_in(client: TestClient) -> None:
    _set_password(client, "orga@example.org", "un mot de passe solide")
    response = post_form(
        client,
        "/signin/password",
        {"organiser_email": "orga@example.org", "password": "un mot de passe solide", "next": "/"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    account = client.get("/api/session").json()["account"]
    assert account["is_organiser"] is True


def test_wrong_password_and_unknown_account_get_the_same_answer(client: TestClient) -> None:
    _set_password(client, "orga@example.org", "un mot de passe solide")
    wrong = post_form(
        client, "/signin/password", {"organiser_email": "orga@example.org", "password": "faux"}
    )
    unknown = post_form(
        client, "/signin/password", {"organiser_email": "qui@example.org", "password": "faux"}
    )
    assert wrong.status_code == unknown.status_code == 400
    message = "Adresse électronique ou mot de passe incorrect."
    assert message in wrong.text and message in unknown.text
    assert 'value="orga@example.org"' in wrong.text
    assert client.get("/api/session").json()["account"] is None


def test_next_is_kept_and_never_an_open_redirect(client: TestClient) -> None:
    _set_password(client, "orga@example.org", "un mot de passe solide")
    response = post_form(
        client,
        "/signin/password",
        {
            "organiser_email": "orga@example.org",
            "password": "un mot de passe solide",
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/account"


def test_session_cookie_is_httponly_and_samesite(client: TestClient) -> None:
    limiter_for(client.app).reset("signin")
    token, _ = _request_mail(client, "cookie@example.org")
    response = post_form(client, "/signin/link", {"token": token})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("scrutin_session=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # only with SCRUTIN_SECURE_COOKIES=true


def test_sign_out_ends_the_session_for_good(client: TestClient) -> None:
    sign_in(client, "bye@example.org")
    stolen = dict(client.cookies)
    response = post_form(client, "/signout", {})
    assert response.status_code == 303
    assert client.get("/api/session").json()["account"] is None
    replay = another_client(client)
    for name, value in stolen.items():
        replay.cookies.set(name, value)
    assert replay.get("/api/session").json()["account"] is None


def test_sign_out_needs_a_post(client: TestClient) -> None:
    sign_in(client, "stay@example.org")
    assert client.get("/signout").status_code == 405
    assert client.get("/api/session").json()["account"] is not None


def test_account_page_requires_sign_in(client: TestClient) -> None:
    response = client.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/account"


def test_display_name_is_editable_and_escaped(client: TestClient) -> None:
    sign_in(client, "nom@example.org", name="<script>alert(1)</script> Zoé")
    page = client.get("/account")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Zoé" in page.text


def test_an_oversized_display_name_is_refused_inline_and_nothing_is_stored(
    client: TestClient,
) -> None:
    sign_in(client, "long@example.org", name="Avant")
    response = post_form(client, "/account", {"display_name": "x" * 121})
    assert response.status_code == 400
    assert "Ce champ est trop long." in response.text
    assert 'value="' + "x" * 121 + '"' in response.text
    rows = run_db(client, "SELECT display_name FROM accounts WHERE email = 'long@example.org'")
    assert rows[0]["display_name"] == "Avant"


def test_account_page_shows_supports_and_candidacy_inline(client: TestClient) -> None:
    sign_in(client, "inline@example.org")
    page = client.get("/account")
    assert page.status_code == 200
    assert "Mes soutiens" in page.text and "Vous ne soutenez aucun candidat" in page.text
    assert "Vous n’avez déclaré aucune candidature." in page.text
    assert "Mot de passe" not in page.text  # citizens sign in by e-mail only


def test_english_sign_in_page(client: TestClient) -> None:
    page = client.get("/signin", headers={"Accept-Language": "en"})
    assert "Organiser: password" in page.text
    assert "Se connecter" not in page.text


def test_api_session_and_json_sign_in(client: TestClient) -> None:
    from tests.fixtures.accounts import api_request

    limiter_for(client.app).reset("signin")
    bad = api_request(client, "POST", "/api/signin", json={"email": "nope"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "email"
    not_object = api_request(client, "POST", "/api/signin", json=["x"])
    assert not_object.status_code == 400
    sent = api_request(client, "POST", "/api/signin", json={"email": "api@example.org"})
    assert sent.status_code == 202
    _, body = last_mail(client, "api@example.org")
    code = CODE.search(body)
    assert code
    wrong = api_request(
        client, "POST", "/api/signin/code", json={"email": "api@example.org", "code": "12"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "code"
    done = api_request(
        client,
        "POST",
        "/api/signin/code",
        json={"email": "api@example.org", "code": code.group(1)},
    )
    assert done.status_code == 200
    assert done.json()["account"]["email"] == "api@example.org"
    assert client.get("/api/session").json()["signed_in"] is True


def test_api_routes_answer_401_not_a_redirect(client: TestClient) -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from web.auth import require_account, require_organiser

    async def me(request: Request) -> JSONResponse:
        user = await require_account(request)
        return JSONResponse({"email": user.email})

    async def admin(request: Request) -> JSONResponse:
        await require_organiser(request)
        return JSONResponse({})

    client.app.router.routes.insert(0, Route("/api/test-me", me))  # type: ignore[attr-defined]
    client.app.router.routes.insert(0, Route("/test-admin", admin))  # type: ignore[attr-defined]
    response = client.get("/api/test-me")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert client.get("/test-admin", follow_redirects=False).status_code == 303
    sign_in(client, "me@example.org")
    assert client.get("/api/test-me").json() == {"email": "me@example.org"}
    assert client.get("/test-admin").status_code == 403
