"""Load a log from a service URL, a one-file export or a directory of tiles (spec §7)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
EXPORT_FORMAT = "scrutin-export/v1"
# Standard base64 with its padding (spec §7 export): whole 4-character groups, "=" only at
# the end. Non-zero unused bits still match: that spelling fails check 4, not the input.
BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


class InputError(Exception):
    """Unusable input: unreachable URL, malformed file, wrong key format (exit code 2)."""


@dataclass
class LogData:
    source: str
    kind: str  # "export", "tiles" or "url"
    entries: list[bytes]
    checkpoints: list[str]  # signed notes, oldest first; the last is the latest
    origin: str | None = None
    primary: str | None = None
    vkey: str | None = None
    hash_tiles: dict[tuple[int, int], bytes] = field(default_factory=dict)
    consistency_proof: Callable[[int, int], list[bytes] | None] | None = None
    notes: list[str] = field(default_factory=list)
    # Indices of export entries whose base64 is not the canonical spelling (check 4).
    respelled: list[int] = field(default_factory=list)


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """C2SP tlog-tiles path of a tile: tile/<L>/x001/x234/067[.p/<W>]."""
    digits = f"{index:03d}"
    if len(digits) % 3:
        digits = "0" * (3 - len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{level}/{path}{suffix}"


def parse_bundle(data: bytes, count: int, where: str) -> list[bytes]:
    entries: list[bytes] = []
    pos = 0
    while pos < len(data) and len(entries) < count:
        if pos + 2 > len(data):
            raise InputError(f"{where}: truncated entry length")
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + size > len(data):
            raise InputError(f"{where}: truncated entry")
        entries.append(data[pos : pos + size])
        pos += size
    if len(entries) < count:
        raise InputError(f"{where}: {len(entries)} entries, expected {count}")
    return entries


def _checkpoint_size(text: str, where: str) -> int:
    lines = text.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise InputError(f"{where}: not a checkpoint")
    return int(lines[1])


def _load_from_reader(read: Callable[[str], bytes | None], source: str, kind: str) -> LogData:
    """Read checkpoint and tiles through ``read(relative path) -> bytes or None``."""
    raw = read("checkpoint")
    if raw is None:
        raise InputError(f"{source}: no checkpoint")
    try:
        checkpoint = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: checkpoint is not UTF-8") from exc
    size = _checkpoint_size(checkpoint, source)
    entries: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        data = read(tile_path("entries", n, width))
        if data is None and width < TILE_WIDTH:
            data = read(tile_path("entries", n))
        if data is None:
            raise InputError(f"{source}: missing {tile_path('entries', n, width)}")
        entries.extend(parse_bundle(data, width, tile_path("entries", n, width)))
    log = LogData(source, kind, entries, [checkpoint])
    # Hash tiles: level L tile N holds tree-level 8L hashes 256N … 256N+W-1.
    level, leaves_per_hash = 0, 1
    while size // leaves_per_hash:
        hashes = size // leaves_per_hash
        for n in range((hashes + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, hashes - n * TILE_WIDTH)
            data = read(tile_path(level, n, width))
            if data is None and width < TILE_WIDTH:
                data = read(tile_path(level, n))
                data = data[: 32 * width] if data is not None else None
            if data is not None:
                log.hash_tiles[(level, n)] = data
        level += 1
        leaves_per_hash <<= TILE_HEIGHT
    vkey = read("vkey")
    if vkey is not None:
        log.vkey = vkey.decode("utf-8", "replace").strip()
    return log


def load_tiles(directory: str) -> LogData:
    def read(rel: str) -> bytes | None:
        path = os.path.join(directory, *rel.split("/"))
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}") from exc

    return _load_from_reader(read, directory, "tiles")


def read_input(path: str) -> bytes:
    """A file named on the command line; InputError (one line) when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc


