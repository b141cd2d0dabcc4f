"""The voting booth: the ballot, its review, the cast, and the receipt the browser keeps.

A voter who may not vote now gets a page saying why (closed, already voted, not eligible, no
voting key in force) instead of a ballot.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crypto.encoding import b64encode
from voting import eligibility
from voting.ballots import (
    BallotError,
    SignedBallot,
    assigned_candidates,
    check_choices,
    display_order,
    has_voted,
    parse_grades,
)
from voting.ballots import cast as cast_ballot
from voting.credentials import credential_in_force, uses_voter_credentials
from voting.encrypted_rounds import EncryptedCast
from voting.log import readers as log_readers
from voting.primaries import Primary
from voting.refusals import Refused
from voting.rounds import Round
from web.auth import require_account
from web.errors import refusal_status
from web.templating import render
from web.views.base import (
    base64_field,
    log_service,
    primary_and_round,
    read_form,
    refusal_text,
    round_grade_labels,
    round_url,
    route_table,
)
from web.views.observers import audit_commands

MAX_KEY_FILE = 64 * 1024  # the largest form part: a sealed ballot and its signature fit
TRACKER_FULL_RE = re.compile(r"[0-9a-f]{64}")
RECEIPTS_KEY = "receipts"
MAX_SESSION_RECEIPTS = 4


async def _booth_state(
    request: Request, primary: Primary, round_: Round
) -> tuple[Response | None, list[str]]:
    """Either a page explaining why this person cannot vote now, or their ballot's list."""
    account = await require_account(request)
    notice: str | None = None
    status = 200
    reason = ""
    async with request.app.state.pool.acquire() as conn:
        if not round_.accepts_ballots(datetime.now(UTC)):
            notice, status = "closed", 409
        elif await has_voted(conn, round_.id, account.id) and not uses_voter_credentials(
            round_.definition
        ):  # under voter credentials a voter may vote again; the last ballot counts
            notice = "voted"
        else:
            found = await eligibility.eligibility(conn, primary.id, account.id)
            if not found.eligible:
                notice, status, reason = "not-eligible", 403, found.reason
            elif uses_voter_credentials(round_.definition) and (
                await credential_in_force(conn, primary.id, account.id) is None
            ):  # the roll froze when the round opened: no key now, no ballot in this round
                notice, status = "no-credential", 403
    if notice is None:
        async with request.app.state.units() as uow:  # a subset is drawn at the first visit
            assigned = await assigned_candidates(uow.conn, round_, account.id)
        order = display_order(assigned, round_.id, account.id, request.app.state.secret_key)
        return None, order
    page = render(
        request,
        "rounds/notice.html",
        {
            "primary": primary,
            "round": round_,
            "notice": notice,
            "reason": reason,
            "has_receipt": session_receipt(request, primary, round_) is not None,
        },
        status,
    )
    return page, []


def _booth(
    request: Request,
    primary: Primary,
    round_: Round,
    order: list[str],
    *,
    values: dict[str, int | None] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    encrypted: dict[str, Any] | None = None,
) -> Response:
    names = round_.names
    return render(
        request,
        "rounds/booth.html",
        {
            "primary": primary,
            "round": round_,
            "candidates": [{"id": c, "name": names[c]} for c in order],
            "grades": list(enumerate(round_grade_labels(request, round_))),
            "values": values or {},
            "errors": errors or {},
            "encrypted": encrypted,
            "general_error": (errors or {}).get(""),
            # Errors about candidates that are not on this ballot (a forged form).
            "stray_errors": sorted(
                {m for k, m in (errors or {}).items() if k and k not in names}
                | {m for k, m in (errors or {}).items() if k and k in names and k not in order}
            ),
        },
        status,
    )


