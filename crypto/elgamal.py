"""Exponential ElGamal over the Ed25519 prime-order group, and the 0/1 proof of a ciphertext
(docs/audit-log.md, "Encrypted ballots (v2)").

Under the election key h = x·G, Enc(m; r) = (α = r·G, β = m·G + r·h). Ciphertexts add
component-wise, so the sum of many encryptions of 0 or 1 encrypts their count.

The proofs that a ballot's ciphertexts hold 0 or 1 and add up right are in
crypto/encrypted_ballots.py (one disjunctive proof per row).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crypto import group
from crypto.group import IDENTITY, G, GroupError, RandomSource

CIPHERTEXT_SIZE = 64


@dataclass(frozen=True)
class Ciphertext:
    alpha: bytes
    beta: bytes

    def to_bytes(self) -> bytes:
        return self.alpha + self.beta

    @classmethod
    def from_bytes(cls, data: bytes) -> Ciphertext:
        """64 bytes α ‖ β, each a valid point; :class:`GroupError` otherwise."""
        if len(data) != CIPHERTEXT_SIZE:
            raise GroupError("a ciphertext is 64 bytes")
        return cls(group.point(data[:32]), group.point(data[32:]))

    def __add__(self, other: Ciphertext) -> Ciphertext:
        return Ciphertext(group.add(self.alpha, other.alpha), group.add(self.beta, other.beta))

    def __sub__(self, other: Ciphertext) -> Ciphertext:
        return Ciphertext(group.sub(self.alpha, other.alpha), group.sub(self.beta, other.beta))


# The trivial encryption of 1 (r = 0): the row total every row's cells add up to.
ONE = Ciphertext(IDENTITY, G)
ZERO_CT = Ciphertext(IDENTITY, IDENTITY)


def encrypt(m: int, public_key: bytes, r: bytes) -> Ciphertext:
    """Enc(m; r) = (r·G, m·G + r·h)."""
    return Ciphertext(
        group.base_mul(r),
        group.add(group.base_mul(group.scalar_from_int(m)), group.mul(r, public_key)),
    )


def encrypt_fresh(
    m: int, public_key: bytes, rng: RandomSource | None = None
) -> tuple[Ciphertext, bytes]:
    """Enc(m; r) with a fresh r, redrawn until α and β are valid points (never the
    identity), as every ciphertext sent must be. Returns the ciphertext and r."""
    while True:
        r = group.random_scalar(rng)
        ct = encrypt(m, public_key, r)
        if group.is_point(ct.alpha) and group.is_point(ct.beta):
            return ct, r


def total(cts: Iterable[Ciphertext]) -> Ciphertext:
    acc = ZERO_CT
    for ct in cts:
        acc = acc + ct
    return acc


def decrypt_point(ct: Ciphertext, secret_key: bytes) -> bytes:
    """m·G = β − x·α (tests and examples; the service never holds x)."""
    return group.sub(ct.beta, group.mul(secret_key, ct.alpha))


def small_dlog(target: bytes, bound: int) -> int | None:
    """m with m·G = target, 0 ≤ m ≤ bound, by trying (tests and examples)."""
    acc = IDENTITY
    for m in range(bound + 1):
        if acc == target:
            return m
        acc = group.add(acc, G)
    return None
