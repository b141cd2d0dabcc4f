"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from web.migrate import SchemaError, check_schema, current_revision, head_revision
from web.views.base import route_table

HEALTH_PROBE_SECONDS = 2


async def healthz(request: Request) -> JSONResponse:
    """Can this process serve pages? It runs, and its database pool gets an answer."""
    try:
        async with asyncio.timeout(HEALTH_PROBE_SECONDS):
            await request.app.state.pool.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "cannot serve"
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "detail": type(exc).__name__},
            status_code=503,
        )
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    head = head_revision()
    try:
        async with asyncio.timeout(5):
            async with request.app.state.pool.acquire() as conn:
                revision = await current_revision(conn)
    except (OSError, TimeoutError, Exception) as exc:  # any failure means "not ready"
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "detail": type(exc).__name__},
            status_code=503,
        )
    try:
        check_schema(revision)
    except SchemaError as exc:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "schema": revision,
                "head": head,
                "detail": str(exc),
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "schema": revision, "head": head})


routes = route_table(
    {
        "/healthz": {"GET": healthz},
        "/readyz": {"GET": readyz},
    }
)
