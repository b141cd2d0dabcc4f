"""C2SP tlog-tiles paths, tiles and entry bundles.

Examples from the spec text (C2SP/C2SP tlog-tiles.md): index 1234067 is `x001/x234/067`;
a tree of 70,000 has 273 full level-0 tiles, a level-0 partial of width 112, one full
level-1 tile, a level-1 partial of width 17 and a level-2 partial of width 1; a tree of 256
has one full level-0 tile and a level-1 partial of width 1. Path seeds from
golang.org/x/mod/sumdb/tlog tile_test.go FuzzParseTilePath (sumdb paths carry an extra
height element, so those are *invalid* C2SP paths).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import merkle, tiles
from crypto.merkle import CompactRange, leaf_hash
from crypto.tiles import Tile, TileError


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@pytest.fixture(scope="module")
def big() -> tuple[list[bytes], dict[str, bytes]]:
    hashes = _leaves(70_000)
    return hashes, tiles.tiles_from_leaf_hashes(hashes)


@pytest.mark.parametrize(
    ("index", "encoded"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_encoding(index: int, encoded: str) -> None:
    assert tiles.encode_index(index) == encoded
    assert tiles.parse_tile_path(f"tile/0/{encoded}") == Tile(0, index)


def test_paths() -> None:
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(2, 0, 1) == "tile/2/000.p/1"
    assert tiles.entries_path(273, 112) == "tile/entries/273.p/112"
    assert tiles.entries_path(5) == "tile/entries/005"
    assert Tile(None, 5, 3).path() == "tile/entries/005.p/3"
    for path in ["tile/0/000", "tile/63/x001/000.p/255", "tile/entries/x123/456.p/9"]:
        assert tiles.parse_tile_path(path).path() == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/4/0/001",  # sumdb paths have a height element
        "tile/3/5/x123/x456/078",
        "tile/3/5/123/456/078",
        "tile/3/-1/123/456/078",
        "tile/1/data/x003/x057/500",
        "tile/0/1",
        "tile/0/x000/001",  # leading zero group
        "tile/0/001.p/256",
        "tile/0/001.p/0",
        "tile/0/001.p/07",
        "tile/01/001",
        "tile/64/000",
        "tile/0/x001",
        "tile/entries/001.p/",
        "/tile/0/000",
    ],
)
def test_invalid_paths(path: str) -> None:
    with pytest.raises(TileError):
        tiles.parse_tile_path(path)


def test_spec_examples_of_partial_tiles() -> None:
    assert tiles.partial_tiles(70_000) == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert tiles.partial_tiles(256) == [Tile(1, 0, 1)]
    all_tiles = list(tiles.iter_tiles(70_000))
    assert sum(1 for t in all_tiles if t.level == 0 and not t.is_partial) == 273
    assert [t for t in all_tiles if t.level == 1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert [t for t in all_tiles if t.level == 2] == [Tile(2, 0, 1)]
    assert list(tiles.iter_tiles(256)) == [Tile(0, 0), Tile(1, 0, 1)]
    assert list(tiles.iter_tiles(0)) == []
    assert tiles.tile_width(0, 273, 70_000) == 112
    assert tiles.tile_width(0, 272, 70_000) == 256
    assert tiles.tile_width(0, 274, 70_000) == 0
    assert tiles.tile_width(2, 0, 70_000) == 1


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 300_000), st.integers(0, 3000))
def test_new_tiles_are_the_tiles_that_appear_or_grow(old: int, grow: int) -> None:
    new = old + grow
    before = set(tiles.iter_tiles(old))
    after = set(tiles.iter_tiles(new))
    assert sorted(tiles.new_tiles(old, new), key=repr) == sorted(after - before, key=repr)


def test_tile_contents_from_leaves_and_from_tiles(big) -> None:
    hashes, by_path = big
    assert set(by_path) == {t.path() for t in tiles.iter_tiles(70_000)}
    sub = merkle.subtree_hash_from_leaves(hashes)
    for t in [Tile(0, 0), Tile(0, 273, 112), Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]:
        assert tiles.tile_contents(t.level, t.index, t.width, sub) == by_path[t.path()]
    # Level-2 tile's single hash is the root of the first 65,536 leaves.
    assert by_path["tile/2/000.p/1"] == merkle.root(hashes[:65536])


def _reader(by_path: dict[str, bytes], size: int):
    def read_tile(level: int, index: int) -> bytes:
        width = tiles.tile_width(level, index, size)
        return by_path[tiles.tile_path(level, index, width)]

    return read_tile


def test_proofs_served_from_tiles_match(big) -> None:
    hashes, by_path = big
    size = len(hashes)
    from_tiles = tiles.subtree_hash_from_tiles(_reader(by_path, size))
    assert merkle.root_at(size, from_tiles) == merkle.root(hashes)
    for index in [0, 1, 255, 256, 65535, 65536, 69_999]:
        proof = merkle.inclusion_proof(index, size, from_tiles)
        merkle.verify_inclusion(hashes[index], index, size, proof, merkle.root(hashes))
    for old in [1, 256, 65536, 69_888, 69_999]:
        proof = merkle.consistency_proof(old, size, from_tiles)
        old_root = merkle.root_at(old, from_tiles)
        assert old_root == merkle.root(hashes[:old])
        merkle.verify_consistency(old, size, old_root, merkle.root(hashes), proof)
    assert CompactRange.from_subtrees(size, from_tiles).root() == merkle.root(hashes)


def test_subtree_from_a_too_narrow_partial_tile_is_refused() -> None:
    hashes = _leaves(10)
    by_path = tiles.tiles_from_leaf_hashes(hashes)
    sub = tiles.subtree_hash_from_tiles(lambda level, index: by_path["tile/0/000.p/10"])
    assert sub(3, 0) == merkle.root(hashes[:8])
    with pytest.raises(TileError):
        sub(2, 2)  # leaves 8..11, only 8..9 exist


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 65535, "é".encode()]
    data = tiles.encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a"
    assert tiles.decode_bundle(data) == entries
    assert tiles.decode_bundle(data, width=4) == entries
    with pytest.raises(TileError):
        tiles.decode_bundle(data, width=3)
    with pytest.raises(TileError):
        tiles.decode_bundle(data[:-1])
    with pytest.raises(TileError):
        tiles.decode_bundle(b"\x00")
    with pytest.raises(TileError):
        tiles.encode_bundle([b"x" * 65536])
    with pytest.raises(TileError):
        tiles.encode_bundle([b""] * 257)
    with pytest.raises(TileError):
        tiles.encode_bundle([])


def test_stored_hash_order_is_compact_range_creation_order() -> None:
    # golang.org/x/mod/sumdb/tlog stores hashes in the order appends create them;
    # CompactRange.append reports exactly that sequence.
    cr = CompactRange()
    position = 0
    for n, h in enumerate(_leaves(1000), start=1):
        for level, index, _ in cr.append(h):
            assert tiles.stored_hash_index(level, index) == position
            assert tiles.split_stored_hash_index(position) == (level, index)
            position += 1
        assert tiles.stored_hash_count(n) == position
    assert tiles.stored_hash_count(0) == 0


def test_split_tile() -> None:
    assert tiles.split_tile(b"\x01" * 64) == [b"\x01" * 32, b"\x01" * 32]
    with pytest.raises(TileError):
        tiles.split_tile(b"\x01" * 33)
    with pytest.raises(TileError):
        tiles.split_tile(b"")
