"""Error responses: a friendly page for people, a JSON error for the API; never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voting.log import EntryTooLarge

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
logger = logging.getLogger("scrutin")

MESSAGES = {
    400: "Requête invalide.",
    403: "Vous n’avez pas accès à cette page.",
    404: "Page introuvable.",
    405: "Méthode non autorisée.",
    413: "Envoi trop volumineux.",
    429: "Trop de requêtes : réessayez dans un instant.",
    500: "Une erreur interne est survenue ; rien n’a été enregistré.",
    503: "Le service est momentanément indisponible : réessayez dans un instant.",
}
RETRY_AFTER_UNAVAILABLE = "5"  # seconds; the pool reconnects as soon as the database is back
TEXT_REFUSED = (
    "Le texte envoyé contient un caractère non accepté (caractère nul) ; rien n’a été enregistré."
)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    message = detail or MESSAGES.get(status, MESSAGES[400 if status < 500 else 500])
    if wants_json(request):
        return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


TOO_MANY_WAIT = "Trop de requêtes : réessayez dans {minutes} min."


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail and exc.detail != _default_phrase(exc.status_code) else None
    retry_after = (exc.headers or {}).get("Retry-After", "")
    if exc.status_code == 429 and detail is None and retry_after.isdigit():
        # Say how long: "in a moment" is wrong when the window is a quarter of an hour.
        response = _too_many(request, max(1, -(-int(retry_after) // 60)))
    else:
        response = error_response(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _too_many(request: Request, minutes: int) -> Response:
    if wants_json(request):
        message = TOO_MANY_WAIT.format(minutes=minutes)
        return JSONResponse({"error": {"status": 429, "message": message}}, status_code=429)
    return request.app.state.templates.TemplateResponse(
        request,
        "error.html",
        {"status": 429, "message": TOO_MANY_WAIT, "params": {"minutes": minutes}},
        status_code=429,
    )


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500)


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


async def text_refused(request: Request, exc: Exception) -> Response:
    # PostgreSQL text cannot hold U+0000: whatever field carried it, the statement failed and
    # its transaction rolled back, so this is the client's bad input, not a server error.
    return error_response(request, 400, TEXT_REFUSED)


async def entry_too_large(request: Request, exc: Exception) -> Response:
    # A log entry over 65,535 bytes (docs/audit-log.md §7): refused before anything was
    # queued, and the service's transaction rolled back. Views that can point at the field
    # to shorten catch it themselves; this is the clear answer everywhere else.
    from web.i18n import request_language, translator

    assert isinstance(exc, EntryTooLarge)
    text = exc.translated(translator(request_language(request)))
    return error_response(request, 413, text)


def handlers() -> dict[int | type[Exception], object]:
    return {
        HTTPException: http_exception,
        EntryTooLarge: entry_too_large,
        asyncpg.exceptions.CharacterNotInRepertoireError: text_refused,
        asyncpg.exceptions.UntranslatableCharacterError: text_refused,
        500: server_error,
    }


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached right now (stopped, restarting,
    connection lost, too many clients), not that a query was wrong."""
    if isinstance(exc, BaseExceptionGroup):
        return all(database_unavailable(inner) for inner in exc.exceptions)
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc) or "closing" in str(exc)
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError  # shutdown, crash, starting up
        | asyncpg.exceptions.TooManyConnectionsError,
    )


class ServiceUnavailableMiddleware:
    """While the database is away, every page answers 503 with a clear message and a
    Retry-After (no traceback, no 500); the pool reconnects by itself when it is back. A
    client that leaves before its answer is not an error either."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except ClientDisconnect:
            logger.info("client left before the answer to %s %s", scope["method"], scope["path"])
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            logger.warning(
                "database unavailable for %s %s: %s", scope["method"], scope["path"], exc
            )
            if started:
                return  # the answer was under way: closing the connection is all we can do
            response = error_response(Request(scope, receive), 503)
            response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
            await response(scope, receive, send)
