"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): paths, tile contents, entry bundles.

Tile height is fixed at 8: a tile at tile-level L holds up to 256 hashes of perfect subtrees
at Merkle level 8*L (level-0 tiles hold leaf hashes). A tree of size s has, at every
tile-level L, floor(s / 256**(L+1)) full tiles and, when w = floor(s / 256**L) mod 256 is not
zero, one partial tile of width w.

Also the stored-hash index ordering of golang.org/x/mod/sumdb/tlog, for storage layers that
keep every subtree hash in one dense sequence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from crypto.merkle import HASH_SIZE, SubtreeHash, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF

# read_tile(tile_level, tile_index) -> the tile's bytes (full or the widest partial available)
ReadTile = Callable[[int, int], bytes]


class TileError(ValueError):
    """A tile path, tile or entry bundle is malformed."""


@dataclass(frozen=True)
class Tile:
    """Coordinates of one tile. `level` is None for an entry bundle (`tile/entries/...`)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        if self.level is None:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise TileError(f"tile width must be 1..{TILE_WIDTH}, got {width!r}")


def encode_index(index: int) -> str:
    """Tile index as zero-padded 3-digit groups, all but the last prefixed with x.

    >>> encode_index(1234067)
    'x001/x234/067'
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise TileError(f"tile index must be a non-negative int, got {index!r}")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """`tile/<L>/<N>[.p/<W>]`."""
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_LEVEL:
        raise TileError(f"tile level must be 0..{MAX_LEVEL}, got {level!r}")
    _check_width(width)
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{level}/{encode_index(index)}{suffix}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """`tile/entries/<N>[.p/<W>]`."""
    _check_width(width)
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/entries/{encode_index(index)}{suffix}"


_PATH_RE = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> Tile:
    """Inverse of tile_path / entries_path; refuses every non-canonical spelling."""
    match = _PATH_RE.fullmatch(path)
    if not match:
        raise TileError(f"not a tile path: {path!r}")
    groups = match["index"].replace("x", "").split("/")
    if len(groups) > 1 and groups[0] == "000":
        raise TileError(f"tile index has a leading zero group: {path!r}")
    index = int("".join(groups))
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise TileError(f"partial tile width must be 1..255: {path!r}")
    level = None if match["level"] == "entries" else int(match["level"])
    if level is not None and level > MAX_LEVEL:
        raise TileError(f"tile level above {MAX_LEVEL}: {path!r}")
    return Tile(level, index, width)


def tile_width(level: int, index: int, size: int) -> int:
    """Width of tile (level, index) in a tree of `size` leaves: 256, 1..255, or 0 (absent)."""
    per_hash = 1 << (TILE_HEIGHT * level)  # leaves under one hash of this tile
    hashes = size // per_hash  # hashes at this tile level that exist
    return max(0, min(TILE_WIDTH, hashes - index * TILE_WIDTH))


