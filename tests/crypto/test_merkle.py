"""Merkle tree, proofs and compact ranges against published reference vectors.

Vectors: transparency-dev/merkle, proof/verify_test.go (Apache-2.0), the same 8-leaf data as
google/certificate-transparency-go merkletree tests and RFC 6962's reference implementation:
roots for sizes 1..8, inclusion proofs (leaf, size) and consistency proofs (size1, size2).
In that file the inclusion vectors use 1-based leaf numbers; here they are 0-based indexes.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import merkle
from crypto.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ConsistencyProof,
    InclusionProof,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]

ROOTS = [  # size 1..8
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

INCLUSION = [  # (0-based index, size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CONSISTENCY = [  # (size1, size2, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _h(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert CompactRange().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert root(LEAF_HASHES[:size]).hex() == ROOTS[size - 1]
    assert merkle.root_at(size, LEAF_HASHES).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    expected = _h(proof)
    assert inclusion_proof(index, size, LEAF_HASHES) == expected
    root_hash = bytes.fromhex(ROOTS[size - 1])
    verify_inclusion(LEAF_HASHES[index], index, size, expected, root_hash)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    # The probes of transparency-dev's corruptInclusionProof.
    good = _h(proof)
    r = bytes.fromhex(ROOTS[size - 1])
    leaf = LEAF_HASHES[index]
    probes = [
        (leaf, index - 1, size, good, r),
        (leaf, index + 1, size, good, r),
        (leaf, index ^ 2, size, good, r),
        (leaf, index, size * 2, good, r),
        (leaf, index, size // 2, good, r),
        (SOME_HASH, index, size, good, r),
        (leaf, index, size, good, EMPTY_ROOT),
        (leaf, index, size, good, SOME_HASH),
        (leaf, index, size, [*good, r], r),
        (leaf, index, size, [r, *good], r),
        (leaf, index, size, good[:-1], r),
        (leaf, index, size, [good[0], SOME_HASH, *good[1:]], r),
    ]
    for i in range(len(good)):
        flipped = list(good)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((leaf, index, size, flipped, r))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_inclusion(*probe)


def test_inclusion_rejects_bad_inputs() -> None:
    # transparency-dev TestVerifyInclusion: (index, size) in {(0,0),(0,1),(1,0),(2,1)} with
    # an empty proof and mismatched roots never verify.
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        with pytest.raises(ProofError):
            verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    # Single-entry tree: the root is the leaf hash; wrong-length hashes are refused.
    h = leaf_hash(b"data")
    verify_inclusion(h, 0, 1, [], h)
    with pytest.raises(ProofError):
        verify_inclusion(b"", 0, 1, [], h)
    with pytest.raises(ProofError):
        verify_inclusion(h, 0, 1, [], b"")


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_reference_consistency_proofs(size1: int, size2: int, proof: list[str]) -> None:
    expected = _h(proof)
    assert consistency_proof(size1, size2, LEAF_HASHES) == expected
    root1, root2 = bytes.fromhex(ROOTS[size1 - 1]), bytes.fromhex(ROOTS[size2 - 1])
    verify_consistency(size1, size2, root1, root2, expected)


@pytest.mark.parametrize(("size1", "size2", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_fail(size1: int, size2: int, proof: list[str]) -> None:
    # The probes of transparency-dev's corruptConsistencyProof.
    good = _h(proof)
    r1, r2 = bytes.fromhex(ROOTS[size1 - 1]), bytes.fromhex(ROOTS[size2 - 1])
    wrong = hashlib.sha256(b"WrongRoot").digest()
    probes = [
        (size1 - 1, size2, r1, r2, good),
        (size1 + 1, size2, r1, r2, good),
        (size1 ^ 2, size2, r1, r2, good),
        (size1, size2 * 2, r1, r2, good),
        (size1, size2 // 2, r1, r2, good),
        (size1, size2, wrong, r2, good),
        (size1, size2, r1, wrong, good),
        (size1, size2, r2, r1, good),
        (size1, size2, r1, r2, []),
        (size1, size2, r1, r2, [*good, r1]),
        (size1, size2, r1, r2, [*good, r2]),
        (size1, size2, r1, r2, [r1, *good]),
        (size1, size2, r1, r2, [r2, *good]),
        (size1, size2, r1, r2, [good[0], *good]),
        (size1, size2, r1, r2, good[:-1]),
    ]
    for i in range(len(good)):
        flipped = list(good)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((size1, size2, r1, r2, flipped))
    for probe in probes:
        with pytest.raises(ProofError):
            verify_consistency(*probe)


def test_consistency_edge_cases() -> None:
    # transparency-dev TestVerifyConsistency, with 32-byte stand-ins for "don't care" roots.
    a, b = hashlib.sha256(b"1").digest(), hashlib.sha256(b"2").digest()
    verify_consistency(0, 0, a, a, [])
    verify_consistency(0, 1, a, b, [])
    verify_consistency(1, 1, b, b, [])
    for args in [
        (0, 0, a, b, []),
        (1, 1, a, b, []),
        (1, 0, a, b, []),
        (2, 1, a, b, []),
        (1, 2, a, b, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_verifies(case: tuple[int, int]) -> None:
    size, index = case
    hashes = _leaves(size)
    r = root(hashes)
    proof = inclusion_proof(index, size, hashes)
    verify_inclusion(hashes[index], index, size, proof, r)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
)
def test_every_consistency_proof_verifies(case: tuple[int, int]) -> None:
    new, old = case
    hashes = _leaves(new)
    proof = consistency_proof(old, new, hashes)
    verify_consistency(old, new, root(hashes[:old]), root(hashes), proof)


@settings(max_examples=120, deadline=None)
@given(
    st.integers(2, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1), st.data()))
)
def test_any_flipped_byte_breaks_inclusion(case: tuple[int, int, st.DataObject]) -> None:
    size, index, data = case
    hashes = _leaves(size)
    r = root(hashes)
    proof = inclusion_proof(index, size, hashes)
    # Flip one byte of the leaf or of one proof hash.
    target = data.draw(st.integers(0, len(proof)))
    pos = data.draw(st.integers(0, 31))
    bit = 1 << data.draw(st.integers(0, 7))
    leaf = hashes[index]
    if target == len(proof):
        leaf = leaf[:pos] + bytes([leaf[pos] ^ bit]) + leaf[pos + 1 :]
    else:
        h = proof[target]
        proof[target] = h[:pos] + bytes([h[pos] ^ bit]) + h[pos + 1 :]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, r)


@settings(max_examples=120, deadline=None)
@given(
    st.integers(2, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1), st.data()))
)
def test_any_flipped_byte_breaks_consistency(case: tuple[int, int, st.DataObject]) -> None:
    new, old, data = case
    hashes = _leaves(new)
    proof = consistency_proof(old, new, hashes)
    target = data.draw(st.integers(0, len(proof) - 1))
    pos = data.draw(st.integers(0, 31))
    bit = 1 << data.draw(st.integers(0, 7))
    h = proof[target]
    proof[target] = h[:pos] + bytes([h[pos] ^ bit]) + h[pos + 1 :]
    with pytest.raises(ProofError):
        verify_consistency(old, new, root(hashes[:old]), root(hashes), proof)


def test_compact_range_root_matches_full_root_for_sizes_0_to_300() -> None:
    hashes = _leaves(300)
    cr = CompactRange()
    assert cr.root() == root([])
    for n, h in enumerate(hashes, start=1):
        cr.append(h)
        assert cr.size == n
        assert cr.root() == root(hashes[:n])
        assert len(cr.hashes) == bin(n).count("1")
        # Round-trips through the storable forms.
        assert CompactRange(cr.size, cr.hashes) == cr
        assert CompactRange.from_json(cr.to_json()) == cr
        assert CompactRange(cr.size, [h for _, h in cr.levels()]) == cr
        assert CompactRange.from_subtrees(n, hashes) == cr


def test_compact_range_reports_completed_subtrees() -> None:
    hashes = _leaves(8)
    cr = CompactRange()
    created = cr.extend(hashes)
    # 8 leaves complete 4 + 2 + 1 interior nodes.
    assert len(created) == 15
    sub = merkle.subtree_hash_from_leaves(hashes)
    for level, index, h in created:
        assert sub(level, index) == h
    assert created[-1] == (3, 0, root(hashes))


def test_compact_range_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError):
        CompactRange(3, [SOME_HASH])
    with pytest.raises(ValueError):
        CompactRange(1, [b"short"])


def test_proofs_from_a_subtree_callback_match_proofs_from_leaves() -> None:
    # A storage layer supplies only perfect aligned subtrees; count how many it is asked for.
    hashes = _leaves(1000)
    sub = merkle.subtree_hash_from_leaves(hashes)
    calls: list[tuple[int, int]] = []

    def counting(level: int, index: int) -> bytes:
        calls.append((level, index))
        return sub(level, index)

    for index, size in [(0, 1000), (999, 1000), (511, 513), (700, 777)]:
        calls.clear()
        assert inclusion_proof(index, size, counting) == inclusion_proof(index, size, hashes)
        assert len(calls) <= 2 * size.bit_length()
    for old, new in [(1, 1000), (512, 1000), (999, 1000), (300, 301)]:
        calls.clear()
        assert consistency_proof(old, new, counting) == consistency_proof(old, new, hashes)
        assert len(calls) <= 2 * new.bit_length()


def test_perfect_subtrees_decomposition() -> None:
    assert merkle.perfect_subtrees(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.perfect_subtrees(8, 12) == [(2, 2)]
    assert merkle.perfect_subtrees(0, 0) == []
    with pytest.raises(ValueError):
        merkle.range_hash(1, 3, _leaves(4))  # not aligned


def test_proof_json_round_trip() -> None:
    hashes = _leaves(10)
    p = InclusionProof(3, 10, hashes[3], tuple(inclusion_proof(3, 10, hashes)))
    obj = p.to_json()
    assert set(obj) == {"index", "size", "leaf_hash", "proof"}
    assert InclusionProof.from_json(obj) == p
    InclusionProof.from_json(obj).verify(root(hashes))
    c = ConsistencyProof(4, 10, tuple(consistency_proof(4, 10, hashes)))
    assert set(c.to_json()) == {"old", "new", "proof"}
    ConsistencyProof.from_json(c.to_json()).verify(root(hashes[:4]), root(hashes))
    with pytest.raises(ProofError):
        InclusionProof.from_json({**obj, "extra": 1})
    with pytest.raises(ProofError):
        InclusionProof.from_json({**obj, "leaf_hash": "AAAA"})


def test_bad_generation_arguments() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(5, 5, _leaves(5))
    with pytest.raises(ValueError):
        consistency_proof(6, 5, _leaves(6))
    assert consistency_proof(0, 5, _leaves(5)) == []
    assert consistency_proof(5, 5, _leaves(5)) == []
