"""RFC 6962 / RFC 9162 §2.1 Merkle tree over SHA-256: hashes, proofs, compact ranges.

Proof generation never needs the whole list of leaves: it asks a `SubtreeHash` callback for
the hashes of *perfect, aligned* subtrees, ``subtree_hash(level, index)`` being the tree hash
of leaves ``[index * 2**level, (index + 1) * 2**level)``. Every node a proof can contain is
either such a subtree or the right-edge ("ragged") subtree of a range whose start is aligned;
the latter is folded here from at most log2(n) perfect subtrees. A storage layer can serve the
callback from tiles (see crypto.tiles.subtree_hash_from_tiles) or from a table of stored
hashes; tests and small logs can pass the list of leaf hashes instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from crypto.encoding import Base64Error, b64decode, b64encode

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]
HashSource = SubtreeHash | Sequence[bytes]


class CompactRangeJSON(TypedDict):
    size: int
    hashes: list[str]  # base64


class InclusionProofJSON(TypedDict):
    index: int
    size: int
    leaf_hash: str  # base64
    proof: list[str]


class ConsistencyProofJSON(TypedDict):
    old: int
    new: int
    proof: list[str]  # base64


class ProofError(ValueError):
    """A proof does not verify, or is malformed; the message says which check failed."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash (RFC 9162 §2.1.1) of a list of leaf hashes; SHA-256("") when empty."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # Pairing left to right and carrying an odd last node up unchanged gives exactly the
    # RFC's split-at-largest-power-of-two tree.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def subtree_hash_from_leaves(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """A SubtreeHash callback over an in-memory list of leaf hashes (recomputes each call)."""

    def subtree_hash(level: int, index: int) -> bytes:
        start = index << level
        end = start + (1 << level)
        if end > len(leaf_hashes):
            raise ValueError(f"subtree ({level}, {index}) extends past {len(leaf_hashes)} leaves")
        return root(leaf_hashes[start:end])

    return subtree_hash


def _as_callback(source: HashSource) -> SubtreeHash:
    if callable(source):
        return source
    return subtree_hash_from_leaves(source)


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Decompose [start, end) into maximal aligned perfect subtrees, left to right.

    Returns (level, index) pairs. For a range whose start is a multiple of a power of two
    >= its length (every range RFC 6962 recursion produces), folding these hashes from the
    right gives MTH(D[start:end]).
    """
    result: list[tuple[int, int]] = []
    while start < end:
        # Largest aligned block at `start` that fits in the remaining range.
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while (1 << level) > end - start:
            level -= 1
        result.append((level, start >> level))
        start += 1 << level
    return result


def range_hash(start: int, end: int, source: HashSource) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned to a power of two >= its length."""
    if start >= end:
        raise ValueError(f"empty range [{start}, {end})")
    size = end - start
    if start & ((1 << (size - 1).bit_length()) - 1):
        raise ValueError(f"range [{start}, {end}) is not aligned")
    subtree_hash = _as_callback(source)
    hashes = [subtree_hash(level, index) for level, index in perfect_subtrees(start, end)]
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = node_hash(h, result)
    return result


def root_at(size: int, source: HashSource) -> bytes:
    """Root of the tree of the first `size` leaves, from at most log2(size) subtree hashes."""
    _check_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    return range_hash(0, size, source)


