"""Encrypted ballots (docs/audit-log.md, "Encrypted ballots (v2)"): build, pack, unpack,
verify, and the homomorphic sums the trustees decrypt.

A ballot has one *row* per candidate on the voter's ballot (in the round's order) and, when
the round allows blank ballots, one *blank cell* b. A row of a scale of n grades carries
n − 1 ciphertexts, one per grade 0 … n − 2, each of 0 or 1; the last grade's cell is
implicit, derived so that the row adds up to 1 − b::

    last = (0, G) − blank − Σ explicit cells          (component-wise)

One proof per row shows that (explicit cells, blank) is one of the allowed vectors: the unit
vector of a grade 0 … n − 2, all zero (grade n − 1), or, with a blank cell, all zero with
b = 1. The cells are folded into one ciphertext with 128-bit weights drawn from a hash of the
row (a random linear combination), and a disjunctive Chaum–Pedersen proof (Cramer–Damgård–
Schoenmakers) shows that, for one of the allowed vectors v, the folded ciphertext minus
Σ z_i·v_i·G encrypts 0. Each branch costs a 128-bit challenge and a response: 48 bytes.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from crypto import group
from crypto.elgamal import CIPHERTEXT_SIZE, ONE, Ciphertext, encrypt_fresh
from crypto.encoding import Base64Error, b64decode, b64encode
from crypto.group import IDENTITY, ZERO, GroupError, RandomSource

LAYOUT_VERSION = 1
HEADER = struct.Struct(">BBBH")  # version, grades, blank flag, rows
BRANCH_SIZE = 48  # challenge (16 bytes LE) ‖ response (32 bytes LE)
CHALLENGE_SIZE = 16
TWO_128 = 1 << 128
ROW_PURPOSE = "ballot-row"
WEIGHT_PURPOSE = "ballot-weight"
SIGNATURE_PREFIX = b"scrutin-ballot/v2\x00"
BLANK = "blank"

# Why a ballot is invalid, in the order the checks apply (docs/audit-log.md).
REASONS = (
    "bad-layout",
    "wrong-grades",
    "wrong-blank",
    "unknown-candidate",
    "candidate-order",
    "wrong-row-count",
    "invalid-point",
    "invalid-scalar",
    "proof-failed",
)


class InvalidBallot(ValueError):
    """A ballot that is not valid; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RoundParams:
    """What a ballot is built and checked against: the log, the round, its key and list."""

    origin: str
    round: int
    election_key: bytes  # h, 32 bytes
    candidates: tuple[str, ...]  # the round-open's list, in its order
    n_grades: int
    allow_blank: bool
    subset_size: int = 0  # 0 = every candidate on each ballot

    @property
    def rows_per_ballot(self) -> int:
        n = len(self.candidates)
        return n if self.subset_size <= 0 or self.subset_size >= n else self.subset_size

    @property
    def branches(self) -> int:
        return self.n_grades + (1 if self.allow_blank else 0)


@dataclass(frozen=True)
class Row:
    candidate: str
    cells: tuple[Ciphertext, ...]  # the n − 1 explicit cells
    proof: tuple[tuple[int, bytes], ...]  # (challenge < 2^128, response) per branch


@dataclass(frozen=True)
class EncryptedBallot:
    n_grades: int
    blank: Ciphertext | None
    rows: tuple[Row, ...]
    indexes: tuple[int, ...]  # each row's position in the round's candidate list

    def all_cells(self, row: Row) -> list[Ciphertext]:
        """The row's n cells, the implicit last one included."""
        last = ONE
        if self.blank is not None:
            last = last - self.blank
        for ct in row.cells:
            last = last - ct
        return [*row.cells, last]


# -- layout --------------------------------------------------------------------------------
def blob_size(n_grades: int, rows: int, blank: bool) -> int:
    branches = n_grades + (1 if blank else 0)
    row = (n_grades - 1) * CIPHERTEXT_SIZE + branches * BRANCH_SIZE
    return HEADER.size + 2 * rows + (CIPHERTEXT_SIZE if blank else 0) + rows * row


