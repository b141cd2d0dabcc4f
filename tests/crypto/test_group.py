"""The Ed25519 prime-order group, hash to scalar, Schnorr and Chaum–Pedersen proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import group
from crypto.group import IDENTITY, G, GroupError, L

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
