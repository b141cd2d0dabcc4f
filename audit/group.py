"""The group of encrypted ballots (docs/audit-log.md, "Encrypted ballots (v2)").

The prime-order subgroup of Ed25519 (order ``L``), generator the standard base point, in
additive notation, computed with PyNaCl's bindings to libsodium. Written from the spec text,
independently of the producer's ``crypto/group.py``.

Points are their 32-byte RFC 8032 encodings, scalars 32 bytes little-endian. Every point
read from a log goes through :func:`point` (canonical, on the curve, in the prime-order
subgroup, not of small order); every scalar through :func:`scalar` (canonical, < L).
Arithmetic never raises on valid input: a product that is the identity (scalar 0) is
returned as the identity's encoding, which the spec never accepts from outside.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from nacl import bindings as _b
from nacl.exceptions import CryptoError

try:  # PyNaCl's own libsodium handle: the same functions without the wrappers' checks
    from nacl._sodium import ffi as _ffi
    from nacl._sodium import lib as _lib
except ImportError:  # pragma: no cover - a PyNaCl without it: the public bindings
    _ffi = _lib = None

L = 2**252 + 27742317777372353535851937790883648493
ZERO = bytes(32)
ONE = (1).to_bytes(32, "little")
IDENTITY = b"\x01" + bytes(31)
G = _b.crypto_scalarmult_ed25519_base_noclamp(ONE)


class GroupError(ValueError):
    """A point or scalar read from outside is not a valid group element or scalar."""


# -- reading ------------------------------------------------------------------------------
def point(data: bytes) -> bytes:
    """A point read from outside: 32 bytes, valid (in the prime-order subgroup, not the
    identity, not of small order, canonical)."""
    if len(data) != 32 or not _b.crypto_core_ed25519_is_valid_point(data):
        raise GroupError("not a valid point of the prime-order group")
    return bytes(data)


def scalar(data: bytes) -> bytes:
    """A scalar read from outside: 32 bytes little-endian, < L."""
    if len(data) != 32 or int.from_bytes(data, "little") >= L:
        raise GroupError("not a canonical scalar (32 bytes little-endian, below the order)")
    return bytes(data)


def is_point(data: bytes) -> bool:
    return len(data) == 32 and bool(_b.crypto_core_ed25519_is_valid_point(data))


# -- scalars ------------------------------------------------------------------------------
def s(n: int) -> bytes:
    """The scalar n mod L."""
    return (n % L).to_bytes(32, "little")


def to_int(x: bytes) -> int:
    return int.from_bytes(x, "little")


# -- points -------------------------------------------------------------------------------
def _call(fn: object, *args: bytes) -> bytes:
    """Call a libsodium function writing 32 bytes; GroupError when it refuses its input."""
    out = _ffi.new("unsigned char[32]")
    if fn(out, *args) != 0:  # type: ignore[operator]
        raise GroupError("not a point of the prime-order group")
    return bytes(_ffi.buffer(out, 32))


def add(p: bytes, q: bytes) -> bytes:
    if _lib is not None and len(p) == len(q) == 32:
        return _call(_lib.crypto_core_ed25519_add, p, q)
    return _b.crypto_core_ed25519_add(p, q)


def sub(p: bytes, q: bytes) -> bytes:
    if _lib is not None and len(p) == len(q) == 32:
        return _call(_lib.crypto_core_ed25519_sub, p, q)
    return _b.crypto_core_ed25519_sub(p, q)


def base(k: bytes) -> bytes:
    """k·G (the identity for k = 0)."""
    if k == ZERO:
        return IDENTITY
    if _lib is not None and len(k) == 32:
        try:
            return _call(_lib.crypto_scalarmult_ed25519_base_noclamp, k)
        except GroupError:  # pragma: no cover - libsodium refuses only a zero product
            return IDENTITY
    try:
        return _b.crypto_scalarmult_ed25519_base_noclamp(k)
    except CryptoError:  # pragma: no cover - libsodium refuses only a zero product
        return IDENTITY


def mul(k: bytes, p: bytes) -> bytes:
    """k·P for a point P of the prime-order group (the identity when k = 0 or P is the
    identity). libsodium refuses a P outside the prime-order subgroup: :class:`GroupError`."""
    if k == ZERO or p == IDENTITY:
        return IDENTITY
    return _scalarmult(k, p, "not a point of the prime-order group")


def mul_valid(k: bytes, p: bytes) -> bytes:
    """k·P for a non-zero k and a P read from outside: libsodium refuses (GroupError) any P
    that is not a valid point (the identity included)."""
    return _scalarmult(k, p, "not a valid point of the prime-order group")


def _scalarmult(k: bytes, p: bytes, refusal: str) -> bytes:
    """k·P by libsodium, which refuses a zero product and any P outside the prime-order
    subgroup; the public bindings' refusal is a GroupError saying ``refusal``."""
    if _lib is not None and len(k) == len(p) == 32:
        return _call(_lib.crypto_scalarmult_ed25519_noclamp, k, p)
    try:
        return _b.crypto_scalarmult_ed25519_noclamp(k, p)
    except CryptoError as exc:
        raise GroupError(refusal) from exc


