"""CSRF protection for every state-changing request (POST, PUT, PATCH, DELETE).

Two checks, both required:
- when the browser says where the request comes from (`Origin`, else `Referer`), it must be
  this site;
- the request carries the session's CSRF token, in the form field `csrf_token` or the
  `X-CSRF-Token` header. Templates add the field with `{{ csrf_input() }}`; scripts and API
  clients read the token from `GET /api/session`.

The token is a per-session secret kept in the signed session cookie; each page gets it
masked with fresh random bytes (as Django does) so that it never appears twice the same.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voting.refusals import _
from web import errors

FIELD_NAME = "csrf_token"
HEADER_NAME = "x-csrf-token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Paths whose POST carries its own permission, a signed token in the URL, and must work from a
# mail client without a session (RFC 8058 one-click unsubscribe, web/views/notifications.py).
TOKEN_IN_URL_PATHS = frozenset({"/unsubscribe"})
SECRET_BYTES = 32


TOKEN_REFUSED = _("Jeton de sécurité manquant ou périmé : rechargez la page et réessayez.")
ORIGIN_REFUSED = _("Requête refusée : elle ne vient pas de ce site.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _session_secret(scope: Scope, *, create: bool) -> bytes | None:
    session = scope.get("session")
    if session is None:
        return None
    value = session.get(SESSION_KEY)
    try:
        secret = _unb64(value) if isinstance(value, str) else b""
    except (ValueError, TypeError):
        secret = b""
    if len(secret) == SECRET_BYTES:
        return secret
    if not create:
        return None
    secret = secrets.token_bytes(SECRET_BYTES)
    session[SESSION_KEY] = _b64(secret)
    return secret


def csrf_token(request: Request) -> str:
    """A masked CSRF token for the current session (creates the session secret if needed)."""
    secret = _session_secret(request.scope, create=True)
    if secret is None:
        raise RuntimeError("CSRF tokens need the session middleware")
    mask = secrets.token_bytes(SECRET_BYTES)
    return _b64(mask + bytes(a ^ b for a, b in zip(mask, secret, strict=True)))


def csrf_input(request: Request) -> Markup:
    """The hidden form field, for `{{ csrf_input() }}` in templates."""
    if request.scope.get("session") is None:
        return Markup("")  # pages rendered before the session exists (413 errors) have no forms
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        FIELD_NAME, escape(csrf_token(request))
    )


def rotate(request: Request) -> None:
    """A new secret (at sign-in and sign-out), so that a token seen before is worthless."""
    request.session[SESSION_KEY] = _b64(secrets.token_bytes(SECRET_BYTES))


def token_matches(scope: Scope, token: str | None) -> bool:
    secret = _session_secret(scope, create=False)
    if secret is None or not token or len(token) > 200:
        return False
    try:
        raw = _unb64(token)
    except (ValueError, TypeError):
        return False
    if len(raw) != 2 * SECRET_BYTES:
        return False
    mask, masked = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    candidate = bytes(a ^ b for a, b in zip(mask, masked, strict=True))
    return hmac.compare_digest(candidate, secret)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _own_origins(request: Request) -> set[str]:
    """This site as the browser names it: SCRUTIN_PUBLIC_URL's origin when set (behind a
    proxy the browser says https://public.example while the app is reached over http), and
    the address the request was sent to."""
    own = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    settings = getattr(request.app.state, "settings", None) if "app" in request.scope else None
    public = getattr(settings, "public_origin", None)
    if public:
        own.add(public)
    return own


def same_origin(request: Request) -> bool:
    """False when Origin (or, without it, Referer) names another site; True when absent."""
    own = _own_origins(request)
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip().lower() in own
    referer = request.headers.get("referer")
    if referer:
        return _origin_of(referer) in own
    return True


class CSRFMiddleware:
    """Refuses unsafe requests from elsewhere or without the session's token (403)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not same_origin(request):
            await self._refuse(scope, receive, send, ORIGIN_REFUSED)
            return
        if scope["path"] in TOKEN_IN_URL_PATHS:
            await self.app(scope, receive, send)
            return
        token = request.headers.get(HEADER_NAME)
        replay = receive
        content_type = request.headers.get("content-type", "")
        if token is None and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            try:
                body = await request.body()
            except HTTPException as exc:  # the body-size limit
                response = errors.error_response(request, exc.status_code)
                await response(scope, receive, send)
                return
            replay = _replay(body, receive)
            try:
                form = await Request(scope, _replay(body, receive)).form()
            except Exception:
                form = None
            if form is not None:
                value = form.get(FIELD_NAME)
                token = value if isinstance(value, str) else None
                await form.close()
        if not token_matches(scope, token):
            await self._refuse(scope, replay, send, TOKEN_REFUSED)
            return
        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = errors.error_response(Request(scope, receive), 403, message)
        await response(scope, receive, send)


def _replay(body: bytes, original: Receive) -> Receive:
    """Hands the buffered body to the app once, then waits on the real channel (disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
