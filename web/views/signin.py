"""Signing in and out: by e-mail link or code, organisers by password, also over the JSON
API; and the demo outbox, where whoever runs the demo reads the mail it would send."""

from __future__ import annotations

import re
from email import policy as email_policy
from email.parser import BytesParser
from email.utils import getaddresses
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from voting import accounts
from voting.accounts import Account
from voting.mail import outbox_folder
from web import csrf
from web.auth import flash, log_in, log_out, safe_next
from web.ratelimit import (
    MAX_IMPORT_FILE_BYTES,
    SIGNIN_LIMIT_PER_EMAIL,
    SIGNIN_LIMIT_PER_IP,
    rate_limit,
)
from web.templating import render
from web.views.base import (
    BAD_FORM,
    REQUIRED,
    _,
    endpoint,
    json_body,
    json_error,
    read_form,
    route_table,
    text_field,
)

# The forms of the account pages: small, one file at most (the eligibility list's import).
FORM_LIMITS = {"max_files": 1, "max_fields": 50, "max_part_size": MAX_IMPORT_FILE_BYTES}
MAX_NEXT_LENGTH = 2000

INVALID_EMAIL = _("Saisissez une adresse électronique valide, par exemple nom@exemple.fr.")
BAD_CODE = _("Ce code n’est pas valable : vérifiez-le, ou demandez un nouveau courriel.")
BAD_LINK = _(
    "Ce lien de connexion n’est plus valable (déjà utilisé ou expiré). Demandez-en un nouveau."
)
SIGNED_IN = _("Vous êtes connecté·e.")


def _email_field(form: FormData, errors: dict[str, str], name: str = "email") -> str:
    raw = text_field(form, name, accounts.MAX_EMAIL_LENGTH, errors)
    if name in errors:
        errors[name] = _("L’adresse électronique est trop longue (254 caractères au plus).")
        return raw
    if not raw.strip():
        errors[name] = REQUIRED
        return raw
    try:
        return accounts.normalize_email(raw)
    except accounts.InvalidEmail:
        errors[name] = INVALID_EMAIL
        return raw


def _next(value: str | None) -> str:
    return safe_next(value, "/account")


def _next_field(form: FormData) -> str:
    """The hidden `next` field: never typed by people, so an overlong one is a forged form."""
    raw = form.get("next")
    if isinstance(raw, str) and len(raw) > MAX_NEXT_LENGTH:
        raise HTTPException(400, BAD_FORM)
    return _next(raw if isinstance(raw, str) else None)


async def _signin_with_code(request: Request, email: str, code: str) -> Account | None:
    """Spend a sign-in code and open the session; None for a wrong, used or expired code."""
    async with request.app.state.units() as uow:
        account = await accounts.signin_with_code(
            uow.conn, email, code, secret_key=request.app.state.secret_key
        )
        if account is not None:
            await log_in(request, uow.conn, account)
    return account


