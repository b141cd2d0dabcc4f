"""JSON API under /api/: primaries, candidacies, supports; OpenAPI 3.1 at /api/openapi.json.

Errors are `{"error": {"status", "message", "field"}}` (`field` is the input path, or null).
State-changing requests need the session's CSRF token in `X-CSRF-Token` (GET /api/session).

Other features document their endpoints by adding to `OPENAPI_PATHS` (path → path item) and,
if needed, `OPENAPI_SCHEMAS`, at import time; `openapi_document()` assembles them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crypto.encoding import b64decode
from voting import candidacies, supports
from voting.candidacies import Candidacy
from voting.primaries import (
    Primary,
    create_primary,
    get_primary_by_id,
    list_primaries,
    update_definition,
    voting_has_started,
)
from voting.refusals import Refused, _
from voting.supports import SupportChange
from web.auth import (
    current_user,
    require_account,
    require_organiser,
    require_primary_admin,
)
from web.ratelimit import limit_supports
from web.views.base import (
    BadRequest,
    administered_primary,
    change,
    endpoint,
    json_body,
    load_primary,
    route_table,
)

NOT_FOUND = _("Introuvable.")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def primary_json(primary: Primary, *, voting_started: bool | None = None) -> dict[str, Any]:
    state = primary.phases()
    return {
        "id": str(primary.id),
        "slug": primary.slug,
        "title": primary.title,
        "description": primary.description,
        "revision": primary.revision,
        "definition": primary.definition,
        "charter": primary.charter,
        "phase": state.name,
        "open_phases": state.current,
        "voting_started": primary.voting_started if voting_started is None else voting_started,
        "supports_closed": primary.supports_closed,
        "url": f"/primaries/{primary.slug}",
    }


def candidacy_json(c: Candidacy, slug: str) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "primary_id": str(c.primary_id),
        "name": c.name,
        "bio": c.bio,
        "programme": c.programme,
        "links": c.links,
        "status": c.status,
        "status_reason": c.status_reason,
        "declaration": c.declaration,
        "declaration_text": c.declaration_text().decode("utf-8"),
        "version": c.version,
        "support_count": c.support_count,
        "photo_url": f"/primaries/{slug}/candidates/{c.id}/photo" if c.has_photo else None,
        "submitted_at": _time(c.submitted_at),
        "published_at": _time(c.published_at),
        "qualified_at": _time(c.qualified_at),
        "url": f"/primaries/{slug}/candidates/{c.id}",
    }


async def api_primary(request: Request, conn: Any = None) -> Primary:
    """The primary `{slug}` names, or the API's JSON 404."""
    try:
        return await load_primary(request, conn)
    except HTTPException:  # the API's 404 says "not found" in the request's language
        raise BadRequest(404, NOT_FOUND) from None


async def _candidacy(request: Request, conn: Any) -> tuple[Candidacy, Primary]:
    c = await candidacies.get_candidacy(conn, request.path_params["id"][:40])
    primary = await get_primary_by_id(conn, c.primary_id) if c is not None else None
    if c is None or primary is None or not c.visible_to(current_user(request), primary):
        raise BadRequest(404, NOT_FOUND)
    return c, primary


# ---------------------------------------------------------------------------------- primaries


