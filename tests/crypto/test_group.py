"""The Ed25519 prime-order group, hash to scalar, Schnorr and Chaum–Pedersen proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import group
from crypto.group import IDENTITY, G, GroupError, L, Proof

scalars = st.integers(min_value=1, max_value=L - 1).map(group.scalar_from_int)
FAST = settings(max_examples=40, deadline=None)
CONTEXT = [b"scrutin.localhost/primaries/demo", b"1"]

# A point of order 8 (small order) and a point of the full group outside the subgroup.
SMALL_ORDER = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def test_generator_and_order() -> None:
    assert G == bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")
    assert group.is_point(G)
    assert group.mul(group.scalar_from_int(L), G) == IDENTITY
    assert group.int_mul(-1, G) == group.neg(G)
    assert group.add(G, group.neg(G)) == IDENTITY


@pytest.mark.parametrize(
    "data",
    [
        IDENTITY,  # the identity is never accepted from outside
        bytes(32),  # small order
        SMALL_ORDER,
        b"\xff" * 32,  # non-canonical
        G[:31],  # short
        G + b"\x00",  # long
        group.add(G, SMALL_ORDER),  # on the curve, outside the prime-order subgroup
    ],
)
def test_invalid_points_are_refused(data: bytes) -> None:
    assert not group.is_point(data)
    with pytest.raises(GroupError):
        group.point(data)


def test_scalars_must_be_canonical() -> None:
    assert group.scalar(group.scalar_from_int(L - 1)) == group.scalar_from_int(-1)
    for bad in (L.to_bytes(32, "little"), (L + 5).to_bytes(32, "little"), b"\x01" * 31):
        with pytest.raises(GroupError):
            group.scalar(bad)


@FAST
@given(scalars, scalars)
def test_arithmetic_is_the_group_law(a: bytes, b: bytes) -> None:
    ab = group.scalar_add(a, b)
    assert group.add(group.base_mul(a), group.base_mul(b)) == group.base_mul(ab)
    assert group.mul(a, group.base_mul(b)) == group.base_mul(group.scalar_mul(a, b))
    assert group.sub(group.base_mul(a), group.base_mul(b)) == group.base_mul(group.scalar_sub(a, b))
    assert group.mul(a, G) == group.base_mul(a)


def test_hash_to_scalar_follows_the_contract() -> None:
    parts = [b"abc", b"", bytes(range(5))]
    data = b"scrutin-test/v2\x00" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    digest = hashlib.sha512(data).digest()
    assert group.hash_to_scalar("test", parts) == group.scalar_from_int(
        int.from_bytes(digest, "little")
    )
    c128 = group.hash_to_challenge128("test", parts)
    assert group.scalar_to_int(c128) == int.from_bytes(digest[:16], "little")
    # Length prefixes: moving a byte between parts changes the hash.
    assert group.hash_to_scalar("test", [b"ab", b"c"]) != group.hash_to_scalar(
        "test", [b"a", b"bc"]
    )


def test_seeded_random_is_deterministic() -> None:
    a, b = group.seeded_random(b"seed"), group.seeded_random(b"seed")
    assert [a() for _ in range(3)] == [b() for _ in range(3)]
    first = hashlib.sha512(b"scrutin-example/v2\x00seed" + bytes(4)).digest()
    assert group.seeded_random(b"seed")() == first


@FAST
@given(scalars, st.binary(min_size=1, max_size=8))
def test_schnorr_proof_of_knowledge(x: bytes, flip: bytes) -> None:
    public = group.base_mul(x)
    proof = group.prove_knowledge(x, "test-pok", CONTEXT)
    assert group.verify_knowledge(public, proof, "test-pok", CONTEXT)
    assert Proof.from_bytes(proof.to_bytes()) == proof
    # Another statement, context or purpose: rejected.
    assert not group.verify_knowledge(group.add(public, G), proof, "test-pok", CONTEXT)
    assert not group.verify_knowledge(public, proof, "test-pok", [*CONTEXT, flip])
    assert not group.verify_knowledge(public, proof, "other", CONTEXT)
    # An altered response or challenge: rejected.
    bumped = group.scalar_add(proof.response, group.ONE)
    assert not group.verify_knowledge(public, Proof(proof.challenge, bumped), "test-pok", CONTEXT)
    bumped = group.scalar_add(proof.challenge, group.ONE)
    assert not group.verify_knowledge(public, Proof(bumped, proof.response), "test-pok", CONTEXT)


@FAST
@given(scalars, scalars)
def test_schnorr_forged_without_the_secret_is_rejected(c: bytes, s: bytes) -> None:
    public = group.base_mul(group.random_scalar())
    assert not group.verify_knowledge(public, Proof(c, s), "test-pok", CONTEXT)


def test_schnorr_rejects_invalid_points_and_scalars() -> None:
    x = group.random_scalar()
    proof = group.prove_knowledge(x, "test-pok")
    assert not group.verify_knowledge(IDENTITY, proof, "test-pok")
    non_canonical = (group.scalar_to_int(proof.response) + L).to_bytes(32, "little")
    assert not group.verify_knowledge(
        group.base_mul(x), Proof(proof.challenge, non_canonical), "test-pok"
    )
    with pytest.raises(GroupError):
        Proof.from_bytes(proof.challenge + non_canonical)


@FAST
@given(scalars, scalars, scalars)
def test_chaum_pedersen(x: bytes, a: bytes, y: bytes) -> None:
    g2 = group.base_mul(a)  # e.g. a ciphertext's alpha
    h1, h2 = group.base_mul(x), group.mul(x, g2)
    proof = group.prove_dleq(x, G, g2, "test-dleq", CONTEXT)
    assert group.verify_dleq(G, h1, g2, h2, proof, "test-dleq", CONTEXT)
    # A share computed with another secret (the dishonest trustee's) is rejected with the proof.
    wrong = group.mul(y, g2)
    if wrong != h2:
        assert not group.verify_dleq(G, h1, g2, wrong, proof, "test-dleq", CONTEXT)
    assert not group.verify_dleq(G, h1, g2, h2, proof, "test-dleq", [b"other origin", b"1"])
    bumped = Proof(proof.challenge, group.scalar_add(proof.response, group.ONE))
    assert not group.verify_dleq(G, h1, g2, h2, bumped, "test-dleq", CONTEXT)


def test_chaum_pedersen_forged_for_a_wrong_share_is_rejected() -> None:
    """A cheater who knows x but publishes d' = x·g2 + G tries the simulator's trick: pick s
    and c first, then set commitments — the hash then gives another challenge."""
    x, a = group.random_scalar(), group.random_scalar()
    g2 = group.base_mul(a)
    h1, bad = group.base_mul(x), group.add(group.mul(x, g2), G)
    for _ in range(20):
        c, s = group.random_scalar(), group.random_scalar()
        assert not group.verify_dleq(G, h1, g2, bad, Proof(c, s), "test-dleq")
    honest = group.prove_dleq(x, G, g2, "test-dleq")
    assert not group.verify_dleq(G, h1, g2, bad, honest, "test-dleq")
    assert not group.verify_dleq(G, h1, g2, IDENTITY, honest, "test-dleq")


def test_lagrange_at_zero_recovers_the_secret() -> None:
    # f(z) = 7 + 3z + 5z^2: any three points give f(0) = 7.
    def f(z: int) -> int:
        return (7 + 3 * z + 5 * z * z) % L

    for subset in ([1, 2, 3], [2, 4, 5], [5, 1, 3]):
        lam = group.lagrange_at_zero(subset)
        assert sum(group.scalar_to_int(lam[j]) * f(j) for j in subset) % L == 7
    with pytest.raises(GroupError):
        group.lagrange_at_zero([1, 1])
