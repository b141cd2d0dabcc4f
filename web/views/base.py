"""What every page family shares, written once: loading the primary (and round) an address
names, reading a form, checking who may administer, translating a domain refusal, and the
JSON error body `{"error": {"status", "message", "field"}}`.

A view module imports from here and keeps only what is its own page family's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from crypto.encoding import b64decode
from voting.accounts import Account
from voting.log import LogService
from voting.primaries import Primary, get_primary
from voting.refusals import Refused, _
from voting.rounds import Round, get_round
from voting.unit_of_work import UnitsOfWork
from web.auth import SIGN_IN_REQUIRED, require_account, require_primary_admin
from web.errors import json_error_response, refusal_status
from web.i18n import request_language, translator
from web.templating import grade_markup

__all__ = [
    "BAD_FORM",
    "BAD_JSON",
    "FIELD_TOO_LONG",
    "MAX_JSON",
    "MAX_SLUG",
    "NOT_TEXT",
    "REQUIRED",
    "STATUS_LABELS",
    "UNKNOWN_MEMBER",
    "BadRequest",
    "_",
    "administered_primary",
    "base64_field",
    "change",
    "endpoint",
    "json_body",
    "json_error",
    "load_primary",
    "load_round",
    "log_service",
    "primary_and_round",
    "public_base",
    "read_form",
    "refusal_text",
    "refused",
    "require_primary_admin",
    "round_grade_labels",
    "round_number",
    "round_url",
    "route_table",
    "signed_in_json",
    "text_field",
    "truncated_multipart",
    "unknown_member",
]

BAD_FORM = _("Formulaire illisible : rechargez la page et réessayez.")
BAD_JSON = _("Corps JSON illisible.")
MAX_JSON = 256 * 1024
FIELD_TOO_LONG = _("Ce champ est trop long.")
NOT_TEXT = _("Ce champ doit être un texte.")
REQUIRED = _("Ce champ est obligatoire.")
UNKNOWN_MEMBER = _("Membre inconnu.")
MAX_SLUG = 63  # a longer slug names no primary: answered 404 before any query
MAX_ROUND_NUMBER = 1000

Endpoint = Callable[[Request], Awaitable[Response]]
P = ParamSpec("P")
T = TypeVar("T")

STATUS_LABELS = {
    "draft": _("Brouillon"),
    "submitted": _("En attente de modération"),
    "published": _("Recueille des soutiens"),
    "rejected": _("Refusée"),
    "qualified": _("Qualifiée"),
    "confirmed": _("Confirmée"),
    "declined": _("A renoncé"),
    "lapsed": _("Non confirmée à temps"),
    "withdrawn": _("Retirée"),
    "excluded": _("Exclue"),
}


# ------------------------------------------------------------------------------- the routes


def route_table(table: dict[str, dict[str, Endpoint]]) -> list[BaseRoute]:
    """A page family's routes, by address and then by HTTP method:
    `route_table({"/signin": {"GET": signin_page, "POST": signin_request}})`. Addresses are
    matched in the table's order; an endpoint serving several methods of one address is one
    route (a 405 there names them all)."""
    routes: list[BaseRoute] = []
    for path, endpoints in table.items():
        methods: dict[Endpoint, list[str]] = {}
        for method, endpoint in endpoints.items():
            methods.setdefault(endpoint, []).append(method)
        routes += [Route(path, endpoint, methods=names) for endpoint, names in methods.items()]
    return routes


# ------------------------------------------------------------------------------ the address


async def load_primary(request: Request, conn: asyncpg.Connection | None = None) -> Primary:
    """The primary named by the `{slug}` of the address, or a 404."""
    slug = request.path_params["slug"]
    if len(slug) > MAX_SLUG:
        raise HTTPException(404)
    if conn is None:
        async with request.app.state.pool.acquire() as own:
            primary = await get_primary(own, slug)
    else:
        primary = await get_primary(conn, slug)
    if primary is None:
        raise HTTPException(404)
    return primary


async def administered_primary(
    request: Request, load: Callable[[Request], Awaitable[Primary]] = load_primary
) -> tuple[Primary, Account]:
    """The primary the address names and the account administering it, checked in this
    order: signed in (else the sign-in page, or 401), the primary (else `load`'s 404), the
    permission (else 403)."""
    await require_account(request)
    primary = await load(request)
    return primary, await require_primary_admin(request, primary)


def round_number(request: Request) -> int:
    """The `{number}` of the address, or a 404."""
    try:
        number = int(request.path_params["number"])
    except (KeyError, ValueError):
        raise HTTPException(404) from None
    if not 1 <= number <= MAX_ROUND_NUMBER:
        raise HTTPException(404)
    return number


async def load_round(
    request: Request, primary: Primary, conn: asyncpg.Connection | None = None
) -> Round:
    """The round `{number}` of `primary`, or a 404."""
    number = round_number(request)
    if conn is None:
        async with request.app.state.pool.acquire() as own:
            round_ = await get_round(own, primary.id, number)
    else:
        round_ = await get_round(conn, primary.id, number)
    if round_ is None:
        raise HTTPException(404)
    return round_


async def primary_and_round(request: Request) -> tuple[Primary, Round]:
    """The primary and round of `/primaries/{slug}/rounds/{number}/…`, or a 404."""
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        return primary, await load_round(request, primary, conn)


def round_url(primary: Primary, round_: Round, suffix: str = "") -> str:
    return f"/primaries/{primary.slug}/rounds/{round_.number}{suffix}"


def round_grade_labels(request: Request, round_: Round) -> list[Markup]:
    """The round's grades for this page: in its language, a custom label marked with its own."""
    return grade_markup(
        round_.grades, request_language(request), round_.definition.get("grade_labels")
    )


def log_service(request: Request) -> LogService:
    return request.app.state.log


def public_base(request: Request) -> str:
    """The address people use: SCRUTIN_PUBLIC_URL behind a proxy, else this request's."""
    settings = getattr(request.app.state, "settings", None)
    public = getattr(settings, "public_url", None)
    if public:
        return str(public).rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


# ------------------------------------------------------------------------------------ forms


async def truncated_multipart(request: Request) -> bool:
    """True for a multipart body that does not end with its closing boundary: the parser
    would keep the parts it could read, and a half-sent form must change nothing."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return False
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _sep, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    body = await request.body()
    return not boundary or not body.rstrip(b"\r\n").endswith(f"--{boundary}--".encode("latin-1"))


async def read_form(
    request: Request,
    *,
    max_files: int = 1000,
    max_fields: int = 1000,
    max_part_size: int = 1024 * 1024,
) -> FormData:
    """The posted form; a half-sent or malformed body is a 400 "unreadable form", never a 500
    and never a partial form."""
    if await truncated_multipart(request):
        raise HTTPException(400, BAD_FORM)
    try:
        return await request.form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )
    except HTTPException:
        raise
    except Exception:  # malformed multipart or urlencoded body
        raise HTTPException(400, BAD_FORM) from None


def base64_field(form: FormData, name: str) -> bytes:
    """A base64 field filled by the page's script (a sealed ballot, a signature); a malformed
    one is a 400 "unreadable form"."""
    try:
        return b64decode(str(form.get(name, "")))
    except ValueError:
        raise HTTPException(400, BAD_FORM) from None


def text_field(form: FormData, name: str, max_length: int, errors: dict[str, str]) -> str:
    """A text field; an overlong one is reported in `errors` (and kept as typed)."""
    value = form.get(name)
    text = value if isinstance(value, str) else ""
    if len(text) > max_length:
        errors[name] = FIELD_TOO_LONG
    return text


# ---------------------------------------------------------------------------- state changes


def change(
    request: Request,
    service: Callable[Concatenate[asyncpg.Connection, LogService, P], Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Awaitable[T]:
    """A view's state change: one service called in a unit of work of its own
    (`voting.unit_of_work`), `await change(request, service, ...)`."""
    units: UnitsOfWork = request.app.state.units
    return units.run(service, *args, **kwargs)


# ------------------------------------------------------------------------------------- JSON


class BadRequest(Exception):
    """A request the JSON API answers with an error (status, message, input path)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


async def json_body(request: Request, allowed: set[str] | None = None) -> dict[str, Any]:
    """The JSON object sent (with only `allowed` members, when given), or BadRequest."""
    body = await request.body()
    if len(body) > MAX_JSON:
        raise BadRequest(413, _("Corps JSON trop volumineux."))
    try:
        value = json.loads(body or b"null")
        # Lone surrogates (\ud800) parse but are no text: nothing could store or log them.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):
        raise BadRequest(400, BAD_JSON) from None
    if not isinstance(value, dict):
        raise BadRequest(400, _("Le corps doit être un objet JSON."))
    if allowed is not None and (unknown := unknown_member(value, allowed)) is not None:
        raise BadRequest(422, UNKNOWN_MEMBER, unknown)
    return value


def refused(request: Request, exc: Refused) -> JSONResponse:
    """A domain refusal as the JSON error, in the request's language."""
    text = refusal_text(request, exc)
    return json_error(request, refusal_status(exc), text, exc.field, translate=False)


def endpoint(handler: Endpoint) -> Endpoint:
    """A JSON API endpoint: refusals, bad bodies and HTTP errors (401 sign in, 403
    organisers only) become the one JSON error body."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as exc:
            return refused(request, exc)
        except BadRequest as exc:
            return json_error(request, exc.status, exc.message, exc.field)
        except HTTPException as exc:
            message = exc.detail if isinstance(exc.detail, str) else ""
            response = json_error(request, exc.status_code, message)
            if exc.headers:
                response.headers.update(exc.headers)
            return response

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def unknown_member(body: dict[str, Any], allowed: set[str]) -> str | None:
    """The first member of `body` not in `allowed` (cut to 100 characters), or None."""
    unknown = sorted(set(body) - allowed)
    return unknown[0][:100] if unknown else None


async def signed_in_json(request: Request, allowed: set[str]) -> tuple[Account, dict[str, Any]]:
    """The signed-in account and its JSON object body; in an `endpoint`, a 401 or the body's
    error otherwise."""
    user = request.scope.get("user")
    if user is None:
        raise BadRequest(401, SIGN_IN_REQUIRED)
    return user, await json_body(request, allowed)


# ---------------------------------------------------------------------------------- errors


def refusal_text(request: Request, exc: Refused) -> str:
    """A domain refusal's message in the page's language, its `{name}` placeholders filled (a
    candidacy's `state` by its label); the message alone if a translation misplaces one."""
    tr = translator(request_language(request))
    params = dict(exc.params)
    if "state" in params:
        params["state"] = tr(STATUS_LABELS.get(params["state"], params["state"]))
    text = tr(exc.message)
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError, ValueError):
        return text


def json_error(
    request: Request,
    status: int,
    message: str,
    field: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    translate: bool = True,
) -> JSONResponse:
    """The one JSON error body: `{"error": {"status", "message", "field"}}`, the message in
    the request's language, `field` the input path it concerns (or null)."""
    text = translator(request_language(request))(message) if translate else message
    return json_error_response(status, text, field, headers)
