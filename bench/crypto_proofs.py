"""Merkle work at log scale: append, tiles, proofs from tiles, verification.

Run: PYTHONPATH=. python bench/crypto_proofs.py [leaves]   (default 1,000,000)
Prints one line per operation with the time per call.
"""

from __future__ import annotations

import sys
import time

from crypto import merkle, tiles
from crypto.merkle import CompactRange


def _timed(label: str, calls: int, fn) -> None:
    start = time.perf_counter()
    for i in range(calls):
        fn(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<48} {calls:>9} calls {elapsed * 1e6 / calls:>10.1f} µs/call")


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"tree of {size:,} leaves")
    leaves = [merkle.leaf_hash(i.to_bytes(8, "big")) for i in range(size)]

    cr = CompactRange()
    _timed("CompactRange.append (O(log n))", size, lambda i: cr.append(leaves[i]))
    _timed("CompactRange.root", 1000, lambda i: cr.root())

    start = time.perf_counter()
    by_path = tiles.tiles_from_leaf_hashes(leaves)
    print(f"{'build all tiles':<48} {len(by_path):>9} tiles {time.perf_counter() - start:>9.2f} s")

    def read_tile(level: int, index: int) -> bytes:
        return by_path[tiles.tile_path(level, index, tiles.tile_width(level, index, size))]

    source = tiles.subtree_hash_from_tiles(read_tile)
    root = cr.root()
    step = max(1, size // 997)
    proofs = {}

    def prove(i: int) -> None:
        index = (i * step) % size
        proofs[index] = merkle.inclusion_proof(index, size, source)

    _timed("inclusion_proof from tiles", 1000, prove)
    _timed(
        "verify_inclusion",
        1000,
        lambda i: merkle.verify_inclusion(
            leaves[(i * step) % size], (i * step) % size, size, proofs[(i * step) % size], root
        ),
    )
    _timed(
        "consistency_proof from tiles",
        300,
        lambda i: merkle.consistency_proof(1 + (i * 3331) % (size - 1), size, source),
    )
    _timed("root_at(size) from tiles", 300, lambda i: merkle.root_at(size - i, source))


if __name__ == "__main__":
    main()
