"""Trustees of encrypted ballots on the web (docs/audit-log.md §10, docs/trustees.md).

The JSON API the `scrutin trustee` command talks to, and one page for organisers and
observers listing the trustees and where the key ceremony stands:

    GET  /api/primaries/{slug}/trustees                     the ceremony (public data only)
    POST /api/primaries/{slug}/trustees                     organiser: {"name", "signing_key",
                                                            "box_key"} registers a trustee
    POST /api/primaries/{slug}/trustees/keygen              a trustee-signed `trustee-keygen`
    POST /api/primaries/{slug}/trustees/ack                 a trustee-signed `trustee-ack`
    POST /api/primaries/{slug}/trustees/restart             organiser: {"replaced", "reason"}
                                                            restarts a stopped ceremony
    GET  /api/primaries/{slug}/rounds/{number}/sums         the round's `tally-sums` body, and
                                                            the log entry carrying it
    POST /api/primaries/{slug}/rounds/{number}/decryptions  a trustee-signed `trustee-decryption`
    GET  /primaries/{slug}/trustees                         the page (and its registration form)
    GET  /primaries/{slug}/trustees/restart?replaced=I…     the organiser's confirmation page,
    POST /primaries/{slug}/trustees/restart?replaced=I…     and the restart it confirms

A trustee's POST needs no account: its body is signed by the trustee's key, which is the
permission (the CSRF token of `GET /api/session` is still required, as for any API client).
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from voting import trustees
from voting.primaries import Primary
from voting.refusals import Refused, _
from web.auth import flash
from web.confirm import Confirmation, confirmation_page
from web.templating import render
from web.views.base import (
    BadRequest,
    change,
    endpoint,
    json_body,
    load_primary,
    log_service,
    read_form,
    refusal_text,
    require_primary_admin,
    round_number,
    route_table,
    unknown_member,
)


async def _ceremony(request: Request) -> tuple[Primary, trustees.Ceremony]:
    primary = await load_primary(request)
    async with request.app.state.pool.acquire() as conn:
        return primary, await trustees.ceremony(conn, primary.id)


@endpoint
async def ceremony_get(request: Request) -> Response:
    _primary, ceremony = await _ceremony(request)
    return JSONResponse(ceremony.public())


async def _register(request: Request, primary: Primary, body: dict[str, Any]) -> int:
    return await change(
        request,
        trustees.register,
        primary_id=primary.id,
        name=body.get("name"),
        signing_key=body.get("signing_key"),
        box_key=body.get("box_key"),
    )


@endpoint
async def register_api(request: Request) -> Response:
    primary = await load_primary(request)
    await require_primary_admin(request, primary)
    body = await json_body(request)
    if (unknown := unknown_member(body, {"name", "signing_key", "box_key"})) is not None:
        raise Refused("unknown-member", field=unknown, name=unknown)
    index = await _register(request, primary, body)
    return JSONResponse({"index": index}, status_code=201)


async def _restart(request: Request, primary: Primary, replaced: Any, reason: Any) -> int:
    return await change(
        request, trustees.restart_ceremony, primary_id=primary.id, replaced=replaced, reason=reason
    )


@endpoint
async def restart_api(request: Request) -> Response:
    primary = await load_primary(request)
    await require_primary_admin(request, primary)
    body = await json_body(request)
    if (unknown := unknown_member(body, {"replaced", "reason"})) is not None:
        raise Refused("unknown-member", field=unknown, name=unknown)
    attempt = await _restart(request, primary, body.get("replaced"), body.get("reason"))
    return JSONResponse({"attempt": attempt}, status_code=201)


def _post(service: Any) -> Any:
    @endpoint
    async def handler(request: Request) -> Response:
        primary = await load_primary(request)
        body = await json_body(request)
        done = await change(request, service, primary_id=primary.id, body=body)
        answer = {"accepted": True}
        if service is trustees.post_ack:
            answer["election_key_written"] = bool(done)
        return JSONResponse(answer, status_code=201)

    handler.__name__ = service.__name__
    return handler


def _path_round(request: Request) -> int:
    try:
        return round_number(request)
    except HTTPException:
        raise BadRequest(404, _("Introuvable.")) from None


@endpoint
async def sums_get(request: Request) -> Response:
    primary = await load_primary(request)
    number = _path_round(request)
    logged = await trustees.logged_sums(
        request.app.state.pool, log_service(request), primary.id, number
    )
    if logged is None:
        raise BadRequest(404, _("Les sommes chiffrées de ce tour ne sont pas encore publiées."))
    return JSONResponse(
        {
            "sums": logged.sums,
            "index": logged.entry.index,
            "entry": base64.b64encode(logged.entry.entry).decode("ascii"),
        }
    )


@endpoint
async def decryption_post(request: Request) -> Response:
    primary = await load_primary(request)
    number = _path_round(request)
    body = await json_body(request)
    if body.get("round") != number:
        raise BadRequest(422, _("Le tour du corps n’est pas celui de l’adresse."), "round")
    # With k shares the service also computes and publishes the round's result.
    posted = await trustees.accept_decryption(
        request.app.state.pool, log_service(request), primary_id=primary.id, body=body
    )
    return JSONResponse(
        {
            "accepted": True,
            "decryptions": posted.decryptions,
            "threshold": posted.threshold,
            "decrypted": posted.decrypted,
            "result_published": posted.result_published,
        },
        status_code=201,
    )


# --- the page ---------------------------------------------------------------------------------


async def page(request: Request) -> Response:
    primary = await load_primary(request)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        await require_primary_admin(request, primary)
        form = await read_form(request)
        values = {k: str(form.get(k, ""))[:300] for k in ("name", "signing_key", "box_key")}
        try:
            await _register(request, primary, values)
        except Refused as exc:
            errors[exc.field or "name"] = refusal_text(request, exc)
        else:
            return RedirectResponse(f"/primaries/{primary.slug}/trustees", status_code=303)
    return await _page(request, primary, errors, values)


async def _page(
    request: Request, primary: Primary, errors: dict[str, str], values: dict[str, str]
) -> Response:
    """The trustees' page; 422 with the `errors` of a refused form."""
    rounds: list[trustees.RoundDecryption] = []
    try:
        async with request.app.state.pool.acquire() as conn:
            ceremony = await trustees.ceremony(conn, primary.id)
            rounds = await trustees.decryption_status(conn, primary.id)
    except Refused:
        ceremony = None
    user = request.scope.get("user")
    return render(
        request,
        "trustees/page.html",
        {
            "primary": primary,
            "ceremony": ceremony,
            "admin": bool(user and primary.administered_by(user)),
            "rounds": rounds,
            "errors": errors,
            "values": values,
        },
        status=422 if errors else 200,
    )


