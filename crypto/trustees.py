"""Threshold trustees for encrypted ballots (docs/audit-log.md "Encrypted ballots (v2)").

The math of the key ceremony and of the tally's decryption, on the prime-order subgroup of
Ed25519 (additive notation, generator G, order L):

- Feldman/Pedersen distributed key generation: trustee i draws a polynomial f_i of degree
  k - 1, publishes its commitments C_i,t = a_i,t·G with a Schnorr proof of knowledge of
  a_i,0, and sends f_i(j) to trustee j in a NaCl Box. Trustee j checks each share against the
  commitments (s·G = Σ_t j^t·C_i,t); its secret share is x_j = Σ_i f_i(j), its verification
  key h_j = x_j·G is computable by anyone from the commitments, the election key is
  h = Σ_i C_i,0. Nobody ever holds x = Σ_i a_i,0.
- Decryption shares d_j = x_j·α with a Chaum-Pedersen (DLEQ) proof that log_G h_j = log_α d_j;
  any k of them combine by Lagrange interpolation at 0 into x·α; the count m comes out of
  m·G = β - x·α by baby-step giant-step, bounded by the number of ballots.

Pure functions, no I/O. Every point read from outside is validated (canonical, in the
prime-order subgroup, not of small order) by `point()`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions
import nacl.public

from crypto import group

# The group, its encodings and the hash are crypto/group.py's (the v2 contract); this module
# adds integer-scalar helpers that treat the identity explicitly (empty products). Sums and
# differences are the group's: libsodium adds and subtracts the identity like any point.
L = group.L
IDENTITY = group.IDENTITY
BASE = group.G
add = group.add
sub = group.sub


class TrusteeError(ValueError):
    """A trustee's contribution (point, scalar, share, proof) is malformed or false."""


# --- group helpers -------------------------------------------------------------------------


def point(data: bytes, what: str = "point") -> bytes:
    """A point read from outside: 32 bytes, canonical, in the prime-order subgroup, not small."""
    if not isinstance(data, bytes | bytearray) or len(data) != 32:
        raise TrusteeError(f"{what}: a point is 32 bytes")
    try:
        return group.point(bytes(data))
    except group.GroupError:
        raise TrusteeError(f"{what}: not a valid point of the prime-order group") from None


def scalar(data: bytes, what: str = "scalar") -> int:
    """A scalar read from outside: 32 bytes little-endian, canonical (< L)."""
    if not isinstance(data, bytes | bytearray) or len(data) != 32:
        raise TrusteeError(f"{what}: a scalar is 32 bytes")
    value = int.from_bytes(data, "little")
    if value >= L:
        raise TrusteeError(f"{what}: scalar not reduced modulo the group order")
    return value


def scalar_bytes(value: int) -> bytes:
    return (value % L).to_bytes(32, "little")


def mul(k: int, p: bytes) -> bytes:
    """k·P; the identity when k ≡ 0 (libsodium refuses to return it)."""
    k %= L
    if k == 0 or p == IDENTITY:
        return IDENTITY
    return sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(k), p)


def base(k: int) -> bytes:
    """k·G; the identity when k ≡ 0."""
    k %= L
    if k == 0:
        return IDENTITY
    return sodium.crypto_scalarmult_ed25519_base_noclamp(scalar_bytes(k))


def random_scalar() -> int:
    """A uniform non-zero scalar."""
    while True:
        value = int.from_bytes(secrets.token_bytes(64), "little") % L
        if value:
            return value


def hash_to_scalar(purpose: str, *parts: bytes | str | int) -> int:
    """SHA-512 over b"scrutin-<purpose>/v2\\x00" then each part as 4-byte BE length + bytes,
    reduced mod L as a 64-byte little-endian integer. str parts are ASCII/UTF-8, int parts
    are written in decimal ASCII."""
    encoded = [
        group.encode_int(part)
        if isinstance(part, int)
        else group.encode_text(part)
        if isinstance(part, str)
        else bytes(part)
        for part in parts
    ]
    return int.from_bytes(group.hash_to_scalar(purpose, encoded), "little")


# --- key generation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dealing:
    """What trustee `index` publishes in its `trustee-keygen` entry, and the polynomial it
    keeps (coefficients a_0 … a_k-1) until it has computed its own share."""

    index: int
    coefficients: tuple[int, ...]
    commitments: tuple[bytes, ...]
    pok: bytes

    def share_for(self, recipient: int) -> int:
        return evaluate(self.coefficients, recipient)


def evaluate(coefficients: Sequence[int], x: int) -> int:
    """f(x) mod L (Horner)."""
    value = 0
    for coefficient in reversed(coefficients):
        value = (value * x + coefficient) % L
    return value


def pok_challenge(origin: str, index: int, commitments: Sequence[bytes], a: bytes) -> int:
    return hash_to_scalar("trustee-pok", origin, index, *commitments, a)


