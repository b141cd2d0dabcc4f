"""Error responses: a friendly page for people, a JSON error for the API; never a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from voting.outage import database_away
from voting.refusals import Refused

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
# The HTTP status of every domain refusal (voting/refusals.py), by reason: the one place where
# the domain's refusals meet HTTP. 422 an input the rules refuse, 409 a state that does not
# allow it (yet or any more), 403 someone who may not, 404 a thing that does not exist, 413 an
# entry or upload too large. Opening, closing and revealing a round answer as their pages did:
# 400 for what the organiser's form must correct, 409 for a close that cannot happen.
_INPUT = 422
REFUSAL_STATUSES: dict[str, int] = {
    **dict.fromkeys(
        (
            "not-text", "control-characters", "required", "too-long", "not-boolean",
            "not-integer", "out-of-range", "unknown-choice", "bad-instant",
            "instant-out-of-range", "definition-not-object", "unknown-member", "bad-slug",
            "phases-not-list", "too-many-phases", "phase-not-object", "unknown-phase",
            "duplicate-phase", "phase-ends-before-start", "phase-required",
            "rounds-not-consecutive", "phase-order", "candidacies-after-supports",
            "phase-overlap", "grades-not-list", "grade-count", "duplicate-grade",
            "grade-labels-not-object", "grade-labels-count",
            "subset-too-small", "witness-policy-too-long", "witness-policy-invalid",
            "phase-started", "instant-passed", "instant-in-past", "revision-not-integer",
            "charter-required", "bad-link", "links-not-list", "too-many-links", "photo-format",
            "name-invisible-character", "name-styled-letter", "name-mixed-scripts",
            "name-confusable", "bad-public-key",
            "encrypted-needs-voter-credentials", "trustees-need-encrypted-ballots",
            "trustee-name-required", "bad-trustee-key", "trustee-bad-signature",
            "trustee-bad-body", "ceremony-restart-replaced", "ceremony-restart-reason",
        ),
        _INPUT,
    ),
    **dict.fromkeys(
        (
            "slug-taken", "voting-started", "revision-expected", "slug-fixed",
            "threshold-fixed", "candidacy-state", "candidacies-not-open", "already-declared",
            "candidacy-qualified", "candidate-list-closed", "supports-closed",
            "supports-not-open", "not-collecting-supports", "already-supported", "support-cap",
            "credential-first", "support-final", "not-supported", "supports-already-closed",
            "supports-not-ended", "supports-not-started", "credentials-not-used",
            "credential-roll-frozen", "credential-exists", "credential-taken", "round-closed",
            "already-voted", "already-cast", "round-already-closed", "close-mismatch",
            "trustees-not-used", "trustees-fixed", "trustee-key-taken", "trustees-complete",
            "trustees-incomplete", "trustee-keygen-done", "trustee-keygen-pending",
            "trustee-ack-done", "ceremony-restart-not-now", "election-key-missing",
            "tally-sums-missing", "tally-sums-done", "trustee-decryption-done",
            "too-few-decryptions",
        ),
        409,
    ),
    **dict.fromkeys(
        (
            "not-the-candidate", "own-candidacy", "not-eligible", "no-credential",
            "ineligible-unknown-primary", "ineligible-unknown-account", "ineligible-unverified",
            "ineligible-disposable", "ineligible-not-on-list", "ineligible-not-requested",
            "ineligible-pending", "ineligible-refused", "ineligible-unknown-policy",
            "ineligible-other-account",
        ),
        403,
    ),
    **dict.fromkeys(
        ("primary-not-found", "candidacy-not-found", "round-not-found", "trustee-not-found"), 404
    ),
    # accounts: the API's answers (the account page shows them in its form, 400)
    **dict.fromkeys(
        (
            "account-not-found", "password-too-long", "password-too-short",
            "password-organisers-only", "display-name-too-long", "display-name-forbidden",
        ),
        422,
    ),
    **dict.fromkeys(("current-password-required", "wrong-current-password"), 403),
    # claiming a voter number: the API's answers (the page shows them in its form, 400)
    **dict.fromkeys(
        ("claim-bad-number", "claim-bad-code", "claim-no-allow-list", "claim-refused"), 400
    ),
    "claim-already": 409,
    # the lists of bad items they carry: the API's answer (the pages show each item, 400)
    **dict.fromkeys(("ballot-invalid", "allow-list-invalid"), 422),
    **dict.fromkeys(
        (
            "support-signature-required", "bad-sealed-token", "signature-required",
            "bad-signature", "encrypted-ballot-invalid", "encrypted-ballot-expected",
            "encrypted-result-pending",
            # opening a round (its form)
            "previous-round-open", "closes-at-past", "not-in-previous-round",
            "candidate-not-confirmed", "too-few-candidates", "passphrase-too-short",
            "strict-with-subsets", "round-phase-not-started", "round-phase-ended",
            "result-too-large",
            # revealing the tally key (its form)
            "not-a-key-file", "unreadable-key", "key-file-expected", "wrong-passphrase",
            "key-required", "wrong-key", "round-still-open", "already-tallied",
            "close-not-logged", "tally-refused",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "photo-too-large", "round-open-entry-too-large", "definition-entry-too-large",
            "entry-too-large",
        ),
        413,
    ),
}  # fmt: skip


def refusal_status(refusal: Refused) -> int:
    """The HTTP status answering a domain refusal."""
    return REFUSAL_STATUSES[refusal.reason]


RETRY_AFTER_UNAVAILABLE = "5"  # seconds; the pool reconnects as soon as the database is back
TEXT_REFUSED = (
    "Le texte envoyé contient un caractère non accepté (caractère nul) ; rien n’a été enregistré."
)


def json_error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one JSON error body, `{"error": {"status", "message", "field"}}` (`field`: the input
    path the error concerns, or null); `message` already in the reader's language."""
    return JSONResponse(
        {"error": {"status": status, "message": message, "field": field}},
        status_code=status,
        headers=headers,
    )


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    message = detail or MESSAGES.get(status, MESSAGES[400 if status < 500 else 500])
    if wants_json(request):
        return json_error_response(status, message)
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
        return json_error_response(429, message)
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


