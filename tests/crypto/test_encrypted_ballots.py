"""Encrypted ballots: the spec's worked examples (executed from docs/audit-log.md), proofs that
reject every forged or altered ballot, the layout's invalid reasons, and homomorphic sums."""

from __future__ import annotations

import base64
import hashlib
import pathlib
import random
import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from crypto import elgamal, group
from crypto import encrypted_ballots as eb
from crypto.elgamal import Ciphertext
from crypto.encrypted_ballots import EncryptedBallot, RoundParams, Row
from crypto.entries import make_entry

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "audit-log.md").read_text(encoding="utf-8")
FAST = settings(max_examples=15, deadline=None)

ORIGIN = "scrutin.localhost/primaries/demo"
X = group.scalar_reduce(hashlib.sha512(b"test election key").digest())
H = group.base_mul(X)
VOTER = SigningKey(bytes([9]) * 32)
CRED = bytes(VOTER.verify_key)
CANDS = tuple(str(uuid.UUID(int=i + 1)) for i in range(4))
SMALL = RoundParams(ORIGIN, 1, H, CANDS[:2], 3, True, 0)
SUBSET = RoundParams(ORIGIN, 2, H, CANDS, 3, True, 2)


def ballot_section() -> str:
    match = re.search(r"^### The encrypted ballot\n.*?(?=^### |^## |\Z)", SPEC, re.M | re.S)
    assert match, "docs/audit-log.md has no '### The encrypted ballot'"
    return match.group(0)


def find(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.S)
    assert match, f"the spec no longer says {pattern!r}"
    return match


def decrypt_profile(ballot: EncryptedBallot, x: bytes = X) -> tuple[dict[str, list[int]], int]:
    def m(ct: Ciphertext) -> int:
        value = elgamal.small_dlog(elgamal.decrypt_point(ct, x), 3)
        assert value is not None, "a cell is not a small count"
        return value

    rows = {row.candidate: [m(ct) for ct in ballot.all_cells(row)] for row in ballot.rows}
    return rows, (m(ballot.blank) if ballot.blank else 0)


# -- the worked examples -------------------------------------------------------------------
def test_worked_example_small_ballot_from_the_spec() -> None:
    text = ballot_section()
    x = bytes.fromhex(find(r"election secret `x` = `([0-9a-f]{64})`", text).group(1))
    h = base64.b64decode(find(r"election key h = x·G =\s*`([^`]+)`", text).group(1))
    assert x == group.scalar_reduce(hashlib.sha512(b"scrutin example election key").digest())
    assert h == group.base_mul(x)
    first, second = find(
        r"`candidates` are\s*`([0-9a-f-]{36})` then `([0-9a-f-]{36})`", text
    ).groups()
    seed = find(r'b"scrutin-example/v2\\x00" \+ b"([^"]+)"', text).group(1).encode()
    blob_text = find(r"The blob \(713 bytes\) is\s*\n\n    (\S+)\n", text).group(1)
    blob = base64.b64decode(blob_text)
    assert len(blob) == 713
    assert hashlib.sha256(blob).hexdigest() == find(r"\(SHA-256 `([0-9a-f]{64})`\)", text).group(1)
    sig = find(r"its\s+`credential_sig` is\s*`([^`]+)`", text).group(1)

    params = RoundParams(ORIGIN, 1, h, (first, second), 3, True, 0)
    voter = SigningKey(bytes([1]) * 32)
    body = eb.build_ballot(
        params, [second, first], {first: 2, second: 0}, voter, group.seeded_random(seed)
    )
    assert body == {
        "round": 1,
        "encrypted": blob_text,
        "credential": "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=",
        "credential_sig": sig,
    }
    assert eb.check_signature(ORIGIN, body)
    ballot = eb.verify(params, bytes(voter.verify_key), blob)
    assert ballot.indexes == (0, 1) and blob[:5] == bytes([1, 3, 1, 0, 2])
    rows, blank = decrypt_profile(ballot, x)
    assert rows == {first: [0, 0, 1], second: [1, 0, 0]} and blank == 0

    z0 = find(r"`z_0` = `([0-9a-f]{32})`", text).group(1)
    row = ballot.rows[0]
    context = [ORIGIN.encode(), b"1", bytes(voter.verify_key), first.encode(), h]
    weights = eb.row_weights(
        context, b"".join(ct.to_bytes() for ct in row.cells) + ballot.blank.to_bytes(), 3, True
    )  # type: ignore[union-attr]
    assert weights[0][:16].hex() == z0
    c = int(find(r"challenges add up to `c` = `(\d+)`", text).group(1))
    assert sum(ck for ck, _ in row.proof) % 2**128 == c