async def _encrypted_booth(
    request: Request, primary: Primary, round_: Round, order: list[str]
) -> dict[str, Any] | None:
    """What the browser encrypts and signs with (web/static/booth-encrypted.js) in an
    encrypted round, for a voter whose key is on their device; None otherwise (an assisted key:
    the service encrypts for the voter, through the form and its review page)."""
    if round_.key_custody != "trustees":
        return None
    account = await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        key = await credential_in_force(conn, primary.id, account.id)
        origin = await log_readers.origin(conn, primary.id)
    if key is None or key.assisted:
        return None
    return {
        "origin": origin,
        "election_key": b64encode(round_.tally_public_key),
        "candidates": json.dumps(round_.candidate_ids),
        "ballot": json.dumps(order),
        "grades": len(round_.grades),
        "subset_size": round_.subset_size,
        "credential": key.b64,
    }


async def booth(request: Request) -> Response:
    primary, round_ = await primary_and_round(request)
    page, order = await _booth_state(request, primary, round_)
    if page is not None:
        return page
    encrypted = await _encrypted_booth(request, primary, round_, order)
    return _booth(request, primary, round_, order, encrypted=encrypted)


async def review(request: Request) -> Response:
    """POST from the booth: check the choices, then show them for confirmation."""
    primary, round_ = await primary_and_round(request)
    page, order = await _booth_state(request, primary, round_)
    if page is not None:
        return page
    form = await read_form(request, max_part_size=MAX_KEY_FILE)
    values = parse_grades(form, order, len(round_.grades))
    if form.get("edit"):
        return _booth(request, primary, round_, order, values=values)
    blank = form.get("choice") == "blank"
    try:
        ballot = check_choices(
            {} if blank else values,
            order,
            len(round_.grades),
            blank=blank,
            allow_blank=round_.allow_blank,
        )
    except BallotError as exc:
        return _booth(request, primary, round_, order, values=values, errors=exc.errors, status=400)
    labels = round_grade_labels(request, round_)
    names = round_.names
    voter_mode = uses_voter_credentials(round_.definition)
    key = None
    if voter_mode:
        async with request.app.state.pool.acquire() as conn:
            key = await credential_in_force(conn, primary.id, (await require_account(request)).id)
    return render(
        request,
        "rounds/review.html",
        {
            "primary": primary,
            "round": round_,
            "voter_mode": voter_mode,
            "credential": key,
            "blank": blank,
            "choices": [
                {"id": c, "name": names[c], "grade": ballot[c], "label": labels[ballot[c]]}
                for c in order
                if c in ballot
            ],
        },
    )


async def cast(request: Request) -> Response:
    """POST from the review page: seal, log, mark as voted, then show the receipt."""
    primary, round_ = await primary_and_round(request)
    account = await require_account(request)
    form = await read_form(request, max_part_size=MAX_KEY_FILE)
    blank = form.get("choice") == "blank"
    order = round_.candidate_ids
    if round_.uses_subsets:  # the voter's subset is stored: read it (no transaction otherwise)
        async with request.app.state.units() as uow:
            order = await assigned_candidates(uow.conn, round_, account.id)
    posted = [key.removeprefix("grade-") for key in form if key.startswith("grade-")]
    # Candidates posted but not on this voter's ballot go to the service, which refuses.
    values = parse_grades(form, list(dict.fromkeys([*order, *posted])), len(round_.grades))
    grades: dict[str, Any] = {} if blank else values
    try:
        async with request.app.state.units() as uow:
            queued = await cast_ballot(
                uow.conn,
                uow.log,
                primary_id=primary.id,
                number=round_.number,
                account_id=account.id,
                grades=grades,
                blank=blank,
                secret_key=request.app.state.secret_key,
                signed=_signed_ballot(form),
                encrypted=_encrypted_ballot(form),
            )
    except BallotError as exc:  # a Refused with a message per candidate: before Refused
        shown = display_order(order, round_.id, account.id, request.app.state.secret_key)
        return _booth(request, primary, round_, shown, values=values, errors=exc.errors, status=400)
    except Refused as exc:
        return render(
            request,
            "rounds/notice.html",
            {
                "primary": primary,
                "round": round_,
                "notice": "refused",
                "code": exc.reason,
                "message": refusal_text(request, exc),
                "has_receipt": session_receipt(request, primary, round_) is not None,
            },
            refusal_status(exc),
        )
    placed = uow.placed(queued)  # a ballot waits for its place: the receipt
    _remember_receipt(request, primary, round_, placed.tracker, placed.index)
    # Post/Redirect/Get: reloading the receipt page must not post the ballot again.
    return RedirectResponse(round_url(primary, round_, "/receipt"), status_code=303)