def pack(ballot: EncryptedBallot) -> bytes:
    blank = ballot.blank is not None
    out = [HEADER.pack(LAYOUT_VERSION, ballot.n_grades, int(blank), len(ballot.rows))]
    out += [i.to_bytes(2, "big") for i in ballot.indexes]
    if ballot.blank is not None:
        out.append(ballot.blank.to_bytes())
    for row in ballot.rows:
        out += [ct.to_bytes() for ct in row.cells]
        out += [c.to_bytes(CHALLENGE_SIZE, "little") + s for c, s in row.proof]
    return b"".join(out)


def unpack(blob: bytes, params: RoundParams) -> EncryptedBallot:
    """Parse a blob against its round; :class:`InvalidBallot` for the layout checks (reasons
    1 to 6 of the spec). Points and scalars are not validated here (see :func:`verify`)."""
    if len(blob) < HEADER.size:
        raise InvalidBallot("bad-layout", "shorter than the header")
    version, n_grades, blank_flag, n_rows = HEADER.unpack_from(blob)
    if version != LAYOUT_VERSION or blank_flag not in (0, 1) or n_rows == 0 or n_grades < 2:
        raise InvalidBallot("bad-layout", "unknown version, flag or empty ballot")
    if len(blob) != blob_size(n_grades, n_rows, bool(blank_flag)):
        raise InvalidBallot("bad-layout", f"{len(blob)} bytes do not match the header")
    if n_grades != params.n_grades:
        raise InvalidBallot("wrong-grades", f"{n_grades} grades, the round has {params.n_grades}")
    if bool(blank_flag) != params.allow_blank:
        raise InvalidBallot("wrong-blank", "blank cell present iff the round allows blank")
    at = HEADER.size
    indexes = tuple(int.from_bytes(blob[at + 2 * i : at + 2 * i + 2], "big") for i in range(n_rows))
    at += 2 * n_rows
    if any(i >= len(params.candidates) for i in indexes):
        raise InvalidBallot("unknown-candidate", "a row's index is past the round's list")
    if any(a >= b for a, b in itertools.pairwise(indexes)):
        raise InvalidBallot("candidate-order", "rows not in strictly increasing round order")
    if n_rows != params.rows_per_ballot:
        raise InvalidBallot("wrong-row-count", f"{n_rows} rows, expected {params.rows_per_ballot}")
    blank = None
    if blank_flag:
        blank = _raw_ct(blob[at : at + CIPHERTEXT_SIZE])
        at += CIPHERTEXT_SIZE
    branches = n_grades + blank_flag
    rows = []
    for index in indexes:
        cells = []
        for _ in range(n_grades - 1):
            cells.append(_raw_ct(blob[at : at + CIPHERTEXT_SIZE]))
            at += CIPHERTEXT_SIZE
        proof = []
        for _ in range(branches):
            c = int.from_bytes(blob[at : at + CHALLENGE_SIZE], "little")
            proof.append((c, blob[at + CHALLENGE_SIZE : at + BRANCH_SIZE]))
            at += BRANCH_SIZE
        rows.append(Row(params.candidates[index], tuple(cells), tuple(proof)))
    return EncryptedBallot(n_grades, blank, tuple(rows), indexes)


def _raw_ct(data: bytes) -> Ciphertext:
    return Ciphertext(bytes(data[:32]), bytes(data[32:]))


# -- the row proof -------------------------------------------------------------------------
def _context(params: RoundParams, credential: bytes, candidate: str) -> list[bytes]:
    return [
        params.origin.encode("ascii"),
        str(params.round).encode("ascii"),
        bytes(credential),
        candidate.encode("ascii"),
        params.election_key,
    ]


def _statement(cells: Sequence[Ciphertext], blank: Ciphertext | None) -> bytes:
    return b"".join(ct.to_bytes() for ct in cells) + (blank.to_bytes() if blank else b"")


def _positions(n_grades: int, blank: bool) -> list[bytes]:
    names = [str(i).encode("ascii") for i in range(n_grades - 1)]
    return names + ([BLANK.encode("ascii")] if blank else [])


