"""Exponential ElGamal over the Ed25519 prime-order group."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import elgamal, group
from crypto.elgamal import Ciphertext
from crypto.group import GroupError

FAST = settings(max_examples=25, deadline=None)


@FAST
@given(st.lists(st.integers(min_value=0, max_value=1), min_size=1, max_size=12))
def test_sums_of_encryptions_decrypt_to_the_count(bits: list[int]) -> None:
    x = group.random_scalar()
    h = group.base_mul(x)
    cts = [elgamal.encrypt_fresh(b, h)[0] for b in bits]
    total = elgamal.total(cts)
    assert elgamal.small_dlog(elgamal.decrypt_point(total, x), len(bits)) == sum(bits)
    # Subtraction undoes addition.
    assert elgamal.total(cts[1:]) == total - cts[0]


def test_ciphertexts_are_randomised_and_parse_only_valid_points() -> None:
    h = group.base_mul(group.random_scalar())
    a, _ = elgamal.encrypt_fresh(1, h)
    b, _ = elgamal.encrypt_fresh(1, h)
    assert a != b
    assert Ciphertext.from_bytes(a.to_bytes()) == a
    for bad in (group.IDENTITY + a.beta, a.alpha + b"\xff" * 32, a.to_bytes()[:63]):
        with pytest.raises(GroupError):
            Ciphertext.from_bytes(bad)


def test_encryption_follows_the_definition() -> None:
    x, r = group.random_scalar(), group.random_scalar()
    h = group.base_mul(x)
    ct = elgamal.encrypt(1, h, r)
    assert ct.alpha == group.base_mul(r)
    assert ct.beta == group.add(group.G, group.mul(r, h))
    assert elgamal.decrypt_point(ct, x) == group.G
    assert elgamal.decrypt_point(elgamal.encrypt(0, h, r), x) == group.IDENTITY
