"""Rounds pages: the voting booth, review, cast and receipt; "check my ballot"; results with
merit-profile charts; the organiser's open / close / reveal pages; the observers' page and
the open data files.

Nothing here shows a count of ballots or voters of a round before it is closed.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import asyncpg
from babel.dates import format_datetime
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from crypto import canonical, merkle
from crypto.encoding import b64decode
from crypto.note import NoteError, open_checkpoint
from voting import eligibility
from voting.ballots import (
    BallotError,
    CastError,
    SignedBallot,
    assigned_candidates,
    check_choices,
    display_order,
    has_voted,
    parse_grades,
)
from voting.ballots import cast as cast_ballot
from voting.candidacies import PUBLIC_SQL
from voting.credentials import credential_in_force, key_history, uses_voter_credentials
from voting.grades import grade_labels
from voting.log import EntryTooLarge, LogService
from voting.primaries import Primary, get_primary
from voting.results import RevealError, get_result, reveal_and_tally
from voting.rounds import (
    MIN_PASSPHRASE_LENGTH,
    Round,
    RoundError,
    close_round,
    eligible_candidates,
    get_round,
    latest_round,
    list_rounds,
    open_round,
)
from web.auth import flash, require_account, require_organiser
from web.charts import grade_colours, merit_overview_svg, merit_profile_svg, profile_shares
from web.confirm import Confirmation, confirmation_page
from web.i18n import request_language, translator
from web.templating import grade_markup, render


def _(message: str) -> str:
    """Marks a message for translation; it is translated where it is shown."""
    return message


MAX_KEY_FILE = 64 * 1024
TRACKER_RE = re.compile(r"[0-9a-f]{12,64}")
TRACKER_FULL_RE = re.compile(r"[0-9a-f]{64}")
RECEIPTS_KEY = "receipts"
MAX_SESSION_RECEIPTS = 4

ROUND_OPENED = _("Le tour est ouvert au vote.")
ROUND_CLOSED = _("Le tour est clos. Révélez maintenant la clé de dépouillement.")
RESULT_PUBLISHED = _("Le résultat est publié.")
BAD_FORM = _("Formulaire illisible : rechargez la page et réessayez.")
PASSPHRASES_DIFFER = _("Les deux phrases secrètes ne sont pas identiques.")
BAD_TRACKER = _(
    "Un traceur s’écrit avec 12 à 64 chiffres hexadécimaux (0-9, a-f), par exemple 3f9a0c2b7e11."
)
AMBIGUOUS_TRACKER = _("Plusieurs bulletins commencent ainsi : donnez le traceur complet.")
BAD_CLOSING_TIME = _("Date de clôture invalide : attendu AAAA-MM-JJTHH:MM (UTC).")

# Messages produced by the domain (voting/), listed here so that they get translated.
CLOSE_MISMATCH = _("Clôture refusée : %(voters)s votants enregistrés mais %(ballots)s bulletins dans le journal. Alerte transmise ; rien n’a été modifié.")  # noqa: E501  # fmt: skip
STRICT_WITH_SUBSETS = _("La politique « strict » exige que chaque votant évalue chaque candidat : elle ne permet pas de tirer %(k)s candidats sur %(n)s. Changez la politique des jugements manquants ou la taille des sous-ensembles.")  # noqa: E501  # fmt: skip
TALLY_REFUSED = _("Le résultat ne peut pas être calculé avec la politique des jugements manquants de cette primaire ; rien n’a été publié.")  # noqa: E501  # fmt: skip
DOMAIN_MESSAGES = [
    _("Primaire introuvable."),
    _("Le tour %(number)s n’est pas terminé : publiez son résultat d’abord."),
    _("La date de clôture doit être dans le futur."),
    _("Un candidat absent du tour précédent ne peut pas entrer dans ce tour."),
    _("Seules les candidatures confirmées peuvent figurer sur le bulletin."),
    _("Il faut au moins deux candidatures confirmées pour ouvrir un tour."),
    _("La phrase secrète doit compter au moins %(n)s caractères."),
    _("Ce tour n’existe pas."),
    _("Ce tour est déjà clos."),
    CLOSE_MISMATCH,
    _("Ce tour n’est pas ouvert au vote."),
    _("Votre compte n’est pas inscrit sur la liste des votants de cette primaire."),
    _("Vous avez déjà voté à ce tour."),
    _("Le vote blanc n’est pas prévu pour ce tour."),
    _("Un vote blanc ne contient aucune mention : choisissez l’un ou l’autre."),
    _("Ce candidat ne figure pas sur votre bulletin."),
    _("Choisissez une mention pour ce candidat."),
    _("Cette mention n’existe pas sur l’échelle."),
    _("Ce fichier n’est pas un fichier de clé de dépouillement."),
    _("La clé de ce fichier est illisible."),
    _("La clé de ce tour a été remise sous forme de fichier : déposez ce fichier."),
    _("Phrase secrète incorrecte."),
    _("Donnez la phrase secrète ou le fichier de clé."),
    _("Cette clé ne correspond pas à la clé publique du tour."),
    _("Clôturez le tour avant de révéler la clé."),
    _("Le résultat de ce tour est déjà publié."),
    _("La clôture n’est pas encore inscrite au journal ; réessayez."),
    STRICT_WITH_SUBSETS,
    TALLY_REFUSED,
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _message(error: RoundError | CastError | RevealError | EntryTooLarge, request: Request) -> str:
    if isinstance(error, EntryTooLarge):  # a Refused: its params fill {placeholders}
        return error.translated(translator(request_language(request)))
    text = translator(request_language(request))(error.message)
    params = getattr(error, "params", None)
    return text % params if params else text


async def _primary(request: Request) -> Primary:
    async with request.app.state.pool.acquire() as conn:
        primary = await get_primary(conn, request.path_params["slug"])
    if primary is None:
        raise HTTPException(404)
    return primary


def _number(request: Request) -> int:
    try:
        number = int(request.path_params["number"])
    except (KeyError, ValueError):
        raise HTTPException(404) from None
    if not 1 <= number <= 1000:
        raise HTTPException(404)
    return number


async def _primary_and_round(request: Request) -> tuple[Primary, Round]:
    primary = await _primary(request)
    async with request.app.state.pool.acquire() as conn:
        round_ = await get_round(conn, primary.id, _number(request))
    if round_ is None:
        raise HTTPException(404)
    return primary, round_


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_part_size=MAX_KEY_FILE)
    except Exception:  # a malformed multipart body must not become a 500
        raise HTTPException(400, BAD_FORM) from None


def _round_url(primary: Primary, round_: Round, suffix: str = "") -> str:
    return f"/primaries/{primary.slug}/rounds/{round_.number}{suffix}"


def _grade_labels(round_: Round, request: Request) -> list[Markup]:
    """The round's grades for this page: in its language, a custom label marked with its own."""
    return grade_markup(round_.grades, request_language(request))


