"""Accounts pages: sign-in (link, code, organiser password), sign-out, my account, the demo
outbox, and the eligibility pages of a primary (citizen request, organiser admin)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from email import policy as email_policy
from email.parser import BytesParser
from email.utils import getaddresses
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from voting import accounts, candidacies, eligibility, supports
from voting.accounts import Account
from voting.mail import outbox_folder
from web import csrf
from web.auth import (
    ORGANISERS_ONLY,
    SESSION_KEY,
    SIGN_IN_REQUIRED,
    flash,
    log_in,
    log_out,
    require_account,
    safe_next,
)
from web.i18n import request_language, translator
from web.ratelimit import (
    MAX_IMPORT_FILE_BYTES,
    SIGNIN_LIMIT_PER_EMAIL,
    SIGNIN_LIMIT_PER_IP,
    count_hit,
    rate_limit,
    wait_before,
)
from web.templating import render
from web.views.primaries import STATUS_LABELS, truncated_multipart


def _(message: str) -> str:
    """Marks a message for translation; it is translated where it is shown."""
    return message


MAX_CSV_BYTES = MAX_IMPORT_FILE_BYTES
# Claims of an invitation code: attempts per account, and failed attempts per primary from
# every account together (so that many accounts cannot share out the guessing).
CLAIM_LIMIT_PER_ACCOUNT = (10, 900)
CLAIM_FAILURES_PER_PRIMARY = (300, 900)
MAX_CODE_FIELD = 64
# Invitation codes shown after an import: the page lists this many, the CSV has them all.
CODES_SHOWN = 200
MAX_NEXT_LENGTH = 2000
NO_APPROVAL = _(
    "Cette primaire ne se fait pas sur demande d’approbation : la page « Puis-je participer ? » "
    "dit comment y prendre part."
)

INVALID_EMAIL = _("Saisissez une adresse électronique valide, par exemple nom@exemple.fr.")
EMAIL_TOO_LONG = _("L’adresse électronique est trop longue (254 caractères au plus).")
BAD_CREDENTIALS = _("Adresse électronique ou mot de passe incorrect.")
BAD_CODE = _("Ce code n’est pas valable : vérifiez-le, ou demandez un nouveau courriel.")
BAD_LINK = _(
    "Ce lien de connexion n’est plus valable (déjà utilisé ou expiré). Demandez-en un nouveau."
)
FIELD_TOO_LONG = _("Ce champ est trop long.")
REQUIRED = _("Ce champ est obligatoire.")
SIGNED_IN = _("Vous êtes connecté·e.")
SIGNED_OUT = _("Vous êtes déconnecté·e.")
PROFILE_SAVED = _("Vos informations ont été enregistrées.")
PASSWORD_SAVED = _("Mot de passe enregistré ; vos autres sessions ont été fermées.")
PASSWORDS_DIFFER = _("Les deux saisies du nouveau mot de passe diffèrent.")
REQUEST_SENT = _("Votre demande a été transmise aux organisateur·rices.")
IMPORT_DONE = _("Liste importée.")
CLAIM_DONE = _("Numéro d’électeur enregistré : il est lié à votre compte pour cette primaire.")
DECISION_SAVED = _("Décision enregistrée.")
BAD_FORM = _("Formulaire illisible : rechargez la page et réessayez.")
BAD_JSON = _("Corps JSON attendu : un objet.")
UNKNOWN_MEMBER = _("Membre inconnu.")
NOT_TEXT = _("Ce champ doit être un texte.")

# Messages produced by the domain (voting/), listed here so that they get translated.
DOMAIN_MESSAGES = [
    _("Le mot de passe doit compter au moins 10 caractères."),
    _("Le mot de passe est trop long (1 024 caractères au plus)."),
    _("Seuls les organisateur·rices ont un mot de passe."),
    _("Saisissez votre mot de passe actuel."),
    _("Le mot de passe actuel est incorrect."),
    _("Le nom affiché ne peut dépasser 120 caractères."),
    _("Le nom affiché contient des caractères interdits."),
    _("Numéro d’électeur invalide : lettres, chiffres, « . », « - » ou « / » (64 au plus)."),
    _("Un code d’invitation compte 12 lettres et chiffres, par exemple K7QM-3WXA-9HTE."),
    _("Cette primaire n’a pas de liste de participant·es : il n’y a rien à réclamer."),
    _("Votre compte a déjà réclamé un numéro d’électeur dans cette primaire."),
    _("Numéro d’électeur ou code d’invitation incorrect, ou code déjà utilisé."),
    _(
        "Cette adresse mène à la même boîte aux lettres qu’un autre compte : seul ce compte-là"
        " peut participer."
    ),
    _(
        "Une seule valeur par ligne, ou un numéro d’électeur suivi de l’adresse où envoyer"
        " son code."
    ),
    _("Compte introuvable."),
    _("Vous pouvez participer à cette primaire."),
    _("Primaire introuvable."),
    _("Votre adresse électronique n’est pas vérifiée."),
    _("Les adresses jetables ne sont pas acceptées dans cette primaire."),
    _("Votre adresse ou votre numéro d’électeur ne figure pas sur la liste des participant·es."),
    _("Cette primaire demande l’accord des organisateur·rices : faites une demande."),
    _("Votre demande est en attente de l’accord des organisateur·rices."),
    _("Votre demande de participation a été refusée."),
    _("Les règles de participation de cette primaire sont invalides."),
    _("Le fichier doit être en UTF-8 (texte CSV)."),
    _("Trop de lignes (100 000 au plus)."),
    _("Ni une adresse électronique valide, ni un numéro d’électeur valide."),
    _("La liste est vide."),
]


# ---------------------------------------------------------------- helpers


async def _form(request: Request) -> FormData:
    if await truncated_multipart(request):
        raise HTTPException(400, BAD_FORM)
    try:
        return await request.form(max_files=1, max_fields=50, max_part_size=MAX_CSV_BYTES)
    except HTTPException:
        raise
    except Exception:
        raise HTTPException(400, BAD_FORM) from None


def _text(form: FormData, name: str, max_length: int, errors: dict[str, str]) -> str:
    """A text field; an overlong one is reported in `errors` (and kept as typed)."""
    value = form.get(name)
    text = value if isinstance(value, str) else ""
    if len(text) > max_length:
        errors[name] = FIELD_TOO_LONG
    return text


def _email_field(form: FormData, errors: dict[str, str], name: str = "email") -> str:
    raw = _text(form, name, accounts.MAX_EMAIL_LENGTH, errors)
    if name in errors:
        errors[name] = EMAIL_TOO_LONG
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


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _account_json(account: Account | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {
        "id": str(account.id),
        "email": account.email,
        "display_name": account.display_name,
        "is_organiser": account.is_organiser,
    }


def _json_error(request: Request, status: int, message: str, field: str | None = None) -> Response:
    gettext = translator(request_language(request))
    error: dict[str, Any] = {"status": status, "message": gettext(message)}
    if field is not None:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status)


async def _signin_limits(request: Request, email: str | None, bucket: str) -> None:
    await rate_limit(request, "signin", *SIGNIN_LIMIT_PER_IP)
    if email:
        await rate_limit(request, f"signin-{bucket}", *SIGNIN_LIMIT_PER_EMAIL, key=email)


# ---------------------------------------------------------------- sign-in


async def signin_page(request: Request) -> Response:
    next_url = _next(request.query_params.get("next"))
    if request.scope.get("user") is not None:
        return RedirectResponse(next_url, status_code=303)
    return render(request, "accounts/signin.html", {"next": next_url, "errors": {}, "values": {}})


async def signin_request(request: Request) -> Response:
    form = await _form(request)
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
    await _signin_limits(request, email, "email")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        await accounts.request_signin(
            conn,
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
    form = await _form(request)
    errors: dict[str, str] = {}
    email = _email_field(form, errors)
    code = _text(form, "code", 32, errors)
    if not code.strip() and "code" not in errors:
        errors["code"] = REQUIRED
    values = {"email": email, "code": code}
    if errors:
        return render(
            request, "accounts/signin_code.html", {"errors": errors, "values": values}, 400
        )
    await _signin_limits(request, email, "code")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_code(
            conn, email, code, secret_key=request.app.state.secret_key
        )
        if account is not None:
            await log_in(request, conn, account)
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
    form = await _form(request)
    token = _text(form, "token", accounts.MAX_TOKEN_LENGTH, {})
    await _signin_limits(request, None, "link")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_link(conn, token)
        if account is not None:
            await log_in(request, conn, account)
    if account is None:
        return render(
            request,
            "accounts/signin.html",
            {"next": "/account", "errors": {"link": BAD_LINK}, "values": {}},
            400,
        )
    return _signed_in(request)


async def password_submit(request: Request) -> Response:
    form = await _form(request)
    errors: dict[str, str] = {}
    email = _email_field(form, errors, "organiser_email")
    password = _text(form, "password", accounts.MAX_PASSWORD_LENGTH, errors)
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
    await _signin_limits(request, email, "password")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_password(conn, email, password)
        if account is not None:
            await log_in(request, conn, account)
    if account is None:
        errors["password"] = BAD_CREDENTIALS
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
    flash(request, SIGNED_OUT)
    return RedirectResponse("/", status_code=303)


# ---------------------------------------------------------------- my account


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
    status: int = 200,
) -> Response:
    context = await _account_context(request, account_id)
    profile = context["profile"]
    shown = {"display_name": profile["display_name"], **(values or {})}
    return render(
        request,
        "accounts/account.html",
        {**context, "values": shown, "errors": errors or {}, "status_labels": STATUS_LABELS},
        status,
    )


async def account_page(request: Request) -> Response:
    user = await require_account(request)
    return await _account_page(request, user.id)


async def account_update(request: Request) -> Response:
    user = await require_account(request)
    form = await _form(request)
    if "display_name" not in form:  # a form that lost its fields must not erase the name
        raise HTTPException(400, BAD_FORM)
    errors: dict[str, str] = {}
    name = _text(form, "display_name", accounts.MAX_DISPLAY_NAME_LENGTH, errors)
    values = {"display_name": name}
    if not errors:
        try:
            async with request.app.state.pool.acquire() as conn, conn.transaction():
                await accounts.update_profile(conn, user.id, display_name=name)
        except accounts.ProfileError as exc:
            errors[exc.field] = exc.message
    if errors:
        return await _account_page(request, user.id, values, errors, 400)
    flash(request, PROFILE_SAVED)
    return RedirectResponse("/account", status_code=303)


async def password_update(request: Request) -> Response:
    """POST /account/password: an organiser sets or changes their password."""
    user = await require_account(request)
    form = await _form(request)
    errors: dict[str, str] = {}
    current = _text(form, "current_password", accounts.MAX_PASSWORD_LENGTH, errors)
    new = _text(form, "new_password", accounts.MAX_PASSWORD_LENGTH, errors)
    again = _text(form, "new_password_again", accounts.MAX_PASSWORD_LENGTH, errors)
    if not errors and new != again:
        errors["new_password_again"] = PASSWORDS_DIFFER
    if not errors:
        await _signin_limits(request, user.email, "password")
        try:
            async with request.app.state.pool.acquire() as conn, conn.transaction():
                await accounts.change_password(
                    conn, user.id, current=current, new=new,
                    keep_session=request.session.get(SESSION_KEY),
                )  # fmt: skip
        except accounts.ProfileError as exc:
            errors[exc.field] = exc.message
    if errors:
        return await _account_page(request, user.id, None, errors, 400)
    flash(request, PASSWORD_SAVED)
    return RedirectResponse("/account", status_code=303)


# ---------------------------------------------------------------- JSON API


async def api_session(request: Request) -> Response:
    """GET /api/session: who is signed in, and the CSRF token for X-CSRF-Token."""
    user = request.scope.get("user")
    return JSONResponse(
        {
            "signed_in": user is not None,
            "account": _account_json(user),
            "csrf_token": csrf.csrf_token(request),
        }
    )


async def _json_body(request: Request) -> dict[str, Any] | None:
    """The JSON object sent, or None (not JSON, not an object, or not encodable text)."""
    try:
        body = await request.json()
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # lone surrogates are no text
    except (ValueError, UnicodeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


async def _signed_in_json(
    request: Request, allowed: set[str]
) -> tuple[Any, dict[str, Any]] | Response:
    """The signed-in account and its JSON object body, or the JSON error to answer."""
    user = request.scope.get("user")
    if user is None:
        return _json_error(request, 401, SIGN_IN_REQUIRED)
    body = await _json_body(request)
    if body is None:
        return _json_error(request, 400, BAD_JSON)
    if (unknown := _unknown(body, allowed)) is not None:
        return _json_error(request, 422, UNKNOWN_MEMBER, unknown)
    return user, body


def _unknown(body: dict[str, Any], allowed: set[str]) -> str | None:
    unknown = sorted(set(body) - allowed)
    return unknown[0][:100] if unknown else None


async def api_signin(request: Request) -> Response:
    """POST /api/signin {"email"}: mail a sign-in link and code (202)."""
    body = await _json_body(request)
    if body is None:
        return _json_error(request, 400, BAD_JSON)
    if (unknown := _unknown(body, {"email"})) is not None:
        return _json_error(request, 422, UNKNOWN_MEMBER, unknown)
    email = body.get("email")
    if not isinstance(email, str) or not email.strip():
        return _json_error(request, 400, REQUIRED, "email")
    try:
        email = accounts.normalize_email(email)
    except accounts.InvalidEmail:
        return _json_error(request, 400, INVALID_EMAIL, "email")
    await _signin_limits(request, email, "email")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        sent = await accounts.request_signin(
            conn,
            email,
            secret_key=request.app.state.secret_key,
        )
    expires_in = int(accounts.SIGNIN_TTL.total_seconds())
    return JSONResponse({"status": "sent", "email": sent.email, "expires_in": expires_in}, 202)


async def api_signin_code(request: Request) -> Response:
    """POST /api/signin/code {"email", "code"}: sign in with the mailed code."""
    body = await _json_body(request)
    if body is None:
        return _json_error(request, 400, BAD_JSON)
    if (unknown := _unknown(body, {"email", "code"})) is not None:
        return _json_error(request, 422, UNKNOWN_MEMBER, unknown)
    email, code = body.get("email"), body.get("code")
    for field, value in (("email", email), ("code", code)):
        if not isinstance(value, str) or not value.strip() or len(value) > 254:
            return _json_error(request, 400, REQUIRED, field)
    assert isinstance(email, str) and isinstance(code, str)
    await _signin_limits(request, email.strip().lower(), "code")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        account = await accounts.signin_with_code(
            conn, email, code, secret_key=request.app.state.secret_key
        )
        if account is not None:
            await log_in(request, conn, account)
    if account is None:
        return _json_error(request, 400, BAD_CODE, "code")
    return JSONResponse({"account": _account_json(account), "csrf_token": csrf.csrf_token(request)})


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
        return _json_error(request, 401, SIGN_IN_REQUIRED)
    context = await _account_context(request, user.id)
    profile = context["profile"]
    return JSONResponse(
        {
            "account": _account_json(user),
            "has_password": profile["has_password"],
            **_participation_json(context["participation"]),
        }
    )


async def api_account_update(request: Request) -> Response:
    """PATCH /api/account {"display_name"?}."""
    parsed = await _signed_in_json(request, {"display_name"})
    if isinstance(parsed, Response):
        return parsed
    user, body = parsed
    async with request.app.state.pool.acquire() as conn:
        profile = await accounts.get_profile(conn, user.id)
    values = {"display_name": body.get("display_name", profile["display_name"])}
    for name, value in values.items():
        if not isinstance(value, str):
            return _json_error(request, 422, NOT_TEXT, name)
    try:
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            account = await accounts.update_profile(conn, user.id, **values)
    except accounts.ProfileError as exc:
        return _json_error(request, 422, exc.message, exc.field)
    return JSONResponse({"account": _account_json(account)})


async def api_password(request: Request) -> Response:
    """POST /api/account/password {"current_password", "new_password"} (organisers)."""
    parsed = await _signed_in_json(request, {"current_password", "new_password"})
    if isinstance(parsed, Response):
        return parsed
    user, body = parsed
    current, new = body.get("current_password", ""), body.get("new_password")
    for name, value in (("current_password", current), ("new_password", new)):
        if not isinstance(value, str):
            return _json_error(request, 422, NOT_TEXT, name)
    assert isinstance(current, str) and isinstance(new, str)
    await _signin_limits(request, user.email, "password")
    try:
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            await accounts.change_password(
                conn, user.id, current=current, new=new,
                keep_session=request.session.get(SESSION_KEY),
            )  # fmt: skip
    except accounts.ProfileError as exc:
        status = 403 if exc.field == "current_password" else 422
        return _json_error(request, status, exc.message, exc.field)
    return JSONResponse({"status": "saved"})


# ---------------------------------------------------------------- demo outbox

_URL = re.compile(r"https?://[^\s<>\"']+")


def _outbox_messages(
    request: Request, limit: int = 50, to: str | None = None
) -> list[dict[str, Any]]:
    """The latest messages, or only those addressed to ``to`` when it is given."""
    folder = outbox_folder(_settings(request).data_dir)
    if not folder.is_dir():
        return []
    messages = []
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
    if not getattr(_settings(request), "demo", False):
        raise HTTPException(404)
    everyone = _from_this_machine(request)
    asked = str(request.session.get("signin_email") or "").casefold()
    messages = _outbox_messages(request, to=None if everyone else asked)
    return render(request, "accounts/outbox.html", {"messages": messages, "everyone": everyone})


# ---------------------------------------------------------------- eligibility


async def _primary(request: Request) -> dict[str, Any]:
    slug = request.path_params["slug"]
    if len(slug) > 63:
        raise HTTPException(404)
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT id, slug, title, created_by,"
            " coalesce(definition->>'eligibility', 'email') AS policy,"
            " coalesce(definition->'refuse_disposable' = 'true'::jsonb, false)"
            " AS refuse_disposable FROM primaries WHERE slug = $1",
            slug,
        )
    if row is None:
        raise HTTPException(404)
    return dict(row)


async def _require_admin(request: Request, primary: dict[str, Any]) -> Account:
    """Organisers, and the primary's creator (the rule of `Primary.administered_by`)."""
    user = await require_account(request)
    if not (user.is_organiser or user.id == primary["created_by"]):
        raise HTTPException(403, ORGANISERS_ONLY)
    return user


