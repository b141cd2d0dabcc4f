"""Publication of each primary's log under /primaries/<slug>/log/ (docs/audit-log.md §7).

Text and binary files follow C2SP (tlog-checkpoint, signed-note verifier keys, tlog-tiles);
the JSON conveniences and the export are ours. The checkpoint and the tiles are also served
under /primaries/<slug>/, the URL that is the log's origin with a scheme: C2SP tlog-tiles
clients derive the prefix from the origin. Every error is a JSON object
{"error": {"status", "message", "field"}} with a 4xx status: observers' scripts read them.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from crypto import tiles
from crypto.merkle import HASH_SIZE
from voting.log import LogRangeError, LogService, UnknownLogError
from web.views.base import BadRequest, json_error

MAX_PAGE = 1000
MAX_INT = 2**63 - 1
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_INT_RE = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=2"
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*"}


def _error(request: Request, status: int, message: str, field: str | None = None) -> Response:
    """The JSON error (base.py's), in English like the rest of the log's API, cacheable."""
    return json_error(request, status, message, field, headers=PUBLIC_HEADERS, translate=False)


def _json(value: Any, cache: str = SHORT, **headers: str) -> Response:
    return Response(
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
        headers={"Cache-Control": cache, **PUBLIC_HEADERS, **headers},
    )


def _int(value: str | None, field: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise BadRequest(400, f"{field} is required (a non-negative integer)", field)
        return default
    if not _INT_RE.fullmatch(value) or int(value) > MAX_INT:
        raise BadRequest(400, f"{field} must be a non-negative integer, got {value[:40]!r}", field)
    return int(value)


Handler = Callable[[Request, LogService, UUID], Awaitable[Response]]


def _log_route(path: str, handler: Handler) -> Route:
    """A GET route that resolves the slug to a primary with a log and maps errors to 4xx."""

    async def endpoint(request: Request) -> Response:
        service: LogService = request.app.state.log
        slug = request.path_params["slug"]
        try:
            if not _SLUG_RE.fullmatch(slug):
                raise BadRequest(404, f"no primary with slug {slug[:80]!r}", "slug")
            primary_id = await service.primary_id_for_slug(request.app.state.pool, slug)
            if primary_id is None:
                raise BadRequest(404, f"no primary with slug {slug!r}", "slug")
            return await handler(request, service, primary_id)
        except BadRequest as exc:
            return _error(request, exc.status, exc.message, exc.field)
        except UnknownLogError:
            return _error(request, 404, f"primary {slug!r} has no log yet", "slug")
        except LogRangeError as exc:
            return _error(request, 400, str(exc), exc.field)

    return Route(f"/primaries/{{slug}}/{path}", endpoint, methods=["GET"])


def _accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding admits gzip (by name or by `*`) with a non-zero quality."""
    admitted: dict[str, bool] = {}
    for item in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = item.partition(";")
        quality = params.strip().lower().removeprefix("q=").strip()
        admitted[coding.strip().lower()] = quality.strip("0.") != "" or quality == ""
    return admitted.get("gzip", admitted.get("*", False))


async def checkpoint(request: Request, service: LogService, primary_id: UUID) -> Response:
    """The latest checkpoint with its witness cosignatures; `Scrutin-Witness-Quorum` says
    whether they meet the primary's policy (`met`, `missing`: published anyway and cosigned
    later; `none`: no witnesses)."""
    pool = request.app.state.pool
    latest = await service.latest_checkpoint(pool, primary_id)
    status = await service.witnesses.status(pool, primary_id)
    quorum = "none" if status["policy"] is None else "met" if status["quorum_met"] else "missing"
    return Response(
        latest.note,
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": SHORT, "Scrutin-Witness-Quorum": quorum, **PUBLIC_HEADERS},
    )


async def witnesses(request: Request, service: LogService, primary_id: UUID) -> Response:
    """The primary's witness policy, each witness's key, URL and latest cosigned size, and
    whether the latest checkpoint has the quorum (docs/witness.md)."""
    return _json(await service.witnesses.status(request.app.state.pool, primary_id))


async def vkey(request: Request, service: LogService, primary_id: UUID) -> Response:
    text = await service.vkey(request.app.state.pool, primary_id)
    return Response(
        text,  # exactly the key string, no newline: tools parse it as-is
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", **PUBLIC_HEADERS},
    )


async def tile(request: Request, service: LogService, primary_id: UUID) -> Response:
    path = "tile/" + request.path_params["rest"]
    try:
        wanted = tiles.parse_tile_path(path)
    except tiles.TileError as exc:
        raise BadRequest(400, str(exc), "path") from None
    pool = request.app.state.pool
    size = (await service.head(pool, primary_id)).size
    available = tiles.tile_width(wanted.level or 0, wanted.index, size)
    if wanted.width > available:
        raise BadRequest(404, f"{path} is beyond the tree ({size} entries)", "path")
    # Every tile path is immutable, partial ones included (a partial tile of width W is always
    # the first W hashes), so all are cached for long (C2SP tlog-tiles).
    headers = {"Cache-Control": IMMUTABLE, **PUBLIC_HEADERS}
    if wanted.level is None:
        entries = (await service.entry_bundle(pool, primary_id, wanted.index))[: wanted.width]
        body = tiles.encode_bundle(entries)
        # Bundles SHOULD be compressed at the HTTP layer (tlog-tiles); hash tiles would not
        # shrink. Public bytes only: no secret to leak through the compressed size.
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
    else:
        data = await service.read_tile(pool, primary_id, wanted.level, wanted.index)
        body = data[: wanted.width * HASH_SIZE]
        assert len(body) == wanted.width * HASH_SIZE
    return Response(body, media_type="application/octet-stream", headers=headers)


async def export(request: Request, service: LogService, primary_id: UUID) -> Response:
    """Streamed: a million entries would be half a gigabyte of JSON in memory. The log is
    checkpointed (and an unknown log answered with a 404) before the first byte is sent."""
    pieces = await service.export_json(request.app.state.pool, primary_id)
    slug = request.path_params["slug"]
    headers = {
        "Cache-Control": "no-cache",
        **PUBLIC_HEADERS,
        "Content-Disposition": f'attachment; filename="{slug}-log.json"',
    }
    if request.method == "HEAD":
        await pieces.aclose()
        return Response(media_type="application/json", headers=headers)
    return StreamingResponse(pieces, media_type="application/json", headers=headers)


async def entries(request: Request, service: LogService, primary_id: UUID) -> Response:
    pool = request.app.state.pool
    start = _int(request.query_params.get("start"), "start", 0)
    end = _int(request.query_params.get("end"), "end", start + MAX_PAGE)
    if end < start:
        raise BadRequest(400, f"end ({end}) must not be before start ({start})", "end")
    if end - start > MAX_PAGE:
        raise BadRequest(400, f"at most {MAX_PAGE} entries per request", "end")
    size = (await service.head(pool, primary_id)).size
    end = min(end, size)
    found = await service.entries(pool, primary_id, start, max(start, end))
    return _json(
        {
            "start": start,
            "end": max(start, end),
            "tree_size": size,
            "entries": [e.to_json() for e in found],
        }
    )


async def entry(request: Request, service: LogService, primary_id: UUID) -> Response:
    index = _int(request.path_params["index"], "index")
    found = await service.entry_by_index(request.app.state.pool, primary_id, index)
    if found is None:
        raise BadRequest(404, f"no entry at index {index}", "index")
    return _json(found.to_json(), cache=IMMUTABLE)


async def entry_by_hash(request: Request, service: LogService, primary_id: UUID) -> Response:
    text = request.path_params["hex"]
    if not _HEX_RE.fullmatch(text):
        raise BadRequest(400, "a leaf hash is 64 hexadecimal digits", "hash")
    found = await service.entry_by_hash(request.app.state.pool, primary_id, bytes.fromhex(text))
    if found is None:
        raise BadRequest(404, f"no entry with leaf hash {text.lower()}", "hash")
    return _json(found.to_json(), cache=IMMUTABLE)


async def _checkpointed(
    request: Request, service: LogService, primary_id: UUID, field: str
) -> int | None:
    """An optional size parameter, which must not exceed the latest checkpoint (§7)."""
    text = request.query_params.get(field)
    if not text:
        return None
    size = _int(text, field)
    latest = await service.latest_checkpoint(request.app.state.pool, primary_id)
    if size > latest.size:
        raise BadRequest(
            400, f"{field} {size} is beyond the latest checkpoint (size {latest.size})", field
        )
    return size


async def inclusion_proof(request: Request, service: LogService, primary_id: UUID) -> Response:
    index = _int(request.query_params.get("index"), "index")
    size = await _checkpointed(request, service, primary_id, "size")
    proof = await service.inclusion_proof(request.app.state.pool, primary_id, index, size)
    return _json(proof.to_json(), cache=IMMUTABLE if size is not None else SHORT)


async def consistency_proof(request: Request, service: LogService, primary_id: UUID) -> Response:
    old = _int(request.query_params.get("old"), "old")
    new = await _checkpointed(request, service, primary_id, "new")
    proof = await service.consistency_proof(request.app.state.pool, primary_id, old, new)
    return _json(proof.to_json(), cache=IMMUTABLE if new is not None else SHORT)


routes: list[BaseRoute] = [
    _log_route("log/checkpoint", checkpoint),
    _log_route("log/vkey", vkey),
    _log_route("log/witnesses", witnesses),
    _log_route("log/tile/{rest:path}", tile),
    _log_route("log/export", export),
    _log_route("log/entries", entries),
    _log_route("log/entry/by-hash/{hex}", entry_by_hash),
    _log_route("log/entry/{index}", entry),
    _log_route("log/proof/inclusion", inclusion_proof),
    _log_route("log/proof/consistency", consistency_proof),
    # The C2SP tlog-tiles prefix named by the origin (<host>/primaries/<slug>).
    _log_route("checkpoint", checkpoint),
    _log_route("tile/{rest:path}", tile),
]