async def refused(request: Request, exc: Exception) -> Response:
    # A domain refusal no view turned into its own page (a log entry over 65,535 bytes, a
    # service refusing a state change): nothing was written, the service's transaction rolled
    # back. Views that can point at the field to correct catch it themselves; this is the
    # clear answer everywhere else, with the status of REFUSAL_STATUSES.
    from web.i18n import request_language, translator

    assert isinstance(exc, Refused)
    text = exc.translated(translator(request_language(request)))
    return error_response(request, refusal_status(exc), text)


def handlers() -> dict[int | type[Exception], ExceptionHandler]:
    return {
        HTTPException: http_exception,
        Refused: refused,
        asyncpg.exceptions.CharacterNotInRepertoireError: text_refused,
        asyncpg.exceptions.UntranslatableCharacterError: text_refused,
        500: server_error,
    }


class StartWatch:
    """An ASGI `send` that remembers whether the response has started (after which a
    middleware can no longer answer with a page of its own)."""

    def __init__(self, send: Send) -> None:
        self.started = False
        self._send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


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
        watched_send = StartWatch(send)
        try:
            await self.app(scope, receive, watched_send)
        except ClientDisconnect:
            logger.info("client left before the answer to %s %s", scope["method"], scope["path"])
        except Exception as exc:
            if not database_away(exc):
                raise
            logger.warning(
                "database unavailable for %s %s: %s", scope["method"], scope["path"], exc
            )
            if watched_send.started:
                return  # the answer was under way: closing the connection is all we can do
            response = error_response(Request(scope, receive), 503)
            response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
            await response(scope, receive, send)
