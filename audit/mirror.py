"""scrutin-audit mirror URL DIR: keep a copy of a log's checkpoints and tiles, and notice
when the log is rewritten or lost.

Each run downloads the latest checkpoint and the entry tiles the mirror lacks (full tiles
are immutable in C2SP tlog-tiles: those already mirrored are read locally, never fetched
again), recomputes the tree from the entries and checks that

- the new checkpoint is signed by the log's key (pinned at the first run, or --log-key),
- its root is the root of the entries,
- the checkpoint mirrored last is a prefix of it: same origin, no fewer entries, and the
  first entries still hash to its root (the consistency of the two checkpoints, RFC 9162).

Only then are the new tiles, the hash tiles (computed from the checked entries) and the
checkpoint written, the checkpoint last, so `scrutin-audit verify DIR` always reads a
complete log. A failed check writes nothing in the mirror: the refused checkpoint is kept as
evidence under DIR/evidence/ and the run exits 1.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from pathlib import Path

from audit.merkle import Tree, leaf_hash
from audit.note import Checkpoint, NoteError, parse_checkpoint, parse_note, parse_verifier_key
from audit.sources import (
    TILE_HEIGHT,
    TILE_WIDTH,
    InputError,
    _fetch,
    log_base,
    parse_bundle,
    read_key_argument,
    tile_path,
)


class MirrorConflict(Exception):
    """The log no longer agrees with what the mirror holds (exit 1)."""


@dataclass(frozen=True)
class MirrorResult:
    size: int
    previous: int | None
    new_entries: int
    root: str

    def render(self) -> str:
        if self.previous is None:
            return f"Mirrored {self.size} entries, root {self.root} (first run).\n"
        return (
            f"Mirrored {self.size} entries ({self.new_entries} new), root {self.root}; "
            f"consistent with the checkpoint of {self.previous} entries mirrored before.\n"
        )


def _write_new(path: Path, data: bytes) -> None:
    """Write a file atomically (a mirror never holds half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc


def _checkpoint(text: str, where: str) -> Checkpoint:
    try:
        return parse_checkpoint(text)
    except NoteError as exc:
        raise InputError(f"{where}: not a checkpoint ({exc})") from exc


def _bundle(entries: list[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def _entries(base: str, directory: Path, size: int) -> tuple[list[bytes], dict[str, bytes]]:
    """All entries up to `size`, and the tile files the mirror does not have yet."""
    entries: list[bytes] = []
    new: dict[str, bytes] = {}
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        rel = tile_path("entries", n, width)
        data = _read(directory / rel)
        if data is None:
            data = _fetch(base + rel)
            if data is None and width < TILE_WIDTH:
                data = _fetch(base + tile_path("entries", n))
            if data is None:
                raise InputError(f"{base}{rel}: not found")
            tile = parse_bundle(data, width, base + rel)
            new[rel] = _bundle(tile)
        else:
            tile = parse_bundle(data, width, str(directory / rel))
        entries.extend(tile)
    return entries, new


def _hash_tiles(tree: Tree, directory: Path) -> dict[str, bytes]:
    """The hash tiles of the checked tree that the mirror lacks (tlog-tiles: level L tile N
    holds the tree-level 8L hashes 256N … 256N+W-1)."""
    new: dict[str, bytes] = {}
    level = 0
    while TILE_HEIGHT * level < len(tree.levels):
        hashes = tree.levels[TILE_HEIGHT * level]
        if not hashes:
            break
        for n in range((len(hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, len(hashes) - n * TILE_WIDTH)
            rel = tile_path(level, n, width)
            if not (directory / rel).exists():
                new[rel] = b"".join(hashes[n * TILE_WIDTH : n * TILE_WIDTH + width])
        level += 1
    return new


def _refuse(directory: Path, text: str, reason: str) -> MirrorConflict:
    evidence = directory / "evidence"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    _write_new(evidence / f"{stamp}.checkpoint", text.encode("utf-8"))
    _write_new(evidence / f"{stamp}.reason", (reason + "\n").encode("utf-8"))
    return MirrorConflict(f"{reason} (the mirror was left as it was; evidence in {evidence})")


def mirror(url: str, directory: str, log_key: str | None = None) -> MirrorResult:
    base = log_base(url)
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{directory}: not a directory")
    raw = _fetch(base + "checkpoint")
    if raw is None:
        raise InputError(f"{base}checkpoint: not found (is this a primary's URL?)")
    text = raw.decode("utf-8", "replace")
    latest = _checkpoint(text, base + "checkpoint")

    pinned_raw = _read(folder / "vkey")
    pinned = pinned_raw.decode("utf-8", "replace").strip() if pinned_raw else None
    if log_key is not None:
        given = read_key_argument(log_key)
        if pinned is not None and given != pinned:
            raise InputError(f"--log-key is not the key this mirror was made with ({pinned})")
        pinned = given
    served = _fetch(base + "vkey")
    served_key = served.decode("utf-8", "replace").strip() if served else None
    if pinned is None:
        if served_key is None:
            raise InputError(f"{base}vkey: not found; give the log's key with --log-key")
        pinned = served_key
    try:
        key = parse_verifier_key(pinned)
    except NoteError as exc:
        raise InputError(f"log key: {exc}") from exc

    old_raw = _read(folder / "checkpoint")
    old = _checkpoint(old_raw.decode("utf-8", "replace"), str(folder)) if old_raw else None

    if served_key is not None and served_key != pinned:
        raise _refuse(folder, text, f"the log now publishes another key: {served_key}")
    try:
        signed = parse_note(text).signed_by(key)
    except NoteError:
        signed = False
    if not signed:
        raise _refuse(folder, text, "the latest checkpoint is not signed by the log's key")
    if old is not None and latest.origin != old.origin:
        raise _refuse(folder, text, f"the log's origin changed from {old.origin!r}")
    if old is not None and latest.size < old.size:
        raise _refuse(
            folder,
            text,
            f"log lost: it now has {latest.size} entries, "
            f"this mirror holds a signed checkpoint of {old.size}",
        )

    entries, new_tiles = _entries(base, folder, latest.size)
    tree = Tree([leaf_hash(entry) for entry in entries])
    if tree.root() != latest.root:
        raise _refuse(folder, text, "the latest checkpoint's root is not the root of its entries")
    if old is not None and tree.root(old.size) != old.root:
        raise _refuse(
            folder,
            text,
            f"log rewritten: its first {old.size} entries no longer have the root of the "
            "checkpoint mirrored before (the two checkpoints are inconsistent)",
        )

    new_tiles.update(_hash_tiles(tree, folder))
    for rel, data in sorted(new_tiles.items()):
        _write_new(folder.joinpath(*rel.split("/")), data)
    if not (folder / "vkey").exists():
        _write_new(folder / "vkey", (pinned + "\n").encode("utf-8"))
    history = folder / "checkpoints" / str(latest.size)
    if not history.exists():
        _write_new(history, raw)
    _write_new(folder / "checkpoint", raw)
    previous = old.size if old is not None else None
    return MirrorResult(
        latest.size,
        previous,
        latest.size - (previous or 0),
        base64.b64encode(latest.root).decode(),
    )
