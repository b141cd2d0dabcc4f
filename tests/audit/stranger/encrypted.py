"""The stranger's reading of docs/audit-log.md §10 "Encrypted ballots (v2)": the group, the
hashes, the encrypted ballot's layout and row proofs, the decryption shares, Lagrange and the
bounded discrete log. Written from the spec text alone; standard library and PyNaCl only.

Where the spec is silent or ambiguous, the choice made here is marked "AMBIGUITY".
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

from nacl import bindings as nb
from nacl.exceptions import CryptoError
from nacl.exceptions import RuntimeError as NaclRuntimeError

L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = b"\x01" + bytes(31)
G = nb.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))


# -- group ----------------------------------------------------------------------------------


def valid_point(p: bytes) -> bool:
    """§10: canonical, on the curve, in the prime-order subgroup, not of small order."""
    return len(p) == 32 and bool(nb.crypto_core_ed25519_is_valid_point(p))


def scalar(b: bytes) -> int | None:
    """A canonical scalar (< L), else None."""
    if len(b) != 32:
        return None
    s = int.from_bytes(b, "little")
    return s if s < L else None


def add(p: bytes, q: bytes) -> bytes:
    return nb.crypto_core_ed25519_add(p, q)


def sub(p: bytes, q: bytes) -> bytes:
    return nb.crypto_core_ed25519_sub(p, q)


def mul(s: int, p: bytes) -> bytes:
    """s·P; the identity when s ≡ 0 or P is the identity (libsodium refuses both)."""
    s %= L
    if s == 0 or p == IDENTITY:
        return IDENTITY
    try:
        return nb.crypto_scalarmult_ed25519_noclamp(s.to_bytes(32, "little"), p)
    except (NaclRuntimeError, CryptoError):  # pragma: no cover - a point outside the subgroup
        return IDENTITY


def base(s: int) -> bytes:
    s %= L
    if s == 0:
        return IDENTITY
    return nb.crypto_scalarmult_ed25519_base_noclamp(s.to_bytes(32, "little"))


def _part(x: Any) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, int):
        return str(x).encode("ascii")
    return str(x).encode("utf-8")


def _digest(purpose: str, parts: tuple[Any, ...]) -> bytes:
    h = hashlib.sha512(b"scrutin-" + purpose.encode("ascii") + b"/v2\x00")
    for p in parts:
        data = _part(p)
        h.update(len(data).to_bytes(4, "big") + data)
    return h.digest()


def H(purpose: str, *parts: Any) -> int:
    """§10 "Group, points, scalars and hashing"."""
    return int.from_bytes(_digest(purpose, parts), "little") % L


def H128(purpose: str, *parts: Any) -> int:
    """§10 "The row proof" 1: the same digest cut to its first 16 bytes, little-endian."""
    return int.from_bytes(_digest(purpose, parts)[:16], "little")


def lagrange(j: int, indexes: list[int]) -> int:
    """λ_j = Π_(m∈S, m≠j) m / (m − j) mod L."""
    num = den = 1
    for m in indexes:
        if m != j:
            num = num * m % L
            den = den * (m - j) % L
    return num * pow(den, -1, L) % L


def dlog(point: bytes, bound: int) -> int | None:
    """The m in 0 … bound with m·G = point (baby-step giant-step), else None."""
    step = max(1, int(bound**0.5) + 1)
    table: dict[bytes, int] = {}
    acc = IDENTITY
    for i in range(step):
        table.setdefault(acc, i)
        acc = add(acc, G)
    giant = base(step)
    cur = point
    for j in range(step + 1):
        if cur in table:
            m = j * step + table[cur]
            return m if m <= bound else None
        cur = sub(cur, giant)
    return None


# -- the encrypted ballot (§10 "The encrypted ballot") --------------------------------------


Cipher = tuple[bytes, bytes]


def ballot_length(n: int, blank: int, rows: int) -> int:
    branches = n + blank
    return 5 + 2 * rows + 64 * blank + rows * ((n - 1) * 64 + branches * 48)


def parse_ballot(
    blob: bytes,
    *,
    origin: str,
    round_no: int,
    credential: bytes,
    candidates: list[str],
    n_grades: int,
    allow_blank: bool,
    subset_size: int,
    h: bytes,
) -> tuple[dict[str, list[Cipher]] | None, Cipher | None, str]:
    """(rows, blank cell, "") for a valid ballot: each row's n cells, the implicit one
    included; (None, None, §10 code) for an invalid one, the first reason in §10's order."""
    if len(blob) < 5 or blob[0] != 1 or blob[2] not in (0, 1):
        return None, None, "bad-layout"
    n, blank = blob[1], blob[2]
    r = int.from_bytes(blob[3:5], "big")
    if r == 0 or n < 2 or len(blob) != ballot_length(n, blank, r):
        return None, None, "bad-layout"
    if n != n_grades:
        return None, None, "wrong-grades"
    if bool(blank) != allow_blank:
        return None, None, "wrong-blank"
    idx = [int.from_bytes(blob[5 + 2 * i : 7 + 2 * i], "big") for i in range(r)]
    if any(i >= len(candidates) for i in idx):
        return None, None, "unknown-candidate"
    if any(a >= b for a, b in itertools.pairwise(idx)):
        return None, None, "candidate-order"
    # §10 "Invalid ballots" 6: "the number of candidates when `subset_size` is 0 or at least
    # that number, else `subset_size`" (settled AMBIGUITY).
    want = len(candidates) if subset_size == 0 else min(subset_size, len(candidates))
    if r != want:
        return None, None, "wrong-row-count"
    pos = 5 + 2 * r
    blank_cell: Cipher | None = None
    if blank:
        blank_cell = (blob[pos : pos + 32], blob[pos + 32 : pos + 64])
        pos += 64
    branches = n + blank
    raw_rows = []
    for _ in range(r):
        cells = [
            (blob[pos + 64 * g : pos + 64 * g + 32], blob[pos + 64 * g + 32 : pos + 64 * g + 64])
            for g in range(n - 1)
        ]
        pos += 64 * (n - 1)
        proof = []
        for _k in range(branches):
            c = int.from_bytes(blob[pos : pos + 16], "little")
            proof.append((c, blob[pos + 16 : pos + 48]))
            pos += 48
        raw_rows.append((cells, proof))
    all_cells = [cell for cells, _ in raw_rows for cell in cells]
    if blank_cell is not None:
        all_cells.append(blank_cell)
    if any(not valid_point(a) or not valid_point(b) for a, b in all_cells):
        return None, None, "invalid-point"
    if any(scalar(s) is None for _, proof in raw_rows for _, s in proof):
        return None, None, "invalid-scalar"
    rows: dict[str, list[Cipher]] = {}
    for i, (cells, proof) in zip(idx, raw_rows, strict=True):
        cand = candidates[i]
        if not row_proof_ok(origin, round_no, credential, cand, h, cells, blank_cell, proof):
            return None, None, "proof-failed"
        # The implicit cell: (0, G) − b − Σ cells.
        a_imp, b_imp = IDENTITY, G
        for a, b in [*cells, *([blank_cell] if blank_cell else [])]:
            a_imp, b_imp = sub(a_imp, a), sub(b_imp, b)
        rows[cand] = [*cells, (a_imp, b_imp)]
    return rows, blank_cell, ""