RESTART_CONFIRMATION = Confirmation(
    title=_("Recommencer la cérémonie des clés ?"),
    consequences=[
        _(
            "Les générations de clé et les vérifications déjà publiées sont annulées : chaque "
            "garant relance « scrutin trustee keygen », qui tire un nouveau polynôme."
        ),
        _(
            "Le redémarrage, les garants remplacés et le motif sont inscrits au journal public, "
            "lisible par tous."
        ),
    ],
    button=_("Recommencer la cérémonie"),
    reason_label=_("Motif (public, 500 caractères au plus)"),
    reason_required=True,
)
RESTART_REPLACES = _(
    "Garant(s) remplacé(s) : {replaced}. Leur enregistrement est retiré et leurs clés ne "
    "pourront plus servir ; enregistrez ensuite leurs remplaçants sur cette page."
)


def _replaced(request: Request) -> list[Any]:
    """The indexes checked on the page (`?replaced=I` each), refused by the service if bad."""
    return [int(v) if v.isdecimal() else v for v in request.query_params.getlist("replaced")]


async def restart_confirm(request: Request) -> Response:
    """The organiser's second page before restarting the ceremony, with the public reason."""
    primary = await load_primary(request)
    await require_primary_admin(request, primary)
    replaced = _replaced(request)
    here = f"/primaries/{primary.slug}/trustees"
    consequences = list(RESTART_CONFIRMATION.consequences)
    consequences.insert(
        1,
        RESTART_REPLACES
        if replaced
        else _("Aucun garant n’est remplacé : les mêmes garants recommencent."),
    )
    confirmation = dataclasses.replace(
        RESTART_CONFIRMATION, consequences=consequences,
        params={"replaced": ", ".join(map(str, replaced))},
        action=f"{here}/restart?{request.url.query}" if request.url.query else f"{here}/restart",
        back=here,
    )  # fmt: skip
    return confirmation_page(request, confirmation)


async def restart(request: Request) -> Response:
    primary = await load_primary(request)
    await require_primary_admin(request, primary)
    form = await read_form(request)
    try:
        await _restart(request, primary, _replaced(request), str(form.get("reason", "")))
    except Refused as exc:
        return await _page(request, primary, {"restart": refusal_text(request, exc)}, {})
    flash(request, _("La cérémonie des clés recommence."))
    return RedirectResponse(f"/primaries/{primary.slug}/trustees", status_code=303)