def test_worked_example_twelve_by_seven_and_its_size() -> None:
    text = ballot_section()
    h = base64.b64decode(find(r"election key h = x·G =\s*`([^`]+)`", text).group(1))
    cands = tuple(str(uuid.UUID(int=i)) for i in range(1, 13))
    assert cands[0] == "00000000-0000-0000-0000-000000000001"
    assert cands[-1] == "00000000-0000-0000-0000-00000000000c"
    params = RoundParams(ORIGIN, 1, h, cands, 7, True, 0)
    seed = find(r"draws seeded with `([^`]+)`", text).group(1).encode()
    body = eb.build_ballot(
        params,
        list(cands),
        {c: k % 7 for k, c in enumerate(cands)},
        SigningKey(bytes([1]) * 32),
        group.seeded_random(seed),
    )
    blob = base64.b64decode(body["encrypted"])  # type: ignore[arg-type]
    size, prefix, digest = find(
        r"the blob\s+is ([\d,]+) bytes, begins `([^`]+)` and\s+has SHA-256 `([0-9a-f]{64})`", text
    ).groups()
    assert len(blob) == int(size.replace(",", "")) == eb.blob_size(7, 12, True)
    assert body["encrypted"].startswith(prefix)  # type: ignore[attr-defined]
    assert hashlib.sha256(blob).hexdigest() == digest
    log_key = SigningKey(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    entry = make_entry(
        origin=ORIGIN,
        primary="0b9d6b5c-6b1e-4c1a-9a57-2f3d1c8e7a10",
        kind="ballot",
        time=1700000000,
        body=body,
        signing_key=log_key,
    )
    entry_size = find(r"1700000000\) it is ([\d,]+) bytes", text).group(1)
    assert len(entry) == int(entry_size.replace(",", ""))
    assert len(entry) <= 17_408  # the size goal for 12 candidates x 7 grades
    # The layout formula printed in the spec.
    assert eb.blob_size(7, 5, True) == 5 + 2 * 5 + 64 + 5 * (6 * 64 + 8 * 48) == 3_919


# -- honest ballots ------------------------------------------------------------------------
@FAST
@given(st.lists(st.integers(min_value=0, max_value=2), min_size=2, max_size=2), st.booleans())
def test_honest_ballots_verify_and_decrypt(grades: list[int], blank: bool) -> None:
    choice = None if blank else dict(zip(CANDS[:2], grades, strict=True))
    body = eb.build_ballot(SMALL, list(CANDS[:2]), choice, VOTER)
    blob = base64.b64decode(body["encrypted"])  # type: ignore[arg-type]
    ballot = eb.verify(SMALL, CRED, blob)
    rows, b = decrypt_profile(ballot)
    assert b == int(blank)
    for cand, grade in zip(CANDS[:2], grades, strict=True):
        assert rows[cand] == ([0, 0, 0] if blank else [int(g == grade) for g in range(3)])


def test_a_round_without_blank_has_no_blank_cell() -> None:
    params = RoundParams(ORIGIN, 1, H, CANDS[:2], 2, False, 0)
    blob = eb.pack(eb.encrypt_ballot(params, list(CANDS[:2]), {CANDS[0]: 1, CANDS[1]: 0}, CRED))
    assert blob[2] == 0 and len(blob) == eb.blob_size(2, 2, False) == 5 + 4 + 2 * (64 + 96)
    rows, _ = decrypt_profile(eb.verify(params, CRED, blob))
    assert rows == {CANDS[0]: [0, 1], CANDS[1]: [1, 0]}
    with pytest.raises(ValueError, match="blank"):
        eb.encrypt_ballot(params, list(CANDS[:2]), None, CRED)


def test_producer_refuses_a_ballot_the_round_does_not_allow() -> None:
    for cands, grades in [
        ([CANDS[0]], {CANDS[0]: 1}),  # too few rows
        (list(CANDS[:2]), {CANDS[0]: 1}),  # a candidate not graded
        (list(CANDS[:2]), {CANDS[0]: 1, CANDS[1]: 3}),  # a grade off the scale
        ([CANDS[0], CANDS[3]], {CANDS[0]: 1, CANDS[3]: 0}),  # not a candidate of the round
        ([CANDS[0], CANDS[0]], {CANDS[0]: 1}),
    ]:
        with pytest.raises(ValueError):
            eb.encrypt_ballot(SMALL, cands, grades, CRED)


# -- forged and altered ballots ------------------------------------------------------------
def honest_blob(params: RoundParams = SMALL, grades: dict[str, int] | None = None) -> bytes:
    cands = list(params.candidates[: params.rows_per_ballot])
    choice = grades if grades is not None else {c: 1 for c in cands}
    return eb.pack(eb.encrypt_ballot(params, cands, choice, CRED))


def reason(params: RoundParams, blob: bytes, credential: bytes = CRED) -> str:
    verdict = eb.check(params, credential, blob)
    assert not verdict.valid
    return verdict.reason


@FAST
@given(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=2**64))
def test_an_altered_ciphertext_is_rejected(cell: int, shift: int) -> None:
    """Any cell (4 explicit cells and the blank cell) moved to another valid ciphertext: a
    re-encryption (same plaintext, other randomness) or a shifted plaintext."""
    ballot = eb.unpack(honest_blob(), SMALL)
    delta = elgamal.encrypt(shift % 2, H, group.scalar_from_int(shift))
    if cell == 4:
        altered = EncryptedBallot(3, ballot.blank + delta, ballot.rows, ballot.indexes)  # type: ignore[operator]
    else:
        rows = list(ballot.rows)
        row = rows[cell // 2]
        cells = list(row.cells)
        cells[cell % 2] = cells[cell % 2] + delta
        rows[cell // 2] = Row(row.candidate, tuple(cells), row.proof)
        altered = EncryptedBallot(3, ballot.blank, tuple(rows), ballot.indexes)
    assert reason(SMALL, eb.pack(altered)) == "proof-failed"


@FAST
@given(st.integers(min_value=0, max_value=1), st.integers(min_value=0, max_value=3), st.booleans())
def test_an_altered_proof_is_rejected(row_index: int, branch: int, in_challenge: bool) -> None:
    ballot = eb.unpack(honest_blob(), SMALL)
    rows = list(ballot.rows)
    row = rows[row_index]
    proof = list(row.proof)
    c, s = proof[branch]
    if in_challenge:
        proof[branch] = ((c + 1) % 2**128, s)
    else:
        proof[branch] = (c, group.scalar_add(s, group.ONE))
    rows[row_index] = Row(row.candidate, row.cells, tuple(proof))
    altered = EncryptedBallot(3, ballot.blank, tuple(rows), ballot.indexes)
    assert reason(SMALL, eb.pack(altered)) == "proof-failed"


def cheat(params: RoundParams, plaintexts: list[list[int]], blank_bit: int) -> list[bytes]:
    """A cheating prover who knows every randomness (an operator encrypting for an assisted
    voter, say) encrypts rows that are not one-hot, then tries every branch of the proof:
    one blob per claimed branch."""
    blank = elgamal.encrypt_fresh(blank_bit, H) if params.allow_blank else None
    encrypted = [[elgamal.encrypt_fresh(m, H) for m in row] for row in plaintexts]
    blobs = []
    for claimed in range(params.branches):
        rows = []
        for cand, cells in zip(params.candidates, encrypted, strict=False):
            cts = [ct for ct, _ in cells]
            proof = eb.prove_row(params, CRED, cand, cts, [r for _, r in cells], blank, claimed)
            rows.append(Row(cand, tuple(cts), proof))
        ballot = EncryptedBallot(
            params.n_grades,
            blank[0] if blank else None,
            tuple(rows),
            tuple(range(len(rows))),
        )
        blobs.append(eb.pack(ballot))
    return blobs


@pytest.mark.parametrize(
    ("first_row", "blank_bit", "what"),
    [
        ([2, 0], 0, "a cell of 2"),
        ([1, 1], 0, "a row adding up to 2 (implicit cell -1)"),
        ([0, 0], 2, "a blank bit of 2 (implicit cell -1)"),
        ([1, 0], 1, "a grade and a blank ballot at once"),
        ([0, 0], -1, "a blank bit of -1 (implicit cell 2)"),
        ([2, 0], 1, "a cell of 2 made to add up by the blank"),
        ([-1, 1], 0, "a cell of -1 and a cell of 1"),
    ],
)
def test_a_cheating_prover_is_caught(first_row: list[int], blank_bit: int, what: str) -> None:
    for blob in cheat(SMALL, [first_row, [1, 0]], blank_bit):
        assert reason(SMALL, blob) == "proof-failed", what


def test_a_cheating_prover_cannot_simulate_every_branch() -> None:
    """The best a prover without a true branch can do is simulate them all: pick every c_k
    and s_k, then hope the hash adds up. It does not."""
    ballot = eb.unpack(cheat(SMALL, [[2, 0], [1, 0]], 0)[0], SMALL)
    rng = random.Random(7)
    for _ in range(5):
        proof = tuple((rng.getrandbits(128), group.random_scalar()) for _ in range(SMALL.branches))
        rows = (Row(ballot.rows[0].candidate, ballot.rows[0].cells, proof), ballot.rows[1])
        forged = EncryptedBallot(3, ballot.blank, rows, ballot.indexes)
        assert reason(SMALL, eb.pack(forged)) == "proof-failed"


def test_a_ballot_bound_to_another_context_is_rejected() -> None:
    blob = honest_blob(SUBSET, {CANDS[0]: 2, CANDS[1]: 0})
    assert eb.check(SUBSET, CRED, blob).valid
    other = SigningKey(bytes([10]) * 32).verify_key
    assert reason(SUBSET, blob, bytes(other)) == "proof-failed"  # another voter's credential
    for changed in (
        RoundParams(ORIGIN, 3, H, CANDS, 3, True, 2),  # another round
        RoundParams("scrutin.localhost/primaries/other", 2, H, CANDS, 3, True, 2),
        RoundParams(ORIGIN, 2, group.add(H, group.G), CANDS, 3, True, 2),  # another key
        RoundParams(ORIGIN, 2, H, (CANDS[1], CANDS[0], *CANDS[2:]), 3, True, 2),
    ):
        assert reason(changed, blob) == "proof-failed"
    # Rows moved to other candidates (indexes 0, 1 -> 2, 3): the proofs name the candidate.
    moved = blob[:5] + (2).to_bytes(2, "big") + (3).to_bytes(2, "big") + blob[9:]
    assert reason(SUBSET, moved) == "proof-failed"


def test_layout_reasons_in_order() -> None:
    blob = honest_blob(SUBSET, {CANDS[0]: 2, CANDS[1]: 0})
    assert reason(SUBSET, blob[:4]) == "bad-layout"
    assert reason(SUBSET, b"\x02" + blob[1:]) == "bad-layout"
    assert reason(SUBSET, blob + b"\x00") == "bad-layout"
    assert reason(SUBSET, blob[:3] + b"\x00\x00" + blob[5:]) == "bad-layout"
    assert reason(RoundParams(ORIGIN, 2, H, CANDS, 4, True, 2), blob) == "wrong-grades"
    no_blank = RoundParams(ORIGIN, 2, H, CANDS, 3, False, 2)
    assert reason(no_blank, blob) == "wrong-blank"
    assert reason(SUBSET, blob[:7] + (4).to_bytes(2, "big") + blob[9:]) == "unknown-candidate"
    swapped = blob[:5] + (1).to_bytes(2, "big") + (0).to_bytes(2, "big") + blob[9:]
    assert reason(SUBSET, swapped) == "candidate-order"
    twice = blob[:5] + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + blob[9:]
    assert reason(SUBSET, twice) == "candidate-order"
    assert reason(RoundParams(ORIGIN, 2, H, CANDS, 3, True, 3), blob) == "wrong-row-count"
    assert reason(RoundParams(ORIGIN, 2, H, CANDS, 3, True, 0), blob) == "wrong-row-count"


SMALL_ORDER = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


@pytest.mark.parametrize(
    "bad",
    [
        group.IDENTITY,
        SMALL_ORDER,
        b"\xff" * 32,
        group.add(group.G, SMALL_ORDER),  # outside the prime-order subgroup
    ],
)
@pytest.mark.parametrize("offset", [9, 9 + 32, 9 + 64, 9 + 64 + 32 + 64])  # blank α/β, cells
def test_an_invalid_point_is_rejected(bad: bytes, offset: int) -> None:
    blob = honest_blob(SUBSET, {CANDS[0]: 2, CANDS[1]: 0})
    assert reason(SUBSET, blob[:offset] + bad + blob[offset + 32 :]) == "invalid-point"


def test_a_non_canonical_response_is_rejected() -> None:
    blob = honest_blob()
    ballot = eb.unpack(blob, SMALL)
    row = ballot.rows[1]
    c, s = row.proof[0]
    big = (group.scalar_to_int(s) + group.L).to_bytes(32, "little")
    rows = (ballot.rows[0], Row(row.candidate, row.cells, ((c, big), *row.proof[1:])))
    altered = eb.pack(EncryptedBallot(3, ballot.blank, rows, ballot.indexes))
    assert reason(SMALL, altered) == "invalid-scalar"


def test_credential_signature() -> None:
    body = eb.build_ballot(SMALL, list(CANDS[:2]), {CANDS[0]: 0, CANDS[1]: 2}, VOTER)
    assert eb.check_signature(ORIGIN, body)
    assert not eb.check_signature("scrutin.localhost/primaries/other", body)
    assert not eb.check_signature(ORIGIN, {**body, "round": 2})
    blob = bytearray(base64.b64decode(body["encrypted"]))  # type: ignore[arg-type]
    blob[-1] ^= 1
    assert not eb.check_signature(ORIGIN, {**body, "encrypted": base64.b64encode(blob).decode()})
    assert not eb.check_signature(ORIGIN, {**body, "credential_sig": "not base64"})
    assert not eb.check_signature(ORIGIN, {k: v for k, v in body.items() if k != "credential"})


# -- homomorphic sums ----------------------------------------------------------------------
@settings(max_examples=5, deadline=None)
@given(st.randoms(use_true_random=False))
def test_sums_decrypt_to_the_plaintext_profiles(rng: random.Random) -> None:
    """Random ballots on random subsets: the decrypted sums are the merit profiles and the
    blank count of the same plaintext ballots."""
    profiles = {c: [0, 0, 0] for c in CANDS}
    blanks = 0
    ballots = []
    for _ in range(6):
        chosen = sorted(rng.sample(CANDS, 2), key=CANDS.index)
        if rng.random() < 0.2:
            grades = None
            blanks += 1
        else:
            grades = {c: rng.randrange(3) for c in chosen}
            for c, g in grades.items():
                profiles[c][g] += 1
        ballots.append(
            eb.verify(SUBSET, CRED, eb.pack(eb.encrypt_ballot(SUBSET, chosen, grades, CRED)))
        )
    sums = eb.sum_ballots(3, ballots)
    assert sums.ballots == 6
    decrypted = {
        c: [elgamal.small_dlog(elgamal.decrypt_point(ct, X), 6) for ct in cts]
        for c, cts in sums.rows.items()
    }
    assert decrypted == {c: p for c, p in profiles.items() if c in sums.listed}
    assert sums.blank is not None
    assert elgamal.small_dlog(elgamal.decrypt_point(sums.blank, X), 6) == blanks


def test_the_reason_is_the_first_check_that_fails_over_the_whole_ballot() -> None:
    """A failing proof in the first row and an invalid point in the second: the invalid point
    (check 7) is reported, not the proof (check 9), whatever the row order."""
    blob = bytearray(honest_blob(SUBSET, {CANDS[0]: 2, CANDS[1]: 0}))
    first_row_proof = 9 + 64 + 2 * 64  # header, indexes, blank cell, row 1's cells
    blob[first_row_proof] ^= 1  # row 1's first challenge
    assert reason(SUBSET, bytes(blob)) == "proof-failed"
    second_row_cells = 9 + 64 + (2 * 64 + 4 * 48)
    blob[second_row_cells : second_row_cells + 32] = group.IDENTITY
    assert reason(SUBSET, bytes(blob)) == "invalid-point"