def prove_knowledge(
    origin: str, index: int, commitments: Sequence[bytes], secret: int, w: int | None = None
) -> bytes:
    """Schnorr proof of knowledge of a_0 with C_0 = a_0·G: c (32) || s (32). (`w` is fixed
    only by the spec's worked example; it must be fresh and secret otherwise.)"""
    w = w if w is not None else random_scalar()
    a = base(w)
    c = pok_challenge(origin, index, commitments, a)
    s = (w + c * secret) % L
    return scalar_bytes(c) + scalar_bytes(s)


def verify_knowledge(origin: str, index: int, commitments: Sequence[bytes], proof: bytes) -> None:
    if len(proof) != 64:
        raise TrusteeError("pok: a proof is 64 bytes")
    c = scalar(proof[:32], "pok challenge")
    s = scalar(proof[32:], "pok response")
    a = sub(base(s), mul(c, commitments[0]))
    if a == IDENTITY or pok_challenge(origin, index, commitments, a) != c:
        raise TrusteeError(f"trustee {index}: proof of knowledge of the constant term is false")


def deal(origin: str, index: int, threshold: int) -> Dealing:
    """Trustee `index` (1-based) draws its polynomial of degree threshold - 1."""
    if not 1 <= threshold:
        raise TrusteeError("the threshold is at least 1")
    coefficients = tuple(random_scalar() for _ in range(threshold))
    commitments = tuple(base(a) for a in coefficients)
    pok = prove_knowledge(origin, index, commitments, coefficients[0])
    return Dealing(index, coefficients, commitments, pok)


def check_commitments(
    origin: str, index: int, commitments: Sequence[bytes], pok: bytes, threshold: int
) -> tuple[bytes, ...]:
    """Validate a trustee's published commitments and proof; return the points."""
    if len(commitments) != threshold:
        raise TrusteeError(f"trustee {index}: {threshold} commitments expected")
    points = tuple(point(c, f"trustee {index} commitment {t}") for t, c in enumerate(commitments))
    verify_knowledge(origin, index, points, pok)
    return points


def committed_share(commitments: Sequence[bytes], recipient: int) -> bytes:
    """Σ_t recipient^t·C_t: what f(recipient)·G must equal."""
    total = IDENTITY
    power = 1
    for c in commitments:
        total = add(total, mul(power, c))
        power = power * recipient % L
    return total


def share_matches(commitments: Sequence[bytes], recipient: int, share: int) -> bool:
    return base(share) == committed_share(commitments, recipient)


def election_key(all_commitments: Iterable[Sequence[bytes]]) -> bytes:
    """h = Σ_i C_i,0."""
    total = IDENTITY
    for commitments in all_commitments:
        total = add(total, commitments[0])
    return total


def verification_key(all_commitments: Iterable[Sequence[bytes]], index: int) -> bytes:
    """h_j = x_j·G = Σ_i Σ_t j^t·C_i,t, from public data only."""
    total = IDENTITY
    for commitments in all_commitments:
        total = add(total, committed_share(commitments, index))
    return total


# --- shares in NaCl boxes ---------------------------------------------------------------------


def _box(own_secret: bytes, peer_public: bytes) -> nacl.public.Box:
    """The NaCl Box between two trustees' box keys (the same key seals and opens)."""
    return nacl.public.Box(nacl.public.PrivateKey(own_secret), nacl.public.PublicKey(peer_public))


def share_box_message(origin: str, dealer: int, recipient: int, share: int) -> bytes:
    """The Box plaintext: domain tag, origin, dealer and recipient bound to the 32-byte share."""
    return (
        b"scrutin-trustee-share/v2\x00"
        + origin.encode("ascii")
        + b"\x00"
        + f"{dealer}\x00{recipient}\x00".encode("ascii")
        + scalar_bytes(share)
    )


def seal_share(
    origin: str,
    dealer: int,
    recipient: int,
    share: int,
    dealer_box_secret: bytes,
    recipient_box_public: bytes,
) -> bytes:
    """nonce (24) || NaCl crypto_box ciphertext, from the dealer's to the recipient's box key."""
    box = _box(dealer_box_secret, recipient_box_public)
    return bytes(box.encrypt(share_box_message(origin, dealer, recipient, share)))


def open_share(
    origin: str,
    dealer: int,
    recipient: int,
    boxed: bytes,
    recipient_box_secret: bytes,
    dealer_box_public: bytes,
) -> int:
    """Open a share sent to us; TrusteeError when it does not open or is not for us."""
    box = _box(recipient_box_secret, dealer_box_public)
    try:
        plain = box.decrypt(boxed)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as error:
        raise TrusteeError(f"share from trustee {dealer} does not open") from error
    prefix = share_box_message(origin, dealer, recipient, 0)[:-32]
    if len(plain) != len(prefix) + 32 or not plain.startswith(prefix):
        raise TrusteeError(f"share from trustee {dealer} is not addressed to trustee {recipient}")
    return scalar(plain[-32:], f"share from trustee {dealer}")


