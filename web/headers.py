"""Security headers on every response: a strict CSP (no inline script or style anywhere)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


# Sent when SCRUTIN_PUBLIC_URL is https: browsers then refuse plain http for a year.
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=31536000")


# Pages with a secret or personal data must not be kept by the browser's history cache, a
# shared computer's disk or a proxy: every answer to a signed-in person (the tally key,
# account and eligibility pages, receipts…), the sign-in pages (a link token in the form),
# and any answer that sets a cookie. Public files (static, log tiles) set their own policy
# or are not concerned.
NO_STORE = (b"cache-control", b"no-store")
PRIVATE_PATHS = ("/signin", "/account", "/demo/outbox", "/api/session")
PUBLIC_PATHS = ("/static/",)


def _private(scope: Scope, present: set[bytes]) -> bool:
    path = scope.get("path", "")
    if path.startswith(PUBLIC_PATHS):
        return False
    return (
        scope.get("user") is not None or b"set-cookie" in present or path.startswith(PRIVATE_PATHS)
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = SECURITY_HEADERS + ([STRICT_TRANSPORT_SECURITY] if hsts else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                if b"cache-control" not in present and _private(scope, present):
                    extra.append(NO_STORE)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
