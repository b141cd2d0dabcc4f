"""Who may take part in a primary: the citizen's page (their status, claiming an invitation
code, asking for approval, also over the JSON API) and the organisers' page (the policy,
importing the allow-list, deciding approval requests)."""

from __future__ import annotations

import base64
import csv
import io
import math
from typing import Any
from uuid import UUID

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from voting import accounts, eligibility
from voting.accounts import Account
from voting.primaries import Primary
from voting.refusals import Refused
from web.auth import flash, require_account
from web.errors import refusal_status
from web.i18n import request_language, translator
from web.ratelimit import MAX_IMPORT_FILE_BYTES, count_hit, rate_limit, wait_before
from web.templating import render
from web.views.base import (
    FIELD_TOO_LONG,
    NOT_TEXT,
    REQUIRED,
    _,
    administered_primary,
    endpoint,
    json_error,
    load_primary,
    read_form,
    route_table,
    signed_in_json,
    text_field,
)
from web.views.signin import FORM_LIMITS

MAX_CSV_BYTES = MAX_IMPORT_FILE_BYTES
# Claims of an invitation code: attempts per account, and failed attempts per primary from
# every account together (so that many accounts cannot share out the guessing).
CLAIM_LIMIT_PER_ACCOUNT = (10, 900)
CLAIM_FAILURES_PER_PRIMARY = (300, 900)
MAX_CODE_FIELD = 64
# Invitation codes shown after an import: the page lists this many, the CSV has them all.
CODES_SHOWN = 200
NO_APPROVAL = _(
    "Cette primaire ne se fait pas sur demande d’approbation : la page « Puis-je participer ? » "
    "dit comment y prendre part."
)


def _policy(primary: Primary) -> dict[str, Any]:
    """The primary's participation rule, as the pages show it."""
    return {
        "policy": primary.definition.get("eligibility") or "email",
        "refuse_disposable": primary.definition.get("refuse_disposable") is True,
    }


