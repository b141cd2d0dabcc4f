"""A round's results: the ranking, the tie-break explanations, and each candidate's merit
profile as a chart with its table (plus one chart of every profile, ranked)."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from voting.grades import GradeLabel, grade_labels
from voting.results import get_result
from web.charts import grade_colours, merit_overview_svg, merit_profile_svg, profile_shares
from web.i18n import request_language, translator
from web.templating import render
from web.views.base import _, primary_and_round, round_grade_labels, route_table


def _marked_quotes(sentence: str, graded: list[GradeLabel], lang: str) -> Markup:
    """An explanation as HTML, each quoted grade left in another language (a custom label
    without translation) wrapped in a span with its ``lang``, for screen readers."""
    other = {g.text: g.lang for g in graded if g.lang != lang}
    if not other:
        return escape(sentence)
    words = "|".join(re.escape(text) for text in sorted(other, key=len, reverse=True))
    parts = re.split(f"(?:(?<=“)|(?<=« ))({words})(?=”| »)", sentence)
    return Markup("").join(
        Markup('<span lang="{}">{}</span>').format(other[part], part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


def _percent(share: Any, lang: str) -> str:
    value = round(float(share) * 100, 1)
    text = f"{value:.1f}"
    return (text.replace(".", ",") + " %") if lang == "fr" else text + "%"


async def results(request: Request) -> Response:
    primary, round_ = await primary_and_round(request)
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
    graded = grade_labels(round_.grades, lang, round_.definition.get("grade_labels"))
    labels = [g.text for g in graded]  # plain text, for the charts' descriptions
    marked = round_grade_labels(request, round_)  # HTML, a custom label's language marked
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
            "explanations": [
                _marked_quotes(sentence, graded, lang)
                for sentence in result["explanations"].get(lang) or result["explanations"]["fr"]
            ],
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


routes = route_table(
    {
        "/primaries/{slug}/rounds/{number:int}/results": {"GET": results},
    }
)
