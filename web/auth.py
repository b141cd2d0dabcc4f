"""Who is signed in: the session cookie, `request.scope["user"]`, and permission checks.

The session is Starlette's signed cookie (itsdangerous, HttpOnly, SameSite=Lax, Secure when
SCRUTIN_SECURE_COOKIES is true). It holds the CSRF secret and a random session token whose
hash is a row of the `sessions` table, so that signing out ends the session for good.
`AuthMiddleware` turns that token into a `voting.accounts.Account` in `scope["user"]`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from voting import accounts
from voting.accounts import Account
from voting.refusals import _
from web import csrf
from web.ratelimit import BodySizeLimitMiddleware

SESSION_COOKIE = "scrutin_session"
SESSION_KEY = "sid"
FLASH_KEY = "flash"
NEXT_KEY = "signin_next"  # the page to go back to once signed in (set by the sign-in form)
SESSION_MAX_AGE = int(accounts.SESSION_TTL.total_seconds())


SIGN_IN_REQUIRED = _("Connectez-vous pour continuer.")
ORGANISERS_ONLY = _("Cette page est réservée aux organisateur·rices.")


class SignInRequired(Exception):
    """Raised by require_account for a visitor; AuthMiddleware answers it (303 or 401).

    Not an HTTPException on purpose: it must pass the exception middleware to reach ours.
    """

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def current_user(request: Request) -> Account | None:
    return request.scope.get("user")


async def require_account(request: Request) -> Account:
    """The signed-in account; otherwise HTML pages redirect (303) to /signin?next=…, and
    API routes (`/api/…`) answer 401 with a JSON error."""
    user = current_user(request)
    if user is None:
        if request.url.path.startswith("/api/"):
            raise HTTPException(401, SIGN_IN_REQUIRED)
        raise SignInRequired(_come_back_to(request))
    return user


def _come_back_to(request: Request) -> str:
    """Where signing in returns: the page itself for a GET; for a form sent after the
    session ended, the page the form was on (same-origin Referer) or the page above, since
    following the redirect to a POST-only address would end on "method not allowed"."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return request.url.path.rstrip("/").rsplit("/", 1)[0] or "/"


async def require_organiser(request: Request) -> Account:
    """The signed-in organiser; a visitor is sent to sign in, anyone else gets 403."""
    user = await require_account(request)
    if not user.is_organiser:
        raise HTTPException(403, ORGANISERS_ONLY)
    return user


async def require_primary_admin(request: Request, primary: Any) -> Account:
    """The signed-in account when it may administer `primary` (settings, moderation,
    eligibility): any organiser, or the primary's creator (`Primary.administered_by`)."""
    user = await require_account(request)
    if not primary.administered_by(user):
        raise HTTPException(403, ORGANISERS_ONLY)
    return user


def safe_next(value: str | None, default: str = "/account") -> str:
    """A local path to go back to after signing in; anything else becomes `default`."""
    if not value or len(value) > 2000:
        return default
    parts = urlsplit(value)
    if (
        parts.scheme
        or parts.netloc
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 32 for ch in value)
    ):
        return default
    return value


def signin_url(next_url: str) -> str:
    return "/signin?next=" + quote(next_url, safe="/")


async def log_in(request: Request, conn: Any, account: Account) -> None:
    """Open a session for `account`, on `conn` (the sign-in's own transaction)."""
    token = await accounts.open_session(conn, account.id)
    # Messages and where to go back to survive the fresh session; nothing else does.
    keep = {k: v for k, v in request.session.items() if k in (FLASH_KEY, NEXT_KEY)}
    request.session.clear()  # a fresh session: no fixation, new CSRF secret
    request.session.update(keep)
    request.session[SESSION_KEY] = token
    csrf.rotate(request)
    request.scope["user"] = account
    # Notifications are written in the language of the pages the person uses.
    from voting.notifications import set_language
    from web.i18n import request_language

    await set_language(conn, account.id, request_language(request))


async def log_out(request: Request) -> None:
    token = request.session.get(SESSION_KEY)
    if token:
        async with request.app.state.pool.acquire() as conn:
            await accounts.close_session(conn, token)
    request.session.clear()
    csrf.rotate(request)
    request.scope["user"] = None


def flash(request: Request, message: str) -> None:
    """A message shown once on the next page (French source text, translated on display)."""
    messages = list(request.session.get(FLASH_KEY, []))[-4:]
    messages.append(message)
    request.session[FLASH_KEY] = messages


def pop_flashes(request: Request) -> list[str]:
    session = request.scope.get("session")
    if not session or FLASH_KEY not in session:
        return []
    return list(session.pop(FLASH_KEY))


class AuthMiddleware:
    """Sets `scope["user"]` from the session, and answers SignInRequired."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope["user"] = None
        session = scope.get("session")
        token = session.get(SESSION_KEY) if session else None
        if isinstance(token, str):
            pool = getattr(scope["app"].state, "pool", None)
            if pool is not None:
                async with pool.acquire() as conn:
                    scope["user"] = await accounts.session_account(conn, token)
            if scope["user"] is None and session is not None:
                del session[SESSION_KEY]  # expired or signed out elsewhere
        try:
            await self.app(scope, receive, send)
        except SignInRequired as exc:
            response = RedirectResponse(signin_url(exc.next_url), status_code=303)
            await response(scope, receive, send)


def _secure_cookies(settings: Any) -> bool:
    return bool(getattr(settings, "secure_cookies", False))


def session_signing_key(secret_key: str) -> str:
    """A key of its own for cookies, derived from the service secret."""
    return hmac.new(secret_key.encode(), b"scrutin session cookie", hashlib.sha256).hexdigest()


class SessionCookieMiddleware:
    """Starlette's SessionMiddleware, built on first use from app.state (secret, settings)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inner: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            state = scope["app"].state
            self.inner = SessionMiddleware(
                self.app,
                secret_key=session_signing_key(state.secret_key),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE,
                same_site="lax",
                https_only=_secure_cookies(getattr(state, "settings", None)),
            )
        await self.inner(scope, receive, send)


def middleware() -> list[Middleware]:
    """The security middleware, outermost first: body size, session, user, CSRF."""
    return [
        Middleware(BodySizeLimitMiddleware),
        Middleware(SessionCookieMiddleware),
        Middleware(AuthMiddleware),
        Middleware(csrf.CSRFMiddleware),
    ]
