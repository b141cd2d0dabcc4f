"""A primary's rounds: the list, and one round's page (the organiser's close and reveal
forms are on it; their handlers are in round_admin.py).

The other round page families have their own modules: booth.py (vote, review, cast,
receipt), check.py ("check my ballot", receipts by tracker), results.py, round_admin.py
(open, close, reveal) and observers.py (the observers' page and the open data files).
Nothing here shows a count of ballots or voters of a round before it is closed.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from voting.ballots import has_voted
from voting.primaries import Primary
from voting.rounds import Round, list_rounds
from web.templating import render
from web.views.base import load_primary, primary_and_round, route_table
from web.views.booth import session_receipt


async def rounds_index(request: Request) -> Response:
    primary = await load_primary(request)
    async with request.app.state.pool.acquire() as conn:
        rounds = await list_rounds(conn, primary.id)
    return render(
        request,
        "rounds/index.html",
        {"primary": primary, "rounds": rounds, "now": datetime.now(UTC)},
    )


async def round_page_response(
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
            "has_receipt": session_receipt(request, primary, round_) is not None,
            "accepting": round_.accepts_ballots(datetime.now(UTC)),
            "window": round_.window(),
            "is_organiser": bool(user and user.is_organiser),
            "public_key": base64.b64encode(round_.tally_public_key).decode("ascii"),
            "errors": errors or {},
        },
        status,
    )


async def round_page(request: Request) -> Response:
    primary, round_ = await primary_and_round(request)
    return await round_page_response(request, primary, round_)


routes = route_table(
    {
        "/primaries/{slug}/rounds": {"GET": rounds_index},
        "/primaries/{slug}/rounds/{number:int}": {"GET": round_page},
    }
)