def row_weights(
    context: Sequence[bytes], statement: bytes, n_grades: int, blank: bool
) -> list[bytes]:
    """z_i = H128("ballot-weight"; context…, statement, position) per explicit cell and the
    blank cell, as scalars."""
    return [
        group.hash_to_challenge128(WEIGHT_PURPOSE, [*context, statement, pos])
        for pos in _positions(n_grades, blank)
    ]


def _targets(weights: Sequence[bytes], n_grades: int, blank: bool) -> list[bytes]:
    """T_k = Σ z_i·v_k,i·G for each branch k: z_k·G for grades 0 … n − 2, the identity for
    grade n − 1, z_blank·G for blank."""
    targets = [group.base_mul(z) for z in weights[: n_grades - 1]]
    targets.append(IDENTITY)
    if blank:
        targets.append(group.base_mul(weights[-1]))
    return targets


def _fold(weights: Sequence[bytes], cts: Sequence[Ciphertext]) -> Ciphertext:
    """Σ z_i·ct_i. Every point goes through libsodium's scalar multiplication, which refuses
    a point that is not canonical, not on the curve, of small order or outside the prime-order
    subgroup (GroupError); a zero weight gets an explicit check instead."""
    alpha = beta = IDENTITY
    for z, ct in zip(weights, cts, strict=True):
        if ct.alpha == IDENTITY or ct.beta == IDENTITY:
            raise GroupError("the identity is not a valid point")
        if z == ZERO:
            group.point(ct.alpha)
            group.point(ct.beta)
        alpha = group.add(alpha, group.mul(z, ct.alpha))
        beta = group.add(beta, group.mul(z, ct.beta))
    return Ciphertext(alpha, beta)


def _commitments(
    folded: Ciphertext, target: bytes, c: int, s: bytes, public_key: bytes
) -> tuple[bytes, bytes]:
    """X = s·G − c·α*, Y = s·h − c·(β* − T)."""
    cs = group.scalar_from_int(c)
    x = group.sub(group.base_mul(s), group.mul(cs, folded.alpha))
    y = group.sub(group.mul(s, public_key), group.mul(cs, group.sub(folded.beta, target)))
    return x, y


def prove_row(
    params: RoundParams,
    credential: bytes,
    candidate: str,
    cells: Sequence[Ciphertext],
    randomness: Sequence[bytes],
    blank: tuple[Ciphertext, bytes] | None,
    branch: int,
    rng: RandomSource | None = None,
) -> tuple[tuple[int, bytes], ...]:
    """The row's proof for the true ``branch`` (the grade, or n_grades for a blank ballot).

    Draws, in this order: w (the true branch's nonce), then for each other branch in order
    its response s_k and its challenge c_k (the first 16 bytes of one 64-byte draw, LE).
    A cheating prover (a branch that is not the truth) gets a proof that does not verify.
    """
    h = params.election_key
    context = _context(params, credential, candidate)
    has_blank = blank is not None
    all_cts = [*cells, *([blank[0]] if blank else [])]
    all_rs = [*randomness, *([blank[1]] if blank else [])]
    statement = _statement(cells, blank[0] if blank else None)
    weights = row_weights(context, statement, params.n_grades, has_blank)
    folded = _fold(weights, all_cts)
    r_folded = ZERO
    for z, r in zip(weights, all_rs, strict=True):
        r_folded = group.scalar_add(r_folded, group.scalar_mul(z, r))
    targets = _targets(weights, params.n_grades, has_blank)
    draw = rng or group.system_random
    w = group.random_scalar(draw)
    responses: dict[int, tuple[int, bytes]] = {}
    commitments: list[bytes] = []
    for k, target in enumerate(targets):
        if k == branch:
            commitments += [group.base_mul(w), group.mul(w, h)]
            continue
        s_k = group.random_scalar(draw)
        c_k = int.from_bytes(draw()[:CHALLENGE_SIZE], "little")
        responses[k] = (c_k, s_k)
        commitments += _commitments(folded, target, c_k, s_k, h)
    c = group.scalar_to_int(
        group.hash_to_challenge128(ROW_PURPOSE, [*context, statement, *commitments])
    )
    c_true = (c - sum(ck for ck, _ in responses.values())) % TWO_128
    s_true = group.scalar_add(w, group.scalar_mul(group.scalar_from_int(c_true), r_folded))
    responses[branch] = (c_true, s_true)
    return tuple(responses[k] for k in range(len(targets)))