def account_json(account: Account | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {
        "id": str(account.id),
        "email": account.email,
        "display_name": account.display_name,
        "is_organiser": account.is_organiser,
    }


async def signin_limits(request: Request, email: str | None, bucket: str) -> None:
    await rate_limit(request, "signin", *SIGNIN_LIMIT_PER_IP)
    if email:
        await rate_limit(request, f"signin-{bucket}", *SIGNIN_LIMIT_PER_EMAIL, key=email)


async def signin_page(request: Request) -> Response:
    next_url = _next(request.query_params.get("next"))
    if request.scope.get("user") is not None:
        return RedirectResponse(next_url, status_code=303)
    return render(request, "accounts/signin.html", {"next": next_url, "errors": {}, "values": {}})


async def signin_request(request: Request) -> Response:
    form = await read_form(request, **FORM_LIMITS)
    errors: dict[str, str] = {}
    email = _email_field(form, errors)
    next_url = _next_field(form)
    if errors:
        return render(
            request,
            "accounts/signin.html",
            {"next": next_url, "errors": errors, "values": {"email": email}},
            400,
        )
    await signin_limits(request, email, "email")
    async with request.app.state.units() as uow:
        await accounts.request_signin(
            uow.conn,
            email,
            secret_key=request.app.state.secret_key,
        )
    request.session["signin_email"] = email
    request.session["signin_next"] = next_url
    return RedirectResponse("/signin/code", status_code=303)


async def code_page(request: Request) -> Response:
    email = request.session.get("signin_email", "")
    return render(request, "accounts/signin_code.html", {"errors": {}, "values": {"email": email}})


async def code_submit(request: Request) -> Response:
    form = await read_form(request, **FORM_LIMITS)
    errors: dict[str, str] = {}
    email = _email_field(form, errors)
    code = text_field(form, "code", 32, errors)
    if not code.strip() and "code" not in errors:
        errors["code"] = REQUIRED
    values = {"email": email, "code": code}
    if errors:
        return render(
            request, "accounts/signin_code.html", {"errors": errors, "values": values}, 400
        )
    await signin_limits(request, email, "code")
    account = await _signin_with_code(request, email, code)
    if account is None:
        errors["code"] = BAD_CODE
        return render(
            request, "accounts/signin_code.html", {"errors": errors, "values": values}, 400
        )
    return _signed_in(request)


async def link_page(request: Request) -> Response:
    token = request.query_params.get("token", "")[: accounts.MAX_TOKEN_LENGTH + 1]
    # A page with a button, not an immediate sign-in: mail scanners that open links must
    # not spend the single-use token. It says which account the link signs into.
    async with request.app.state.pool.acquire() as conn:
        email = await accounts.link_email(conn, token)
    context = {"token": token, "email": masked_email(email) if email else None}
    return render(request, "accounts/signin_link.html", context)


def masked_email(email: str) -> str:
    """The address partly masked (`ma•••@example.org`): its owner recognises it, someone
    shown a forwarded link or a screenshot does not read it whole."""
    local, _, domain = email.rpartition("@")
    shown = local[:2] if len(local) > 3 else local[:1]
    return f"{shown}•••@{domain}"


async def link_submit(request: Request) -> Response:
    form = await read_form(request, **FORM_LIMITS)
    token = text_field(form, "token", accounts.MAX_TOKEN_LENGTH, {})
    await signin_limits(request, None, "link")
    async with request.app.state.units() as uow:
        account = await accounts.signin_with_link(uow.conn, token)
        if account is not None:
            await log_in(request, uow.conn, account)
    if account is None:
        return render(
            request,
            "accounts/signin.html",
            {"next": "/account", "errors": {"link": BAD_LINK}, "values": {}},
            400,
        )
    return _signed_in(request)


async def password_submit(request: Request) -> Response:
    form = await read_form(request, **FORM_LIMITS)
    errors: dict[str, str] = {}
    email = _email_field(form, errors, "organiser_email")
    password = text_field(form, "password", accounts.MAX_PASSWORD_LENGTH, errors)
    next_url = _next_field(form)
    if not password and "password" not in errors:
        errors["password"] = REQUIRED
    values = {"organiser_email": email}
    if errors:
        return render(
            request,
            "accounts/signin.html",
            {"next": next_url, "errors": errors, "values": values, "tab": "password"},
            400,
        )
    await signin_limits(request, email, "password")
    async with request.app.state.units() as uow:
        account = await accounts.signin_with_password(uow.conn, email, password)
        if account is not None:
            await log_in(request, uow.conn, account)
    if account is None:
        errors["password"] = _("Adresse électronique ou mot de passe incorrect.")
        return render(
            request,
            "accounts/signin.html",
            {"next": next_url, "errors": errors, "values": values, "tab": "password"},
            400,
        )
    request.session["signin_next"] = next_url
    return _signed_in(request)


def _signed_in(request: Request) -> Response:
    next_url = _next(request.session.pop("signin_next", None))
    request.session.pop("signin_email", None)
    flash(request, SIGNED_IN)
    return RedirectResponse(next_url, status_code=303)


async def signout(request: Request) -> Response:
    await log_out(request)
    flash(request, _("Vous êtes déconnecté·e."))
    return RedirectResponse("/", status_code=303)


# ---------------------------------------------------------------- JSON API


@endpoint
async def api_signin(request: Request) -> Response:
    """POST /api/signin {"email"}: mail a sign-in link and code (202)."""
    body = await json_body(request, {"email"})
    email = body.get("email")
    if not isinstance(email, str) or not email.strip():
        return json_error(request, 400, REQUIRED, "email")
    try:
        email = accounts.normalize_email(email)
    except accounts.InvalidEmail:
        return json_error(request, 400, INVALID_EMAIL, "email")
    await signin_limits(request, email, "email")
    async with request.app.state.units() as uow:
        sent = await accounts.request_signin(
            uow.conn,
            email,
            secret_key=request.app.state.secret_key,
        )
    expires_in = int(accounts.SIGNIN_TTL.total_seconds())
    return JSONResponse({"status": "sent", "email": sent.email, "expires_in": expires_in}, 202)


@endpoint
async def api_signin_code(request: Request) -> Response:
    """POST /api/signin/code {"email", "code"}: sign in with the mailed code."""
    body = await json_body(request, {"email", "code"})
    email, code = body.get("email"), body.get("code")
    for field, value in (("email", email), ("code", code)):
        if not isinstance(value, str) or not value.strip() or len(value) > 254:
            return json_error(request, 400, REQUIRED, field)
    assert isinstance(email, str) and isinstance(code, str)
    await signin_limits(request, email.strip().lower(), "code")
    account = await _signin_with_code(request, email, code)
    if account is None:
        return json_error(request, 400, BAD_CODE, "code")
    return JSONResponse({"account": account_json(account), "csrf_token": csrf.csrf_token(request)})


# ---------------------------------------------------------------- demo outbox

_URL = re.compile(r"https?://[^\s<>\"']+")


def _outbox_messages(
    request: Request, limit: int = 50, to: str | None = None
) -> list[dict[str, Any]]:
    """The latest messages, or only those addressed to ``to`` when it is given."""
    folder = outbox_folder(request.app.state.settings.data_dir)
    if not folder.is_dir():
        return []
    messages: list[dict[str, Any]] = []
    parser = BytesParser(policy=email_policy.default)
    for path in sorted(folder.glob("*.eml"), reverse=True):
        if len(messages) >= limit:
            break
        try:
            message = parser.parsebytes(path.read_bytes())
            if to is not None and to not in (
                address.casefold() for _name, address in getaddresses([str(message["To"])])
            ):
                continue
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
        except (OSError, ValueError, LookupError):
            continue
        messages.append(
            {
                "to": str(message.get("To", "")),
                "subject": str(message.get("Subject", "")),
                "date": str(message.get("Date", "")),
                "parts": _linkify(text),
            }
        )
    return messages


def _linkify(text: str) -> list[tuple[str, str | None]]:
    """(text, href) pieces; links become local paths so they work on any demo host."""
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for match in _URL.finditer(text):
        pieces.append((text[position : match.start()], None))
        parts = urlsplit(match.group(0))
        local = parts.path + (f"?{parts.query}" if parts.query else "")
        pieces.append((match.group(0), safe_next(local, "/")))
        position = match.end()
    pieces.append((text[position:], None))
    return pieces


def _from_this_machine(request: Request) -> bool:
    try:
        return request.client is not None and ip_address(request.client.host).is_loopback
    except ValueError:  # not an IP address (a test client, a Unix socket)
        return False


async def demo_outbox(request: Request) -> Response:
    """Every account's sign-in codes for whoever runs the demo on this machine; anyone else
    sees only the mail of the address this browser asked a code for."""
    if not getattr(request.app.state.settings, "demo", False):
        raise HTTPException(404)
    everyone = _from_this_machine(request)
    asked = str(request.session.get("signin_email") or "").casefold()
    messages = _outbox_messages(request, to=None if everyone else asked)
    return render(request, "accounts/outbox.html", {"messages": messages, "everyone": everyone})


routes = route_table(
    {
        "/signin": {"GET": signin_page, "POST": signin_request},
        "/signin/code": {"GET": code_page, "POST": code_submit},
        "/signin/link": {"GET": link_page, "POST": link_submit},
        "/signin/password": {"POST": password_submit},
        "/signout": {"POST": signout},
        "/api/signin": {"POST": api_signin},
        "/api/signin/code": {"POST": api_signin_code},
        "/demo/outbox": {"GET": demo_outbox},
    }
)
