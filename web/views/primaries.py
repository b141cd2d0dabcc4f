"""Primary pages: home and timeline, creation, settings (definition revisions), moderation.

Also the helpers the candidacies pages and the JSON API share: loading a primary by slug,
turning a `Refused` into a translated message, rendering, publishing a checkpoint.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Container, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from voting import candidacies, supports
from voting.candidacies import MODERATION_STATES, Candidacy
from voting.definition import (
    ELIGIBILITY_POLICIES,
    FRENCH_GRADES,
    GRADE_PRESETS,
    QUALIFICATION_MODES,
    ROUND_RE,
)
from voting.majority import MISSING_POLICIES, RULES
from voting.primaries import (
    Primary,
    create_primary,
    update_definition,
    voting_has_started,
)
from voting.refusals import Refused, _
from voting.rounds import latest_round
from web.auth import flash, require_account, require_organiser, require_primary_admin
from web.confirm import Confirmation, confirmation_page
from web.errors import refusal_status
from web.i18n import request_language, translator
from web.templating import render as render_page
from web.views import base as views_base
from web.views.base import STATUS_LABELS, administered_primary, change, refusal_text, route_table
from web.views.base import load_primary as load_primary  # re-exported: the candidacy pages use it

MAX_FORM_FIELDS = 60
MAX_PART = 2 * 1024 * 1024
_ROUND_FIELD = re.compile(r"round-([1-9][0-9]?)_(?:start|end)")
REQUIRED_PHASES = ("candidacies", "supports")

PHASE_LABELS = {
    "candidacies": _("Candidatures"),
    "supports": _("Soutiens"),
    "round-1": _("Premier tour"),
    "round-2": _("Second tour"),
    "results": _("Résultats"),
    "upcoming": _("À venir"),
    "between": _("Entre deux phases"),
    "over": _("Terminée"),
}
RULE_LABELS = {
    "majority-value": _("Valeur majoritaire"),
    "majority-gauge": _("Jauge majoritaire"),
    "mieux-voter": _("Score Mieux Voter"),
    "typical": _("Jugement typique"),
    "central": _("Jugement central"),
    "usual": _("Jugement usuel"),
}
MISSING_LABELS = {
    "normalize": _("Normaliser (chacun sur ses propres évaluations)"),
    "worst-grade": _("Compter comme la pire mention"),
    "median": _("Compter comme la mention médiane"),
    "strict": _("Refuser les bulletins incomplets"),
}
QUALIFICATION_LABELS = {
    "threshold": _("Automatique, dès le seuil atteint"),
    "phase-end": _("À la clôture de la phase des soutiens"),
}
ELIGIBILITY_LABELS = {
    "email": _("Toute adresse électronique vérifiée"),
    "allow-list": _("Liste des participant·es"),
    "approval": _("Accord des organisateur·rices"),
}
PRESET_LABELS = {
    "fr-7": _("Sept mentions (À rejeter … Excellent)"),
    "laprimaire-6": _("Six mentions de LaPrimaire.org (À rejeter … Très bien)"),
    "custom": _("Personnalisée (une mention par ligne, de la pire à la meilleure)"),
}


# ------------------------------------------------------------------------------ helpers


def gettext(request: Request) -> Any:
    return translator(request_language(request))


def render(
    request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> Response:
    base = {
        "phase_labels": PHASE_LABELS,
        "status_labels": STATUS_LABELS,
        "rule_labels": RULE_LABELS,
        "missing_labels": MISSING_LABELS,
        "qualification_labels": QUALIFICATION_LABELS,
        "eligibility_labels": ELIGIBILITY_LABELS,
    }
    return render_page(request, template, {**base, **context}, status)


async def read_form(request: Request) -> FormData:
    """The definition and candidacy forms: many fields, two files at most (a photo)."""
    return await views_base.read_form(
        request, max_files=2, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_PART
    )


def field(form: FormData, name: str, limit: int = 20_000) -> str:
    """A text field, cut at a generous bound (the services enforce the real limits)."""
    value = form.get(name)
    return value[: limit + 1] if isinstance(value, str) else ""


def is_organiser(request: Request, primary: Primary | None = None) -> bool:
    """May the visitor administer `primary` (or, without one, create primaries)?"""
    user = request.scope.get("user")
    if primary is not None:
        return primary.administered_by(user)
    return bool(user is not None and user.is_organiser)


# ------------------------------------------------------------------------- definition form


def form_values(primary: Primary | None = None) -> dict[str, Any]:
    """What the definition form shows: from a primary, or the defaults."""
    if primary is None:
        return {
            "threshold": "500", "support_cap": "0", "qualification": "threshold",
            "grades_preset": "fr-7", "grades_custom": "\n".join(FRENCH_GRADES), "grades_en": "",
            "rule": "majority-value", "missing": "normalize", "default_grade": "0",
            "upper_median": False, "subset_size": "0", "allow_blank": True,
            "eligibility": "email", "refuse_disposable": False, "witness_policy": "",
            "voter_credentials": False,
        }  # fmt: skip
    d = primary.definition
    preset = next((k for k, v in GRADE_PRESETS.items() if list(v) == d["grades"]), "custom")
    values: dict[str, Any] = {
        "title": d["title"], "slug": d["slug"], "description": d["description"],
        "charter": primary.charter, "threshold": str(d["threshold"]),
        "support_cap": str(d["support_cap"]), "qualification": d["qualification"],
        "grades_preset": preset, "grades_custom": "\n".join(d["grades"]), "rule": d["rule"],
        "grades_en": "\n".join(d.get("grade_labels", {}).get("en", [])),
        "missing": d["missing"], "default_grade": str(d["default_grade"]),
        "upper_median": d["upper_median"], "subset_size": str(d["subset_size"]),
        "allow_blank": d["allow_blank"], "eligibility": d["eligibility"],
        "refuse_disposable": bool(d.get("refuse_disposable", False)),
        "witness_policy": d.get("witness_policy", ""),
        "voter_credentials": d.get("credentials") == "voter",
    }  # fmt: skip
    for phase in d["phases"]:
        values[f"{phase['name']}_start"] = _local(phase["start"])
        values[f"{phase['name']}_end"] = _local(phase["end"])
    return values


def _local(instant: str) -> str:
    """`YYYY-MM-DDTHH:MM` for a datetime-local field, with `:SS` when the seconds are not 0,
    so that saving the form unchanged does not move any date."""
    text = instant.removesuffix("Z")
    return text[:16] if text.endswith(":00") else text[:19]


# Bounds of the form's fields, checked even for a field the choices make unused (custom
# grades with a preset scale): what the form cannot hold is refused, never ignored.
FIELD_LIMITS = {
    "title": 200, "slug": 63, "description": 10_000, "charter": 20_000, "threshold": 12,
    "support_cap": 12, "qualification": 40, "grades_preset": 40, "grades_custom": 1_000,
    "grades_en": 1_000,
    "rule": 40, "missing": 40, "default_grade": 12, "subset_size": 12, "eligibility": 40,
    "witness_policy": 10_000,
}  # fmt: skip
PHASE_FIELD_LIMIT = 40


def check_lengths(values: Mapping[str, Any]) -> None:
    """Refuse (naming the field) any form field longer than the form allows."""
    for name, value in values.items():
        limit = FIELD_LIMITS.get(name, PHASE_FIELD_LIMIT)
        if isinstance(value, str) and len(value) > limit:
            raise Refused("too-long", field=name, max=limit)


def form_phase_names(
    definition: Mapping[str, Any] | None = None, form: FormData | None = None
) -> list[str]:
    """The calendar rows of the form: the usual ones, plus every later round that the
    definition (or the form sent) has, so that saving the settings never drops a round."""
    rounds = {1, 2}
    for phase in (definition or {}).get("phases", []):
        if match := ROUND_RE.fullmatch(str(phase.get("name", ""))):
            rounds.add(int(match.group(1)))
    for key in form.keys() if form is not None else ():
        if match := _ROUND_FIELD.fullmatch(key):
            rounds.add(int(match.group(1)))
    return ["candidacies", "supports", *(f"round-{n}" for n in sorted(rounds)), "results"]


def definition_from_form(form: FormData) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(definition input, values to show again, phase names in the order sent)."""
    values: dict[str, Any] = {
        name: field(form, name)
        for name in (
            "title", "slug", "description", "charter", "threshold", "support_cap",
            "qualification", "grades_preset", "grades_custom", "grades_en", "rule", "missing",
            "default_grade", "subset_size", "eligibility",
        )
    }  # fmt: skip
    values["upper_median"] = form.get("upper_median") == "on"
    values["allow_blank"] = form.get("allow_blank") == "on"
    values["refuse_disposable"] = form.get("refuse_disposable") == "on"
    values["witness_policy"] = field(form, "witness_policy", 10_000)
    values["voter_credentials"] = form.get("voter_credentials") == "on"
    phases: list[dict[str, str]] = []
    order: list[str] = []
    for name in form_phase_names(form=form):
        start, end = field(form, f"{name}_start", 40), field(form, f"{name}_end", 40)
        values[f"{name}_start"], values[f"{name}_end"] = start, end
        if start or end or name in REQUIRED_PHASES:
            phases.append({"name": name, "start": start, "end": end})
            order.append(name)
    preset = values["grades_preset"]
    grades: Any = (
        preset
        if preset in GRADE_PRESETS
        else [line.strip() for line in values["grades_custom"].splitlines() if line.strip()]
    )
    # The scale in English, one label per line; left empty, English pages translate the
    # preset words and show the others in French.
    english = [line.strip() for line in values["grades_en"].splitlines() if line.strip()]
    data = {
        "title": values["title"], "slug": values["slug"].strip(),
        "description": values["description"], "threshold": values["threshold"].strip(),
        "support_cap": values["support_cap"].strip(), "qualification": values["qualification"],
        "grades": grades, "rule": values["rule"], "missing": values["missing"],
        "default_grade": values["default_grade"].strip(),
        "upper_median": values["upper_median"], "subset_size": values["subset_size"].strip(),
        "allow_blank": values["allow_blank"], "eligibility": values["eligibility"],
        "refuse_disposable": values["refuse_disposable"], "phases": phases,
        "witness_policy": values["witness_policy"],
        "credentials": "voter" if values["voter_credentials"] else "server",
        "grade_labels": {"en": english} if english else None,
    }  # fmt: skip
    return data, values, order


