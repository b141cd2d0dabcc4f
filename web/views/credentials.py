"""Voter-held credentials over the JSON API (docs/audit-log.md §8 "Voter-held credentials").

The device makes the key and keeps it; the server sees the public half only:

    GET  /api/primaries/{slug}/credential            the signed-in citizen's key in force
    POST /api/primaries/{slug}/credential            {"public_key": b64} or {} (assisted),
                                                     "replace": true revokes the key in force
    POST /api/primaries/{slug}/rounds/{n}/seal       {"grades": {…}, "blank": bool} → the
                                                     sealed ballot, a token, the bytes to sign
    POST /api/primaries/{slug}/rounds/{n}/ballot     {"sealed", "token", "signature"} (device)
                                                     or {"grades", "blank"} (assisted key)
"""

from __future__ import annotations

import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from crypto.encoding import b64decode, b64encode
from voting import ballots, credentials
from voting.log import readers as log_readers
from voting.refusals import Refused, _
from web.auth import require_account
from web.errors import refusal_status
from web.templating import render
from web.views.api import api_primary
from web.views.base import (
    BadRequest,
    change,
    endpoint,
    json_body,
    json_error,
    load_primary,
    refusal_text,
    refused,
    route_table,
)

NOT_FOUND = _("Introuvable.")
BAD_BASE64 = _("Valeur base64 invalide.")


async def _primary_id(request: Request, conn: Any) -> Any:
    return (await api_primary(request, conn)).id


