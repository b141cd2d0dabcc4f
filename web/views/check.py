"""Check my ballot: a ballot found by its tracker (or the ballots under a voting key) in the
public log, its inclusion verified against the latest signed checkpoint as a voter's own
tool would; and the receipt of a ballot by tracker, as JSON or a C2SP tlog-proof file.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crypto import merkle
from crypto.encoding import b64decode
from crypto.note import NoteError, open_checkpoint
from voting.credentials import key_history, uses_voter_credentials
from voting.encrypted_rounds import invalidity_check
from voting.log import LogEntry
from voting.primaries import Primary
from voting.results import get_result
from voting.rounds import get_round
from web.templating import render
from web.views.base import _, load_primary, log_service, route_table
from web.views.booth import RECEIPT_FORMATS, receipt_filename

TRACKER_RE = re.compile(r"[0-9a-f]{12,64}")
BAD_TRACKER = _(
    "Un traceur s’écrit avec 12 à 64 chiffres hexadécimaux (0-9, a-f), par exemple 3f9a0c2b7e11."
)


async def _find_ballot(request: Request, primary: Primary, tracker: str) -> list[LogEntry]:
    """Ballot entries whose tracker starts with `tracker` (hex digits, any length), at most
    two (two mean the prefix is ambiguous)."""
    log = log_service(request)
    return await log.entries_by_tracker(request.app.state.pool, primary.id, tracker, "ballot")


async def _check_inclusion(
    request: Request, primary: Primary, index: int, leaf: bytes
) -> tuple[bool, int]:
    """Verify the entry's inclusion in a signed checkpoint, as a voter's tool would: the
    checkpoint of its receipt (the latest, or a new one when the latest does not cover it)."""
    log = log_service(request)
    pool = request.app.state.pool
    receipt = await log.receipt(pool, primary.id, index)
    try:
        opened = open_checkpoint(receipt["checkpoint"], await log.vkey(pool, primary.id))
        hashes = [b64decode(h) for h in receipt["inclusion_proof"]]
        merkle.verify_inclusion(leaf, index, opened.size, hashes, opened.root_hash)
    except (NoteError, merkle.ProofError, ValueError):
        return False, (await log.latest_checkpoint(pool, primary.id)).size
    return True, opened.size


BAD_KEY = _(
    "Une clé de vote s’écrit en base64 et fait 32 octets, "
    "comme la page « Ma clé de vote » l’affiche."
)


async def _check_key(request: Request, primary: Primary, context: dict[str, Any]) -> int:
    """The voter's check of their key (docs/audit-log.md §9 check 13, read from the log):
    on which rolls it is, which ballots carry it and which one counts. Returns the status."""
    raw = "".join((request.query_params.get("credential") or "").split())[:100]
    context["credential"] = raw
    try:
        valid = len(b64decode(raw)) == 32
    except ValueError:
        valid = False
    if not valid:
        context["key_error"] = BAD_KEY
        return 400
    async with request.app.state.pool.acquire() as conn:
        context["key"] = await key_history(
            conn, primary.id, raw, invalidity_check(conn, primary.id)
        )
    return 200


async def check(request: Request) -> Response:
    primary = await load_primary(request)
    raw = (request.query_params.get("tracker") or "").strip().lower().replace(" ", "")
    context: dict[str, Any] = {
        "primary": primary, "tracker": raw, "found": None, "error": None,
        "voter_mode": uses_voter_credentials(primary.definition),
        "credential": "", "key": None, "key_error": None,
    }  # fmt: skip
    if "credential" in request.query_params:
        status = await _check_key(request, primary, context)
        return render(request, "rounds/check.html", context, status)
    if raw:
        if not TRACKER_RE.fullmatch(raw):
            context["error"] = BAD_TRACKER
            return render(request, "rounds/check.html", context, 400)
        rows = await _find_ballot(request, primary, raw)
        async with request.app.state.pool.acquire() as conn:
            if len(rows) > 1:
                context["error"] = _(
                    "Plusieurs bulletins commencent ainsi : donnez le traceur complet."
                )
                return render(request, "rounds/check.html", context, 400)
            if not rows:
                context["error"] = _("Aucun bulletin de cette primaire n’a ce traceur.")
                return render(request, "rounds/check.html", context, 404)
            row = rows[0]
            body = row.envelope()["body"]
            round_ = await get_round(conn, primary.id, int(body["round"]))
            result = await get_result(conn, round_.id) if round_ is not None else None
            # A later valid ballot under the same key replaces it (§8, §10 "Revoting"); an
            # encrypted ballot whose proofs fail counts nowhere and replaces nothing (§10).
            invalid = invalidity_check(conn, primary.id)
            invalid_reason = await invalid(int(body["round"]), body)
            replaced = False
            if "credential" in body and invalid_reason is None:
                history = await key_history(conn, primary.id, body["credential"], invalid)
                replaced = any(b.index == row.index and not b.counted for b in history.ballots)
        leaf = row.leaf_hash
        verified, size = await _check_inclusion(request, primary, row.index, leaf)
        counted = None
        if result is not None:
            counted = (
                leaf.hex() not in result["invalid_trackers"]
                and row.index < result["body"]["tree_size"]
                and not replaced
            )
        context["found"] = {
            "tracker": leaf.hex(),
            "index": row.index,
            "round": body["round"],
            "verified": verified,
            "checkpoint_size": size,
            "tallied": result is not None,
            "counted": counted and invalid_reason is None,
            "replaced": replaced,
            "invalid_reason": invalid_reason,
        }
    return render(request, "rounds/check.html", context)


async def receipt_file(request: Request) -> Response:
    """The §7 receipt of a ballot, by tracker (public: it holds only public log data), as
    scrutin-receipt/v1 JSON or, with `format=tlog-proof`, as a C2SP tlog-proof file."""
    primary = await load_primary(request)
    raw = (request.query_params.get("tracker") or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", raw):
        raise HTTPException(400, _("Donnez le traceur complet (64 chiffres hexadécimaux)."))
    form = request.query_params.get("format") or "json"
    if form not in RECEIPT_FORMATS:
        raise HTTPException(400, _("Format de reçu inconnu : json ou tlog-proof."))
    rows = await _find_ballot(request, primary, raw)
    if not rows:
        raise HTTPException(404, _("Aucun bulletin de cette primaire n’a ce traceur."))
    number = rows[0].envelope()["body"]["round"]
    pool, index = request.app.state.pool, rows[0].index
    # A real download (not a data: URI, which browsers may refuse to navigate to under CSP).
    headers = {
        "content-disposition": (
            f'attachment; filename="{receipt_filename(primary, number, raw, form)}"'
        ),
        "cache-control": "no-store",
    }
    if form == "tlog-proof":
        text = await log_service(request).receipt_tlog_proof(pool, primary.id, index)
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)
    return JSONResponse(
        await log_service(request).receipt(pool, primary.id, index), headers=headers
    )


def _register_openapi() -> None:
    from web.views.api import OPENAPI_PATHS

    OPENAPI_PATHS["/primaries/{slug}/receipt"] = {
        "parameters": [
            {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "tracker", "in": "query", "required": True, "schema": {"type": "string"}},
            {
                "name": "format",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(RECEIPT_FORMATS), "default": "json"},
            },
        ],
        "get": {
            "summary": "The receipt of a ballot by its tracker (docs/audit-log.md §7)",
            "responses": {
                "200": {"description": "scrutin-receipt/v1 JSON, or a C2SP tlog-proof file"},
                "400": {"description": "Malformed tracker or unknown format"},
                "404": {"description": "No ballot with this tracker"},
            },
        },
    }


_register_openapi()

routes = route_table(
    {
        "/primaries/{slug}/check": {"GET": check},
        "/primaries/{slug}/receipt": {"GET": receipt_file},
    }
)
