"""The organiser's round pages: open a round (candidates, closing time, custody of the tally
key), close it (after a confirmation page), reveal the tally key to publish the result."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from voting.encrypted_rounds import publish_round_sums, uses_encrypted_ballots
from voting.primaries import Primary
from voting.refusals import Refused
from voting.results import get_result, reveal_and_tally
from voting.rounds import (
    MIN_PASSPHRASE_LENGTH,
    close_round,
    eligible_candidates,
    latest_round,
    open_round,
    opening_refusal,
)
from voting.trustees import election_key
from web.auth import flash, require_organiser
from web.confirm import Confirmation, confirmation_page
from web.i18n import request_language
from web.templating import render
from web.views.base import (
    _,
    change,
    load_primary,
    log_service,
    primary_and_round,
    read_form,
    refusal_text,
    round_url,
    route_table,
)
from web.views.rounds import round_page_response

MAX_KEY_FILE = 64 * 1024  # a tally key file, uploaded or pasted

ROUND_CLOSED_ENCRYPTED = _(
    "Le tour est clos et les sommes chiffrées sont publiées : les garants peuvent maintenant "
    "les déchiffrer."
)


def _download_uri(data: dict[str, Any]) -> str:
    """A data: URI, so that a key file downloads without a second request."""
    raw = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return "data:application/json;base64," + base64.b64encode(raw).decode("ascii")


async def _new_round_context(request: Request, primary: Primary) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        previous = await latest_round(conn, primary.id)
        confirmed = await eligible_candidates(conn, primary.id)
        result = None
        if previous is not None and previous.status == "tallied":
            result = await get_result(conn, previous.id)
        # §10: ballots encrypted for the trustees' election key; no tally key to keep.
        encrypted = uses_encrypted_ballots(primary.definition)
        key_missing = encrypted and await election_key(conn, primary.id) is None
    choices = confirmed
    ranks: dict[str, int] = {}
    if previous is not None:
        still = {c["candidate"] for c in confirmed}
        choices = [c for c in previous.candidates if c["candidate"] in still]
        if result is not None:
            ranks = {c: v["rank"] for c, v in result["body"]["candidates"].items()}
            choices.sort(key=lambda c: ranks.get(c["candidate"], 10**6))
    # What the service would refuse whatever the form says: shown instead of the form.
    refusal = opening_refusal(
        primary.definition, previous, len(choices), datetime.now(UTC),
        supports_closed=primary.supports_closed,
    )  # fmt: skip
    return {
        "refusal": refusal_text(request, refusal) if refusal is not None else None,
        "primary": primary,
        "previous": previous,
        "encrypted": encrypted,
        "election_key_missing": key_missing,
        "blocked": previous is not None and previous.status != "tallied",
        "choices": choices,
        "ranks": ranks,
        "number": 1 if previous is None else previous.number + 1,
        "min_passphrase": MIN_PASSPHRASE_LENGTH,
        "errors": {},
        "values": {"candidates": {c["candidate"] for c in choices}, "custody": "passphrase"},
    }


async def new_round(request: Request) -> Response:
    await require_organiser(request)
    primary = await load_primary(request)
    return render(request, "rounds/new.html", await _new_round_context(request, primary))


def _parse_closing(value: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


async def create_round(request: Request) -> Response:
    organiser = await require_organiser(request)
    primary = await load_primary(request)
    form = await read_form(request, max_part_size=MAX_KEY_FILE)
    chosen = [str(v) for v in form.getlist("candidates")]
    custody = (form.get("custody") == "file" and "file") or "passphrase"
    passphrase = str(form.get("passphrase") or "")
    errors: dict[str, str] = {}
    if uses_encrypted_ballots(primary.definition):
        custody = "trustees"  # no tally key: any passphrase or key file sent is ignored
    elif custody == "passphrase" and passphrase != str(form.get("passphrase_again") or ""):
        errors["passphrase_again"] = _("Les deux phrases secrètes ne sont pas identiques.")
    try:
        closes_at = _parse_closing(str(form.get("closes_at") or ""))
    except ValueError:
        closes_at = None
        errors["closes_at"] = _("Date de clôture invalide : attendu AAAA-MM-JJTHH:MM (UTC).")
    opened = None
    if not errors:
        try:
            opened = await change(
                request,
                open_round,
                primary_id=primary.id,
                opened_by=organiser.id,
                candidate_ids=chosen,
                passphrase=passphrase if custody == "passphrase" else None,
                closes_at=closes_at,
                now=datetime.now(UTC),
            )
        except Refused as exc:
            errors[exc.field or ""] = refusal_text(request, exc)
    if opened is None:
        context = await _new_round_context(request, primary)
        context["errors"] = errors
        context["values"] = {
            "candidates": set(chosen),
            "custody": custody,
            "closes_at": form.get("closes_at") or "",
        }
        return render(request, "rounds/new.html", context, 400)
    if opened.key_file is not None:
        return render(
            request,
            "rounds/key_file.html",
            {
                "primary": primary,
                "round": opened.round,
                "key_uri": _download_uri(opened.key_file),
                "key_name": f"cle-{primary.slug}-tour{opened.round.number}.json",
                "key_text": json.dumps(opened.key_file, indent=2),
            },
        )
    flash(request, _("Le tour est ouvert au vote."))
    return RedirectResponse(round_url(primary, opened.round), status_code=303)


async def close(request: Request) -> Response:
    await require_organiser(request)
    primary, round_ = await primary_and_round(request)
    await read_form(request, max_part_size=MAX_KEY_FILE)
    try:
        await change(request, close_round, primary_id=primary.id, number=round_.number)
    except Refused as exc:
        return await round_page_response(
            request, primary, round_, {"close": refusal_text(request, exc)}, 409
        )
    if round_.key_custody == "trustees":  # §10: the sums the trustees decrypt, now
        await publish_round_sums(
            request.app.state.pool, log_service(request), primary_id=primary.id,
            number=round_.number,
        )  # fmt: skip
        flash(request, ROUND_CLOSED_ENCRYPTED)
        return RedirectResponse(round_url(primary, round_), status_code=303)
    flash(request, _("Le tour est clos. Révélez maintenant la clé de dépouillement."))
    return RedirectResponse(round_url(primary, round_), status_code=303)


CLOSE_CONFIRMATION = Confirmation(
    title=_("Clore le tour {number} maintenant ?"),
    consequences=[
        _("Le vote s’arrête pour tout le monde : aucun bulletin ne sera plus accepté."),
        _(
            "La participation est inscrite au journal public ; il faudra ensuite révéler la clé "
            "de dépouillement pour publier le résultat."
        ),
    ],
    button=_("Clore le tour définitivement"),
)
CLOSE_ENCRYPTED = _(
    "La participation et les sommes chiffrées des bulletins sont inscrites au journal public ; "
    "les garants déchiffreront ensuite ces seules sommes pour publier le résultat."
)
CLOSE_BEFORE_END = _(
    "La fin du vote était prévue le {end} : les citoyens qui n’ont pas encore voté ne "
    "pourront plus le faire."
)


async def close_confirm(request: Request) -> Response:
    """The second page before closing a round, saying so when it is before its scheduled end."""
    await require_organiser(request)
    primary, round_ = await primary_and_round(request)
    if round_.status != "open":
        return RedirectResponse(round_url(primary, round_), status_code=303)
    consequences = list(CLOSE_CONFIRMATION.consequences)
    if round_.key_custody == "trustees":  # §10: no tally key to reveal
        consequences[1] = CLOSE_ENCRYPTED
    params: dict[str, Any] = {"number": round_.number}
    _start, end = round_.window()
    if end is not None and end > datetime.now(UTC):
        consequences.insert(1, CLOSE_BEFORE_END)
        params["end"] = format_datetime(end, format="medium", locale=request_language(request))
    confirmation = dataclasses.replace(
        CLOSE_CONFIRMATION, consequences=consequences, params=params,
        action=round_url(primary, round_, "/close"), back=round_url(primary, round_),
    )  # fmt: skip
    return confirmation_page(request, confirmation)


async def reveal(request: Request) -> Response:
    await require_organiser(request)
    primary, round_ = await primary_and_round(request)
    form = await read_form(request, max_part_size=MAX_KEY_FILE)
    upload = form.get("key_file")
    key_data: bytes | None = None
    if isinstance(upload, UploadFile) and upload.filename:
        key_data = await upload.read(MAX_KEY_FILE + 1)
    pasted = str(form.get("key_text") or "").strip()
    if key_data is None and pasted:
        key_data = pasted.encode("utf-8")
    try:
        await reveal_and_tally(
            request.app.state.pool,
            log_service(request),
            primary_id=primary.id,
            number=round_.number,
            passphrase=str(form.get("passphrase") or "") or None,
            key_file=key_data,
        )
    except Refused as exc:
        return await round_page_response(
            request,
            primary,
            round_,
            {"reveal": refusal_text(request, exc), "field": exc.field},
            400,
        )
    flash(request, _("Le résultat est publié."))
    return RedirectResponse(round_url(primary, round_, "/results"), status_code=303)


routes = route_table(
    {
        "/primaries/{slug}/rounds": {"POST": create_round},
        "/primaries/{slug}/rounds/new": {"GET": new_round},
        "/primaries/{slug}/rounds/{number:int}/close": {"GET": close_confirm, "POST": close},
        "/primaries/{slug}/rounds/{number:int}/reveal": {"POST": reveal},
    }
)