def json_document(data: bytes, source: str, format_name: str, not_json: str) -> dict[str, Any]:
    """A JSON object whose "format" member is `format_name`; InputError otherwise (`not_json`
    says what `source` should have been when it is not JSON at all)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: {not_json} ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != format_name:
        raise InputError(f"{source}: not a {format_name} file")
    return doc


def parse_export(data: bytes, source: str) -> LogData:
    doc = json_document(data, source, EXPORT_FORMAT, "not a JSON export")
    entries, checkpoints = doc.get("entries"), doc.get("checkpoints")
    # No checkpoint is a usable export of a log that fails check 1 (spec §9), not bad input.
    if not isinstance(entries, list) or not isinstance(checkpoints, list):
        raise InputError(f"{source}: export lacks entries or checkpoints")
    if not all(isinstance(c, str) for c in checkpoints):
        raise InputError(f"{source}: checkpoints must be strings")
    raws, respelled = [], []
    for index, text in enumerate(entries):
        if not isinstance(text, str) or not BASE64_RE.match(text):
            raise InputError(f"{source}: entries[{index}] is not base64")
        raw = base64.b64decode(text, validate=True)
        if base64.b64encode(raw).decode("ascii") != text:  # non-zero unused bits
            respelled.append(index)
        raws.append(raw)
    for name in ("origin", "primary", "vkey"):
        if not isinstance(doc.get(name), str):
            raise InputError(f"{source}: export lacks {name!r}")
    log = LogData(
        source, "export", raws, list(checkpoints), doc["origin"], doc["primary"], doc["vkey"]
    )
    log.respelled = respelled
    return log


def load_export(path: str) -> LogData:
    return parse_export(read_input(path), path)


def _fetch(url: str, timeout: float = 60.0) -> bytes | None:
    """GET url; None on 404, InputError when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - http(s) only
            body: bytes = resp.read()  # urlopen's response is untyped
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise InputError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"{url}: unreachable ({reason})") from exc


def log_base(url: str) -> str:
    """The log/ address (ending in "/") of a primary given by any of its addresses (§9).

    Accepted: the primary's URL (…/primaries/<slug>, which is also https://<origin>/), its
    log/ URL (…/<slug>/log or …/<slug>/log/), and a checkpoint URL (…/<slug>/log/checkpoint
    or …/<slug>/checkpoint), which is what C2SP tools and people copying a checkpoint link
    give. A slug may itself be "log" or "checkpoint": a segment right after "primaries" is
    always the slug. Query and fragment are ignored.
    """
    parts = urllib.parse.urlsplit(url)
    segments = parts.path.rstrip("/").split("/")
    for suffix in ("checkpoint", "log"):
        if len(segments) >= 2 and segments[-1] == suffix and segments[-2] != "primaries":
            segments.pop()
    path = "/".join(segments) + "/log/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def load_url(url: str) -> LogData:
    base = log_base(url)
    checkpoint = _fetch(base + "checkpoint")
    if checkpoint is None:
        raise InputError(f"{base}checkpoint: not found (is this a primary's URL?)")
    export = _fetch(base + "export")
    if export is not None:
        log = parse_export(export, base + "export")
        log.kind = "url"
        latest = checkpoint.decode("utf-8", "replace")
        if latest not in log.checkpoints:
            if _checkpoint_size(latest, base + "checkpoint") <= len(log.entries):
                log.checkpoints.append(latest)
            else:
                log.notes.append("log grew while downloading; verified up to the export")
    else:
        log = _load_from_reader(lambda rel: _fetch(base + rel), url, "url")

    def consistency(old: int, new: int) -> list[bytes] | None:
        data = _fetch(f"{base}proof/consistency?{urllib.parse.urlencode({'old': old, 'new': new})}")
        if data is None:
            return None
        try:
            doc = json.loads(data)
            hashes = doc if isinstance(doc, list) else (doc.get("proof") or doc.get("hashes") or [])
            return [base64.b64decode(h, validate=True) for h in hashes]
        except (ValueError, AttributeError, TypeError, binascii.Error):
            return None

    log.consistency_proof = consistency
    return log


def load(source: str) -> LogData:
    """Load a log from an http(s) URL, a tiles directory or an export file."""
    if source.startswith(("http://", "https://")):
        return load_url(source)
    if os.path.isdir(source):
        return load_tiles(source)
    if os.path.isfile(source):
        return load_export(source)
    raise InputError(f"{source}: no such file, directory or URL")


def read_key_argument(value: str) -> str:
    """A verifier-key string, or the path of a file holding one."""
    if os.path.isfile(value):
        try:
            with open(value, encoding="utf-8") as fh:
                return fh.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{value}: cannot read the key file") from exc
    return value.strip()