def _fold_row(
    params: RoundParams, credential: bytes, ballot: EncryptedBallot, row: Row
) -> tuple[list[bytes], bytes, list[bytes], Ciphertext]:
    """The row's context, statement, weights and folded ciphertext (check 7: every point of
    the row is valid, else :class:`InvalidBallot` ``invalid-point``)."""
    context = _context(params, credential, row.candidate)
    statement = _statement(row.cells, ballot.blank)
    weights = row_weights(context, statement, ballot.n_grades, ballot.blank is not None)
    try:
        folded = _fold(weights, [*row.cells, *([ballot.blank] if ballot.blank else [])])
    except GroupError as exc:
        raise InvalidBallot("invalid-point", f"row {row.candidate}") from exc
    return context, statement, weights, folded


def _check_row_proof(
    params: RoundParams,
    ballot: EncryptedBallot,
    row: Row,
    folded_row: tuple[list[bytes], bytes, list[bytes], Ciphertext],
) -> None:
    context, statement, weights, folded = folded_row
    targets = _targets(weights, ballot.n_grades, ballot.blank is not None)
    commitments: list[bytes] = []
    for (c_k, s_k), target in zip(row.proof, targets, strict=True):
        commitments += _commitments(folded, target, c_k, s_k, params.election_key)
    c = group.scalar_to_int(
        group.hash_to_challenge128(ROW_PURPOSE, [*context, statement, *commitments])
    )
    if sum(c_k for c_k, _ in row.proof) % TWO_128 != c:
        raise InvalidBallot("proof-failed", f"row {row.candidate}")


def verify_rows(params: RoundParams, credential: bytes, ballot: EncryptedBallot) -> None:
    """Checks 7 to 9 of the spec, each over the whole ballot before the next, so the reason
    is the first that applies: every point, then every response, then every row's proof."""
    folded = [_fold_row(params, credential, ballot, row) for row in ballot.rows]
    for row in ballot.rows:
        if not all(group.is_scalar(s) for _, s in row.proof):
            raise InvalidBallot("invalid-scalar", f"row {row.candidate}")
    for row, folded_row in zip(ballot.rows, folded, strict=True):
        _check_row_proof(params, ballot, row, folded_row)


# -- ballots -------------------------------------------------------------------------------
def signed_message(origin: str, round_number: int, blob: bytes) -> bytes:
    return (
        SIGNATURE_PREFIX
        + origin.encode("ascii")
        + b"\x00"
        + str(round_number).encode("ascii")
        + b"\x00"
        + blob
    )


def encrypt_ballot(
    params: RoundParams,
    candidates: Sequence[str],
    grades: Mapping[str, int] | None,
    credential: bytes,
    rng: RandomSource | None = None,
) -> EncryptedBallot:
    """Encrypt and prove a ballot: ``candidates`` is the voter's ballot (their subset, or the
    round's list), ``grades`` a grade index for each of them, or None for a blank ballot.

    Draws, in this order: the blank cell's r (when the round allows blank), each row's
    explicit cells' r (rows in round order, grades in order), then each row's proof
    (:func:`prove_row`). ValueError for a ballot the round does not allow.
    """
    position = {c: i for i, c in enumerate(params.candidates)}
    if len(set(candidates)) != len(candidates) or any(c not in position for c in candidates):
        raise ValueError("the ballot's candidates must be distinct candidates of the round")
    if len(candidates) != params.rows_per_ballot:
        raise ValueError(f"a ballot of this round has {params.rows_per_ballot} candidates")
    order = sorted(candidates, key=position.__getitem__)
    n = params.n_grades
    if grades is None:
        if not params.allow_blank:
            raise ValueError("this round does not allow blank ballots")
    elif set(grades) != set(candidates) or any(
        isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < n for g in grades.values()
    ):
        raise ValueError("grade every candidate of the ballot with a grade of the scale")
    h = params.election_key
    blank = None
    if params.allow_blank:
        blank = encrypt_fresh(1 if grades is None else 0, h, rng)
    cells: dict[str, list[tuple[Ciphertext, bytes]]] = {}
    for cand in order:
        grade = None if grades is None else grades[cand]
        cells[cand] = [encrypt_fresh(1 if grade == i else 0, h, rng) for i in range(n - 1)]
    rows = []
    for cand in order:
        branch = n if grades is None else grades[cand]
        cts = [ct for ct, _ in cells[cand]]
        proof = prove_row(
            params, credential, cand, cts, [r for _, r in cells[cand]], blank, branch, rng
        )
        rows.append(Row(cand, tuple(cts), proof))
    return EncryptedBallot(
        n, blank[0] if blank else None, tuple(rows), tuple(position[c] for c in order)
    )