def partial_tiles(size: int) -> list[Tile]:
    """The partial tiles (at most one per level) of a tree of `size` leaves, lowest first."""
    result = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
        if width:
            index = (size >> (TILE_HEIGHT * level)) // TILE_WIDTH
            result.append(Tile(level, index, width))
        level += 1
    return result


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """Tiles (full or partial) whose content exists at new_size but not at old_size.

    These are what a publisher writes when the tree grows; entry bundles are the level-0
    tiles with level=None.
    """
    if not 0 <= old_size <= new_size:
        raise TileError(f"bad sizes {old_size} -> {new_size}")
    result = []
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        old_hashes = old_size >> (TILE_HEIGHT * level)
        new_hashes = new_size >> (TILE_HEIGHT * level)
        first = old_hashes // TILE_WIDTH
        for index in range(first, (new_hashes + TILE_WIDTH - 1) // TILE_WIDTH):
            width = min(TILE_WIDTH, new_hashes - index * TILE_WIDTH)
            old_width = min(TILE_WIDTH, max(0, old_hashes - index * TILE_WIDTH))
            if width > old_width:
                result.append(Tile(level, index, width))
        level += 1
    return result


def tile_contents(level: int, index: int, width: int, subtree_hash: SubtreeHash) -> bytes:
    """Concatenated hashes of tile (level, index) of the given width."""
    _check_width(width)
    merkle_level = TILE_HEIGHT * level
    first = index * TILE_WIDTH
    return b"".join(subtree_hash(merkle_level, first + i) for i in range(width))


def tiles_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> dict[str, bytes]:
    """Every tile (full, and partial for this exact size) of a small tree, by path."""
    result: dict[str, bytes] = {}
    level_hashes = list(leaf_hashes)
    level = 0
    while level_hashes:
        for start in range(0, len(level_hashes), TILE_WIDTH):
            chunk = level_hashes[start : start + TILE_WIDTH]
            result[tile_path(level, start // TILE_WIDTH, len(chunk))] = b"".join(chunk)
        full = len(level_hashes) // TILE_WIDTH * TILE_WIDTH
        level_hashes = [
            _perfect_root(level_hashes[i : i + TILE_WIDTH]) for i in range(0, full, TILE_WIDTH)
        ]
        level += 1
    return result


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree given its 2**k bottom hashes."""
    layer = list(hashes)
    if not layer or len(layer) & (len(layer) - 1):
        raise TileError(f"{len(layer)} hashes do not form a perfect subtree")
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def split_tile(data: bytes) -> list[bytes]:
    """The hashes in a tile's bytes."""
    if len(data) % HASH_SIZE or not 0 < len(data) <= TILE_WIDTH * HASH_SIZE:
        raise TileError(f"tile of {len(data)} bytes is not 1..256 hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def subtree_hash_from_tiles(read_tile: ReadTile) -> SubtreeHash:
    """A merkle.SubtreeHash callback served from tiles.

    Merkle level 8*L + r lives in tile-level L: it is the root of 2**r consecutive hashes of
    one tile. `read_tile(tile_level, tile_index)` returns the tile bytes (a partial tile is
    fine as long as it is wide enough for the requested subtree).
    """

    def subtree_hash(level: int, index: int) -> bytes:
        tile_level, rest = divmod(level, TILE_HEIGHT)
        first = index << rest  # first hash, counted at Merkle level 8*tile_level
        tile_index, offset = divmod(first, TILE_WIDTH)
        data = read_tile(tile_level, tile_index)
        count = 1 << rest
        if len(data) < (offset + count) * HASH_SIZE or len(data) % HASH_SIZE:
            raise TileError(
                f"tile {tile_path(tile_level, tile_index)} has {len(data) // HASH_SIZE} hashes, "
                f"subtree ({level}, {index}) needs {offset + count}"
            )
        hashes = [
            data[(offset + i) * HASH_SIZE : (offset + i + 1) * HASH_SIZE] for i in range(count)
        ]
        return _perfect_root(hashes)

    return subtree_hash


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """Entry bundle: each entry as big-endian uint16 length + bytes."""
    if not 0 < len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1..256 entries, got {len(entries)}")
    parts = []
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {i} is {len(entry)} bytes, over {MAX_ENTRY_SIZE}")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Split an entry bundle; with `width`, require exactly that many entries."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TileError(f"entry bundle truncated in a length prefix at byte {pos}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise TileError(f"entry {len(entries)} truncated: needs {length} bytes at byte {pos}")
        entries.append(bytes(data[pos : pos + length]))
        pos += length
    if len(entries) > TILE_WIDTH:
        raise TileError(f"entry bundle holds {len(entries)} entries, over {TILE_WIDTH}")
    if width is not None and len(entries) != width:
        raise TileError(f"entry bundle holds {len(entries)} entries, expected {width}")
    return entries


# Stored-hash ordering (golang.org/x/mod/sumdb/tlog, after Crosby & Wallach §3.3): all
# subtree hashes in the order they are created by appending leaves.


def stored_hash_index(level: int, index: int) -> int:
    """Position of subtree (level, index) in the dense stored-hash sequence."""
    n = index
    for _ in range(level):
        n = 2 * n + 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def split_stored_hash_index(position: int) -> tuple[int, int]:
    """Inverse of stored_hash_index: (level, index)."""
    n = position // 2
    index_n = stored_hash_index(0, n)
    if index_n > position:
        raise AssertionError("stored hash index arithmetic")
    while True:
        trailing = ((n + 1) & -(n + 1)).bit_length() - 1
        x = index_n + 1 + trailing
        if x > position:
            break
        n += 1
        index_n = x
    level = position - index_n
    return level, n >> level


def stored_hash_count(size: int) -> int:
    """How many stored hashes a tree of `size` leaves has."""
    if size == 0:
        return 0
    count = stored_hash_index(0, size - 1) + 1
    i = size - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


def iter_tiles(size: int) -> Iterator[Tile]:
    """All tiles (full then the partial one, level by level) of a tree of `size` leaves."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        for index in range(hashes // TILE_WIDTH):
            yield Tile(level, index)
        if hashes % TILE_WIDTH:
            yield Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH)
        level += 1
