"""Opening sealed ballots with the revealed tally key and classifying them (spec §8)."""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from typing import TypedDict

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from audit.canonical import CanonicalError, encode, parse

# Reasons a ballot is invalid, in the order they are tested (spec §9, check 9).
INVALID_REASONS = (
    "does-not-open",
    "not-canonical",
    "bad-shape",
    "wrong-round",
    "unknown-candidate",
    "grade-out-of-range",
    "pad-not-spaces",
    "wrong-length",
    "blank-not-allowed",
)


def padded_length(round_number: int, candidates: Collection[str], n_grades: int) -> int:
    """Length of every ballot plaintext of a round (§8): the longest ballot, empty pad."""
    widest = dict.fromkeys(candidates, n_grades - 1)
    return len(encode({"round": round_number, "grades": widest, "pad": ""}))


def public_key_of(secret_key: bytes) -> bytes:
    return bytes(PrivateKey(secret_key).public_key)


def classify(
    plaintext: bytes | None,
    round_number: int,
    candidates: Collection[str],
    n_grades: int,
    allow_blank: bool,
    expected_length: int | None = None,
    subset_size: int = 0,
) -> tuple[dict[str, int] | None, str, str]:
    """(grades or None, reason code, detail); reason is "" for a valid ballot."""
    if plaintext is None:
        return None, "does-not-open", ""
    try:
        value = parse(plaintext)
    except CanonicalError as exc:
        return None, "not-canonical", str(exc)
    if (
        type(value) is not dict
        or value.keys() != {"round", "grades", "pad"}
        or type(value["round"]) is not int
        or type(value["grades"]) is not dict
        or type(value["pad"]) is not str
    ):
        return None, "bad-shape", ""
    if value["round"] != round_number:
        return None, "wrong-round", str(value["round"])
    grades: dict[str, int] = value["grades"]
    for cand, grade in grades.items():
        if cand not in candidates:
            return None, "unknown-candidate", cand
        if type(grade) is not int or not 0 <= grade < n_grades:
            return None, "grade-out-of-range", f"{cand}={grade}"
    # The pad exists only to give every ballot of the round one length: anything else in it
    # (or another length) could mark a ballot for a buyer to find once the key is out.
    if value["pad"].strip(" "):
        return None, "pad-not-spaces", repr(value["pad"][:20])
    if expected_length is None:
        expected_length = padded_length(round_number, candidates, n_grades)
    if len(plaintext) != expected_length:
        return None, "wrong-length", f"{len(plaintext)} != {expected_length}"
    # An honest booth shows only `subset_size` candidates (0 = all): more grades mark a ballot.
    if 0 < subset_size < len(grades):
        return None, "too-many-graded", f"{len(grades)} > {subset_size}"
    if not grades and not allow_blank:
        return None, "blank-not-allowed", ""
    return grades, "", ""


def open_sealed(secret_key: bytes, sealed: bytes) -> bytes | None:
    try:
        return SealedBox(PrivateKey(secret_key)).decrypt(sealed)
    except (CryptoError, ValueError, TypeError):
        return None


class OpenedChunk(TypedDict):
    """One chunk's opened ballots: profiles in the round's candidate order, the entries
    refused (index, reason, detail)."""

    profiles: list[list[int]]
    valid: int
    blank: int
    invalid: list[tuple[int, str, str]]


def open_chunk(
    args: tuple[bytes, int, Sequence[str], int, bool, int, Sequence[tuple[int, bytes]]],
) -> OpenedChunk:
    """Open and classify the ballot entries of one chunk; aggregate their profiles."""
    secret_key, round_number, candidates, n_grades, allow_blank, subset_size, items = args
    box = SealedBox(PrivateKey(secret_key))
    position = {c: i for i, c in enumerate(candidates)}
    expected_length = padded_length(round_number, candidates, n_grades)
    profiles = [[0] * n_grades for _ in candidates]
    valid = blank = 0
    invalid: list[tuple[int, str, str]] = []
    for index, raw in items:
        # The entry passed check 4: canonical, so its only "sealed" member is the body's.
        start = raw.index(b'"sealed":"') + 10
        sealed = base64.b64decode(raw[start : raw.index(b'"', start)])
        try:
            plaintext: bytes | None = box.decrypt(sealed)
        except (CryptoError, ValueError, TypeError):
            plaintext = None
        grades, reason, detail = classify(
            plaintext, round_number, position, n_grades, allow_blank, expected_length, subset_size
        )
        if grades is None:
            invalid.append((index, reason, detail))
        elif not grades:
            blank += 1
        else:
            valid += 1
            for cand, grade in grades.items():
                profiles[position[cand]][grade] += 1
    return {"profiles": profiles, "valid": valid, "blank": blank, "invalid": invalid}