def build_ballot(
    params: RoundParams,
    candidates: Sequence[str],
    grades: Mapping[str, int] | None,
    signing_key: SigningKey,
    rng: RandomSource | None = None,
) -> dict[str, object]:
    """The `ballot` entry body: encrypted, proved and signed with the voter's credential.

    The same entry point serves the no-JavaScript booth, where the service holds the
    assisted credential's signing key and encrypts on the voter's behalf.
    """
    credential = bytes(signing_key.verify_key)
    blob = pack(encrypt_ballot(params, candidates, grades, credential, rng))
    sig = signing_key.sign(signed_message(params.origin, params.round, blob)).signature
    return {
        "round": params.round,
        "encrypted": b64encode(blob),
        "credential": b64encode(credential),
        "credential_sig": b64encode(sig),
    }


encrypt_for_assisted_voter = build_ballot


def verify(params: RoundParams, credential: bytes, blob: bytes) -> EncryptedBallot:
    """The ballot if every check of the spec holds, else :class:`InvalidBallot` with the
    first reason that applies. (The credential signature is checked by
    :func:`check_signature`: a bad one is a forged entry, not an invalid ballot.)"""
    ballot = unpack(blob, params)
    verify_rows(params, credential, ballot)
    return ballot


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str  # "" when valid
    ballot: EncryptedBallot | None


def check(params: RoundParams, credential: bytes, blob: bytes) -> Verdict:
    try:
        return Verdict(True, "", verify(params, credential, blob))
    except InvalidBallot as exc:
        return Verdict(False, exc.reason, None)


def check_signature(origin: str, body: Mapping[str, Any]) -> bool:
    """Whether ``credential_sig`` is the credential's signature of the ballot's blob (a body
    of the wrong shape is refused, not raised)."""
    try:
        credential = b64decode(body["credential"], length=32, what="credential")
        sig = b64decode(body["credential_sig"], length=64, what="credential_sig")
        blob = b64decode(body["encrypted"], what="encrypted")
        VerifyKey(credential).verify(signed_message(origin, int(body["round"]), blob), sig)
    except (KeyError, TypeError, ValueError, Base64Error, BadSignatureError):
        return False
    return True


# -- homomorphic sums ----------------------------------------------------------------------
@dataclass
class Sums:
    """Sums of counted ballots: per candidate, one ciphertext per grade (the implicit last
    cell included) and the number of ballots listing it; the blank cells' sum."""

    n_grades: int
    ballots: int = 0
    rows: dict[str, list[Ciphertext]] = field(default_factory=dict)
    listed: dict[str, int] = field(default_factory=dict)
    blank: Ciphertext | None = None

    def add(self, ballot: EncryptedBallot) -> None:
        self.ballots += 1
        if ballot.blank is not None:
            self.blank = ballot.blank if self.blank is None else self.blank + ballot.blank
        for row in ballot.rows:
            cells = ballot.all_cells(row)
            acc = self.rows.get(row.candidate)
            self.rows[row.candidate] = (
                cells if acc is None else [a + b for a, b in zip(acc, cells, strict=True)]
            )
            self.listed[row.candidate] = self.listed.get(row.candidate, 0) + 1


def sum_ballots(n_grades: int, ballots: Iterable[EncryptedBallot]) -> Sums:
    sums = Sums(n_grades)
    for ballot in ballots:
        sums.add(ballot)
    return sums
