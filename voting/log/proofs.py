"""Proofs and copies: tiles, inclusion and consistency proofs, receipts (docs/audit-log.md §7)
and the export, computed from the stored tiles without loading the tree."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Literal, TypedDict
from uuid import UUID

from crypto import merkle, tiles, tlog_proof
from crypto.encoding import b64encode
from crypto.merkle import ConsistencyProof, InclusionProof
from voting.log import queries as q
from voting.log.model import (
    _ZERO,
    EXPORT_CHUNK,
    EXPORT_FORMAT,
    Database,
    LogEntry,
    LogError,
    LogRangeError,
    SignedCheckpoint,
    T,
    _check_int,
    _ExportHead,
    _uuid,
)
from voting.log.sequencer import LogSequencer


class Receipt(TypedDict):
    """A voter's receipt (docs/audit-log.md §7)."""

    format: str
    origin: str
    vkey: str
    index: int
    entry: str
    tracker: str
    inclusion_proof: list[str]
    checkpoint: str


class Export(TypedDict):
    """The one-file export (docs/audit-log.md §7)."""

    format: str
    origin: str
    primary: str
    vkey: str
    entries: list[str]
    checkpoints: list[str]


class LogProofs(LogSequencer):
    """Tiles, proofs, receipts and the export."""

    async def read_tile(
        self, db: Database, primary_id: UUID | str, level: int, index: int
    ) -> bytes:
        """Tile (level, index) as wide as the integrated tree allows (b"" if absent).

        `level` is a tile level (Merkle level 8*level); entry bundles are `entry_bundle`.
        """
        pid = _uuid(primary_id)
        found = await self._read_tiles(db, pid, {(level, index)})
        return found[(level, index)]

    async def _read_tiles(
        self, db: Database, pid: UUID, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        if wanted:
            levels, indexes = zip(*sorted(wanted), strict=True)
            for row in await db.fetch(q.SELECT_FULL_TILES, pid, list(levels), list(indexes)):
                found[(row["level"], row["idx"])] = bytes(row["hashes"])
        for level, index in wanted - found.keys():
            first = index * tiles.TILE_WIDTH
            hashes = await self._stored_hashes(db, pid, level, first, first + tiles.TILE_WIDTH)
            contents = []
            for i in range(first, first + len(hashes)):
                if i not in hashes:
                    break
                contents.append(hashes[i])
            found[(level, index)] = b"".join(contents)
        return found

    async def entry_bundle(self, db: Database, primary_id: UUID | str, index: int) -> list[bytes]:
        """The entries of bundle `index` that exist (up to 256), in index order."""
        first = _check_int("index", index) * tiles.TILE_WIDTH
        rows = await db.fetch(q.SELECT_ENTRIES, _uuid(primary_id), first, first + tiles.TILE_WIDTH)
        return [bytes(row["entry"]) for row in rows]

    async def _with_subtrees(
        self, db: Database, pid: UUID, compute: Callable[[merkle.SubtreeHash], T]
    ) -> T:
        """Run a proof algorithm twice: once to list the tiles it needs, once for real."""
        needed: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            tile_level, rest = divmod(level, tiles.TILE_HEIGHT)
            needed.add((tile_level, (index << rest) // tiles.TILE_WIDTH))
            return _ZERO

        compute(record)
        found = await self._read_tiles(db, pid, needed)
        return compute(tiles.subtree_hash_from_tiles(lambda lv, ix: found[(lv, ix)]))

    async def _size_or_checkpoint(self, db: Database, pid: UUID, size: int | None) -> int:
        if size is None:
            return (await self.latest_checkpoint(db, pid)).size
        _check_int("size", size)
        head = await self.head(db, pid)
        if size > head.size:
            raise LogRangeError(f"size {size} is beyond the tree ({head.size} entries)", "size")
        return size

    async def _proof_size(
        self, db: Database, pid: UUID, size: int | None, name: Literal["index", "old"], value: int
    ) -> int:
        """The size of the tree a proof is made in (`size`, default: the latest checkpoint's),
        once `value` is checked to lie in it: an entry `index` below it, an `old` size at most
        it."""
        _check_int(name, value)
        size = await self._size_or_checkpoint(db, pid, size)
        if name == "index" and value >= size:
            raise LogRangeError(f"index {value} is not in the tree of size {size}", name)
        if name == "old" and value > size:
            raise LogRangeError(f"old size {value} is larger than new size {size}", name)
        return size

    async def root_at(self, db: Database, primary_id: UUID | str, size: int) -> bytes:
        """Root hash of the tree of the first `size` entries."""
        pid = _uuid(primary_id)
        size = await self._size_or_checkpoint(db, pid, size)
        return await self._with_subtrees(db, pid, lambda src: merkle.root_at(size, src))

    async def inclusion_proof(
        self, db: Database, primary_id: UUID | str, index: int, size: int | None = None
    ) -> InclusionProof:
        """Inclusion of entry `index` in the tree of `size` (default: latest checkpoint)."""
        pid = _uuid(primary_id)
        size = await self._proof_size(db, pid, size, "index", index)
        entry = await self.entry_by_index(db, pid, index)
        assert entry is not None  # index < size <= integrated size
        hashes = await self._with_subtrees(
            db, pid, lambda src: merkle.inclusion_proof(index, size, src)
        )
        return InclusionProof(index, size, entry.leaf_hash, tuple(hashes))

    async def consistency_proof(
        self, db: Database, primary_id: UUID | str, old: int, new: int | None = None
    ) -> ConsistencyProof:
        """Consistency of tree `old` with tree `new` (default: latest checkpoint)."""
        pid = _uuid(primary_id)
        new = await self._proof_size(db, pid, new, "old", old)
        hashes = await self._with_subtrees(
            db, pid, lambda src: merkle.consistency_proof(old, new, src)
        )
        return ConsistencyProof(old, new, tuple(hashes))

    async def _receipt_parts(
        self, pool: Database, pid: UUID, index: int
    ) -> tuple[LogEntry, InclusionProof, SignedCheckpoint]:
        """Entry `index`, its inclusion proof and the checkpoint the proof leads to (signed
        now if no checkpoint covers the entry yet)."""
        entry = await self.entry_by_index(pool, pid, index)
        if entry is None:
            raise LogRangeError(f"no entry at index {index}", "index")
        checkpoint = await self.latest_checkpoint(pool, pid)
        if checkpoint.size <= index:
            checkpoint = await self._checkpoint_current(pool, pid)
        proof = await self.inclusion_proof(pool, pid, index, checkpoint.size)
        return entry, proof, checkpoint

    async def receipt(self, pool: Database, primary_id: UUID | str, index: int) -> Receipt:
        """A voter's receipt for entry `index` (docs/audit-log.md §7)."""
        pid = _uuid(primary_id)
        entry, proof, checkpoint = await self._receipt_parts(pool, pid, index)
        head = await self.head(pool, pid)
        return {
            "format": "scrutin-receipt/v1",
            "origin": head.origin,
            "vkey": await self.vkey(pool, pid),
            "index": index,
            "entry": b64encode(entry.entry),
            "tracker": entry.tracker,
            "inclusion_proof": [b64encode(h) for h in proof.hashes],
            "checkpoint": checkpoint.note,
        }

    async def receipt_tlog_proof(self, pool: Database, primary_id: UUID | str, index: int) -> str:
        """The same receipt as a C2SP tlog-proof file, the entry on its `extra` line (§7)."""
        entry, proof, checkpoint = await self._receipt_parts(pool, _uuid(primary_id), index)
        return tlog_proof.format_proof(index, proof.hashes, checkpoint.note, extra=entry.entry)

    async def _export_head(self, pool: Database, pid: UUID) -> _ExportHead:
        """Checkpoint the tree, then what the export holds besides the entries."""
        await self.publish_checkpoint(pool, pid)
        checkpoints = await pool.fetch(q.SELECT_CHECKPOINTS, pid)
        head = await self.head(pool, pid)
        return _ExportHead(
            origin=head.origin,
            primary=str(pid),
            vkey=await self.vkey(pool, pid),
            size=checkpoints[-1]["size"],  # the last checkpoint covers every exported entry
            checkpoints=[row["note"] for row in checkpoints],
        )

    async def export(self, pool: Database, primary_id: UUID | str) -> Export:
        """The one-file export (docs/audit-log.md §7), checkpointing the tree first.

        The whole document in memory: for big logs, serve `export_json` instead.
        """
        pid = _uuid(primary_id)
        head = await self._export_head(pool, pid)
        rows = await pool.fetch(q.SELECT_ENTRY_BYTES, pid, 0, head.size)
        return {
            "format": EXPORT_FORMAT,
            "origin": head.origin,
            "primary": head.primary,
            "vkey": head.vkey,
            "entries": [b64encode(bytes(row["entry"])) for row in rows],
            "checkpoints": head.checkpoints,
        }

    async def export_json(
        self, pool: Database, primary_id: UUID | str, *, chunk_size: int = EXPORT_CHUNK
    ) -> AsyncGenerator[bytes, None]:
        """The export as UTF-8 JSON in pieces, for streaming: their concatenation is exactly
        `json.dumps(export(...), ensure_ascii=False, separators=(",", ":"))`.

        Checkpoints (and raises UnknownLogError) now; the entries are read when iterated,
        `chunk_size` at a time by index range (entries never change, so no transaction is
        held open while a slow client downloads).
        """
        pid = _uuid(primary_id)
        head = await self._export_head(pool, pid)
        return self._export_pieces(pool, pid, head, max(1, chunk_size))

    async def _export_pieces(
        self, pool: Database, pid: UUID, head: _ExportHead, chunk_size: int
    ) -> AsyncGenerator[bytes, None]:
        def dumps(value: object) -> str:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

        yield (
            f'{{"format":{dumps(EXPORT_FORMAT)},"origin":{dumps(head.origin)},'
            f'"primary":{dumps(head.primary)},"vkey":{dumps(head.vkey)},"entries":['
        ).encode()
        for start in range(0, head.size, chunk_size):
            end = min(head.size, start + chunk_size)
            rows = await pool.fetch(q.SELECT_ENTRY_BYTES, pid, start, end)
            if len(rows) != end - start:
                raise LogError(f"entries {start}..{end - 1} of a checkpointed tree are missing")
            # Base64 never needs escaping in JSON.
            text = '","'.join(b64encode(bytes(row["entry"])) for row in rows)
            yield f'{"," if start else ""}"{text}"'.encode("ascii")
        yield f'],"checkpoints":{dumps(head.checkpoints)}}}'.encode()