def _download_uri(data: dict[str, Any]) -> str:
    """A data: URI, so that a receipt or key file downloads without a second request."""
    raw = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    return "data:application/json;base64," + base64.b64encode(raw).decode("ascii")


def _log(request: Request) -> LogService:
    return request.app.state.log


# --------------------------------------------------------------------------------------------
# Rounds overview
# --------------------------------------------------------------------------------------------


async def rounds_index(request: Request) -> Response:
    primary = await _primary(request)
    async with request.app.state.pool.acquire() as conn:
        rounds = await list_rounds(conn, primary.id)
    return render(
        request,
        "rounds/index.html",
        {"primary": primary, "rounds": rounds, "now": datetime.now(UTC)},
    )


async def _round_page(
    request: Request,
    primary: Primary,
    round_: Round,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    user = request.scope.get("user")
    voted = False
    if user is not None:
        async with request.app.state.pool.acquire() as conn:
            voted = await has_voted(conn, round_.id, user.id)
    return render(
        request,
        "rounds/round.html",
        {
            "primary": primary,
            "round": round_,
            "voted": voted,
            "has_receipt": _session_receipt(request, primary, round_) is not None,
            "accepting": round_.accepts_ballots(datetime.now(UTC)),
            "window": round_.window(),
            "is_organiser": bool(user and user.is_organiser),
            "public_key": base64.b64encode(round_.tally_public_key).decode("ascii"),
            "errors": errors or {},
        },
        status,
    )


async def round_page(request: Request) -> Response:
    primary, round_ = await _primary_and_round(request)
    return await _round_page(request, primary, round_)


# --------------------------------------------------------------------------------------------
# The booth
# --------------------------------------------------------------------------------------------


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
            async with conn.transaction():
                assigned = await assigned_candidates(conn, round_, account.id)
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
            "has_receipt": _session_receipt(request, primary, round_) is not None,
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
) -> Response:
    names = round_.names
    return render(
        request,
        "rounds/booth.html",
        {
            "primary": primary,
            "round": round_,
            "candidates": [{"id": c, "name": names[c]} for c in order],
            "grades": list(enumerate(_grade_labels(round_, request))),
            "values": values or {},
            "errors": errors or {},
            "general_error": (errors or {}).get(""),
            # Errors about candidates that are not on this ballot (a forged form).
            "stray_errors": sorted(
                {m for k, m in (errors or {}).items() if k and k not in names}
                | {m for k, m in (errors or {}).items() if k and k in names and k not in order}
            ),
        },
        status,
    )