def row_proof_ok(
    origin: str,
    round_no: int,
    credential: bytes,
    candidate: str,
    h: bytes,
    cells: list[Cipher],
    blank_cell: Cipher | None,
    proof: list[tuple[int, bytes]],
) -> bool:
    ctx = (origin, round_no, credential, candidate, h)
    vector = cells + ([blank_cell] if blank_cell else [])
    statement = b"".join(a + b for a, b in vector)
    positions = [str(p) for p in range(len(cells))] + (["blank"] if blank_cell else [])
    z = [H128("ballot-weight", *ctx, statement, p) for p in positions]
    a_star, b_star = IDENTITY, IDENTITY
    for zp, (a, b) in zip(z, vector, strict=True):
        a_star, b_star = add(a_star, mul(zp, a)), add(b_star, mul(zp, b))
    n = len(cells) + 1
    targets = [base(z[k]) for k in range(n - 1)] + [IDENTITY]
    if blank_cell is not None:
        targets.append(base(z[-1]))
    commitments: list[bytes] = []
    for (c, s_bytes), t in zip(proof, targets, strict=True):
        s = int.from_bytes(s_bytes, "little")
        x = sub(base(s), mul(c, a_star))
        y = sub(mul(s, h), mul(c, sub(b_star, t)))
        commitments += [x, y]
    c_all = H128("ballot-row", *ctx, statement, *commitments)
    return sum(c for c, _ in proof) % 2**128 == c_all