async def _eligibility_page(
    request: Request,
    primary: dict[str, Any],
    user: Account,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with request.app.state.pool.acquire() as conn:
        status = await eligibility.eligibility(conn, primary["id"], user.id)
        held = await eligibility.held_number(conn, primary["id"], user.id)
    context = {
        "primary": primary,
        "status": status,
        "held": held,
        "values": values or {},
        "errors": errors or {},
    }
    return render(request, "accounts/eligibility.html", context, status_code)


async def eligibility_page(request: Request) -> Response:
    user = await require_account(request)
    primary = await _primary(request)
    return await _eligibility_page(request, primary, user)


async def _claim(
    request: Request, primary: dict[str, Any], user: Account, number: str, code: str
) -> eligibility.ClaimError | None:
    """Try the claim under its rate limits (429 over them); the refusal, or None."""
    await rate_limit(request, "claim-account", *CLAIM_LIMIT_PER_ACCOUNT, key=f"account:{user.id}")
    primary_key = f"primary:{primary['id']}"
    wait = await wait_before(
        request.app, "claim-failures", primary_key, *CLAIM_FAILURES_PER_PRIMARY
    )
    if wait:
        raise HTTPException(429, headers={"Retry-After": str(math.ceil(wait))})
    try:
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            await eligibility.claim_invitation(
                conn, primary["id"], user.id, number, code,
                secret_key=request.app.state.secret_key,
            )  # fmt: skip
    except eligibility.ClaimError as exc:
        if exc.reason == "refused":
            await count_hit(request.app, "claim-failures", primary_key, *CLAIM_FAILURES_PER_PRIMARY)
        return exc
    return None


def _claim_field(refusal: eligibility.ClaimError) -> str:
    return {"number": "voter_number", "code": "code"}.get(refusal.reason, "claim")


async def eligibility_claim(request: Request) -> Response:
    """POST /primaries/{slug}/eligibility/claim: a listed voter number and its invitation
    code link the number to the account. Unknown number and wrong code: one answer."""
    user = await require_account(request)
    primary = await _primary(request)
    form = await _form(request)
    errors: dict[str, str] = {}
    number = _text(form, "voter_number", accounts.MAX_VOTER_NUMBER_LENGTH, errors)
    code = _text(form, "code", MAX_CODE_FIELD, errors)
    for name, value in (("voter_number", number), ("code", code)):
        if not value.strip() and name not in errors:
            errors[name] = REQUIRED
    if not errors and (refusal := await _claim(request, primary, user, number, code)):
        errors[_claim_field(refusal)] = refusal.message
    if errors:
        values = {"voter_number": number}  # the code is not shown back
        return await _eligibility_page(request, primary, user, values, errors, 400)
    flash(request, CLAIM_DONE)
    return RedirectResponse(f"/primaries/{primary['slug']}/eligibility", status_code=303)


async def api_eligibility_claim(request: Request) -> Response:
    """POST /api/primaries/{slug}/eligibility/claim {"voter_number", "code"}: the same claim
    as the page; an unknown number and a wrong code get the same 400."""
    parsed = await _signed_in_json(request, {"voter_number", "code"})
    if isinstance(parsed, Response):
        return parsed
    user, body = parsed
    primary = await _primary(request)
    values: dict[str, str] = {}
    for name, limit in (
        ("voter_number", accounts.MAX_VOTER_NUMBER_LENGTH),
        ("code", MAX_CODE_FIELD),
    ):
        value = body.get(name)
        if not isinstance(value, str):
            return _json_error(request, 422, NOT_TEXT, name)
        if not value.strip():
            return _json_error(request, 400, REQUIRED, name)
        if len(value) > limit:
            return _json_error(request, 400, FIELD_TOO_LONG, name)
        values[name] = value
    refusal = await _claim(request, primary, user, values["voter_number"], values["code"])
    if refusal is not None:
        status = 409 if refusal.reason == "already" else 400
        return _json_error(request, status, refusal.message, _claim_field(refusal))
    return JSONResponse({"status": "claimed", "voter_number": values["voter_number"].strip()})


async def eligibility_request(request: Request) -> Response:
    user = await require_account(request)
    primary = await _primary(request)
    if primary["policy"] != "approval":
        raise HTTPException(400, NO_APPROVAL)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        await eligibility.request_approval(conn, primary["id"], user.id)
    flash(request, REQUEST_SENT)
    return RedirectResponse(f"/primaries/{primary['slug']}/eligibility", status_code=303)


async def _admin_context(request: Request, primary: dict[str, Any]) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        counts = await eligibility.allow_list_counts(conn, primary["id"])
        queue = await eligibility.requests(conn, primary["id"])
    return {"primary": primary, "counts": counts, "requests": queue, "row_errors": [], "values": {}}


async def eligibility_admin(request: Request) -> Response:
    await require_account(request)
    primary = await _primary(request)
    await _require_admin(request, primary)
    return render(
        request, "accounts/eligibility_admin.html", await _admin_context(request, primary)
    )


async def eligibility_import(request: Request) -> Response:
    await require_account(request)
    primary = await _primary(request)
    await _require_admin(request, primary)
    form = await _form(request)
    upload = form.get("file")
    pasted = form.get("entries")
    data: bytes | str = ""
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_CSV_BYTES + 1)
    elif isinstance(pasted, str):
        data = pasted
    row_errors: list[eligibility.RowError] = []
    result = None
    if len(data) > MAX_CSV_BYTES:
        row_errors = [eligibility.RowError(1, "", "Trop de lignes (100 000 au plus).")]
    else:
        try:
            async with request.app.state.pool.acquire() as conn, conn.transaction():
                result = await eligibility.import_allow_list(
                    conn,
                    primary["id"],
                    data,
                    secret_key=request.app.state.secret_key,
                    base_url=_settings(request).base_url,
                    log=request.app.state.log,
                )
        except eligibility.AllowListError as exc:
            row_errors = exc.errors
    if row_errors:
        context = await _admin_context(request, primary)
        context["row_errors"] = row_errors[:200]
        context["error_count"] = len(row_errors)
        context["values"] = {"entries": pasted if isinstance(pasted, str) else ""}
        return render(request, "accounts/eligibility_admin.html", context, 400)
    if result is not None and result.invitations:
        # The only time the codes exist in clear: shown here, never stored.
        return render(
            request,
            "accounts/eligibility_codes.html",
            {
                "primary": primary,
                "result": result,
                "shown": result.invitations[:CODES_SHOWN],
                "csv_href": _codes_csv_href(request, result.invitations),
            },
        )
    flash(request, IMPORT_DONE)
    return RedirectResponse(f"/primaries/{primary['slug']}/admin/eligibility", status_code=303)