def secret_share(shares: Iterable[int]) -> int:
    """x_j = Σ_i f_i(j), including the trustee's own f_j(j)."""
    return sum(shares) % L


# --- decryption -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every decryption proof of a round binds."""

    origin: str
    round: int
    public_key: bytes  # election key h

    def dleq_challenge(
        self,
        index: int,
        position: str,
        verification: bytes,
        alpha: bytes,
        share: bytes,
        a1: bytes,
        a2: bytes,
    ) -> int:
        return hash_to_scalar(
            "decryption-share",
            self.origin,
            self.round,
            index,
            position,
            self.public_key,
            verification,
            alpha,
            share,
            a1,
            a2,
        )


def decryption_share(
    context: Context, index: int, secret: int, position: str, alpha: bytes, w: int | None = None
) -> bytes:
    """d = x_j·α followed by the DLEQ proof c || s: 96 bytes. (`w` as in prove_knowledge.)"""
    verification = base(secret)
    d = mul(secret, alpha)
    w = w if w is not None else random_scalar()
    a1, a2 = base(w), mul(w, alpha)
    c = context.dleq_challenge(index, position, verification, alpha, d, a1, a2)
    s = (w + c * secret) % L
    return d + scalar_bytes(c) + scalar_bytes(s)


def verify_decryption_share(
    context: Context,
    index: int,
    verification: bytes,
    position: str,
    alpha: bytes,
    share: bytes,
) -> bytes:
    """Check d and its proof against h_j; return d."""
    if len(share) != 96:
        raise TrusteeError(f"trustee {index}, {position}: a decryption share is 96 bytes")
    d = point(share[:32], f"trustee {index}, {position}: share")
    c = scalar(share[32:64], "challenge")
    s = scalar(share[64:], "response")
    a1 = sub(base(s), mul(c, verification))
    a2 = sub(mul(s, alpha), mul(c, d))
    expected = context.dleq_challenge(index, position, verification, alpha, d, a1, a2)
    if expected != c:
        raise TrusteeError(f"trustee {index}, {position}: decryption share proof is false")
    return d


def lagrange_at_zero(indexes: Sequence[int], index: int) -> int:
    """λ_j = Π_{m ≠ j} m / (m - j) mod L."""
    numerator, denominator = 1, 1
    for m in indexes:
        if m != index:
            numerator = numerator * m % L
            denominator = denominator * (m - index) % L
    return numerator * pow(denominator, -1, L) % L


def combine(shares: Mapping[int, bytes]) -> bytes:
    """x·α from k decryption shares {trustee index: d_j} (Lagrange at 0)."""
    indexes = sorted(shares)
    if len(set(indexes)) != len(indexes) or any(i < 1 for i in indexes):
        raise TrusteeError("trustee indexes are distinct and ≥ 1")
    total = IDENTITY
    for index in indexes:
        total = add(total, mul(lagrange_at_zero(indexes, index), shares[index]))
    return total


class DiscreteLog:
    """Solve m·G = P for 0 ≤ m ≤ bound by baby-step giant-step; build once, reuse for every
    cell of a round (the table is the cost: about √bound points)."""

    def __init__(self, bound: int) -> None:
        if bound < 0:
            raise TrusteeError("the bound is ≥ 0")
        self.bound = bound
        self.step = max(1, math.isqrt(bound) + 1)
        self.table: dict[bytes, int] = {}
        current = IDENTITY
        for j in range(self.step):
            self.table.setdefault(current, j)
            current = add(current, BASE)
        self.giant = base(self.step)  # step·G

    def solve(self, target: bytes) -> int:
        current = target
        for i in range(self.step + 1):
            j = self.table.get(current)
            if j is not None:
                m = i * self.step + j
                if m <= self.bound:
                    return m
                break
            current = sub(current, self.giant)
        raise TrusteeError(f"no count between 0 and {self.bound} decrypts this sum")


def decrypt(beta: bytes, combined: bytes, dlog: DiscreteLog) -> int:
    """m from β and x·α."""
    return dlog.solve(sub(beta, combined))


# --- ElGamal (only what tests and the trustee's checks need; E1 owns ballots) ---------------


def encrypt(public_key: bytes, m: int, r: int | None = None) -> tuple[bytes, bytes]:
    """Enc(m; r) = (r·G, m·G + r·h), retried until neither part is the identity."""
    while True:
        nonce = r if r is not None else random_scalar()
        alpha, beta = base(nonce), add(base(m), mul(nonce, public_key))
        if alpha != IDENTITY and beta != IDENTITY:
            return alpha, beta
        if r is not None:
            raise TrusteeError("this nonce gives the identity")


def add_ciphertexts(ciphertexts: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    alpha, beta = IDENTITY, IDENTITY
    for a, b in ciphertexts:
        alpha, beta = add(alpha, a), add(beta, b)
    return alpha, beta
