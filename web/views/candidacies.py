"""Candidate pages: list (random order per visitor, search), candidate page with history,
declare/edit, the candidate's own actions, supports, photo; "my supports" for the account."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from voting import candidacies, supports
from voting.accounts import Account
from voting.candidacies import MAX_BIO, MAX_NAME, MAX_PHOTO, MAX_PROGRAMME, Candidacy
from voting.markdown import render as render_markdown
from voting.primaries import Primary
from voting.qualification import progress
from voting.refusals import Refused, _
from voting.supports import SupportChange
from voting.unit_of_work import UnitOfWork
from web.auth import current_user, flash, require_account
from web.confirm import Confirmation, confirmation_page
from web.errors import refusal_status
from web.ratelimit import limit_supports
from web.views.base import base64_field, change, refusal_text, route_table
from web.views.primaries import (
    field,
    gettext,
    load_primary,
    read_form,
    render,
)

ORDER_SEED = "order_seed"
VISIBLE = ("published", "qualified", "confirmed")
MAX_QUERY = 100

DONE = {
    "declared": _("Brouillon enregistré : relisez-le puis déposez votre candidature."),
    "submitted": _("Candidature déposée : elle attend la validation des organisateur·rices."),
    "saved": _("Modifications enregistrées."),
    "withdrawn": _("Candidature retirée."),
    "confirmed": _("Participation confirmée : vous serez sur le bulletin."),
    "declined": _("Vous avez renoncé à participer au vote."),
    "supported": _("Soutien enregistré."),
    "qualified": _("Soutien enregistré : ce candidat atteint le seuil et se qualifie !"),
    "unsupported": _("Soutien retiré."),
}


def visitor_seed(request: Request) -> str:
    """A random value kept in the visitor's session: the list order is stable for them."""
    seed = request.session.get(ORDER_SEED)
    if not isinstance(seed, str) or len(seed) != 32:
        seed = secrets.token_hex(16)
        request.session[ORDER_SEED] = seed
    return seed


def shuffled(items: list[Candidacy], seed: str) -> list[Candidacy]:
    return sorted(items, key=lambda c: hashlib.sha256(f"{seed}:{c.id}".encode()).digest())


async def load_candidacy(request: Request, conn: Any, primary: Primary) -> Candidacy:
    candidacy = await candidacies.get_candidacy(conn, request.path_params["id"][:40])
    if (
        candidacy is None
        or candidacy.primary_id != primary.id
        or not candidacy.visible_to(current_user(request), primary)
    ):
        raise HTTPException(404)
    return candidacy


async def _own_candidacy(request: Request, user: Account) -> tuple[Primary, Candidacy]:
    """The primary and the candidacy the address names, when `user` is the candidate (else
    404, or 403)."""
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        candidacy = await load_candidacy(request, conn, primary)
    if candidacy.account_id != user.id:
        raise HTTPException(403)
    return primary, candidacy


# ------------------------------------------------------------------------------ list, page


async def candidate_list(request: Request) -> Response:
    query = request.query_params.get("q", "")[:MAX_QUERY].strip()
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        found = await candidacies.list_candidacies(
            conn, primary.id, statuses=VISIBLE, query=query or None
        )
        mine: set[uuid.UUID] = set()
        user = current_user(request)
        if user is not None:
            mine = await supports.supported_by(conn, primary.id, user.id)
    return render(
        request,
        "candidacies/list.html",
        {
            "primary": primary,
            "candidates": shuffled(found, visitor_seed(request)),
            "query": query,
            "mine": mine,
            "progress": progress,
            "state": primary.phases(),
        },
    )


