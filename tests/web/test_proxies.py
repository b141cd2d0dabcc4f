"""Behind a reverse proxy: forms accepted from the public https origin, HSTS, and limits per
real client address (the address the trusted proxy reports, never a header anyone can send)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from tests.fixtures.accounts import csrf_token
from web.app import create_app
from web.ratelimit import SIGNIN_LIMIT_PER_IP
from web.settings import Settings, SettingsError, load_settings

PUBLIC = "https://vote.example"
# What the app sees behind the proxy: plain http from the proxy's loopback address.
BEHIND = "http://127.0.0.1:8000"


@pytest.fixture
def proxied(settings: Settings) -> Iterator[TestClient]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    behind_proxy = replace(settings, public_url=PUBLIC, forwarded_allow_ips=("127.0.0.1",))
    app = create_app(behind_proxy)
    with TestClient(app, base_url=BEHIND, client=("127.0.0.1", 41000)) as client:
        yield client


def _signin(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/signin",
        data={"email": f"v-{uuid.uuid4().hex[:8]}@example.org", "csrf_token": csrf_token(client)},
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code


def test_a_browser_form_sent_from_the_public_https_address_is_accepted(
    proxied: TestClient,
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"}
    status = _signin(proxied, {**forwarded, "Origin": PUBLIC, "Referer": PUBLIC + "/signin"})
    assert status == 303
    # Another site is still refused, with the token.
    assert _signin(proxied, {**forwarded, "Origin": "https://evil.example"}) == 403


def test_hsts_is_sent_when_the_public_address_is_https(
    proxied: TestClient, client: TestClient
) -> None:
    assert proxied.get("/").headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in client.get("/").headers


def test_sign_in_limits_count_each_voter_behind_the_proxy_on_their_own(
    proxied: TestClient,
) -> None:
    limit = SIGNIN_LIMIT_PER_IP[0]
    first = {"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
    for _ in range(limit):
        assert _signin(proxied, first) == 303
    assert _signin(proxied, first) == 429
    # Another voter, through the same proxy, is not blocked by the first one.
    assert _signin(proxied, {"X-Forwarded-For": "198.51.100.2"}) == 303
    # RFC 7239 Forwarded, when the proxy sends it instead.
    assert _signin(proxied, {"Forwarded": 'for="198.51.100.1:5000";proto=https'}) == 429
    assert _signin(proxied, {"Forwarded": "for=198.51.100.3;proto=https"}) == 303


def test_a_client_cannot_escape_the_limits_by_sending_forwarding_headers(
    settings: Settings,
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(replace(settings, forwarded_allow_ips=("127.0.0.1",)))
    # Connected from its own address, not from the trusted proxy.
    with TestClient(app, client=("192.0.2.9", 40000)) as client:
        for _ in range(SIGNIN_LIMIT_PER_IP[0]):
            assert _signin(client, {"X-Forwarded-For": f"10.0.0.{uuid.uuid4().int % 250}"}) == 303
        assert _signin(client, {"X-Forwarded-For": "10.1.1.1"}) == 429


def test_through_the_proxy_a_forged_address_on_the_left_of_the_chain_is_ignored(
    proxied: TestClient,
) -> None:
    # The proxy appends the real address; whatever the client wrote before it is not believed.
    for _ in range(SIGNIN_LIMIT_PER_IP[0]):
        forged = f"10.0.0.{uuid.uuid4().int % 250}, 198.51.100.7"
        assert _signin(proxied, {"X-Forwarded-For": forged}) == 303
    assert _signin(proxied, {"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}) == 429


def test_trusted_proxies_are_read_from_the_environment() -> None:
    settings = load_settings({"SCRUTIN_FORWARDED_ALLOW_IPS": "127.0.0.1, 10.0.0.0/8,::1"})
    assert settings.forwarded_allow_ips == ("127.0.0.1", "10.0.0.0/8", "::1")
    assert load_settings({}).forwarded_allow_ips == ()
    with pytest.raises(SettingsError, match="SCRUTIN_FORWARDED_ALLOW_IPS"):
        load_settings({"SCRUTIN_FORWARDED_ALLOW_IPS": "proxy.example"})