def form_status(exc: Refused) -> int:
    """A definition form shown again with its refusal: the refusal's status, but never 404
    (the page exists; what it names does not)."""
    status = refusal_status(exc)
    return status if status != 404 else 422


def form_field_of(exc: Refused, order: list[str]) -> str:
    """The form field a refusal names: `phases[1].end` → `supports_end`."""
    name = exc.field or "form"
    if name.startswith("phases[") and "]" in name:
        index = int(name[7 : name.index("]")])
        part = name[name.index("]") + 2 :] or "start"
        return f"{order[index]}_{part}" if index < len(order) else "phases"
    if name.startswith("grades"):
        return "grades_custom"
    if name.startswith("grade_labels"):
        return "grades_en"
    return name


def choices(definition: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "rules": RULES,
        "missing_policies": MISSING_POLICIES,
        "qualification_modes": QUALIFICATION_MODES,
        "eligibility_policies": ELIGIBILITY_POLICIES,
        "presets": PRESET_LABELS,
        "form_phases": form_phase_names(definition),
    }


# ---------------------------------------------------------------------------------- pages


async def primary_home(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        counts = await conn.fetch(
            "SELECT status, count(*) AS n FROM candidacies WHERE primary_id = $1 GROUP BY status",
            primary.id,
        )
        started = await voting_has_started(conn, primary.id)
        current_round = await latest_round(conn, primary.id) if started else None
    now = datetime.now(UTC)
    return render(
        request,
        "primaries/home.html",
        {
            "primary": primary,
            "current_round": current_round,
            # The booth is offered when the service accepts ballots (Round.accepts_ballots).
            "voting_open": current_round is not None and current_round.accepts_ballots(now),
            "now": now,
            "state": primary.phases(),
            "counts": {r["status"]: r["n"] for r in counts},
            "voting_started": started,
            "organiser": is_organiser(request, primary),
        },
    )


async def new_page(request: Request) -> Response:
    await require_organiser(request)
    return render(
        request,
        "primaries/form.html",
        {"values": form_values(), "errors": {}, "primary": None, **choices()},
    )


def _refused_form(
    request: Request,
    exc: Refused,
    values: dict[str, Any],
    order: list[str],
    primary: Primary | None,
) -> Response:
    """The definition form again (a new primary's, or `primary`'s settings), with the
    service's refusal beside the field it names."""
    context: dict[str, Any] = {
        "values": values,
        "errors": {form_field_of(exc, order): refusal_text(request, exc)},
        "primary": primary,
    }
    if primary is None:
        context.update(choices())
    else:
        context.update(state=primary.phases(), **choices(primary.definition))
    return render(request, "primaries/form.html", context, status=form_status(exc))


async def create(request: Request) -> Response:
    organiser = await require_organiser(request)
    form = await read_form(request)
    data, values, order = definition_from_form(form)
    try:
        check_lengths(values)
        primary = await change(
            request,
            create_primary,
            data,
            created_by=organiser.id,
            charter=values["charter"],
        )
    except Refused as exc:
        return _refused_form(request, exc, values, order, None)
    flash(request, _("Primaire créée : sa définition est la première entrée de son journal."))
    return RedirectResponse(f"/primaries/{primary.slug}", status_code=303)


async def admin_page(request: Request) -> Response:
    await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        await require_primary_admin(request, primary)
        started = await voting_has_started(conn, primary.id)
    return render(
        request,
        "primaries/form.html",
        {"values": form_values(primary), "errors": {}, "primary": primary,
         "voting_started": started, "state": primary.phases(),
         **choices(primary.definition)},
    )  # fmt: skip


async def admin_update(request: Request) -> Response:
    primary, organiser = await administered_primary(request)
    form = await read_form(request)
    data, values, order = definition_from_form(form)
    try:
        check_lengths(values)  # the slug too: read-only, but what was sent must fit
        data["slug"] = values["slug"] = primary.slug
        updated = await change(
            request,
            update_definition,
            primary.id,
            data,
            by=organiser.id,
            charter=values["charter"],
        )
    except Refused as exc:
        return _refused_form(request, exc, values, order, primary)
    if updated.revision != primary.revision:
        flash(request, _("Nouvelle révision de la définition inscrite au journal."))
    else:
        flash(request, _("Aucun changement."))
    return RedirectResponse(f"/primaries/{primary.slug}/admin", status_code=303)


async def close_supports(request: Request) -> Response:
    """Close the supports phase: at or after its end; before it only with `early=1`, which
    appends a definition revision ending the phase now (`supports.close_supports_now`)."""
    primary, organiser = await administered_primary(request)
    form = await read_form(request)
    early = form.get("early") == "1"
    try:
        async with request.app.state.units() as uow:
            uow.checkpoint(primary.id)  # the phase closes even if nobody qualifies
            if early:
                await supports.close_supports_now(uow.conn, uow.log, primary.id, by=organiser.id)
            else:
                await supports.close_supports_phase(uow.conn, uow.log, primary.id)
    except Refused as exc:
        raise HTTPException(refusal_status(exc), refusal_text(request, exc)) from None
    flash(request, _("Phase des soutiens close : les candidats au seuil sont qualifiés."))
    return RedirectResponse(f"/primaries/{primary.slug}/admin", status_code=303)


async def moderation_page(
    request: Request, errors: dict | None = None, status: int = 200
) -> Response:
    await require_account(request)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        await require_primary_admin(request, primary)
        every = await candidacies.list_candidacies(conn, primary.id)
    return render(
        request,
        "primaries/moderation.html",
        {
            "primary": primary,
            # Offered from the services' own table (candidacies.MODERATION_STATES).
            "pending": [c for c in every if c.status in MODERATION_STATES["accept"]],
            "live": [
                c for c in every
                if c.status in MODERATION_STATES["exclude"]
                and c.status not in MODERATION_STATES["accept"]
            ],
            "closed": [c for c in every if c.status in ("rejected", "declined", "lapsed",
                                                        "withdrawn", "excluded")],
            "errors": errors or {},
        },
        status=status,
    )  # fmt: skip


MODERATION_ACTIONS = ("accept", "reject", "exclude")


async def _moderated(
    request: Request, actions: Container[str]
) -> tuple[str, Primary, Candidacy | None]:
    """The `{action}` of the address (404 unless one of `actions`), the primary (403 unless
    the caller administers it) and the `{id}` candidacy if it is one of this primary's."""
    await require_account(request)
    action = request.path_params["action"]
    if action not in actions:
        raise HTTPException(404)
    async with request.app.state.pool.acquire() as conn:
        primary = await load_primary(request, conn)
        await require_primary_admin(request, primary)
        candidacy = await candidacies.get_candidacy(conn, request.path_params["id"][:40])
    if candidacy is not None and candidacy.primary_id != primary.id:
        candidacy = None
    return action, primary, candidacy


async def moderate(request: Request) -> Response:
    action, primary, candidacy = await _moderated(request, MODERATION_ACTIONS)
    form = await read_form(request)
    reason = field(form, "reason", 4000)
    if candidacy is None:
        raise HTTPException(404)
    try:
        async with request.app.state.units() as uow:
            if action == "accept":
                await candidacies.publish(uow.conn, uow.log, candidacy.id)
            elif action == "reject":
                await candidacies.reject(uow.conn, uow.log, candidacy.id, reason)
            else:
                await candidacies.exclude(uow.conn, uow.log, candidacy.id, reason)
    except Refused as exc:
        return await moderation_page(
            request,
            {str(candidacy.id): refusal_text(request, exc), "reason": reason},
            status=refusal_status(exc),
        )
    flash(request, MODERATED[action])
    return RedirectResponse(f"/primaries/{primary.slug}/admin/candidacies", status_code=303)


MODERATION_CONFIRMATIONS = {
    "reject": Confirmation(
        title=_("Refuser la candidature « {name} » ?"),
        consequences=[
            _("La candidature ne sera pas publiée : son contenu reste privé."),
            _(
                "Le refus et son motif sont publics : inscrits au journal public, ils sont "
                "affichés sur la page de la candidature."
            ),
        ],
        button=_("Refuser la candidature"),
        reason_label=_("Motif public du refus"),
        reason_required=True,
    ),
    "exclude": Confirmation(
        title=_("Exclure la candidature « {name} » ?"),
        consequences=[
            _(
                "La candidature quitte la primaire : elle ne recueillera plus de soutiens et ne "
                "figurera sur aucun bulletin."
            ),
            _(
                "L’exclusion et son motif sont publics : inscrits au journal public, ils sont "
                "affichés sur la page de la candidature."
            ),
        ],
        button=_("Exclure la candidature"),
        reason_label=_("Motif public de l’exclusion"),
        reason_required=True,
    ),
}


async def moderation_confirm(request: Request) -> Response:
    """The second page before refusing or excluding: the consequences, the public reason
    (as typed on the moderation page, still editable) and the POST form."""
    action, primary, candidacy = await _moderated(request, MODERATION_CONFIRMATIONS)
    if candidacy is None:
        raise HTTPException(404)
    if candidacy.status not in MODERATION_STATES[action]:
        # No confirmation for what the service would refuse: the moderation page, with why.
        refused = Refused("candidacy-state", state=candidacy.status)
        return await moderation_page(
            request, {str(candidacy.id): refusal_text(request, refused)}, refusal_status(refused)
        )
    base = f"/primaries/{primary.slug}/admin/candidacies"
    confirmation = dataclasses.replace(
        MODERATION_CONFIRMATIONS[action],
        action=f"{base}/{candidacy.id}/{action}",
        back=base,
        params={"name": candidacy.name},
        reason=request.query_params.get("reason", "")[:4000],
    )
    return confirmation_page(request, confirmation)


MODERATED = {
    "accept": _("Candidature publiée : elle peut recueillir des soutiens."),
    "reject": _("Candidature refusée ; le motif est public."),
    "exclude": _("Candidature exclue ; le motif est public."),
}


routes = route_table(
    {
        "/primaries/new": {"GET": new_page, "POST": create},
        "/primaries/{slug}": {"GET": primary_home},
        "/primaries/{slug}/admin": {"GET": admin_page, "POST": admin_update},
        "/primaries/{slug}/admin/close-supports": {"POST": close_supports},
        "/primaries/{slug}/admin/candidacies": {"GET": moderation_page},
        "/primaries/{slug}/admin/candidacies/{id}/{action}": {
            "GET": moderation_confirm,
            "POST": moderate,
        },
    }
)