def _signed_ballot(form: FormData) -> SignedBallot | None:
    """The sealed ballot the voter's device signed (static/credentials.js), if any."""
    if not form.get("signature"):
        return None
    return SignedBallot(
        base64_field(form, "sealed"),
        str(form.get("token", ""))[:128],
        base64_field(form, "signature"),
    )


def _encrypted_ballot(form: FormData) -> EncryptedCast | None:
    """The ballot the voter's browser encrypted and signed (static/booth-encrypted.js)."""
    if not form.get("encrypted"):
        return None
    return EncryptedCast(base64_field(form, "encrypted"), base64_field(form, "credential_sig"))


def _receipt_key(primary: Primary, round_: Round) -> str:
    return f"{primary.slug}/{round_.number}"


def _remember_receipt(
    request: Request, primary: Primary, round_: Round, tracker: str, index: int
) -> None:
    """Keep the receipt in the voter's own session cookie, and nowhere on the server.

    The session is a signed cookie held by the browser (the `sessions` table stores only a
    hash of its random token), so the server keeps no link between account and tracker;
    signing out forgets it.
    """
    saved = dict(request.session.get(RECEIPTS_KEY) or {})
    saved.pop(_receipt_key(primary, round_), None)
    saved[_receipt_key(primary, round_)] = {"tracker": tracker, "index": index}
    request.session[RECEIPTS_KEY] = dict(list(saved.items())[-MAX_SESSION_RECEIPTS:])


def session_receipt(request: Request, primary: Primary, round_: Round) -> dict[str, Any] | None:
    if request.scope.get("session") is None:
        return None
    saved = (request.session.get(RECEIPTS_KEY) or {}).get(_receipt_key(primary, round_))
    if not isinstance(saved, dict) or not TRACKER_FULL_RE.fullmatch(str(saved.get("tracker"))):
        return None
    return saved


async def receipt_page(request: Request) -> Response:
    """The receipt of the ballot this browser cast (GET after the cast's redirect)."""
    primary, round_ = await primary_and_round(request)
    await require_account(request)
    saved = session_receipt(request, primary, round_)
    if saved is None:
        return render(
            request,
            "rounds/notice.html",
            {"primary": primary, "round": round_, "notice": "no-receipt"},
            404,
        )
    tracker = saved["tracker"]
    filename = receipt_filename(primary, round_.number, tracker)
    proof_name = receipt_filename(primary, round_.number, tracker, "tlog-proof")
    vkey = await log_service(request).vkey(request.app.state.pool, primary.id)
    page = render(
        request,
        "rounds/receipt.html",
        {
            "primary": primary,
            "round": round_,
            "tracker": tracker,
            "index": saved["index"],
            "receipt_url": f"/primaries/{primary.slug}/receipt?tracker={tracker}",
            "receipt_name": filename,
            "proof_url": f"/primaries/{primary.slug}/receipt?tracker={tracker}&format=tlog-proof",
            "proof_name": proof_name,
            "proof_command": f"scrutin-audit receipt {proof_name} --log-key '{vkey}'",
            **audit_commands(request, primary, vkey, filename),
        },
    )
    page.headers["cache-control"] = "no-store"
    return page


RECEIPT_FORMATS = ("json", "tlog-proof")  # each one also the file's extension


def receipt_filename(primary: Primary, number: int, tracker: str, form: str = "json") -> str:
    return f"recu-{primary.slug}-tour{number}-{tracker[:12]}.{form}"


routes = route_table(
    {
        "/primaries/{slug}/rounds/{number:int}/vote": {"GET": booth, "POST": review},
        "/primaries/{slug}/rounds/{number:int}/cast": {"POST": cast},
        "/primaries/{slug}/rounds/{number:int}/receipt": {"GET": receipt_page},
    }
)