def _codes_csv_href(request: Request, invitations: list[eligibility.Invitation]) -> str:
    """The codes as a CSV for mail merge, inside a data: link (the server keeps no copy)."""
    gettext = translator(request_language(request))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([gettext("numero_electeur"), gettext("code_invitation"), gettext("courriel")])
    for item in invitations:
        writer.writerow([item.number, item.code, item.address or ""])
    data = base64.b64encode(("\ufeff" + buffer.getvalue()).encode("utf-8")).decode("ascii")
    return f"data:text/csv;charset=utf-8;base64,{data}"


async def eligibility_decide(request: Request) -> Response:
    await require_account(request)
    primary = await _primary(request)
    organiser = await _require_admin(request, primary)
    form = await _form(request)
    decision = form.get("decision")
    try:
        account_id = UUID(str(form.get("account_id", ""))[:40])
    except ValueError:
        raise HTTPException(400) from None
    if decision not in ("approve", "refuse"):
        raise HTTPException(400)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        found = await eligibility.decide(
            conn,
            primary["id"],
            account_id,
            organiser_id=organiser.id,
            approve=decision == "approve",
            secret_key=request.app.state.secret_key,
            log=request.app.state.log,
        )
    if not found:
        raise HTTPException(404)
    flash(request, DECISION_SAVED)
    return RedirectResponse(f"/primaries/{primary['slug']}/admin/eligibility", status_code=303)