routes = route_table(
    {
        "/api/primaries/{slug}/trustees": {"GET": ceremony_get, "POST": register_api},
        "/api/primaries/{slug}/trustees/keygen": {"POST": _post(trustees.post_keygen)},
        "/api/primaries/{slug}/trustees/ack": {"POST": _post(trustees.post_ack)},
        "/api/primaries/{slug}/trustees/restart": {"POST": restart_api},
        "/api/primaries/{slug}/rounds/{number}/sums": {"GET": sums_get},
        "/api/primaries/{slug}/rounds/{number}/decryptions": {"POST": decryption_post},
        "/primaries/{slug}/trustees": {"GET": page, "POST": page},
        "/primaries/{slug}/trustees/restart": {"GET": restart_confirm, "POST": restart},
    }
)


def _register_openapi() -> None:
    from web.views.api import OPENAPI_PATHS, ORGANISER, SLUG, _op

    number = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
    b64 = {"type": "string", "description": "base64"}
    signed = "Signed by the trustee's own key (trustee_sig, docs/audit-log.md §10); no account"
    trustee = {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "name": {"type": "string"},
            "signing_key": b64,
            "box_key": b64,
            "keygen": {"type": ["object", "null"]},
            "ack": {"type": ["object", "null"]},
        },
    }
    ceremony = {
        "type": "object",
        "properties": {
            "origin": {"type": "string"},
            "trustees_wanted": {"type": "integer"},
            "threshold": {"type": "integer"},
            "state": {"enum": ["registering", "keygen", "checking", "done", "failed"]},
            "attempt": {"type": "integer"},
            "restarts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "attempt": {"type": "integer"},
                        "replaced": {"type": "array", "items": {"type": "integer"}},
                        "reason": {"type": "string"},
                    },
                },
            },
            "trustees": {"type": "array", "items": trustee},
            "election_key": {"type": ["string", "null"]},
            "verification_keys": {"type": "array", "items": b64},
        },
    }
    accepted = {"type": "object", "properties": {"accepted": {"type": "boolean"}}}

    def signed_post(summary: str, logged: dict[str, Any]) -> dict[str, Any]:
        """A trustee's post: its body signed by its key, `logged` what the 201 answers."""
        return {
            **_op(summary, "Logged", logged, status="201", body={"type": "object"}),
            "description": signed,
        }

    def organiser_post(
        summary: str, answered: str, number: str, members: dict[str, Any]
    ) -> dict[str, Any]:
        """An organiser's post of a JSON object with these `members` (no other), answered
        201 with one integer `number`."""
        return _op(
            summary,
            answered,
            {"type": "object", "properties": {number: {"type": "integer"}}},
            status="201",
            auth=ORGANISER,
            body={"type": "object", "additionalProperties": False, "properties": members},
        )

    OPENAPI_PATHS["/api/primaries/{slug}/trustees"] = {
        "parameters": [SLUG],
        "get": _op(
            "The key ceremony of an encrypted primary: trustees, their posted contributions, "
            "the election key once made (409: the primary's ballots are sealed)",
            "Ceremony",
            ceremony,
        ),
        "post": organiser_post(
            "Register the next trustee with the public keys `scrutin trustee init` printed",
            "Registered",
            "index",
            {"name": {"type": "string"}, "signing_key": b64, "box_key": b64},
        ),
    }
    OPENAPI_PATHS["/api/primaries/{slug}/trustees/restart"] = {
        "parameters": [SLUG],
        "post": organiser_post(
            "Restart a stopped key ceremony (all trustees registered, no election key yet): "
            "the trustees `replaced` are unregistered, every keygen and ack is void; logged "
            "with the public `reason`",
            "Restarted",
            "attempt",
            {
                "replaced": {"type": "array", "items": {"type": "integer"}},
                "reason": {"type": "string"},
            },
        ),
    }
    for step, summary in (
        ("keygen", "Post a trustee's commitments, proof of knowledge and sealed shares"),
        ("ack", "Post a trustee's check of the shares it received (complaints, if any)"),
    ):
        OPENAPI_PATHS[f"/api/primaries/{{slug}}/trustees/{step}"] = {
            "parameters": [SLUG],
            "post": signed_post(summary, accepted),
        }
    OPENAPI_PATHS["/api/primaries/{slug}/rounds/{number}/sums"] = {
        "parameters": [SLUG, number],
        "get": _op(
            "A closed round's sums of encrypted ballots, with the log entry carrying them",
            "Sums",
            {
                "type": "object",
                "properties": {
                    "sums": {"type": "object"},
                    "index": {"type": "integer"},
                    "entry": b64,
                },
            },
        ),
    }
    OPENAPI_PATHS["/api/primaries/{slug}/rounds/{number}/decryptions"] = {
        "parameters": [SLUG, number],
        "post": signed_post(
            "Post a trustee's decryption shares of the round's sums, with their proofs",
            {
                "type": "object",
                "properties": {
                    "accepted": {"type": "boolean"},
                    "decryptions": {"type": "integer"},
                    "threshold": {"type": "integer"},
                    "decrypted": {"type": "boolean"},
                },
            },
        ),
    }


_register_openapi()