async def candidate_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        candidacy = await candidacies.get_candidacy(conn, request.path_params["id"][:40])
        if candidacy is None or candidacy.primary_id != primary.id:
            raise HTTPException(404)
        if not candidacy.visible_to(current_user(request), primary):
            if candidacy.status in ("rejected", "withdrawn") and candidacy.submitted_at:
                # Refused, or withdrawn before moderation: the outcome the public log shows
                # and its public reason, never the content moderation did not accept.
                context = {"primary": primary, "c": candidacy}
                return render(request, "candidacies/unpublished.html", context)
            raise HTTPException(404)
        history = await candidacies.versions(conn, candidacy.id)
        user = current_user(request)
        supported = False
        cap_reached = False
        if user is not None:
            given = await supports.supported_by(conn, primary.id, user.id)
            supported = candidacy.id in given
            cap_reached = bool(primary.support_cap) and len(given) >= primary.support_cap
    for version in history:
        version["html"] = Markup(render_markdown(version["programme"]))  # noqa: S704 - cleaned by nh3
    return render(
        request,
        "candidacies/page.html",
        {
            "primary": primary,
            "c": candidacy,
            "programme": Markup(render_markdown(candidacy.programme)),  # noqa: S704 - cleaned
            "history": history,
            "owner": user is not None and user.id == candidacy.account_id,
            "supported": supported,
            "cap_reached": cap_reached,
            "percent": progress(candidacy.support_count, primary.threshold),
            "state": primary.phases(),
            "error": error,
        },
        status=status,
    )


