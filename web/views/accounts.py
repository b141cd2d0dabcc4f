"""My account: the profile, my supports and my candidacies, an organiser's password; the
same over the JSON API (with the session and its CSRF token)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from voting import accounts, candidacies, supports
from voting.accounts import Account
from voting.refusals import Refused
from web import csrf
from web.auth import SESSION_KEY, SIGN_IN_REQUIRED, flash, require_account
from web.templating import render
from web.views.base import (
    BAD_FORM,
    NOT_TEXT,
    STATUS_LABELS,
    _,
    endpoint,
    json_error,
    read_form,
    route_table,
    signed_in_json,
    text_field,
)
from web.views.signin import FORM_LIMITS, account_json, signin_limits


async def _account_context(request: Request, account_id: UUID) -> dict[str, Any]:
    """The profile and "my supports, my candidacies", for the page and for GET /api/account."""
    async with request.app.state.pool.acquire() as conn:
        profile = await accounts.get_profile(conn, account_id)
        given = await supports.supports_of_account(conn, account_id)
        declared = await candidacies.candidacies_of_account(conn, account_id)
    return {"profile": profile, "participation": {"supports": given, "candidacies": declared}}


async def _account_page(
    request: Request,
    account_id: UUID,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    """The account page; with `errors` (a form refused), a 400."""
    context = await _account_context(request, account_id)
    profile = context["profile"]
    shown = {"display_name": profile["display_name"], **(values or {})}
    return render(
        request,
        "accounts/account.html",
        {**context, "values": shown, "errors": errors or {}, "status_labels": STATUS_LABELS},
        400 if errors else 200,
    )


async def account_page(request: Request) -> Response:
    user = await require_account(request)
    return await _account_page(request, user.id)


async def account_update(request: Request) -> Response:
    user = await require_account(request)
    form = await read_form(request, **FORM_LIMITS)
    if "display_name" not in form:  # a form that lost its fields must not erase the name
        raise HTTPException(400, BAD_FORM)
    errors: dict[str, str] = {}
    name = text_field(form, "display_name", accounts.MAX_DISPLAY_NAME_LENGTH, errors)
    values = {"display_name": name}
    if not errors:
        try:
            async with request.app.state.units() as uow:
                await accounts.update_profile(uow.conn, user.id, display_name=name)
        except Refused as exc:
            errors[exc.field or "form"] = exc.message
    return await _saved(request, user, _("Vos informations ont été enregistrées."), values, errors)


async def password_update(request: Request) -> Response:
    """POST /account/password: an organiser sets or changes their password."""
    user = await require_account(request)
    form = await read_form(request, **FORM_LIMITS)
    errors: dict[str, str] = {}
    current = text_field(form, "current_password", accounts.MAX_PASSWORD_LENGTH, errors)
    new = text_field(form, "new_password", accounts.MAX_PASSWORD_LENGTH, errors)
    again = text_field(form, "new_password_again", accounts.MAX_PASSWORD_LENGTH, errors)
    if not errors and new != again:
        errors["new_password_again"] = _("Les deux saisies du nouveau mot de passe diffèrent.")
    if not errors:
        try:
            await _change_password(request, user, current, new)
        except Refused as exc:
            errors[exc.field or "form"] = exc.message
    return await _saved(
        request,
        user,
        _("Mot de passe enregistré ; vos autres sessions ont été fermées."),
        None,
        errors,
    )


async def _saved(
    request: Request,
    user: Account,
    saved: str,
    values: dict[str, Any] | None,
    errors: dict[str, str],
) -> Response:
    """After a form of the account page: the page again with its errors (400), or back to it
    with `saved` said."""
    if errors:
        return await _account_page(request, user.id, values, errors)
    flash(request, saved)
    return RedirectResponse("/account", status_code=303)


async def _change_password(request: Request, user: Account, current: str, new: str) -> None:
    """Set the organiser's new password (the current one checked); their other sessions end.
    Limited as sign-ins are: the current password could be guessed here."""
    await signin_limits(request, user.email, "password")
    async with request.app.state.units() as uow:
        await accounts.change_password(
            uow.conn, user.id, current=current, new=new,
            keep_session=request.session.get(SESSION_KEY),
        )  # fmt: skip


# ---------------------------------------------------------------- JSON API


async def api_session(request: Request) -> Response:
    """GET /api/session: who is signed in, and the CSRF token for X-CSRF-Token."""
    user = request.scope.get("user")
    return JSONResponse(
        {
            "signed_in": user is not None,
            "account": account_json(user),
            "csrf_token": csrf.csrf_token(request),
        }
    )


def _participation_json(participation: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def item(row: dict[str, Any]) -> dict[str, Any]:
        data = {
            "candidate": str(row["id"]),
            "name": row["name"],
            "status": row["status"],
            "support_count": row["support_count"],
            "primary": row["slug"],
            "url": f"/primaries/{row['slug']}/candidates/{row['id']}",
        }
        if "threshold" in row:
            data["threshold"] = row["threshold"]
        return data

    return {
        "supports": [item(r) for r in participation["supports"]],
        "candidacies": [item(r) for r in participation["candidacies"]],
    }


async def api_account(request: Request) -> Response:
    """GET /api/account: my profile, the candidates I support, my candidacies."""
    user = request.scope.get("user")
    if user is None:
        return json_error(request, 401, SIGN_IN_REQUIRED)
    context = await _account_context(request, user.id)
    profile = context["profile"]
    return JSONResponse(
        {
            "account": account_json(user),
            "has_password": profile["has_password"],
            **_participation_json(context["participation"]),
        }
    )


@endpoint
async def api_account_update(request: Request) -> Response:
    """PATCH /api/account {"display_name"?}."""
    user, body = await signed_in_json(request, {"display_name"})
    async with request.app.state.pool.acquire() as conn:
        profile = await accounts.get_profile(conn, user.id)
    values = {"display_name": body.get("display_name", profile["display_name"])}
    for name, value in values.items():
        if not isinstance(value, str):
            return json_error(request, 422, NOT_TEXT, name)
    async with request.app.state.units() as uow:
        account = await accounts.update_profile(uow.conn, user.id, **values)
    return JSONResponse({"account": account_json(account)})


@endpoint
async def api_password(request: Request) -> Response:
    """POST /api/account/password {"current_password", "new_password"} (organisers)."""
    user, body = await signed_in_json(request, {"current_password", "new_password"})
    current, new = body.get("current_password", ""), body.get("new_password")
    for name, value in (("current_password", current), ("new_password", new)):
        if not isinstance(value, str):
            return json_error(request, 422, NOT_TEXT, name)
    assert isinstance(current, str) and isinstance(new, str)
    await _change_password(request, user, current, new)
    return JSONResponse({"status": "saved"})


routes = route_table(
    {
        "/account": {"GET": account_page, "POST": account_update},
        "/account/password": {"POST": password_update},
        "/api/session": {"GET": api_session},
        "/api/account": {"GET": api_account, "PATCH": api_account_update},
        "/api/account/password": {"POST": api_password},
    }
)