async def booth(request: Request) -> Response:
    primary, round_ = await _primary_and_round(request)
    page, order = await _booth_state(request, primary, round_)
    if page is not None:
        return page
    return _booth(request, primary, round_, order)


async def review(request: Request) -> Response:
    """POST from the booth: check the choices, then show them for confirmation."""
    primary, round_ = await _primary_and_round(request)
    page, order = await _booth_state(request, primary, round_)
    if page is not None:
        return page
    form = await _form(request)
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
    labels = _grade_labels(round_, request)
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
    primary, round_ = await _primary_and_round(request)
    account = await require_account(request)
    form = await _form(request)
    blank = form.get("choice") == "blank"
    pool = request.app.state.pool
    async with pool.acquire() as conn:
        async with conn.transaction():
            order = await assigned_candidates(conn, round_, account.id)
        posted = [key.removeprefix("grade-") for key in form if key.startswith("grade-")]
        # Candidates posted but not on this voter's ballot go to the service, which refuses.
        values = parse_grades(form, list(dict.fromkeys([*order, *posted])), len(round_.grades))
        grades: dict[str, Any] = {} if blank else values
        try:
            async with conn.transaction():
                queued = await cast_ballot(
                    conn,
                    _log(request),
                    primary_id=primary.id,
                    number=round_.number,
                    account_id=account.id,
                    grades=grades,
                    blank=blank,
                    secret_key=request.app.state.secret_key,
                    signed=_signed_ballot(form),
                )
        except CastError as exc:
            return render(
                request,
                "rounds/notice.html",
                {
                    "primary": primary,
                    "round": round_,
                    "notice": "refused",
                    "code": exc.code,
                    "message": _message(exc, request),
                    "has_receipt": _session_receipt(request, primary, round_) is not None,
                },
                exc.status,
            )
        except BallotError as exc:
            shown = display_order(order, round_.id, account.id, request.app.state.secret_key)
            return _booth(
                request, primary, round_, shown, values=values, errors=exc.errors, status=400
            )
    placed = await _log(request).wait(pool, queued)
    _remember_receipt(request, primary, round_, placed.tracker, placed.index)
    # Post/Redirect/Get: reloading the receipt page must not post the ballot again.
    return RedirectResponse(_round_url(primary, round_, "/receipt"), status_code=303)


def _signed_ballot(form: FormData) -> SignedBallot | None:
    """The sealed ballot the voter's device signed (static/credentials.js), if any."""
    if not form.get("signature"):
        return None
    try:
        return SignedBallot(
            b64decode(str(form.get("sealed", ""))),
            str(form.get("token", ""))[:128],
            b64decode(str(form.get("signature", ""))),
        )
    except ValueError:
        raise HTTPException(400, BAD_FORM) from None


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


def _session_receipt(request: Request, primary: Primary, round_: Round) -> dict[str, Any] | None:
    if request.scope.get("session") is None:
        return None
    saved = (request.session.get(RECEIPTS_KEY) or {}).get(_receipt_key(primary, round_))
    if not isinstance(saved, dict) or not TRACKER_FULL_RE.fullmatch(str(saved.get("tracker"))):
        return None
    return saved