async def photo(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        candidacy = await load_candidacy(request, conn, primary)
        found = await candidacies.photo(conn, candidacy.id)
    if found is None:
        raise HTTPException(404)
    data, content_type = found
    if not candidacy.is_public:
        cache = "private, no-store"  # seen by its author and the admins only
    elif request.query_params.get("v") == candidacy.photo_sha256[:16]:
        cache = "public, max-age=31536000, immutable"  # pages link ?v=<its hash>
    else:
        cache = "public, max-age=300"
    return Response(
        data,
        media_type=content_type,
        headers={
            "cache-control": cache,
            "content-disposition": "inline",
            "content-security-policy": "default-src 'none'",
        },
    )


# ------------------------------------------------------------------------- declare and edit


async def _photo(form: FormData) -> tuple[bytes | None, str | None]:
    upload = form.get("photo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, None
    data = await upload.read(MAX_PHOTO + 1)
    if not data:
        return None, None
    if len(data) > MAX_PHOTO:
        return None, _("La photo dépasse 1 Mo.")
    return data, None


def _declaration_values(form: FormData) -> dict[str, Any]:
    return {
        "name": field(form, "name", MAX_NAME * 2),
        "bio": field(form, "bio", MAX_BIO * 2),
        "programme": field(form, "programme", MAX_PROGRAMME * 2),
        "links": field(form, "links", 6000),
        "charter": form.get("charter") == "on",
        "remove_photo": form.get("remove_photo") == "on",
    }


def _form_page(
    request: Request,
    primary: Primary,
    values: dict[str, Any],
    errors: dict[str, str],
    candidacy: Candidacy | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "candidacies/form.html",
        {"primary": primary, "values": values, "errors": errors, "c": candidacy,
         "limits": {"name": MAX_NAME, "bio": MAX_BIO, "programme": MAX_PROGRAMME}},
        status=status,
    )  # fmt: skip


def _error_field(exc: Refused) -> str:
    name = exc.field or "form"
    return "links" if name.startswith("links") else name


async def declare_page(request: Request) -> Response:
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        existing = await candidacies.candidacy_of(conn, primary.id, user.id)
    if existing is not None and existing.editable:
        return RedirectResponse(
            f"/primaries/{primary.slug}/candidates/{existing.id}/edit", status_code=303
        )
    if not primary.accepts_candidacies():
        # The service would refuse the form: say so instead of offering it.
        context = {"primary": primary, "phase": primary.phases().get("candidacies")}
        return render(request, "candidacies/closed.html", context, status=409)
    values = {"name": user.display_name}
    return _form_page(request, primary, values, {})


# What a posted declaration form does, in the unit of work: (uow, values, photo bytes).
SaveDeclaration = Callable[[UnitOfWork, dict[str, Any], bytes | None], Awaitable[Candidacy]]


async def _save_declaration(
    request: Request,
    form: FormData,
    primary: Primary,
    candidacy: Candidacy | None,
    save: SaveDeclaration,
) -> Candidacy | Response:
    """The declaration form posted (a new one, or `candidacy` revised): its photo read, then
    `save` in a unit of work; the saved candidacy, or the form again saying what was wrong."""
    values = _declaration_values(form)
    photo_bytes, photo_error = await _photo(form)
    if photo_error:
        errors = {"photo": gettext(request)(photo_error)}
        return _form_page(request, primary, values, errors, candidacy, 413)
    try:
        async with request.app.state.units() as uow:
            return await save(uow, values, photo_bytes)
    except Refused as exc:
        errors = {_error_field(exc): refusal_text(request, exc)}
        return _form_page(request, primary, values, errors, candidacy, refusal_status(exc))


async def declare(request: Request) -> Response:
    user = await require_account(request)
    form = await read_form(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)

    async def save(uow: UnitOfWork, values: dict[str, Any], photo: bytes | None) -> Candidacy:
        candidacy = await candidacies.declare(
            uow.conn, primary, user.id, values, charter_accepted=values["charter"],
            photo_bytes=photo,
        )  # fmt: skip
        if form.get("submit_now"):
            candidacy = await candidacies.submit(uow.conn, uow.log, candidacy.id, user.id)
        return candidacy

    saved = await _save_declaration(request, form, primary, None, save)
    if isinstance(saved, Response):
        return saved
    flash(request, DONE["submitted" if saved.status == "submitted" else "declared"])
    return RedirectResponse(f"/primaries/{primary.slug}/candidates/{saved.id}", status_code=303)


async def edit_page(request: Request) -> Response:
    user = await require_account(request)
    primary, candidacy = await _own_candidacy(request, user)
    values = {
        "name": candidacy.name,
        "bio": candidacy.bio,
        "programme": candidacy.programme,
        "links": "\n".join(candidacy.links),
    }
    return _form_page(request, primary, values, {}, candidacy)


async def edit(request: Request) -> Response:
    user = await require_account(request)
    form = await read_form(request)
    primary, candidacy = await _own_candidacy(request, user)

    async def save(uow: UnitOfWork, values: dict[str, Any], photo: bytes | None) -> Candidacy:
        return await candidacies.revise(
            uow.conn, uow.log, candidacy.id, user.id, values,
            photo_bytes=photo, remove_photo=values["remove_photo"],
        )  # fmt: skip

    saved = await _save_declaration(request, form, primary, candidacy, save)
    if isinstance(saved, Response):
        return saved
    flash(request, DONE["saved"])
    return RedirectResponse(f"/primaries/{primary.slug}/candidates/{candidacy.id}", status_code=303)


# ------------------------------------------------------------------- candidate's own actions


OWN_ACTIONS = {
    "submit": candidacies.submit,
    "confirm": candidacies.confirm,
    "decline": candidacies.decline,
}


async def own_action(request: Request) -> Response:
    user = await require_account(request)
    action = request.path_params["action"]
    if action not in (*OWN_ACTIONS, "withdraw"):
        raise HTTPException(404)
    form = await read_form(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        candidacy = await load_candidacy(request, conn, primary)
    try:
        async with request.app.state.units() as uow:
            if action == "withdraw":
                await candidacies.withdraw(
                    uow.conn, uow.log, candidacy.id, user.id, field(form, "reason", 4000)
                )
            else:
                await OWN_ACTIONS[action](uow.conn, uow.log, candidacy.id, user.id)
    except Refused as exc:
        return await candidate_page(request, refusal_text(request, exc), refusal_status(exc))
    flash(request, DONE[{"submit": "submitted", "confirm": "confirmed", "decline": "declined",
                         "withdraw": "withdrawn"}[action]])  # fmt: skip
    return RedirectResponse(f"/primaries/{primary.slug}/candidates/{candidacy.id}", status_code=303)


CONFIRM_ACTIONS = {
    "decline": Confirmation(
        title=_("Renoncer à participer au vote ?"),
        consequences=[
            _("La candidature « {name} » ne figurera pas sur le bulletin de vote."),
            _(
                "Les soutiens reçus restent acquis à cette candidature : ils ne sont pas rendus "
                "aux citoyens qui les ont donnés."
            ),
            _("Le renoncement est inscrit au journal public."),
        ],
        button=_("Renoncer définitivement"),
    ),
    "withdraw": Confirmation(
        title=_("Retirer votre candidature ?"),
        consequences=[
            _(
                "La candidature « {name} » s’arrête : elle ne recueillera plus de soutiens et ne "
                "figurera sur aucun bulletin."
            ),
            _("Le retrait et son motif, si vous en donnez un, sont inscrits au journal public."),
        ],
        button=_("Retirer ma candidature définitivement"),
        reason_label=_("Motif du retrait (facultatif, public)"),
    ),
}


async def own_action_confirm(request: Request) -> Response:
    """The second page before declining or withdrawing: what it means, and the POST form."""
    user = await require_account(request)
    action = request.path_params["action"]
    if action not in CONFIRM_ACTIONS:
        raise HTTPException(404)
    primary, candidacy = await _own_candidacy(request, user)
    page = f"/primaries/{primary.slug}/candidates/{candidacy.id}"
    allowed = ("qualified",) if action == "decline" else ("draft", *VISIBLE, "submitted")
    if candidacy.status not in allowed:
        return RedirectResponse(page, status_code=303)
    confirmation = replace(
        CONFIRM_ACTIONS[action], action=f"{page}/{action}", back=page,
        params={"name": candidacy.name},
    )  # fmt: skip
    return confirmation_page(request, confirmation)


async def support_action(request: Request) -> Response:
    user = await require_account(request)
    await limit_supports(request, user.id)
    withdraw = request.url.path.endswith("/unsupport")
    form = await read_form(request)
    # A support names its supporter by a pseudonym keyed by the service secret, and carries
    # the device's signature when signed there (credentials.js); a withdrawal needs neither.
    extra: dict[str, Any] = {} if withdraw else {"secret_key": request.app.state.secret_key}
    if not withdraw and form.get("credential_sig"):
        extra["credential_sig"] = base64_field(form, "credential_sig")
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        candidacy = await load_candidacy(request, conn, primary)
    service: SupportChange = supports.withdraw_support if withdraw else supports.support
    try:
        result = await change(
            request, service, candidacy_id=candidacy.id, account_id=user.id, **extra
        )
    except Refused as exc:
        return await candidate_page(request, refusal_text(request, exc), refusal_status(exc))
    flash(request, DONE["unsupported" if withdraw else "qualified" if result.qualified
                       else "supported"])  # fmt: skip
    return RedirectResponse(f"/primaries/{primary.slug}/candidates/{candidacy.id}", status_code=303)


# --------------------------------------------------------------------------------- account


async def my_participation(request: Request) -> Response:
    user = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        given = await supports.supports_of_account(conn, user.id)
        declared = await candidacies.candidacies_of_account(conn, user.id)
    return render(
        request,
        "candidacies/participation.html",
        {"participation": {"supports": given, "candidacies": declared}},
    )


routes = route_table(
    {
        "/account/participation": {"GET": my_participation},
        "/primaries/{slug}/candidates": {"GET": candidate_list},
        "/primaries/{slug}/declare": {"GET": declare_page, "POST": declare},
        "/primaries/{slug}/candidates/{id}": {"GET": candidate_page},
        "/primaries/{slug}/candidates/{id}/photo": {"GET": photo},
        "/primaries/{slug}/candidates/{id}/edit": {"GET": edit_page, "POST": edit},
        "/primaries/{slug}/candidates/{id}/support": {"POST": support_action},
        "/primaries/{slug}/candidates/{id}/unsupport": {"POST": support_action},
        "/primaries/{slug}/candidates/{id}/{action}": {
            "GET": own_action_confirm,
            "POST": own_action,
        },
    }
)