async def _eligibility_page(
    request: Request,
    primary: Primary,
    user: Account,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    """The participation page; with `errors` (a claim refused), a 400."""
    async with request.app.state.pool.acquire() as conn:
        status = await eligibility.eligibility(conn, primary.id, user.id)
        held = await eligibility.held_number(conn, primary.id, user.id)
    context = {
        "primary": primary,
        **_policy(primary),
        "status": status,
        "held": held,
        "values": values or {},
        "errors": errors or {},
    }
    return render(request, "accounts/eligibility.html", context, 400 if errors else 200)


async def eligibility_page(request: Request) -> Response:
    user = await require_account(request)
    primary = await load_primary(request)
    return await _eligibility_page(request, primary, user)


async def _claim(
    request: Request, primary: Primary, user: Account, number: str, code: str
) -> Refused | None:
    """Try the claim under its rate limits (429 over them); the refusal, or None."""
    await rate_limit(request, "claim-account", *CLAIM_LIMIT_PER_ACCOUNT, key=f"account:{user.id}")
    primary_key = f"primary:{primary.id}"
    wait = await wait_before(
        request.app, "claim-failures", primary_key, *CLAIM_FAILURES_PER_PRIMARY
    )
    if wait:
        raise HTTPException(429, headers={"Retry-After": str(math.ceil(wait))})
    try:
        async with request.app.state.units() as uow:
            await eligibility.claim_invitation(
                uow.conn, primary.id, user.id, number, code,
                secret_key=request.app.state.secret_key,
            )  # fmt: skip
    except Refused as exc:
        if exc.reason == "claim-refused":
            await count_hit(request.app, "claim-failures", primary_key, *CLAIM_FAILURES_PER_PRIMARY)
        return exc
    return None


def _claim_field(refusal: Refused) -> str:
    return refusal.field or "claim"


async def eligibility_claim(request: Request) -> Response:
    """POST /primaries/{slug}/eligibility/claim: a listed voter number and its invitation
    code link the number to the account. Unknown number and wrong code: one answer."""
    user = await require_account(request)
    primary = await load_primary(request)
    form = await read_form(request, **FORM_LIMITS)
    errors: dict[str, str] = {}
    number = text_field(form, "voter_number", accounts.MAX_VOTER_NUMBER_LENGTH, errors)
    code = text_field(form, "code", MAX_CODE_FIELD, errors)
    for name, value in (("voter_number", number), ("code", code)):
        if not value.strip() and name not in errors:
            errors[name] = REQUIRED
    if not errors and (refusal := await _claim(request, primary, user, number, code)):
        errors[_claim_field(refusal)] = refusal.message
    if errors:
        values = {"voter_number": number}  # the code is not shown back
        return await _eligibility_page(request, primary, user, values, errors)
    flash(
        request, _("Numéro d’électeur enregistré : il est lié à votre compte pour cette primaire.")
    )
    return RedirectResponse(f"/primaries/{primary.slug}/eligibility", status_code=303)


@endpoint
async def api_eligibility_claim(request: Request) -> Response:
    """POST /api/primaries/{slug}/eligibility/claim {"voter_number", "code"}: the same claim
    as the page; an unknown number and a wrong code get the same 400."""
    user, body = await signed_in_json(request, {"voter_number", "code"})
    primary = await load_primary(request)
    values: dict[str, str] = {}
    for name, limit in (
        ("voter_number", accounts.MAX_VOTER_NUMBER_LENGTH),
        ("code", MAX_CODE_FIELD),
    ):
        value = body.get(name)
        if not isinstance(value, str):
            return json_error(request, 422, NOT_TEXT, name)
        if not value.strip():
            return json_error(request, 400, REQUIRED, name)
        if len(value) > limit:
            return json_error(request, 400, FIELD_TOO_LONG, name)
        values[name] = value
    refusal = await _claim(request, primary, user, values["voter_number"], values["code"])
    if refusal is not None:
        return json_error(request, refusal_status(refusal), refusal.message, _claim_field(refusal))
    return JSONResponse({"status": "claimed", "voter_number": values["voter_number"].strip()})


async def eligibility_request(request: Request) -> Response:
    user = await require_account(request)
    primary = await load_primary(request)
    if _policy(primary)["policy"] != "approval":
        raise HTTPException(400, NO_APPROVAL)
    async with request.app.state.units() as uow:
        await eligibility.request_approval(uow.conn, primary.id, user.id)
    flash(request, _("Votre demande a été transmise aux organisateur·rices."))
    return RedirectResponse(f"/primaries/{primary.slug}/eligibility", status_code=303)


async def _admin_context(request: Request, primary: Primary) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        counts = await eligibility.allow_list_counts(conn, primary.id)
        queue = await eligibility.requests(conn, primary.id)
    return {
        "primary": primary,
        **_policy(primary),
        "counts": counts,
        "requests": queue,
        "row_errors": [],
        "values": {},
    }


async def eligibility_admin(request: Request) -> Response:
    primary, _organiser = await administered_primary(request)
    return render(
        request, "accounts/eligibility_admin.html", await _admin_context(request, primary)
    )


async def eligibility_import(request: Request) -> Response:
    primary, _organiser = await administered_primary(request)
    form = await read_form(request, **FORM_LIMITS)
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
            async with request.app.state.units() as uow:
                result = await eligibility.import_allow_list(
                    uow.conn,
                    primary.id,
                    data,
                    secret_key=request.app.state.secret_key,
                    base_url=request.app.state.settings.base_url,
                    log=uow.log,
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
    flash(request, _("Liste importée."))
    return RedirectResponse(f"/primaries/{primary.slug}/admin/eligibility", status_code=303)


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
    primary, organiser = await administered_primary(request)
    form = await read_form(request, **FORM_LIMITS)
    decision = form.get("decision")
    try:
        account_id = UUID(str(form.get("account_id", ""))[:40])
    except ValueError:
        raise HTTPException(400) from None
    if decision not in ("approve", "refuse"):
        raise HTTPException(400)
    async with request.app.state.units() as uow:
        found = await eligibility.decide(
            uow.conn,
            primary.id,
            account_id,
            organiser_id=organiser.id,
            approve=decision == "approve",
            secret_key=request.app.state.secret_key,
            log=uow.log,
        )
    if not found:
        raise HTTPException(404)
    flash(request, _("Décision enregistrée."))
    return RedirectResponse(f"/primaries/{primary.slug}/admin/eligibility", status_code=303)


routes = route_table(
    {
        "/primaries/{slug}/eligibility": {"GET": eligibility_page, "POST": eligibility_request},
        "/primaries/{slug}/eligibility/claim": {"POST": eligibility_claim},
        "/api/primaries/{slug}/eligibility/claim": {"POST": api_eligibility_claim},
        "/primaries/{slug}/admin/eligibility": {"GET": eligibility_admin},
        "/primaries/{slug}/admin/eligibility/import": {"POST": eligibility_import},
        "/primaries/{slug}/admin/eligibility/decide": {"POST": eligibility_decide},
    }
)