@endpoint
async def primaries_list(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        found = await list_primaries(conn)
    return JSONResponse({"primaries": [primary_json(p) for p in found]})


@endpoint
async def primary_get(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primary = await api_primary(request, conn)
        started = await voting_has_started(conn, primary.id)
    return JSONResponse(primary_json(primary, voting_started=started))


def _charter(body: dict[str, Any]) -> str | None:
    charter = body.pop("charter", None)
    if charter is not None and not isinstance(charter, str):
        raise Refused("not-text", field="charter")
    return charter


@endpoint
async def primary_create(request: Request) -> Response:
    organiser = await require_organiser(request)
    body = await json_body(request)
    charter = _charter(body)
    primary = await change(
        request, create_primary, body, created_by=organiser.id, charter=charter or ""
    )
    return JSONResponse(primary_json(primary), status_code=201)


@endpoint
async def primary_update(request: Request) -> Response:
    primary, organiser = await administered_primary(request, api_primary)
    body = await json_body(request)
    charter = _charter(body)
    updated = await change(
        request, update_definition, primary.id, body, by=organiser.id, charter=charter
    )
    return JSONResponse(primary_json(updated))


@endpoint
async def close_supports(request: Request) -> Response:
    primary, organiser = await administered_primary(request, api_primary)
    body = await json_body(request) if await request.body() else {}
    unknown = sorted(set(body) - {"early"})
    if unknown:
        raise Refused("unknown-member", field=unknown[0][:100], name=unknown[0][:100])
    early = body.get("early", False)
    if not isinstance(early, bool):
        raise Refused("not-boolean", field="early")
    async with request.app.state.units() as uow:
        uow.checkpoint(primary.id)  # the phase closes even if nobody qualifies
        if early:
            qualified = await supports.close_supports_now(
                uow.conn, uow.log, primary.id, by=organiser.id
            )
        else:
            qualified = await supports.close_supports_phase(uow.conn, uow.log, primary.id)
    return JSONResponse({"qualified": [str(c) for c in qualified]})


# -------------------------------------------------------------------------------- candidacies


@endpoint
async def candidacies_list(request: Request) -> Response:
    statuses = request.query_params.getlist("status") or ["published", "qualified", "confirmed"]
    hidden = {"draft", "submitted"}
    if not set(statuses) <= set(candidacies.STATUSES):
        raise Refused("unknown-choice", field="status", choices=", ".join(candidacies.STATUSES))
    user = current_user(request)
    query = request.query_params.get("q", "")[:100].strip() or None
    async with request.app.state.pool.acquire() as conn:
        primary = await api_primary(request, conn)
        if hidden & set(statuses) and not primary.administered_by(user):
            raise BadRequest(
                403, _("Seuls les organisateur·rices voient les candidatures en attente."),
                "status",
            )  # fmt: skip
        found = await candidacies.list_candidacies(conn, primary.id, statuses=statuses, query=query)
    shown = [candidacy_json(c, primary.slug) for c in found if c.visible_to(user, primary)]
    return JSONResponse({"candidacies": shown})


def _declaration_body(body: dict[str, Any]) -> dict[str, Any]:
    allowed = {"name", "bio", "programme", "links", "charter_accepted", "submit"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        name = unknown[0][:100]
        raise Refused("unknown-member", field=name, name=name)
    if "links" in body and not isinstance(body["links"], list):
        raise Refused("links-not-list", field="links")
    return body


@endpoint
async def candidacy_declare(request: Request) -> Response:
    user = await require_account(request)
    body = _declaration_body(await json_body(request))
    if body.get("charter_accepted") is not True:
        raise Refused("charter-required", field="charter_accepted")
    async with request.app.state.pool.acquire() as conn:
        primary = await api_primary(request, conn)
    async with request.app.state.units() as uow:
        c = await candidacies.declare(uow.conn, primary, user.id, body, charter_accepted=True)
        if body.get("submit") is True:
            c = await candidacies.submit(uow.conn, uow.log, c.id, user.id)
    return JSONResponse(candidacy_json(c, primary.slug), status_code=201)


@endpoint
async def candidacy_get(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        c, primary = await _candidacy(request, conn)
        history = await candidacies.versions(conn, c.id)
    data = candidacy_json(c, primary.slug)
    data["versions"] = [
        {"version": v["version"], "name": v["name"], "bio": v["bio"],
         "programme": v["programme"], "links": v["links"], "declaration": v["declaration"],
         "created_at": _time(v["created_at"])}
        for v in history
    ]  # fmt: skip
    return JSONResponse(data)


@endpoint
async def candidacy_revise(request: Request) -> Response:
    user = await require_account(request)
    body = _declaration_body(await json_body(request))
    async with request.app.state.pool.acquire() as conn:
        c, primary = await _candidacy(request, conn)
    merged = {"name": c.name, "bio": c.bio, "programme": c.programme, "links": c.links, **body}
    updated = await change(request, candidacies.revise, c.id, user.id, merged)
    return JSONResponse(candidacy_json(updated, primary.slug))


ORGANISER_ACTIONS = ("accept", "reject", "exclude")
CANDIDATE_ACTIONS = ("submit", "withdraw", "confirm", "decline")


@endpoint
async def candidacy_action(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in ORGANISER_ACTIONS + CANDIDATE_ACTIONS:
        raise BadRequest(404, _("Action inconnue."))
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        c, primary = await _candidacy(request, conn)
    if action in ORGANISER_ACTIONS:
        await require_primary_admin(request, primary)
    body = await json_body(request) if await request.body() else {}
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise Refused("unknown-member", field=unknown[0][:100], name=unknown[0][:100])
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise Refused("not-text", field="reason")
    async with request.app.state.units() as uow:
        if action == "accept":
            updated = await candidacies.publish(uow.conn, uow.log, c.id)
        elif action == "reject":
            updated = await candidacies.reject(uow.conn, uow.log, c.id, reason)
        elif action == "exclude":
            updated = await candidacies.exclude(uow.conn, uow.log, c.id, reason)
        elif action == "withdraw":
            updated = await candidacies.withdraw(uow.conn, uow.log, c.id, user.id, reason)
        else:
            service = {"submit": candidacies.submit, "confirm": candidacies.confirm,
                       "decline": candidacies.decline}[action]  # fmt: skip
            updated = await service(uow.conn, uow.log, c.id, user.id)
    return JSONResponse(candidacy_json(updated, primary.slug))


PHOTO_TYPES = ("image/png", "image/jpeg")


@endpoint
async def candidacy_photo(request: Request) -> Response:
    """PUT the raw image (image/png or image/jpeg, 1 MB at most) or DELETE the photo."""
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        c, primary = await _candidacy(request, conn)
    data: bytes | None = None
    if request.method == "DELETE":
        await no_body(request)
    else:
        declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if declared not in PHOTO_TYPES:
            raise BadRequest(
                415, _("Envoyez l’image brute avec Content-Type image/png ou image/jpeg."), "photo"
            )
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > candidacies.MAX_PHOTO:
                raise Refused("photo-too-large", field="photo")
        if data and candidacies.photo_type(data) != declared:
            raise BadRequest(
                422, _("Le contenu de l’image ne correspond pas à son Content-Type."), "photo"
            )
    updated = await change(request, candidacies.set_photo, c.id, user.id, data)
    return JSONResponse(candidacy_json(updated, primary.slug))


# ----------------------------------------------------------------------------------- supports


async def no_body(request: Request) -> None:
    """Routes that take no input accept an empty body or `{}`, and refuse anything else."""
    if await request.body():
        body = await json_body(request)
        if body:
            name = sorted(body)[0][:100]
            raise Refused("unknown-member", field=name, name=name)


@endpoint
async def support_change(request: Request) -> Response:
    user = await require_account(request)
    # A support's pseudonym is keyed by the service secret; a withdrawal needs none.
    extra: dict[str, Any] = {}
    if request.method == "POST":
        extra["secret_key"] = request.app.state.secret_key
    if request.method == "POST" and await request.body():
        # Under credentials: voter, the device's signature (docs/audit-log.md §8).
        body = await json_body(request)
        unknown = sorted(set(body) - {"credential_sig"})
        if unknown:
            name = unknown[0][:100]
            raise Refused("unknown-member", field=name, name=name)
        try:
            extra["credential_sig"] = b64decode(str(body["credential_sig"]))
        except ValueError:
            raise BadRequest(422, _("Valeur base64 invalide."), "credential_sig") from None
    else:
        await no_body(request)
    await limit_supports(request, user.id)
    async with request.app.state.pool.acquire() as conn:
        c, _primary = await _candidacy(request, conn)
    service: SupportChange = (
        supports.support if request.method == "POST" else supports.withdraw_support
    )
    result = await change(request, service, candidacy_id=c.id, account_id=user.id, **extra)
    return JSONResponse(
        {
            "candidate": str(c.id),
            "support_count": result.count,
            "qualified": result.qualified,
            "status": result.candidacy.status,
        },
        status_code=201 if request.method == "POST" else 200,
    )


@endpoint
async def support_counts(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primary = await api_primary(request, conn)
        rows = await conn.fetch(
            "SELECT id, support_count, status FROM candidacies WHERE primary_id = $1"
            " AND status NOT IN ('draft', 'submitted') ORDER BY id",
            primary.id,
        )
        user = current_user(request)
        mine = await supports.supported_by(conn, primary.id, user.id) if user else set()
    return JSONResponse(
        {"threshold": primary.threshold, "support_cap": primary.support_cap,
         "counts": {str(r["id"]): r["support_count"] for r in rows},
         "mine": sorted(str(c) for c in mine) if user else None}
    )  # fmt: skip


# ------------------------------------------------------------------------------------ OpenAPI


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _op(summary: str, ok: str, schema: dict[str, Any], *, body: dict | None = None,
        content: dict | None = None, body_required: bool = True, auth: str | None = None,
        parameters: list | None = None, status: str = "200") -> dict[str, Any]:  # fmt: skip
    """One operation: its JSON answer, the refusal, and what it takes: a JSON `body` schema
    (or other media types in `content`), query `parameters`, the session `auth`."""
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            status: {"description": ok, "content": _json_content(schema)},
            "4XX": {
                "description": "Refused; nothing changed",
                "content": _json_content(_ref("Error")),
            },
        },
    }
    if body is not None:
        content = _json_content(body)
    if content is not None:
        operation["requestBody"] = {"required": body_required, "content": content}
    if parameters:
        operation["parameters"] = parameters
    if auth:
        operation["description"] = auth
        operation["security"] = [{"session": [], "csrf": []}]
    return operation


SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
SIGNED_IN = "Needs a signed-in session and the X-CSRF-Token header."
ORGANISER = "Organisers only; needs the X-CSRF-Token header."

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["status", "message"],
            "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                           "field": {"type": ["string", "null"],
                                     "description": "input path of the refused value"}},
        }},
    },
    "Phase": {
        "type": "object", "required": ["name", "start", "end"],
        "properties": {"name": {"type": "string"},
                       "start": {"type": "string", "format": "date-time"},
                       "end": {"type": "string", "format": "date-time"}},
    },
    "Definition": {
        "type": "object",
        "description": "The body of a `definition` log entry (docs/audit-log.md §8).",
        "properties": {
            "revision": {"type": "integer", "minimum": 1},
            "title": {"type": "string", "maxLength": 200},
            "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
            "description": {"type": "string", "maxLength": 10000},
            "threshold": {"type": "integer", "minimum": 1, "default": 500},
            "support_cap": {"type": "integer", "minimum": 0, "default": 0},
            "qualification": {"enum": ["threshold", "phase-end"]},
            "grades": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                 {"enum": ["fr-7", "laprimaire-6"]}]},
            "rule": {"enum": ["majority-value", "majority-gauge", "mieux-voter", "typical",
                              "central", "usual"]},
            "missing": {"enum": ["normalize", "worst-grade", "median", "strict"]},
            "default_grade": {"type": "integer", "minimum": 0},
            "upper_median": {"type": "boolean"},
            "subset_size": {"type": "integer", "minimum": 0},
            "allow_blank": {"type": "boolean"},
            "eligibility": {"enum": ["email", "allow-list", "approval"]},
            "refuse_disposable": {"type": "boolean", "default": False,
                                  "description": "refuse known disposable-mail domains"},
            "witness_policy": {"type": "string", "maxLength": 10000,
                               "description": "C2SP tlog-policy text: the witnesses (vkey, "
                               "submission URL), groups and quorum (docs/witness.md)"},
            "credentials": {"enum": ["server", "voter"], "default": "server",
                            "description": "who signs ballots and supports: the service's "
                            "log key, or each citizen's own key (docs/audit-log.md §8)"},
            "phases": {"type": "array", "items": _ref("Phase")},
        },
    },
    "DefinitionInput": {
        "allOf": [_ref("Definition"), {"type": "object", "properties": {
            "charter": {"type": "string", "maxLength": 20000}}}],
        "required": ["title", "slug", "phases"],
    },
    "Primary": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "slug": {"type": "string"},
            "title": {"type": "string"}, "description": {"type": "string"},
            "revision": {"type": "integer"}, "definition": _ref("Definition"),
            "charter": {"type": "string"}, "phase": {"type": "string"},
            "open_phases": {"type": "array", "items": {"type": "string"}},
            "voting_started": {"type": "boolean"}, "supports_closed": {"type": "boolean"},
            "url": {"type": "string"},
        },
    },
    "Candidacy": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "primary_id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"}, "bio": {"type": "string"},
            "programme": {"type": "string", "description": "Markdown source"},
            "links": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "status": {"enum": list(candidacies.STATUSES)},
            "status_reason": {"type": "string"},
            "declaration": {"type": "string", "description": "SHA-256 hex of declaration_text"},
            "declaration_text": {"type": "string"}, "version": {"type": "integer"},
            "support_count": {"type": "integer"}, "photo_url": {"type": ["string", "null"]},
            "url": {"type": "string"},
        },
    },
    "DeclarationInput": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 120},
            "bio": {"type": "string", "maxLength": 1000},
            "programme": {"type": "string", "maxLength": 20000},
            "links": {"type": "array", "maxItems": 10,
                      "items": {"type": "string", "pattern": "^https?://"}},
            "charter_accepted": {"type": "boolean"},
            "submit": {"type": "boolean"},
        },
    },
    "Participation": {
        "type": "object",
        "properties": {
            "candidate": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
            "status": {"enum": list(candidacies.STATUSES)},
            "support_count": {"type": "integer"}, "threshold": {"type": "integer"},
            "primary": {"type": "string"}, "url": {"type": "string"},
        },
    },
    "Account": {
        "type": "object",
        "properties": {
            "account": {"type": "object"},
            "has_password": {"type": "boolean"},
            "supports": {"type": "array", "items": _ref("Participation")},
            "candidacies": {"type": "array", "items": _ref("Participation")},
        },
    },
    "Reason": {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 2000}}},
    "SupportResult": {
        "type": "object",
        "properties": {"candidate": {"type": "string"}, "support_count": {"type": "integer"},
                       "qualified": {"type": "boolean"}, "status": {"type": "string"}},
    },
}  # fmt: skip

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/primaries": {
        "get": _op("List primaries", "The primaries",
                   {"type": "object", "properties": {"primaries": {
                       "type": "array", "items": _ref("Primary")}}}),
        "post": _op("Create a primary (and its log; the definition is entry 0)", "Created",
                    _ref("Primary"), body=_ref("DefinitionInput"), auth=ORGANISER,
                    status="201"),
    },
    "/api/primaries/{slug}": {
        "parameters": [SLUG],
        "get": _op("Get a primary", "The primary", _ref("Primary")),
    },
    "/api/primaries/{slug}/definition": {
        "parameters": [SLUG],
        "put": _op("Append the next revision of the definition (merged with the current one)",
                   "The primary", _ref("Primary"), body=_ref("DefinitionInput"),
                   auth=ORGANISER),
    },
    "/api/primaries/{slug}/close-supports": {
        "parameters": [SLUG],
        "post": _op("Close the supports phase and qualify at the threshold. After the "
                    "phase's end, or before it with `early: true`, which first appends a "
                    "definition revision ending the phase now",
                    "Candidates qualified now",
                    {"type": "object", "properties": {"qualified": {
                        "type": "array", "items": {"type": "string"}}}}, auth=ORGANISER,
                    body={"type": "object", "additionalProperties": False,
                          "properties": {"early": {"type": "boolean", "default": False}}},
                    body_required=False),
    },
    "/api/primaries/{slug}/candidacies": {
        "parameters": [SLUG],
        "get": _op("List candidacies (published, qualified, confirmed by default)",
                   "The candidacies", {"type": "object", "properties": {"candidacies": {
                       "type": "array", "items": _ref("Candidacy")}}}, parameters=[
                       {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                       {"name": "status", "in": "query", "schema": {"type": "array", "items": {
                           "enum": list(candidacies.STATUSES)}}, "style": "form", "explode": True},
                   ]),
        "post": _op("Declare a candidacy (a draft; `submit: true` submits it at once)",
                    "Created", _ref("Candidacy"), body=_ref("DeclarationInput"),
                    auth=SIGNED_IN, status="201"),
    },
    "/api/primaries/{slug}/supports": {
        "parameters": [SLUG],
        "get": _op("Support counts per candidate (and the caller's own supports)", "Counts",
                   {"type": "object", "properties": {
                       "threshold": {"type": "integer"}, "support_cap": {"type": "integer"},
                       "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                       "mine": {"type": ["array", "null"], "items": {"type": "string"}}}}),
    },
    "/api/candidacies/{id}": {
        "parameters": [ID],
        "get": _op("Get a candidacy with its public versions", "The candidacy",
                   _ref("Candidacy")),
        "patch": _op("Revise the declaration (a new public version; frozen once qualified)",
                     "The candidacy", _ref("Candidacy"), body=_ref("DeclarationInput"),
                     auth=SIGNED_IN),
    },
    "/api/candidacies/{id}/photo": {
        "parameters": [ID],
        "put": _op("Set the photo: the raw PNG or JPEG bytes (1 MB at most, checked by "
                   "their magic bytes); a revision like any other", "The candidacy",
                   _ref("Candidacy"), auth=SIGNED_IN, content={
                       media: {"schema": {"type": "string", "format": "binary",
                                          "maxLength": 1048576}}
                       for media in ("image/png", "image/jpeg")}),
        "delete": _op("Remove the photo", "The candidacy", _ref("Candidacy"), auth=SIGNED_IN),
    },
    "/api/candidacies/{id}/{action}": {
        "parameters": [ID, {"name": "action", "in": "path", "required": True, "schema": {
            "enum": list(ORGANISER_ACTIONS + CANDIDATE_ACTIONS)}}],
        "post": _op("Lifecycle: submit, withdraw, confirm, decline (the candidate); accept, "
                    "reject, exclude (organisers; reject and exclude need a reason)",
                    "The candidacy", _ref("Candidacy"), body=_ref("Reason"), auth=SIGNED_IN),
    },
    "/api/candidacies/{id}/support": {
        "parameters": [ID],
        "post": _op("Support the candidate", "Recorded", _ref("SupportResult"),
                    auth=SIGNED_IN, status="201"),
        "delete": _op("Withdraw one's support (while the candidate collects)", "Withdrawn",
                      _ref("SupportResult"), auth=SIGNED_IN),
    },
    # Routes of the accounts feature (web/views/accounts.py), documented here.
    "/api/session": {
        "get": _op("The session: the signed-in account (or null) and the CSRF token", "Session",
                   {"type": "object", "properties": {
                       "account": {"type": ["object", "null"]},
                       "csrf_token": {"type": "string"}}}),
    },
    "/api/signin": {
        "post": _op("Ask for a sign-in e-mail (link and code)", "Mail sent",
                    {"type": "object"}, body={"type": "object", "required": ["email"],
                    "properties": {"email": {"type": "string", "format": "email"}}},
                    status="202"),
    },
    "/api/signin/code": {
        "post": _op("Sign in with the e-mailed code", "Signed in", {"type": "object"},
                    body={"type": "object", "required": ["email", "code"], "properties": {
                        "email": {"type": "string"}, "code": {"type": "string"}}}),
    },
    "/api/account": {
        "get": _op("My account: profile, the candidates I support, my candidacies", "Account",
                   _ref("Account"), auth="Needs a signed-in session."),
        "patch": _op("Change my display name", "Saved",
                     {"type": "object", "properties": {"account": {"type": "object"}}},
                     body={"type": "object", "additionalProperties": False, "properties": {
                         "display_name": {"type": "string", "maxLength": 120}}},
                     auth=SIGNED_IN),
    },
    "/api/account/password": {
        "post": _op("Set or change my password (organisers; the current one is required when "
                    "there is one; other sessions end)", "Saved", {"type": "object"},
                    body={"type": "object", "required": ["new_password"],
                          "additionalProperties": False, "properties": {
                              "current_password": {"type": "string"},
                              "new_password": {"type": "string", "minLength": 10,
                                               "maxLength": 1024}}},
                    auth=SIGNED_IN),
    },
    "/api/primaries/{slug}/eligibility/claim": {
        "post": _op("Claim an allow-listed voter number with its one-time invitation code "
                    "(an unknown number and a wrong code get the same 400; rate-limited)",
                    "Claimed", {"type": "object", "properties": {
                        "status": {"const": "claimed"}, "voter_number": {"type": "string"}}},
                    body={"type": "object", "required": ["voter_number", "code"],
                          "additionalProperties": False, "properties": {
                              "voter_number": {"type": "string", "maxLength": 64},
                              "code": {"type": "string", "examples": ["K7QM-3WXA-9HTE"]}}},
                    auth=SIGNED_IN),
    },
    "/api/openapi.json": {
        "get": _op("This document", "OpenAPI 3.1", {"type": "object"}),
    },
}  # fmt: skip


ERROR_RESPONSE = {
    "description": "Refused; nothing changed",
    "content": _json_content(_ref("Error")),
}
METHODS = ("get", "put", "post", "patch", "delete")


def _with_error_responses(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every API operation may be refused with the JSON error shape (bad input, sign-in,
    permission, rate limit, unknown id): say so where a feature's entry left it out."""
    result: dict[str, dict[str, Any]] = {}
    for path, item in sorted(paths.items()):
        result[path] = dict(item)
        for method in METHODS:
            operation = item.get(method)
            if operation is not None and path.startswith("/api/"):
                responses = operation.get("responses", {})
                if not any(code.startswith("4") for code in responses):
                    responses = {**responses, "4XX": ERROR_RESPONSE}
                result[path][method] = {**operation, "responses": responses}
    return result


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Scrutin API",
            "version": "1",
            "description": "Citizen primaries: definitions, candidacies, supports, rounds. "
            'Errors are {"error": {"status", "message", "field"}}. State changes need '
            "the session cookie and the CSRF token from GET /api/session in X-CSRF-Token.",
        },
        "paths": _with_error_responses(OPENAPI_PATHS),
        "components": {
            "schemas": OPENAPI_SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "scrutin_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


routes = route_table(
    {
        "/api/openapi.json": {"GET": openapi},
        "/api/primaries": {"GET": primaries_list, "POST": primary_create},
        "/api/primaries/{slug}": {"GET": primary_get},
        "/api/primaries/{slug}/definition": {"PUT": primary_update},
        "/api/primaries/{slug}/close-supports": {"POST": close_supports},
        "/api/primaries/{slug}/candidacies": {"GET": candidacies_list, "POST": candidacy_declare},
        "/api/primaries/{slug}/supports": {"GET": support_counts},
        "/api/candidacies/{id}": {"GET": candidacy_get, "PATCH": candidacy_revise},
        "/api/candidacies/{id}/support": {"POST": support_change, "DELETE": support_change},
        "/api/candidacies/{id}/photo": {"PUT": candidacy_photo, "DELETE": candidacy_photo},
        "/api/candidacies/{id}/{action}": {"POST": candidacy_action},
    }
)