async def receipt_page(request: Request) -> Response:
    """The receipt of the ballot this browser cast (GET after the cast's redirect)."""
    primary, round_ = await _primary_and_round(request)
    await require_account(request)
    saved = _session_receipt(request, primary, round_)
    if saved is None:
        return render(
            request,
            "rounds/notice.html",
            {"primary": primary, "round": round_, "notice": "no-receipt"},
            404,
        )
    tracker = saved["tracker"]
    filename = _receipt_filename(primary, round_.number, tracker)
    proof_name = _receipt_filename(primary, round_.number, tracker, "tlog-proof")
    vkey = await _log(request).vkey(request.app.state.pool, primary.id)
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
            **_audit_commands(request, primary, vkey, filename),
        },
    )
    page.headers["cache-control"] = "no-store"
    return page


RECEIPT_FORMATS = ("json", "tlog-proof")  # each one also the file's extension


def _receipt_filename(primary: Primary, number: int, tracker: str, form: str = "json") -> str:
    return f"recu-{primary.slug}-tour{number}-{tracker[:12]}.{form}"


# --------------------------------------------------------------------------------------------
# Check my ballot
# --------------------------------------------------------------------------------------------


async def _find_ballot(
    conn: asyncpg.Connection, primary: Primary, tracker: str
) -> list[asyncpg.Record]:
    """Ballot entries whose tracker starts with `tracker` (hex digits, any length), at most
    two (two mean the prefix is ambiguous). Every digit counts, an odd last one too: the
    leaf hashes between the prefix padded with 0s and with fs, on the leaf-hash index."""
    low = bytes.fromhex(tracker.ljust(64, "0"))
    high = bytes.fromhex(tracker.ljust(64, "f"))
    return await conn.fetch(
        """
        SELECT idx, leaf_hash, entry FROM log_entries
        WHERE primary_id = $1 AND leaf_hash BETWEEN $2 AND $3 AND kind = 'ballot'
        ORDER BY leaf_hash, idx LIMIT 2
        """,
        primary.id,
        low,
        high,
    )


async def _check_inclusion(
    request: Request, primary: Primary, index: int, leaf: bytes
) -> tuple[bool, int]:
    """Verify the entry's inclusion in the latest signed checkpoint, as a voter's tool would."""
    log = _log(request)
    pool = request.app.state.pool
    checkpoint = await log.latest_checkpoint(pool, primary.id)
    if checkpoint.size <= index:
        await log.publish_checkpoint(pool, primary.id)
        checkpoint = await log.latest_checkpoint(pool, primary.id)
    try:
        opened = open_checkpoint(checkpoint.note, await log.vkey(pool, primary.id))
        proof = await log.inclusion_proof(pool, primary.id, index, opened.size)
        merkle.verify_inclusion(leaf, index, opened.size, list(proof.hashes), opened.root_hash)
    except (NoteError, merkle.ProofError, ValueError):
        return False, checkpoint.size
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
        context["key"] = await key_history(conn, primary.id, raw)
    return 200


async def check(request: Request) -> Response:
    primary = await _primary(request)
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
        async with request.app.state.pool.acquire() as conn:
            rows = await _find_ballot(conn, primary, raw)
            if len(rows) > 1:
                context["error"] = _(
                    "Plusieurs bulletins commencent ainsi : donnez le traceur complet."
                )
                return render(request, "rounds/check.html", context, 400)
            if not rows:
                context["error"] = _("Aucun bulletin de cette primaire n’a ce traceur.")
                return render(request, "rounds/check.html", context, 404)
            row = rows[0]
            body = canonical.loads(bytes(row["entry"]))["body"]
            round_ = await get_round(conn, primary.id, int(body["round"]))
            result = await get_result(conn, round_.id) if round_ is not None else None
            replaced = False  # a later ballot under the same key replaces it (§8 "Revoting")
            if "credential" in body:
                history = await key_history(conn, primary.id, body["credential"])
                replaced = any(b.index == row["idx"] and not b.counted for b in history.ballots)
        leaf = bytes(row["leaf_hash"])
        verified, size = await _check_inclusion(request, primary, row["idx"], leaf)
        counted = None
        if result is not None:
            counted = (
                leaf.hex() not in result["invalid_trackers"]
                and row["idx"] < result["body"]["tree_size"]
                and not replaced
            )
        context["found"] = {
            "tracker": leaf.hex(),
            "index": row["idx"],
            "round": body["round"],
            "verified": verified,
            "checkpoint_size": size,
            "tallied": result is not None,
            "counted": counted,
            "replaced": replaced,
        }
    return render(request, "rounds/check.html", context)