routes = [
    Route("/signin", signin_page, methods=["GET"], name="signin"),
    Route("/signin", signin_request, methods=["POST"], name="signin_request"),
    Route("/signin/code", code_page, methods=["GET"], name="signin_code"),
    Route("/signin/code", code_submit, methods=["POST"], name="signin_code_submit"),
    Route("/signin/link", link_page, methods=["GET"], name="signin_link"),
    Route("/signin/link", link_submit, methods=["POST"], name="signin_link_submit"),
    Route("/signin/password", password_submit, methods=["POST"], name="signin_password"),
    Route("/signout", signout, methods=["POST"], name="signout"),
    Route("/account", account_page, methods=["GET"], name="account"),
    Route("/account", account_update, methods=["POST"], name="account_update"),
    Route("/account/password", password_update, methods=["POST"], name="account_password"),
    Route("/api/session", api_session, methods=["GET"], name="api_session"),
    Route("/api/signin", api_signin, methods=["POST"], name="api_signin"),
    Route("/api/signin/code", api_signin_code, methods=["POST"], name="api_signin_code"),
    Route("/api/account", api_account, methods=["GET"], name="api_account"),
    Route("/api/account", api_account_update, methods=["PATCH"], name="api_account_update"),
    Route("/api/account/password", api_password, methods=["POST"], name="api_password"),
    Route("/demo/outbox", demo_outbox, methods=["GET"], name="demo_outbox"),
    Route("/primaries/{slug}/eligibility", eligibility_page, methods=["GET"]),
    Route("/primaries/{slug}/eligibility", eligibility_request, methods=["POST"]),
    Route("/primaries/{slug}/eligibility/claim", eligibility_claim, methods=["POST"]),
    Route(
        "/api/primaries/{slug}/eligibility/claim",
        api_eligibility_claim,
        methods=["POST"],
        name="api_eligibility_claim",
    ),
    Route("/primaries/{slug}/admin/eligibility", eligibility_admin, methods=["GET"]),
    Route("/primaries/{slug}/admin/eligibility/import", eligibility_import, methods=["POST"]),
    Route("/primaries/{slug}/admin/eligibility/decide", eligibility_decide, methods=["POST"]),
]
