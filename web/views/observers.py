"""What observers read: the observers' page (the log's key, its latest checkpoint, its
witnesses, the scrutin-audit command lines) and the open data files (candidates and results
as CSV and JSON, docs/open-data.md), also as JSON under /api/.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from voting.candidacies import PUBLIC_SQL
from voting.primaries import Primary
from voting.results import get_result
from voting.rounds import list_rounds
from web.templating import render
from web.views.base import load_primary, log_service, public_base, route_table


def audit_commands(request: Request, primary: Primary, vkey: str, receipt: str) -> dict:
    """The exact scrutin-audit command lines for this primary (docs/audit-log.md §9)."""
    url = f"{public_base(request)}/primaries/{primary.slug}"
    return {
        "url": url,
        "verify_command": f"scrutin-audit verify {url} --log-key '{vkey}'",
        "receipt_command": f"scrutin-audit receipt {receipt} --log {url} --log-key '{vkey}'",
    }


async def observers(request: Request) -> Response:
    primary = await load_primary(request)
    log = log_service(request)
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
            **audit_commands(request, primary, vkey, "receipt.json"),
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
            if round_.definition.get("grade_labels"):  # the organiser's translations, if any
                entry["grade_labels"] = round_.definition["grade_labels"]
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
    primary = await load_primary(request)
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
    primary = await load_primary(request)
    return render(request, "rounds/open_data.html", {"primary": primary})


async def api_rounds(request: Request) -> Response:
    """JSON: the primary's rounds; turnout once closed, result once published."""
    primary = await load_primary(request)
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


_register_openapi()

routes = route_table(
    {
        "/api/primaries/{slug}/rounds": {"GET": api_rounds},
        "/primaries/{slug}/observers": {"GET": observers},
        "/primaries/{slug}/data": {"GET": open_data_index},
        "/primaries/{slug}/data/{name}": {"GET": open_data},
    }
)