async def receipt_file(request: Request) -> Response:
    """The §7 receipt of a ballot, by tracker (public: it holds only public log data), as
    scrutin-receipt/v1 JSON or, with `format=tlog-proof`, as a C2SP tlog-proof file."""
    primary = await _primary(request)
    raw = (request.query_params.get("tracker") or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", raw):
        raise HTTPException(400, _("Donnez le traceur complet (64 chiffres hexadécimaux)."))
    form = request.query_params.get("format") or "json"
    if form not in RECEIPT_FORMATS:
        raise HTTPException(400, _("Format de reçu inconnu : json ou tlog-proof."))
    async with request.app.state.pool.acquire() as conn:
        rows = await _find_ballot(conn, primary, raw)
    if not rows:
        raise HTTPException(404, _("Aucun bulletin de cette primaire n’a ce traceur."))
    number = canonical.loads(bytes(rows[0]["entry"]))["body"]["round"]
    pool, index = request.app.state.pool, rows[0]["idx"]
    # A real download (not a data: URI, which browsers may refuse to navigate to under CSP).
    headers = {
        "content-disposition": (
            f'attachment; filename="{_receipt_filename(primary, number, raw, form)}"'
        ),
        "cache-control": "no-store",
    }
    if form == "tlog-proof":
        text = await _log(request).receipt_tlog_proof(pool, primary.id, index)
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)
    return JSONResponse(await _log(request).receipt(pool, primary.id, index), headers=headers)


# --------------------------------------------------------------------------------------------
# Organiser: open, close, reveal
# --------------------------------------------------------------------------------------------


async def _new_round_context(request: Request, primary: Primary) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        previous = await latest_round(conn, primary.id)
        confirmed = await eligible_candidates(conn, primary.id)
        result = None
        if previous is not None and previous.status == "tallied":
            result = await get_result(conn, previous.id)
    choices = confirmed
    ranks: dict[str, int] = {}
    if previous is not None:
        still = {c["candidate"] for c in confirmed}
        choices = [c for c in previous.candidates if c["candidate"] in still]
        if result is not None:
            ranks = {c: v["rank"] for c, v in result["body"]["candidates"].items()}
            choices.sort(key=lambda c: ranks.get(c["candidate"], 10**6))
    return {
        "primary": primary,
        "previous": previous,
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
    primary = await _primary(request)
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
    primary = await _primary(request)
    form = await _form(request)
    chosen = [str(v) for v in form.getlist("candidates")]
    custody = (form.get("custody") == "file" and "file") or "passphrase"
    passphrase = str(form.get("passphrase") or "")
    errors: dict[str, str] = {}
    if custody == "passphrase" and passphrase != str(form.get("passphrase_again") or ""):
        errors["passphrase_again"] = PASSPHRASES_DIFFER
    try:
        closes_at = _parse_closing(str(form.get("closes_at") or ""))
    except ValueError:
        closes_at = None
        errors["closes_at"] = BAD_CLOSING_TIME
    opened = None
    if not errors:
        try:
            async with request.app.state.pool.acquire() as conn, conn.transaction():
                opened = await open_round(
                    conn,
                    _log(request),
                    primary_id=primary.id,
                    opened_by=organiser.id,
                    candidate_ids=chosen,
                    passphrase=passphrase if custody == "passphrase" else None,
                    closes_at=closes_at,
                    now=datetime.now(UTC),
                )
        except (RoundError, EntryTooLarge) as exc:
            errors[exc.field or ""] = _message(exc, request)
    if opened is None:
        context = await _new_round_context(request, primary)
        context["errors"] = errors
        context["values"] = {
            "candidates": set(chosen),
            "custody": custody,
            "closes_at": form.get("closes_at") or "",
        }
        return render(request, "rounds/new.html", context, 400)
    await _log(request).publish_checkpoint(request.app.state.pool, primary.id)
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
    flash(request, ROUND_OPENED)
    return RedirectResponse(_round_url(primary, opened.round), status_code=303)


async def close(request: Request) -> Response:
    await require_organiser(request)
    primary, round_ = await _primary_and_round(request)
    await _form(request)
    try:
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            _closed, queued = await close_round(
                conn, _log(request), primary_id=primary.id, number=round_.number
            )
    except RoundError as exc:
        return await _round_page(request, primary, round_, {"close": _message(exc, request)}, 409)
    await _log(request).wait(request.app.state.pool, queued)
    await _log(request).publish_checkpoint(request.app.state.pool, primary.id)
    flash(request, ROUND_CLOSED)
    return RedirectResponse(_round_url(primary, round_), status_code=303)


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
    action="",
    back="",
)
CLOSE_BEFORE_END = _(
    "La fin du vote était prévue le {end} : les citoyens qui n’ont pas encore voté ne "
    "pourront plus le faire."
)