def total(points: Iterable[bytes]) -> bytes:
    acc = IDENTITY
    for p in points:
        acc = add(acc, p)
    return acc


def int_mul(n: int, p: bytes) -> bytes:
    """n·P for a (possibly negative) integer n."""
    return mul(s(n), p)


# -- hashing (contract: SHA-512, domain tag, length-prefixed parts, reduced mod L) ----------
def tag(purpose: str) -> bytes:
    return b"scrutin-" + purpose.encode("ascii") + b"/v2\x00"


def hash_parts(purpose: str, parts: Sequence[bytes]) -> bytes:
    h = hashlib.sha512(tag(purpose))
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def hash_to_scalar(purpose: str, parts: Sequence[bytes]) -> bytes:
    """SHA-512 of the tag and the length-prefixed parts, reduced mod L (64-byte LE)."""
    return _b.crypto_core_ed25519_scalar_reduce(hash_parts(purpose, parts))


def hash_to_challenge128(purpose: str, parts: Sequence[bytes]) -> bytes:
    """A 128-bit challenge: the first 16 bytes of the SHA-512, as a scalar (LE)."""
    return hash_parts(purpose, parts)[:16] + bytes(16)


# -- Lagrange interpolation at 0 and the small discrete logarithm -------------------------
def lagrange_at_zero(indices: Sequence[int]) -> dict[int, int]:
    """λ_j = Π_{m ≠ j} m / (m − j) mod L, for distinct non-zero trustee indices."""
    if len(set(indices)) != len(indices) or any(i % L == 0 for i in indices):
        raise GroupError("Lagrange interpolation needs distinct non-zero indices")
    out = {}
    for j in indices:
        num, den = 1, 1
        for m in indices:
            if m != j:
                num = num * m % L
                den = den * (m - j) % L
        out[j] = num * pow(den, -1, L) % L
    return out


class DlogTable:
    """Baby-step giant-step for m·G with 0 ≤ m ≤ bound (small counts)."""

    def __init__(self, bound: int) -> None:
        self.bound = max(bound, 0)
        self.step = max(1, int((self.bound + 1) ** 0.5) + 1)
        self.baby: dict[bytes, int] = {}
        acc = IDENTITY
        for j in range(self.step):
            self.baby.setdefault(acc, j)
            acc = add(acc, G)
        self.giant = base(s(self.step))

    def solve(self, target: bytes) -> int | None:
        """m with m·G = target and 0 ≤ m ≤ bound, or None."""
        acc = target
        for i in range(self.bound // self.step + 1):
            j = self.baby.get(acc)
            if j is not None:
                m = i * self.step + j
                return m if m <= self.bound else None
            acc = sub(acc, self.giant)
        return None


def dlog(target: bytes, bound: int) -> int | None:
    return DlogTable(bound).solve(target)
