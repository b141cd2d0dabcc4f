"""Behind a reverse proxy: the real client address and scheme, from headers we may believe.

A request's `X-Forwarded-For` / `X-Forwarded-Proto` (or, without them, RFC 7239 `Forwarded`)
headers are read only when the connection comes from an address listed in
SCRUTIN_FORWARDED_ALLOW_IPS, as uvicorn's `forwarded_allow_ips`. The client is then the
last address of the chain that is not itself a trusted proxy (anyone can put addresses on
the left of the chain; the proxies append on the right). Rate limits, the CSRF origin check
and the sign-in pages all see the rewritten `scope["client"]` and `scope["scheme"]`.

The proxy must set `X-Forwarded-For` (nginx: `$proxy_add_x_forwarded_for`); a proxy that
sets only `Forwarded` must drop any `X-Forwarded-For` sent by the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = {"http": "http", "https": "https", "ws": "ws", "wss": "wss"}
WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


class TrustedProxies:
    """The addresses and networks whose forwarding headers are believed ("*": all)."""

    def __init__(self, allowed: Iterable[str]) -> None:
        items = [item.strip() for item in allowed if item.strip()]
        self.everyone = "*" in items
        self.networks: list[Network] = [
            ipaddress.ip_network(item, strict=False) for item in items if item != "*"
        ]

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)

    def __contains__(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _forwarded_elements(value: str) -> list[dict[str, str]]:
    """RFC 7239 `Forwarded: for=…;proto=…, for=…` as a list of {parameter: value}."""
    elements = []
    for element in value.split(","):
        pairs: dict[str, str] = {}
        for pair in element.split(";"):
            name, sep, raw = pair.partition("=")
            if sep:
                pairs[name.strip().lower()] = raw.strip().strip('"')
        elements.append(pairs)
    return elements


def _node_address(node: str) -> str:
    """The address of a `for=` node: "[2001:db8::1]:4711" → "2001:db8::1", "1.2.3.4:80" →
    "1.2.3.4"; obfuscated names and "unknown" are kept as they are."""
    node = node.strip()
    if node.startswith("["):
        return node[1:].split("]", 1)[0]
    if node.count(":") == 1:
        return node.split(":", 1)[0]
    return node


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in scope.get("headers") or [] if k == name]
    return ", ".join(values) if values else None


def forwarded_client(scope: Scope, trusted: TrustedProxies) -> tuple[str | None, str | None]:
    """(client address, scheme) that the trusted proxies report, or None for each unknown."""
    chain: list[str] = []
    scheme: str | None = None
    forwarded_for = _header(scope, b"x-forwarded-for")
    if forwarded_for is not None:
        chain = [_node_address(node) for node in forwarded_for.split(",") if node.strip()]
        proto = _header(scope, b"x-forwarded-proto")
        if proto:
            scheme = proto.split(",")[-1].strip().lower()
    else:
        forwarded = _header(scope, b"forwarded")
        if forwarded is not None:
            elements = _forwarded_elements(forwarded)
            chain = [_node_address(e["for"]) for e in elements if e.get("for")]
            protos = [e["proto"] for e in elements if e.get("proto")]
            scheme = protos[-1].lower() if protos else None
        else:
            proto = _header(scope, b"x-forwarded-proto")
            scheme = proto.split(",")[-1].strip().lower() if proto else None
    client = None
    for address in reversed(chain):
        client = address
        if address not in trusted:
            break
    return client, SCHEMES.get(scheme or "")


class ProxyHeadersMiddleware:
    """Rewrites `scope["client"]` and `scope["scheme"]` for requests from trusted proxies."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            peer = scope.get("client")
            if peer and peer[0] in self.trusted:
                client, scheme = forwarded_client(scope, self.trusted)
                scope = dict(scope)
                if client is not None:
                    scope["client"] = (client, 0)
                if scheme is not None:
                    scope["scheme"] = (
                        WEBSOCKET_SCHEMES[scheme] if scope["type"] == "websocket" else scheme
                    )
        await self.app(scope, receive, send)