async def close_confirm(request: Request) -> Response:
    """The second page before closing a round, saying so when it is before its scheduled end."""
    await require_organiser(request)
    primary, round_ = await _primary_and_round(request)
    if round_.status != "open":
        return RedirectResponse(_round_url(primary, round_), status_code=303)
    consequences = list(CLOSE_CONFIRMATION.consequences)
    params: dict[str, Any] = {"number": round_.number}
    _start, end = round_.window()
    if end is not None and end > datetime.now(UTC):
        consequences.insert(1, CLOSE_BEFORE_END)
        params["end"] = format_datetime(end, format="medium", locale=request_language(request))
    confirmation = dataclasses.replace(
        CLOSE_CONFIRMATION, consequences=consequences, params=params,
        action=_round_url(primary, round_, "/close"), back=_round_url(primary, round_),
    )  # fmt: skip
    return confirmation_page(request, confirmation)


async def reveal(request: Request) -> Response:
    await require_organiser(request)
    primary, round_ = await _primary_and_round(request)
    form = await _form(request)
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
            _log(request),
            primary_id=primary.id,
            number=round_.number,
            passphrase=str(form.get("passphrase") or "") or None,
            key_file=key_data,
        )
    except (RevealError, EntryTooLarge) as exc:
        return await _round_page(
            request, primary, round_, {"reveal": _message(exc, request), "field": exc.field}, 400
        )
    flash(request, RESULT_PUBLISHED)
    return RedirectResponse(_round_url(primary, round_, "/results"), status_code=303)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _percent(share: Any, lang: str) -> str:
    value = round(float(share) * 100, 1)
    text = f"{value:.1f}"
    return (text.replace(".", ",") + " %") if lang == "fr" else text + "%"


async def results(request: Request) -> Response:
    primary, round_ = await _primary_and_round(request)
    lang = request_language(request)
    t = translator(lang)
    async with request.app.state.pool.acquire() as conn:
        result = await get_result(conn, round_.id) if round_.status == "tallied" else None
    if result is None:
        return render(
            request,
            "rounds/notice.html",
            {"primary": primary, "round": round_, "notice": "no-result"},
            404 if round_.status == "open" else 200,
        )
    body = result["body"]
    graded = grade_labels(round_.grades, lang)
    labels = [g.text for g in graded]  # plain text, for the charts' descriptions
    marked = _grade_labels(round_, request)  # HTML, a custom label's language marked
    colours = grade_colours(len(labels))
    names = round_.names
    rows = []
    for position, cid in enumerate(body["ranking"]):
        data = body["candidates"][cid]
        profile = data["profile"]
        shares = profile_shares(profile)
        grade = labels[data["majority_grade"]]
        chart_id = f"profil-{position + 1}"
        description = t(_("Mention majoritaire : %(grade)s. ")) % {"grade": grade} + ", ".join(
            f"{label} {_percent(share, lang)}" for label, share in zip(labels, shares, strict=True)
        )
        rows.append(
            {
                "id": cid,
                "name": names.get(cid, cid),
                "rank": data["rank"],
                "grade": marked[data["majority_grade"]],
                "grade_index": data["majority_grade"],
                "total": sum(profile),
                "cells": [
                    {"label": label, "count": count, "percent": _percent(share, lang), "colour": c}
                    for label, count, share, c in zip(marked, profile, shares, colours, strict=True)
                ],
                "chart": merit_profile_svg(
                    profile,
                    labels,
                    chart_id=chart_id,
                    title=t(_("Profil de mérite de %(name)s")) % {"name": names.get(cid, cid)},
                    description=description,
                    median_label=t(_("médiane")),
                    lang=lang,
                    grade_langs=[g.lang for g in graded],
                ),
            }
        )
    return render(
        request,
        "rounds/results.html",
        {
            "primary": primary,
            "round": round_,
            "body": body,
            "rows": rows,
            "explanations": result["explanations"].get(lang) or result["explanations"]["fr"],
            "labels": labels,
            "result_index": result["result_index"],
            # Every profile on one chart, ranked, above the per-candidate detail.
            "overview": merit_overview_svg(
                [
                    (f"{row['rank']}. {row['name']}", body["candidates"][row["id"]]["profile"])
                    for row in rows
                ],
                labels,
                chart_id="vue-ensemble",
                title=t(_("Vue d’ensemble : les profils de mérite de tous les candidats")),
                description="; ".join(
                    f"{row['rank']}. {row['name']} — {labels[row['grade_index']]}" for row in rows
                ),
                median_label=t(_("médiane")),
                lang=lang,
                grade_langs=[g.lang for g in graded],
            ),
        },
    )


