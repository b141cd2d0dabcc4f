"""The home page and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from web.i18n import LANG_COOKIE, LANGUAGES
from web.templating import render

ONE_YEAR = 365 * 24 * 3600


async def home(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primaries = await conn.fetch(
            "SELECT slug, title, description, created_at FROM primaries ORDER BY created_at DESC"
        )
    return render(request, "home.html", {"primaries": primaries})


def _safe_next(value: str | None) -> str:
    """Only local paths: the switch must not become an open redirect."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    target = _safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=ONE_YEAR, httponly=True, samesite="lax")
    return response


async def favicon(request: Request) -> Response:
    """Browsers and feed readers ask for /favicon.ico whatever the page links."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes = [
    Route("/", home, methods=["GET"], name="home"),
    Route("/favicon.ico", favicon, methods=["GET"]),
    Route("/lang/{lang:str}", switch_language, methods=["GET"], name="switch_language"),
]