def share_ok(
    origin: str,
    round_no: int,
    j: int,
    position: str,
    h: bytes,
    h_j: bytes,
    alpha: bytes,
    value: bytes,
) -> bytes | None:
    """d when the 96-byte `d || c || s` is a valid decryption share, else None."""
    if len(value) != 96:
        return None
    d, c, s = value[:32], scalar(value[32:64]), scalar(value[64:])
    if not valid_point(d) or c is None or s is None:
        return None
    a1 = sub(base(s), mul(c, h_j))
    a2 = sub(mul(s, alpha), mul(c, d))
    if H("decryption-share", origin, round_no, j, position, h, h_j, alpha, d, a1, a2) != c:
        return None
    return d


# -- the prover, from §10 "The row proof" (to replay the worked examples) ------------------


def example_draws(seed: bytes) -> Callable[[], bytes]:
    """§10 worked example: the i-th draw is SHA-512(b"scrutin-example/v2\\x00" + seed + i as
    4 bytes big-endian)."""
    counter = itertools.count()

    def draw() -> bytes:
        i = next(counter)
        return hashlib.sha512(b"scrutin-example/v2\x00" + seed + i.to_bytes(4, "big")).digest()

    return draw


def encrypt_ballot(
    *,
    origin: str,
    round_no: int,
    credential: bytes,
    candidates: list[str],
    rows: list[int],
    grades: dict[int, int] | None,
    n_grades: int,
    allow_blank: bool,
    h: bytes,
    draw: Callable[[], bytes],
) -> bytes:
    """The blob of a ballot giving grades[row index] (None: blank), drawing in the worked
    example's order: the blank cell's r; each row's explicit cells' r; then for each row, w
    and, for each branch other than the true one in branch order, s_k then c_k."""
    n = n_grades

    def sc() -> int:
        return int.from_bytes(draw(), "little") % L

    def enc_bit(m: int, r: int) -> Cipher:
        return base(r), add(base(m) if m else IDENTITY, mul(r, h))

    blank_bit = 1 if grades is None else 0
    blank_cell: Cipher | None = None
    r_blank = 0
    if allow_blank:
        r_blank = sc()
        blank_cell = enc_bit(blank_bit, r_blank)
    cells: list[list[Cipher]] = []
    rands: list[list[int]] = []
    for idx in rows:
        g = None if grades is None else grades[idx]
        rs = [sc() for _ in range(n - 1)]
        rands.append(rs)
        cells.append([enc_bit(1 if g == k else 0, rs[k]) for k in range(n - 1)])
    out = bytes([1, n, 1 if allow_blank else 0]) + len(rows).to_bytes(2, "big")
    out += b"".join(i.to_bytes(2, "big") for i in rows)
    if blank_cell is not None:
        out += blank_cell[0] + blank_cell[1]
    for idx, row, rs in zip(rows, cells, rands, strict=True):
        cand = candidates[idx]
        ctx = (origin, round_no, credential, cand, h)
        vector = row + ([blank_cell] if blank_cell else [])
        r_vec = rs + ([r_blank] if blank_cell else [])
        statement = b"".join(a + b for a, b in vector)
        positions = [str(p) for p in range(n - 1)] + (["blank"] if blank_cell else [])
        z = [H128("ballot-weight", *ctx, statement, p) for p in positions]
        a_star = b_star = IDENTITY
        for zp, (a, b) in zip(z, vector, strict=True):
            a_star, b_star = add(a_star, mul(zp, a)), add(b_star, mul(zp, b))
        big_r = sum(zp * rp for zp, rp in zip(z, r_vec, strict=True)) % L
        targets = [base(z[k]) for k in range(n - 1)] + [IDENTITY]
        if blank_cell is not None:
            targets.append(base(z[-1]))
        g = None if grades is None else grades[idx]
        true = n if g is None else g
        w = sc()
        proof: list[tuple[int, int]] = []
        commitments: list[bytes] = []
        for k, t in enumerate(targets):
            if k == true:
                proof.append((0, 0))
                commitments += [base(w), mul(w, h)]
                continue
            s_k = sc()
            c_k = int.from_bytes(draw()[:16], "little")
            proof.append((c_k, s_k))
            commitments += [
                sub(base(s_k), mul(c_k, a_star)),
                sub(mul(s_k, h), mul(c_k, sub(b_star, t))),
            ]
        c_all = H128("ballot-row", *ctx, statement, *commitments)
        c_true = (c_all - sum(c for c, _ in proof)) % 2**128
        proof[true] = (c_true, (w + c_true * big_r) % L)
        out += b"".join(a + b for a, b in row)
        out += b"".join(c.to_bytes(16, "little") + s.to_bytes(32, "little") for c, s in proof)
    return out