# --------------------------------------------------------------------------------------------
# Observers and open data
# --------------------------------------------------------------------------------------------


def _public_base(request: Request) -> str:
    """The address people use: SCRUTIN_PUBLIC_URL behind a proxy, else this request's."""
    settings = getattr(request.app.state, "settings", None)
    public = getattr(settings, "public_url", None)
    if public:
        return str(public).rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def _audit_commands(request: Request, primary: Primary, vkey: str, receipt: str) -> dict:
    """The exact scrutin-audit command lines for this primary (docs/audit-log.md §9)."""
    url = f"{_public_base(request)}/primaries/{primary.slug}"
    return {
        "url": url,
        "verify_command": f"scrutin-audit verify {url} --log-key '{vkey}'",
        "receipt_command": f"scrutin-audit receipt {receipt} --log {url} --log-key '{vkey}'",
    }


async def observers(request: Request) -> Response:
    primary = await _primary(request)
    log = _log(request)
    pool = request.app.state.pool
    vkey = await log.vkey(pool, primary.id)
    checkpoint = await log.latest_checkpoint(pool, primary.id)
    return render(
        request,
        "rounds/observers.html",
        {
            "primary": primary,
            "vkey": vkey,
            "origin": vkey.split("+", 1)[0],  # the key name is the origin (spec §5)
            "checkpoint": checkpoint,
            "witnesses": await log.witnesses.status(pool, primary.id),
            **_audit_commands(request, primary, vkey, "receipt.json"),
        },
    )


CANDIDATE_COLUMNS = ["candidate", "name", "status", "declaration", "supports"]
RESULT_COLUMNS = [
    "round",
    "candidate",
    "name",
    "rank",
    "majority_grade",
    "majority_grade_label",
    "judgments",
]


async def _open_data(request: Request, primary: Primary) -> dict[str, Any]:
    async with request.app.state.pool.acquire() as conn:
        candidacies = await conn.fetch(
            f"""
            SELECT id, name, status, declaration, support_count FROM candidacies
            WHERE primary_id = $1 AND {PUBLIC_SQL}
            ORDER BY name, id
            """,
            primary.id,
        )
        rounds = await list_rounds(conn, primary.id)
        published = []
        for round_ in rounds:
            entry: dict[str, Any] = {
                "round": round_.number,
                "status": round_.status,
                "candidates": round_.candidates,
                "subset_size": round_.subset_size,
                "allow_blank": round_.allow_blank,
                "grades": round_.grades,
            }
            if round_.status != "open":
                entry["turnout"] = round_.turnout
            result = await get_result(conn, round_.id) if round_.status == "tallied" else None
            if result is not None:
                entry["result"] = result["body"]
                entry["result_index"] = result["result_index"]
            published.append(entry)
    return {
        "candidates": [
            {
                "candidate": str(row["id"]),
                "name": row["name"],
                "status": row["status"],
                "declaration": row["declaration"],
                "supports": row["support_count"],
            }
            for row in candidacies
        ],
        "rounds": published,
    }


