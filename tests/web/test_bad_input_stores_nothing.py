"""Bad input on every HTML form and every API write of accounts, primaries, candidacies and
supports: each field oversized in turn, malformed bodies, and `<script>` payloads.

Oversized and malformed input must be refused (4xx) with nothing stored: the rows of every
table these features write are unchanged (compared by content, not only counted), and so
are the log and the mail queue. A `<script>` payload is either refused the same way or, when
it is acceptable text (a name, a reason), stored and shown escaped on every page that shows
it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import another_client, api_request, csrf_token, post_form, run_db
from tests.fixtures.accounts import sign_in as sign_in_browser
from tests.fixtures.candidacies import declare
from tests.fixtures.primaries import create_primary_http, primary_form
from web.ratelimit import limiter_for

SCRIPT = "<script>alert(1)</script>"
HUGE = "x" * 60_000
CONTENT_TABLES = (
    "accounts", "primaries", "primary_definitions", "candidacies", "candidacy_versions",
    "supports", "eligibility_entries", "eligibility_requests",
)  # fmt: skip
MALFORMED_MULTIPART = b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nunterminated'
MALFORMED_JSON = (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe{}", b'{"a": 1, "a": }')


def snapshot(client: TestClient) -> dict[str, Any]:
    """Every row these features write (by content), the mail queue and the log (by count)."""
    state: dict[str, Any] = {}
    for table in CONTENT_TABLES:
        state[table] = run_db(
            client,
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest "
            f"FROM {table} t",
        )[0]["digest"]
    row = run_db(
        client,
        "SELECT (SELECT count(*) FROM mail_queue) AS mail,"
        " (SELECT count(*) FROM signin_tokens) AS tokens,"
        " (SELECT count(*) FROM log_entries) + (SELECT count(*) FROM log_queue) AS log",
    )[0]
    state.update(dict(row))
    return state


@dataclass
class World:
    anonymous: TestClient
    citizen: TestClient
    organiser: TestClient
    published: str  # the citizen's candidacy, collecting supports
    submitted: str  # another citizen's candidacy, awaiting moderation
    pages: list[str] = field(default_factory=list)

    def browser(self, who: str) -> TestClient:
        return {"anon": self.anonymous, "citizen": self.citizen, "organiser": self.organiser}[who]


@pytest.fixture
def world(client: TestClient) -> World:
    organiser = another_client(client)
    sign_in_browser(organiser, "orga@example.org", organiser=True)
    citizen = another_client(client)
    sign_in_browser(citizen, "camille@example.org")
    create_primary_http(organiser)
    published = declare(citizen)
    assert post_form(organiser, f"/primaries/ville/admin/candidacies/{published}/accept"
                     ).status_code == 303  # fmt: skip
    other = another_client(client)
    sign_in_browser(other, "dominique@example.org")
    submitted = declare(other, name="Dominique")
    pages = [
        "/primaries/ville", "/primaries/ville/candidates",
        f"/primaries/ville/candidates/{published}", f"/primaries/ville/candidates/{submitted}",
        "/primaries/ville/admin", "/primaries/ville/admin/candidacies",
        "/primaries/ville/admin/eligibility", "/account", "/api/account",
        "/api/primaries/ville", "/api/primaries/ville/candidacies",
    ]  # fmt: skip
    return World(client, citizen, organiser, published, submitted, pages)


@dataclass(frozen=True)
class Form:
    url: str
    who: str
    fields: dict[str, str]  # valid values; each text field is made bad in turn
    text: tuple[str, ...] = ()  # fields that take free text (others are choices or flags)


DEFINITION_TEXT = (
    "title", "slug", "description", "charter", "threshold", "support_cap", "qualification",
    "grades_preset", "grades_custom", "rule", "missing", "default_grade", "subset_size",
    "eligibility", "candidacies_start", "supports_end",
)  # fmt: skip
FORMS = [
    Form("/signin", "anon", {"email": "new@example.org", "next": "/"}, ("email", "next")),
    Form("/signin/code", "anon", {"email": "new@example.org", "code": "123456"},
         ("email", "code")),
    Form("/signin/link", "anon", {"token": "abc"}, ("token",)),
    Form("/signin/password", "anon",
         {"organiser_email": "orga@example.org", "password": "pas le bon", "next": "/"},
         ("organiser_email", "password", "next")),
    Form("/account", "citizen", {"display_name": "Camille"}, ("display_name",)),
    Form("/primaries/ville/eligibility/claim", "citizen",
         {"voter_number": "FR-1", "code": "AAAA-BBBB-CCCC"}, ("voter_number", "code")),
    Form("/account/password", "organiser",
         {"current_password": "", "new_password": "0123456789ab",
          "new_password_again": "0123456789ab"},
         ("current_password", "new_password", "new_password_again")),
    Form("/primaries/ville/eligibility", "citizen", {}, ()),
    Form("/primaries/ville/admin/eligibility/import", "organiser",
         {"entries": "a@example.org"}, ("entries",)),
    Form("/primaries/ville/admin/eligibility/decide", "organiser",
         {"account_id": "00000000-0000-0000-0000-000000000000", "decision": "approve"},
         ("account_id", "decision")),
    Form("/primaries/new", "organiser", primary_form("autre"), DEFINITION_TEXT),
    Form("/primaries/ville/admin", "organiser", primary_form("ville", threshold="3"),
         DEFINITION_TEXT),
    Form("/primaries/ville/admin/close-supports", "organiser", {}, ()),
    Form("/primaries/ville/admin/candidacies/{submitted}/reject", "organiser",
         {"reason": "Hors charte"}, ("reason",)),
    Form("/primaries/ville/admin/candidacies/{published}/exclude", "organiser",
         {"reason": "Fraude"}, ("reason",)),
    Form("/primaries/ville/declare", "organiser",
         {"name": "Olga", "bio": "Bio", "programme": "Prog", "links": "https://o.example",
          "charter": "on"}, ("name", "bio", "programme", "links")),
    Form("/primaries/ville/candidates/{published}/edit", "citizen",
         {"name": "Léa", "bio": "Bio", "programme": "Prog", "links": "https://l.example"},
         ("name", "bio", "programme", "links")),
    Form("/primaries/ville/candidates/{published}/withdraw", "citizen", {"reason": "Raison"},
         ("reason",)),
    Form("/primaries/ville/candidates/{published}/support", "citizen", {}, ()),
    Form("/primaries/ville/candidates/{published}/unsupport", "citizen", {}, ()),
]  # fmt: skip


def _refused_with_nothing_stored(
    world: World, client: TestClient, response: Any, before: dict[str, Any], what: str
) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    assert SCRIPT not in response.text, what
    assert snapshot(client) == before, what


def _shown_escaped(world: World, what: str) -> None:
    """No page shows the payload as markup (JSON answers carry text, as JSON)."""
    for page in world.pages:
        for who in ("anon", "citizen", "organiser"):
            response = world.browser(who).get(page)
            if page.startswith("/api/"):
                assert response.headers["content-type"] == "application/json", page
                continue
            assert SCRIPT not in response.text, (what, page, who)


@pytest.mark.parametrize("form", FORMS, ids=[f.url for f in FORMS])
def test_html_form_refuses_bad_input_and_stores_nothing(
    client: TestClient, world: World, form: Form
) -> None:
    url = form.url.format(published=world.published, submitted=world.submitted)
    browser = world.browser(form.who)
    before = snapshot(client)
    for name in form.text:
        limiter_for(client.app).reset()
        response = post_form(browser, url, {**form.fields, name: HUGE})
        _refused_with_nothing_stored(world, client, response, before, f"{url} oversized {name}")

    token = csrf_token(browser)
    for body, content_type in (
        (MALFORMED_MULTIPART, "multipart/form-data; boundary=xyz"),
        (b"--nope", "multipart/form-data"),
        (b"a" * (2 * 1024 * 1024 + 1), "application/x-www-form-urlencoded"),
    ):
        response = browser.post(
            url, content=body, headers={"Content-Type": content_type, "X-CSRF-Token": token},
            follow_redirects=False,
        )  # fmt: skip
        if form.fields:  # routes without fields have nothing to misread (checked below)
            _refused_with_nothing_stored(world, client, response, before, f"{url} malformed")
        else:
            assert response.status_code < 500, url

    if form.text:
        limiter_for(client.app).reset()
        response = post_form(browser, url, {**form.fields, **dict.fromkeys(form.text, SCRIPT)})
        assert response.status_code < 500, (url, response.text[:300])
        assert SCRIPT not in response.text, url
        if response.status_code >= 400:
            assert snapshot(client) == before, f"{url} script"
        _shown_escaped(world, f"{url} script")


@dataclass(frozen=True)
class Write:
    method: str
    url: str
    who: str
    body: dict[str, Any]  # a valid body; each string member is made bad in turn
    text: tuple[str, ...] = ()


WRITES = [
    Write("POST", "/api/signin", "anon", {"email": "new@example.org"}, ("email",)),
    Write("POST", "/api/signin/code", "anon", {"email": "new@example.org", "code": "123456"},
          ("email", "code")),
    Write("PATCH", "/api/account", "citizen", {"display_name": "Camille"}, ("display_name",)),
    Write("POST", "/api/primaries/ville/eligibility/claim", "citizen",
          {"voter_number": "FR-1", "code": "AAAA-BBBB-CCCC"}, ("voter_number", "code")),
    Write("POST", "/api/account/password", "organiser",
          {"current_password": "", "new_password": "0123456789ab"},
          ("current_password", "new_password")),
    Write("POST", "/api/primaries", "organiser",
          {"title": "Autre", "slug": "autre", "description": "", "charter": "",
           "phases": None}, ("title", "slug", "description", "charter")),
    Write("PUT", "/api/primaries/ville/definition", "organiser",
          {"title": "Ville", "description": "D", "charter": "C", "threshold": 3},
          ("title", "description", "charter")),
    Write("POST", "/api/primaries/ville/close-supports", "organiser", {}, ()),
    Write("POST", "/api/primaries/ville/candidacies", "organiser",
          {"name": "Olga", "bio": "B", "programme": "P", "links": ["https://o.example"],
           "charter_accepted": True}, ("name", "bio", "programme")),
    Write("PATCH", "/api/candidacies/{published}", "citizen",
          {"name": "Léa", "bio": "B", "programme": "P"}, ("name", "bio", "programme")),
    Write("POST", "/api/candidacies/{submitted}/reject", "organiser", {"reason": "Non"},
          ("reason",)),
    Write("POST", "/api/candidacies/{published}/exclude", "organiser", {"reason": "Non"},
          ("reason",)),
    Write("POST", "/api/candidacies/{published}/withdraw", "citizen", {"reason": "Non"},
          ("reason",)),
    Write("POST", "/api/candidacies/{published}/support", "citizen", {}, ()),
    Write("DELETE", "/api/candidacies/{published}/support", "citizen", {}, ()),
    Write("DELETE", "/api/candidacies/{published}/photo", "citizen", {}, ()),
]  # fmt: skip


@pytest.mark.parametrize("write", WRITES, ids=[f"{w.method} {w.url}" for w in WRITES])
def test_api_write_refuses_bad_input_and_stores_nothing(
    client: TestClient, world: World, write: Write
) -> None:
    url = write.url.format(published=world.published, submitted=world.submitted)
    browser = world.browser(write.who)
    body = dict(write.body)
    if body.get("phases", 0) is None:
        body["phases"] = client.get("/api/primaries/ville").json()["definition"]["phases"]
    before = snapshot(client)

    def send(payload: Any = None, content: bytes | None = None) -> Any:
        limiter_for(client.app).reset()
        if content is not None:
            return api_request(
                browser, write.method, url, content=content,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
        return api_request(browser, write.method, url, payload)

    for name in write.text:
        response = send({**body, name: HUGE})
        _refused_with_nothing_stored(world, client, response, before, f"{url} oversized {name}")
        error = response.json()["error"]
        assert error["status"] == response.status_code and error["message"]
    for content in (*MALFORMED_JSON, b"{" + b'"x": "' + b"y" * (2 * 1024 * 1024) + b'"}'):
        response = send(content=content)
        _refused_with_nothing_stored(world, client, response, before, f"{url} {content[:12]!r}")
        assert response.json()["error"]["message"]
    unknown = send({**body, "<b>unknown</b>" + "z" * 500: 1})
    _refused_with_nothing_stored(world, client, unknown, before, f"{url} unknown member")
    for name in write.text:
        surrogate = send(content=b'{"' + name.encode() + b'": "\\ud800"}')
        assert surrogate.status_code < 500, (url, name, surrogate.text)
    assert snapshot(client) == before or write.text  # a lone surrogate may be refused…

    if write.text:
        response = send({**body, **dict.fromkeys(write.text, SCRIPT)})
        assert response.status_code < 500, (url, response.text[:300])
        _shown_escaped(world, f"{url} script")


def test_photo_put_refuses_bad_bodies_and_stores_nothing(client: TestClient, world: World) -> None:
    url = f"/api/candidacies/{world.published}/photo"
    before = snapshot(client)
    for content, content_type, status in (
        (SCRIPT.encode(), "image/png", 422),
        (b"<svg onload=alert(1)>", "image/svg+xml", 415),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "image/png", 413),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024 + 1), "image/png", 413),
        (b"\xff\xd8\xff" + b"\x00" * 10, "image/png", 422),
        (b"", "image/jpeg", 422),
    ):
        response = api_request(
            world.citizen, "PUT", url, content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == status, (content_type, len(content), response.text[:200])
        assert snapshot(client) == before