def _members(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        name = unknown[0][:100]
        raise Refused("unknown-member", field=name, name=name)


def _bytes(body: dict[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str):
        raise BadRequest(422, BAD_BASE64, name)
    try:
        return b64decode(value)
    except (ValueError, binascii.Error):
        raise BadRequest(422, BAD_BASE64, name) from None


def _number(request: Request) -> int:
    raw = request.path_params["number"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise BadRequest(404, NOT_FOUND)
    return int(raw)


def _credential_json(c: credentials.Credential) -> dict[str, Any]:
    return {"credential": c.b64, "assisted": c.assisted}


@endpoint
async def credential_get(request: Request) -> Response:
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        pid = await _primary_id(request, conn)
        found = await credentials.credential_in_force(conn, pid, user.id)
        origin = await log_readers.origin(conn, pid)
    if found is None:
        return json_error(request, 404, NOT_FOUND, "credential")
    return JSONResponse({**_credential_json(found), "origin": origin})


@endpoint
async def credential_register(request: Request) -> Response:
    user = await require_account(request)
    body = await json_body(request)
    _members(body, {"public_key", "replace"})
    public = _bytes(body, "public_key") if body.get("public_key") is not None else None
    if public is not None and len(public) != 32:
        raise BadRequest(422, BAD_BASE64, "public_key")
    async with request.app.state.units() as uow:
        pid = await _primary_id(request, uow.conn)
        made = await credentials.register(
            uow.conn, uow.log, secret_key=request.app.state.secret_key,
            primary_id=pid, account_id=user.id, public_key=public,
            replace=body.get("replace") is True,
        )  # fmt: skip
    return JSONResponse(_credential_json(made), status_code=201)


def _grades(body: dict[str, Any]) -> dict[str, Any]:
    grades = body.get("grades", {})
    if not isinstance(grades, dict):
        raise BadRequest(422, _("« grades » doit être un objet."), "grades")
    return grades


def _cast_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ballots.BallotError):
        field, message = next(iter(exc.errors.items()))
        return json_error(request, 422, message, f"grades.{field}" if field else "grades")
    assert isinstance(exc, Refused)
    response = refused(request, exc)
    response.headers["Scrutin-Refusal"] = exc.reason
    return response


@endpoint
async def seal(request: Request) -> Response:
    user = await require_account(request)
    body = await json_body(request)
    _members(body, {"grades", "blank"})
    number = _number(request)
    async with request.app.state.units() as uow:
        pid = await _primary_id(request, uow.conn)
        origin = await log_readers.origin(uow.conn, pid)
        assert origin is not None, pid  # a primary's log is created with it
        try:
            sealed, token = await ballots.seal_for_signature(
                uow.conn, secret_key=request.app.state.secret_key, primary_id=pid, number=number,
                account_id=user.id, grades=_grades(body), blank=body.get("blank") is True,
            )  # fmt: skip
        except Refused as exc:  # BallotError included
            return _cast_error(request, exc)
    return JSONResponse(
        {
            "sealed": b64encode(sealed),
            "token": token,
            "message": b64encode(credentials.ballot_message(origin, number, sealed)),
        }
    )


@endpoint
async def ballot(request: Request) -> Response:
    user = await require_account(request)
    body = await json_body(request)
    _members(body, {"grades", "blank", "sealed", "token", "signature", "encrypted",
                    "credential_sig"})  # fmt: skip
    signed = None
    encrypted = None
    if "encrypted" in body:  # an encrypted round (§10): the blob the client built and signed
        from voting.encrypted_rounds import EncryptedCast

        encrypted = EncryptedCast(_bytes(body, "encrypted"), _bytes(body, "credential_sig"))
    if "signature" in body:
        token = body.get("token")
        if not isinstance(token, str):
            raise BadRequest(422, _("Jeton manquant."), "token")
        signed = ballots.SignedBallot(
            _bytes(body, "sealed"), token[:128], _bytes(body, "signature")
        )
    number = _number(request)
    async with request.app.state.units() as uow:
        pid = await _primary_id(request, uow.conn)
        try:
            queued = await ballots.cast(
                uow.conn, uow.log, primary_id=pid, number=number, account_id=user.id,
                grades=_grades(body), blank=body.get("blank") is True,
                secret_key=request.app.state.secret_key, signed=signed, encrypted=encrypted,
            )  # fmt: skip
        except Refused as exc:  # BallotError included
            return _cast_error(request, exc)
    return JSONResponse({"round": number, "tracker": queued.tracker}, status_code=201)


# -- pages ----------------------------------------------------------------------------------


async def _key_page(request: Request, error_text: str | None = None, status: int = 200) -> Response:
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        found = await credentials.credential_in_force(conn, primary.id, user.id)
        frozen = bool(
            await conn.fetchval(
                "SELECT 1 FROM rounds WHERE primary_id = $1 AND status = 'open'", primary.id
            )
        )
    return render(
        request,
        "credentials/key.html",
        {
            "primary": primary,
            "voter_mode": credentials.uses_voter_credentials(primary.definition),
            "credential": found,
            "frozen": frozen,
            "error": error_text,
        },
        status,
    )


async def key_page(request: Request) -> Response:
    return await _key_page(request)


async def key_assisted(request: Request) -> Response:
    """The no-JavaScript path: an assisted key, made and kept by the service."""
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
    try:
        await change(
            request,
            credentials.register,
            secret_key=request.app.state.secret_key,
            primary_id=primary.id,
            account_id=user.id,
        )
    except Refused as exc:
        return await _key_page(request, refusal_text(request, exc), refusal_status(exc))
    return RedirectResponse(f"/primaries/{primary.slug}/credential", status_code=303)


routes = route_table(
    {
        "/primaries/{slug}/credential": {"GET": key_page, "POST": key_assisted},
        "/api/primaries/{slug}/credential": {"GET": credential_get, "POST": credential_register},
        "/api/primaries/{slug}/rounds/{number}/seal": {"POST": seal},
        "/api/primaries/{slug}/rounds/{number}/ballot": {"POST": ballot},
    }
)


def _register_openapi() -> None:
    from web.views.api import OPENAPI_PATHS, SIGNED_IN, SLUG, _op

    number = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
    key = {"type": "object", "properties": {
        "credential": {"type": "string", "description": "Ed25519 public key, base64"},
        "assisted": {"type": "boolean"},
        "origin": {"type": "string", "description": "GET only: the log origin"}}}  # fmt: skip
    grades = {
        "grades": {"type": "object", "additionalProperties": {"type": "integer"}},
        "blank": {"type": "boolean", "default": False},
    }
    OPENAPI_PATHS["/api/primaries/{slug}/credential"] = {
        "parameters": [SLUG],
        "get": _op("The signed-in citizen's voting key in force (404: none)", "Key", key,
                   auth=SIGNED_IN),
        "post": _op(
            "Register the voting key made on the citizen's device (public half only), or "
            "without public_key an assisted key the service keeps; replace: true revokes the "
            "key in force. Refused (409) while a round is open: its roll is frozen",
            "Registered", key, status="201", auth=SIGNED_IN,
            body={"type": "object", "additionalProperties": False, "properties": {
                "public_key": {"type": "string", "description": "32 bytes, base64"},
                "replace": {"type": "boolean", "default": False}}},
        ),
    }  # fmt: skip
    OPENAPI_PATHS["/api/primaries/{slug}/rounds/{number}/seal"] = {
        "parameters": [SLUG, number],
        "post": _op(
            "Seal a ballot for the voter's key to sign (docs/audit-log.md §8): message is the "
            "exact bytes to sign; nothing is recorded",
            "Sealed", {"type": "object", "properties": {
                "sealed": {"type": "string"}, "token": {"type": "string"},
                "message": {"type": "string"}}},
            auth=SIGNED_IN,
            body={"type": "object", "additionalProperties": False, "properties": grades},
        ),
    }  # fmt: skip
    OPENAPI_PATHS["/api/primaries/{slug}/rounds/{number}/ballot"] = {
        "parameters": [SLUG, number],
        "post": _op(
            "Cast a ballot under credentials: voter: the sealed ballot, its token and the "
            "signature by the voter's key, or the grades for an assisted key; in an encrypted "
            "round (docs/audit-log.md §10) the blob the voter's device encrypted and its "
            "credential_sig, or the grades for an assisted key (the service encrypts them); a "
            "new ballot replaces the voter's previous one until the round closes",
            "Cast", {"type": "object", "properties": {
                "round": {"type": "integer"}, "tracker": {"type": "string"}}},
            status="201", auth=SIGNED_IN,
            body={"type": "object", "additionalProperties": False, "properties": {
                **grades, "sealed": {"type": "string"}, "token": {"type": "string"},
                "signature": {"type": "string", "description": "64 bytes, base64"},
                "encrypted": {"type": "string", "description": "the §10 blob, base64"},
                "credential_sig": {"type": "string", "description": "64 bytes, base64"}}},
        ),
    }  # fmt: skip


_register_openapi()