def _csv(rows: list[list[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


async def open_data(request: Request) -> Response:
    primary = await _primary(request)
    name = request.path_params["name"]
    data = await _open_data(request, primary)
    if name == "candidates.json":
        return JSONResponse({"primary": primary.slug, "candidates": data["candidates"]})
    if name == "results.json":
        return JSONResponse({"primary": primary.slug, "rounds": data["rounds"]})
    if name == "candidates.csv":
        rows = [CANDIDATE_COLUMNS] + [[c[k] for k in CANDIDATE_COLUMNS] for c in data["candidates"]]
        return _csv(rows, f"{primary.slug}-candidates.csv")
    if name == "results.csv":
        # The merit profile's columns are named by the grade labels, worst first, right
        # after `judgments` (docs/open-data.md); results.json has the same as a list.
        header = RESULT_COLUMNS + list(primary.grades)
        rows = [header]
        for entry in data["rounds"]:
            result = entry.get("result")
            if result is None:
                continue
            names = {c["candidate"]: c["name"] for c in entry["candidates"]}
            labels = entry["grades"]
            for cid in result["ranking"]:
                item = result["candidates"][cid]
                profile = item["profile"]
                rows.append(
                    [
                        entry["round"],
                        cid,
                        names.get(cid, ""),
                        item["rank"],
                        item["majority_grade"],
                        labels[item["majority_grade"]],
                        sum(profile),
                        *profile,
                    ]
                )
        return _csv(rows, f"{primary.slug}-results.csv")
    raise HTTPException(404)


async def open_data_index(request: Request) -> Response:
    primary = await _primary(request)
    return render(request, "rounds/open_data.html", {"primary": primary})


async def api_rounds(request: Request) -> Response:
    """JSON: the primary's rounds; turnout once closed, result once published."""
    primary = await _primary(request)
    data = await _open_data(request, primary)
    return JSONResponse({"primary": primary.slug, "rounds": data["rounds"]})


_SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
_ROUNDS_SCHEMA = {
    "type": "object",
    "properties": {
        "primary": {"type": "string"},
        "rounds": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "round, status (open, closed, tallied), candidates, "
                "subset_size, allow_blank, grades; turnout once closed; result (the body of "
                "the result entry, docs/audit-log.md §8) and result_index once published",
            },
        },
    },
}


def _register_openapi() -> None:
    from web.views.api import OPENAPI_PATHS

    OPENAPI_PATHS["/api/primaries/{slug}/rounds"] = {
        "parameters": [_SLUG],
        "get": {
            "summary": "The voting rounds: no count before a round is closed",
            "responses": {
                "200": {
                    "description": "The rounds",
                    "content": {"application/json": {"schema": _ROUNDS_SCHEMA}},
                }
            },
        },
    }
    OPENAPI_PATHS["/primaries/{slug}/data/{name}"] = {
        "parameters": [
            _SLUG,
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {
                    "enum": ["candidates.csv", "candidates.json", "results.csv", "results.json"]
                },
            },
        ],
        "get": {
            "summary": "Open data (columns in docs/open-data.md)",
            "responses": {"200": {"description": "CSV or JSON file"}},
        },
    }
    OPENAPI_PATHS["/primaries/{slug}/receipt"] = {
        "parameters": [
            _SLUG,
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

routes: list[BaseRoute] = [
    Route("/api/primaries/{slug}/rounds", api_rounds, methods=["GET"]),
    Route("/primaries/{slug}/rounds", rounds_index, methods=["GET"]),
    Route("/primaries/{slug}/rounds", create_round, methods=["POST"]),
    Route("/primaries/{slug}/rounds/new", new_round, methods=["GET"]),
    Route("/primaries/{slug}/rounds/{number:int}", round_page, methods=["GET"]),
    Route("/primaries/{slug}/rounds/{number:int}/vote", booth, methods=["GET"]),
    Route("/primaries/{slug}/rounds/{number:int}/vote", review, methods=["POST"]),
    Route("/primaries/{slug}/rounds/{number:int}/cast", cast, methods=["POST"]),
    Route("/primaries/{slug}/rounds/{number:int}/receipt", receipt_page, methods=["GET"]),
    Route("/primaries/{slug}/rounds/{number:int}/close", close_confirm, methods=["GET"]),
    Route("/primaries/{slug}/rounds/{number:int}/close", close, methods=["POST"]),
    Route("/primaries/{slug}/rounds/{number:int}/reveal", reveal, methods=["POST"]),
    Route("/primaries/{slug}/rounds/{number:int}/results", results, methods=["GET"]),
    Route("/primaries/{slug}/check", check, methods=["GET"]),
    Route("/primaries/{slug}/receipt", receipt_file, methods=["GET"]),
    Route("/primaries/{slug}/observers", observers, methods=["GET"]),
    Route("/primaries/{slug}/data", open_data_index, methods=["GET"]),
    Route("/primaries/{slug}/data/{name}", open_data, methods=["GET"]),
]
