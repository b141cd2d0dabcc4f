"""The group of encrypted ballots and trustees (docs/audit-log.md, "Encrypted ballots (v2)").

The prime-order subgroup of Ed25519 (order ``L``), generator ``G`` the standard base point,
additive notation, computed by libsodium through PyNaCl's bindings.

- A point is its 32-byte RFC 8032 encoding. Every point read from outside goes through
  :func:`point`: canonical, on the curve, in the prime-order subgroup and not of small order
  (so never the identity).
- A scalar is 32 bytes little-endian; read from outside it must be canonical (< L):
  :func:`scalar`.
- Hash to scalar: SHA-512 over ``b"scrutin-<purpose>/v2\\x00"`` then each part as a 4-byte
  big-endian length and its bytes, reduced mod L as a 64-byte little-endian integer.
  :func:`hash_to_challenge128` keeps the first 16 bytes of that digest instead (a 128-bit
  challenge, little-endian).

Arithmetic on valid input never raises: a product that is the identity (scalar 0) is the
identity's encoding, which :func:`point` never accepts from outside.

The proofs built on this group are where they are used: the ballots' disjunctive
Chaum–Pedersen proofs in crypto/encrypted_ballots.py, the trustees' proofs of knowledge and
decryption proofs in crypto/trustees.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import nacl.utils
from nacl import bindings as _b
from nacl.exceptions import CryptoError

L = 2**252 + 27742317777372353535851937790883648493
POINT_SIZE = 32
SCALAR_SIZE = 32
ZERO = bytes(32)
ONE = (1).to_bytes(32, "little")
IDENTITY = b"\x01" + bytes(31)
G = _b.crypto_scalarmult_ed25519_base_noclamp(ONE)

# A source of 64 uniformly random bytes; tests and worked examples pass a deterministic one.
RandomSource = Callable[[], bytes]


class GroupError(ValueError):
    """A point or scalar read from outside is not a valid group element or scalar."""


# -- reading from outside ------------------------------------------------------------------
def is_point(data: bytes) -> bool:
    """Whether ``data`` is a valid point: 32 bytes, canonical, in the prime-order subgroup,
    not of small order (the identity is not valid)."""
    return (
        isinstance(data, (bytes, bytearray))
        and len(data) == POINT_SIZE
        and bool(_b.crypto_core_ed25519_is_valid_point(bytes(data)))
    )


def point(data: bytes) -> bytes:
    """A point read from outside, validated; :class:`GroupError` otherwise."""
    if not is_point(data):
        raise GroupError("not a valid point of the prime-order group")
    return bytes(data)


def is_scalar(data: bytes) -> bool:
    return (
        isinstance(data, (bytes, bytearray))
        and len(data) == SCALAR_SIZE
        and int.from_bytes(data, "little") < L
    )


def scalar(data: bytes) -> bytes:
    """A scalar read from outside: 32 bytes little-endian, canonical (< L)."""
    if not is_scalar(data):
        raise GroupError("not a canonical scalar (32 bytes little-endian, below the order)")
    return bytes(data)


# -- scalars -------------------------------------------------------------------------------
def scalar_from_int(n: int) -> bytes:
    """The scalar n mod L (n may be negative)."""
    return (n % L).to_bytes(SCALAR_SIZE, "little")


def scalar_to_int(k: bytes) -> int:
    return int.from_bytes(k, "little")


def scalar_add(a: bytes, b: bytes) -> bytes:
    return _b.crypto_core_ed25519_scalar_add(a, b)


def scalar_sub(a: bytes, b: bytes) -> bytes:
    return _b.crypto_core_ed25519_scalar_sub(a, b)


def scalar_mul(a: bytes, b: bytes) -> bytes:
    return _b.crypto_core_ed25519_scalar_mul(a, b)


def scalar_neg(a: bytes) -> bytes:
    return _b.crypto_core_ed25519_scalar_negate(a)


def scalar_reduce(wide: bytes) -> bytes:
    """A 64-byte little-endian integer reduced mod L."""
    if len(wide) != 64:
        raise ValueError("scalar_reduce takes 64 bytes")
    return _b.crypto_core_ed25519_scalar_reduce(wide)


def system_random() -> bytes:
    return nacl.utils.random(64)


def random_scalar(rng: RandomSource | None = None) -> bytes:
    """A uniformly random non-zero scalar (64 random bytes reduced mod L; redrawn if 0)."""
    draw = rng or system_random
    while True:
        k = scalar_reduce(draw())
        if k != ZERO:
            return k


def seeded_random(seed: bytes, label: str = "example") -> RandomSource:
    """A deterministic source for tests and the spec's worked examples: the i-th draw
    (i = 0, 1, …) is SHA-512(b"scrutin-<label>/v2\\x00" + seed + i as 4-byte big-endian)."""
    counter = 0
    prefix = tag(label) + bytes(seed)

    def draw() -> bytes:
        nonlocal counter
        out = hashlib.sha512(prefix + counter.to_bytes(4, "big")).digest()
        counter += 1
        return out

    return draw


# -- points --------------------------------------------------------------------------------
def add(p: bytes, q: bytes) -> bytes:
    return _b.crypto_core_ed25519_add(p, q)


def sub(p: bytes, q: bytes) -> bytes:
    return _b.crypto_core_ed25519_sub(p, q)


def neg(p: bytes) -> bytes:
    return _b.crypto_core_ed25519_sub(IDENTITY, p)


def base_mul(k: bytes) -> bytes:
    """k·G (the identity for k = 0)."""
    if k == ZERO:
        return IDENTITY
    try:
        return _b.crypto_scalarmult_ed25519_base_noclamp(k)
    except CryptoError:  # pragma: no cover - only a zero product is refused
        return IDENTITY


def mul(k: bytes, p: bytes) -> bytes:
    """k·P for P in the prime-order group (the identity when k = 0 or P is the identity).
    A P outside the prime-order subgroup: :class:`GroupError`."""
    if k == ZERO or p == IDENTITY:
        return IDENTITY
    try:
        return _b.crypto_scalarmult_ed25519_noclamp(k, p)
    except CryptoError as exc:
        raise GroupError("not a point of the prime-order group") from exc


def int_mul(n: int, p: bytes) -> bytes:
    """n·P for an integer n (negative allowed)."""
    return mul(scalar_from_int(n), p)


def total(points: Iterable[bytes]) -> bytes:
    """The sum of points (the identity for none)."""
    acc = IDENTITY
    for p in points:
        acc = add(acc, p)
    return acc


# -- hashing -------------------------------------------------------------------------------
def tag(purpose: str) -> bytes:
    """The domain tag ``b"scrutin-<purpose>/v2\\x00"``."""
    if not purpose or not purpose.isascii() or "\x00" in purpose:
        raise ValueError("a purpose is non-empty ASCII without NUL")
    return b"scrutin-" + purpose.encode("ascii") + b"/v2\x00"


def hash_parts(purpose: str, parts: Iterable[bytes]) -> bytes:
    """SHA-512 of the tag then each part as a 4-byte big-endian length and its bytes."""
    h = hashlib.sha512(tag(purpose))
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def hash_to_scalar(purpose: str, parts: Iterable[bytes]) -> bytes:
    """The 64-byte digest of :func:`hash_parts`, reduced mod L."""
    return _b.crypto_core_ed25519_scalar_reduce(hash_parts(purpose, parts))


def hash_to_challenge128(purpose: str, parts: Iterable[bytes]) -> bytes:
    """A 128-bit challenge: the first 16 bytes of :func:`hash_parts` as a little-endian
    integer, returned as a 32-byte scalar."""
    return hash_parts(purpose, parts)[:16] + bytes(16)


def encode_text(text: str) -> bytes:
    """A hash part made of text (ASCII/UTF-8)."""
    return text.encode("utf-8")


def encode_int(n: int) -> bytes:
    """A hash part made of an integer: its decimal ASCII digits."""
    return str(int(n)).encode("ascii")