def inclusion_proof(index: int, size: int, source: HashSource) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size` leaves."""
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    subtree_hash = _as_callback(source)
    proof: list[bytes] = []
    start, end = 0, size
    # Walk down from the root, remembering the sibling range at each split; the proof lists
    # siblings bottom-up, so the collected list is reversed at the end.
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            proof.append(range_hash(start + k, end, subtree_hash))
            end = start + k
        else:
            proof.append(range_hash(start, start + k, subtree_hash))
            start = start + k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, source: HashSource) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from `old_size` to `new_size` (empty if trivial)."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    subtree_hash = _as_callback(source)
    proof: list[bytes] = []
    start, end, complete = 0, new_size, True
    m = old_size
    # SUBPROOF(m, D[start:end], complete), unrolled; siblings collected top-down, reversed.
    while True:
        if m == end - start:
            if not complete:
                proof.append(range_hash(start, end, subtree_hash))
            break
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            proof.append(range_hash(start + k, end, subtree_hash))
            end = start + k
        else:
            proof.append(range_hash(start, start + k, subtree_hash))
            m -= k
            start += k
            complete = False
    proof.reverse()
    return proof


def _check_claimed(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{name} must be a non-negative int, got {value!r}")


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes")


def _checked(proof: Sequence[bytes]) -> Iterator[bytes]:
    """The proof's hashes, each checked as it is reached."""
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
        yield p


def _siblings(
    fn: int, sn: int, path: Iterable[bytes], what: str, count: int
) -> Iterator[tuple[bytes, bool]]:
    """The walk RFC 9162 §2.1.3.2 and §2.1.4.2 share, from node `fn` up a tree whose last
    node is `sn`: each hash of `path` with whether it is a left sibling (hashed before the
    running value). `what` and `count` name the proof in its errors."""
    for p in path:
        if sn == 0:
            raise ProofError(f"{what} is too long ({count} hashes)")
        left = bool(fn & 1 or fn == sn)
        if left and not fn & 1:
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        yield p, left
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"{what} is too short ({count} hashes)")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root implied by an inclusion proof (raises on malformed input)."""
    _check_claimed("index", index)
    _check_claimed("size", size)
    if index >= size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    _check_hash("leaf hash", leaf)
    r = bytes(leaf)
    for p, left in _siblings(index, size - 1, _checked(proof), "inclusion proof", len(proof)):
        r = node_hash(p, r) if left else node_hash(r, p)
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check that `leaf` is at `index` in the tree of `size` leaves with `expected_root`."""
    _check_hash("root", expected_root)
    if root_from_inclusion_proof(leaf, index, size, proof) != expected_root:
        raise ProofError(
            f"inclusion proof for index {index} does not match the root of size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: check that the tree (old_size, old_root) is a prefix of the new one."""
    _check_claimed("old_size", old_size)
    _check_claimed("new_size", new_size)
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    path = list(_checked(proof))
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"different roots for the same size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    if old_size & (old_size - 1) == 0:  # exact power of two
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c, left in _siblings(fn, sn, path[1:], "consistency proof", len(proof)):
        if left:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    if fr != old_root:
        raise ProofError(f"consistency proof does not match the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"consistency proof does not match the new root (size {new_size})")


class CompactRange:
    """The right edge of a tree [0, size): one perfect-subtree hash per set bit of size.

    `append` is O(log n) and returns the perfect subtrees it completed, so a storage layer
    can persist them (they are exactly the hashes tiles and stored-hash tables hold). The
    state serialises to (size, hashes) — hashes ordered left to right, largest subtree first.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        _check_size("size", size)
        hashes = [bytes(h) for h in hashes]
        if len(hashes) != size.bit_count():
            raise ValueError(f"a compact range of size {size} has {size.bit_count()} hashes")
        for h in hashes:
            if len(h) != HASH_SIZE:
                raise ValueError(f"compact range hashes must be {HASH_SIZE} bytes")
        self._size = size
        self._hashes = hashes

    @classmethod
    def from_subtrees(cls, size: int, source: HashSource) -> CompactRange:
        """Rebuild the range of a stored tree from its perfect subtrees (log2(size) reads)."""
        _check_size("size", size)
        subtree_hash = _as_callback(source)
        return cls(size, [subtree_hash(lv, ix) for lv, ix in perfect_subtrees(0, size)])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        return list(self._hashes)

    def levels(self) -> list[tuple[int, bytes]]:
        """(level, hash) pairs, left to right; level = log2 of the subtree's leaf count."""
        bits = [lv for lv in range(self._size.bit_length() - 1, -1, -1) if self._size >> lv & 1]
        return list(zip(bits, self._hashes, strict=True))

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the new perfect subtrees as (level, index, hash).

        The first item is always the leaf itself at level 0.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        index = self._size
        created = [(0, index, bytes(leaf))]
        h = bytes(leaf)
        level = 0
        # Each trailing 1 bit of the old size is a left sibling now completed by this leaf.
        while index >> level & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            created.append((level, index >> level, h))
        self._hashes.append(h)
        self._size += 1
        return created

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        created: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            created.extend(self.append(leaf))
        return created

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def to_json(self) -> CompactRangeJSON:
        return {"size": self._size, "hashes": [b64encode(h) for h in self._hashes]}

    @classmethod
    def from_json(cls, obj: CompactRangeJSON) -> CompactRange:
        return cls(obj["size"], [b64decode(h, length=HASH_SIZE) for h in obj["hashes"]])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()[:12]}…)"


@dataclass(frozen=True)
class InclusionProof:
    """The JSON convenience of docs/audit-log.md §7 (`proof/inclusion`)."""

    index: int
    size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]

    def verify(self, expected_root: bytes) -> None:
        verify_inclusion(self.leaf_hash, self.index, self.size, self.hashes, expected_root)

    def to_json(self) -> InclusionProofJSON:
        return {
            "index": self.index,
            "size": self.size,
            "leaf_hash": b64encode(self.leaf_hash),
            "proof": [b64encode(h) for h in self.hashes],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> InclusionProof:
        try:
            if set(obj) != {"index", "size", "leaf_hash", "proof"}:
                raise ProofError(f"inclusion proof members are {sorted(obj)}")
            index, size = obj["index"], obj["size"]
            _check_size("index", index)
            _check_size("size", size)
            leaf = b64decode(obj["leaf_hash"], length=HASH_SIZE, what="leaf_hash")
            hashes = tuple(b64decode(h, length=HASH_SIZE, what="proof") for h in obj["proof"])
        except (Base64Error, TypeError, ValueError) as exc:
            raise ProofError(f"malformed inclusion proof: {exc}") from None
        return cls(index, size, leaf, hashes)


@dataclass(frozen=True)
class ConsistencyProof:
    """The JSON convenience of docs/audit-log.md §7 (`proof/consistency`)."""

    old: int
    new: int
    hashes: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> None:
        verify_consistency(self.old, self.new, old_root, new_root, self.hashes)

    def to_json(self) -> ConsistencyProofJSON:
        return {"old": self.old, "new": self.new, "proof": [b64encode(h) for h in self.hashes]}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ConsistencyProof:
        try:
            if set(obj) != {"old", "new", "proof"}:
                raise ProofError(f"consistency proof members are {sorted(obj)}")
            old, new = obj["old"], obj["new"]
            _check_size("old", old)
            _check_size("new", new)
            hashes = tuple(b64decode(h, length=HASH_SIZE, what="proof") for h in obj["proof"])
        except (Base64Error, TypeError, ValueError) as exc:
            raise ProofError(f"malformed consistency proof: {exc}") from None
        return cls(old, new, hashes)
