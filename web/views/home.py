"""The home page and the language switch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from voting.definition import phase_state
from voting.explain import explain_ranking
from voting.grades import grade_labels
from voting.majority import FRENCH_7, tally
from voting.notifications import set_language
from voting.primaries import PRIMARY_COLUMNS, Primary
from voting.refusals import _
from voting.rounds import latest_rounds
from web.charts import merit_profile_svg, profile_shares
from web.i18n import LANG_COOKIE, LANGUAGES, request_language, translator
from web.templating import render
from web.views.base import public_base, route_table
from web.views.primaries import PHASE_LABELS

ONE_YEAR = 365 * 24 * 3600

# The worked example of the "how it works" page: ten voters grade three candidates on the
# seven-grade scale (counts per grade, worst first). Every rule ranks them alike.
EXAMPLE_PROFILES = {
    "Alice": (0, 0, 1, 2, 3, 3, 1),
    "Bruno": (0, 1, 1, 2, 4, 1, 1),
    "Chloé": (1, 2, 2, 3, 1, 1, 0),
}


def _card(row: Any, round_row: Any, voting_open: bool = False) -> dict[str, Any]:
    """What a home page card says of a primary: its phase, the date that matters next and the
    one action the phase invites (the same phase source as the primary's own page)."""
    primary = Primary.from_row(row)
    try:  # what the card invites to do is what the service accepts (Primary.accepts_*)
        state = primary.phases()
        declaring, supporting = primary.accepts_candidacies(), primary.accepts_supports()
    except (KeyError, TypeError, ValueError):  # an unreadable schedule shows no phase
        state, declaring, supporting = phase_state([]), False, False
    slug = row["slug"]
    base = f"/primaries/{slug}"
    current = [p for p in state.timeline if p.status == "current"]
    action = (_("Voir la primaire"), base)
    if round_row is not None and voting_open:  # Round.accepts_ballots, as the booth's cast
        action = (_("Voter"), f"{base}/rounds/{round_row['number']}/vote")
    elif round_row is not None and round_row["status"] == "tallied":
        action = (_("Voir les résultats"), f"{base}/rounds/{round_row['number']}/results")
    elif round_row is None and declaring:
        action = (_("Déclarer ma candidature"), f"{base}/declare")
    elif round_row is None and supporting:
        action = (_("Soutenir des candidats"), f"{base}/candidates")
    phase_names = [p.name for p in current]
    if round_row is not None and round_row["status"] == "open":
        phase_names = [f"round-{round_row['number']}"]
    return {
        "slug": slug,
        "title": row["title"],
        "description": row["description"],
        "phases": phase_names or ([state.name] if state.timeline else []),
        "until": max((p.end for p in current), default=None),
        "next": state.next,
        "action": action,
    }


async def home(request: Request) -> Response:
    async with request.app.state.pool.acquire() as conn:
        primaries = await conn.fetch(
            f"SELECT {PRIMARY_COLUMNS} FROM primaries ORDER BY created_at DESC"
        )
        rounds = await conn.fetch(
            "SELECT DISTINCT ON (primary_id) p.slug, r.number, r.status FROM rounds r"
            " JOIN primaries p ON p.id = r.primary_id ORDER BY primary_id, r.number DESC"
        )
        newest = await latest_rounds(conn)
    now = datetime.now(UTC)
    voting = {pid for pid, r in newest.items() if r.accepts_ballots(now)}
    latest = {r["slug"]: r for r in rounds}
    cards = [_card(row, latest.get(row["slug"]), row["id"] in voting) for row in primaries]
    return render(request, "home.html", {"primaries": cards, "phase_labels": PHASE_LABELS})


async def how_it_works(request: Request) -> Response:
    """Majority judgment in plain words, a worked example, reading a chart, verifying."""
    lang = request_language(request)
    t = translator(lang)
    names = list(EXAMPLE_PROFILES)
    result = tally(FRENCH_7, names, profiles=EXAMPLE_PROFILES)
    graded = grade_labels(FRENCH_7.labels, lang)
    labels = [g.text for g in graded]
    rows = []
    for position, name in enumerate(result.ranking):
        profile = EXAMPLE_PROFILES[name]
        shares = profile_shares(profile)
        grade = labels[result.majority_grades[name]]
        rows.append(
            {
                "name": name,
                "rank": result.ranks[name],
                "grade": grade,
                "profile": profile,
                "at_least": sum(profile[result.majority_grades[name] :]),
                "above": sum(profile[result.majority_grades[name] + 1 :]),
                "below": sum(profile[: result.majority_grades[name]]),
                "next_grade": labels[min(result.majority_grades[name] + 1, len(labels) - 1)],
                "chart": merit_profile_svg(
                    profile,
                    labels,
                    chart_id=f"exemple-{position + 1}",
                    title=t(_("Profil de mérite de %(name)s")) % {"name": name},
                    description=t(_("Mention majoritaire : %(grade)s. ")) % {"grade": grade}
                    + ", ".join(
                        f"{label} {round(share * 100)} %"
                        for label, share in zip(labels, shares, strict=True)
                    ),
                    median_label=t(_("médiane")),
                    lang=lang,
                ),
            }
        )
    return render(
        request,
        "how_it_works.html",
        {
            "labels": labels,
            "rows": rows,
            "voters": sum(EXAMPLE_PROFILES[names[0]]),
            "explanations": explain_ranking(result, lang, {n: n for n in names}),
            "base_url": public_base(request),
        },
    )


def _safe_next(value: str | None) -> str:
    """Only local paths: the switch must not become an open redirect."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    target = _safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=ONE_YEAR, httponly=True, samesite="lax")
        user = request.scope.get("user")
        if user is not None:  # their mail follows the language they read
            async with request.app.state.pool.acquire() as conn:
                await set_language(conn, user.id, lang)
    return response


async def favicon(request: Request) -> Response:
    """Browsers and feed readers ask for /favicon.ico whatever the page links."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes = route_table(
    {
        "/": {"GET": home},
        "/favicon.ico": {"GET": favicon},
        "/how-it-works": {"GET": how_it_works},
        "/lang/{lang:str}": {"GET": switch_language},
    }
)
