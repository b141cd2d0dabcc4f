"""Sealed ballots (docs/audit-log.md §8): X25519 tally keys and NaCl SealedBox.

Plaintext: JCS of {"round": int, "grades": {candidate: grade index}, "pad": " " * k}. The pad
brings every ballot of a round to the same plaintext length, so the size of a sealed ballot
says nothing about how many candidates it grades. That length is fixed per round by
`ballot_plaintext_size` from the round's candidate list and grade count.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import nacl.exceptions
import nacl.public

from crypto import canonical
from crypto.encoding import Base64Error, b64decode

SEAL_OVERHEAD = nacl.public.PublicKey.SIZE + 16  # ephemeral public key + Poly1305 MAC
BallotStatus = Literal["valid", "blank", "invalid"]


class OpenedBallot(NamedTuple):
    status: BallotStatus
    grades: dict[str, int]
    reason: str


class TallyKeyPair(NamedTuple):
    secret_key: bytes
    public_key: bytes


def generate_tally_keypair() -> TallyKeyPair:
    """A fresh X25519 key pair for one round (32-byte secret, 32-byte public)."""
    key = nacl.public.PrivateKey.generate()
    return TallyKeyPair(bytes(key), bytes(key.public_key))


def check_tally_key(secret_key: bytes, public_key: bytes) -> bool:
    """Whether a revealed secret key is the one behind the round's published public key."""
    try:
        derived = bytes(nacl.public.PrivateKey(bytes(secret_key)).public_key)
    except (TypeError, ValueError, nacl.exceptions.CryptoError):
        return False
    return len(public_key) == 32 and derived == bytes(public_key)


def _plaintext(round_number: int, grades: Mapping[str, int], pad: str) -> bytes:
    return canonical.dumps({"round": round_number, "grades": dict(grades), "pad": pad})


def ballot_plaintext_size(round_number: int, candidates: Sequence[str], n_grades: int) -> int:
    """Padded plaintext length for a round: the longest possible ballot, with an empty pad.

    That is every candidate of the round graded with the widest grade index.
    """
    if n_grades < 1:
        raise ValueError("a grade scale has at least one grade")
    widest = n_grades - 1
    return len(_plaintext(round_number, dict.fromkeys(candidates, widest), ""))


def _check_ballot(round_number: int, grades: Mapping[str, int]) -> None:
    if isinstance(round_number, bool) or not isinstance(round_number, int) or round_number < 1:
        raise ValueError(f"round must be an int >= 1, got {round_number!r}")
    for candidate, grade in grades.items():
        if not isinstance(candidate, str):
            raise ValueError(f"candidate id {candidate!r} is not a string")
        if isinstance(grade, bool) or not isinstance(grade, int) or grade < 0:
            raise ValueError(f"grade for {candidate} must be an int >= 0, got {grade!r}")


def ballot_plaintext(round_number: int, grades: Mapping[str, int], *, pad_to: int) -> bytes:
    """The padded canonical plaintext; ValueError if the ballot is longer than pad_to."""
    _check_ballot(round_number, grades)
    bare = len(_plaintext(round_number, grades, ""))
    if bare > pad_to:
        raise ValueError(f"ballot plaintext is {bare} bytes, more than pad_to={pad_to}")
    plaintext = _plaintext(round_number, grades, " " * (pad_to - bare))
    assert len(plaintext) == pad_to
    return plaintext


def seal_ballot(
    public_key: bytes, round_number: int, grades: Mapping[str, int], *, pad_to: int
) -> bytes:
    """SealedBox of the padded plaintext to the round's tally public key.

    The result is always pad_to + SEAL_OVERHEAD (48) bytes.
    """
    plaintext = ballot_plaintext(round_number, grades, pad_to=pad_to)
    box = nacl.public.SealedBox(nacl.public.PublicKey(bytes(public_key)))
    return bytes(box.encrypt(plaintext))


def _invalid(reason: str) -> OpenedBallot:
    return OpenedBallot("invalid", {}, reason)


def open_ballot(
    secret_key: bytes,
    sealed: bytes | str,
    round_number: int,
    candidates: Sequence[str],
    n_grades: int,
    *,
    allow_blank: bool = True,
    subset_size: int = 0,
) -> OpenedBallot:
    """Open and classify one ballot per §8: valid, blank (empty grades) or invalid + reason.

    `sealed` is the raw SealedBox or its base64 (as in the ballot entry body).
    """
    if isinstance(sealed, str):
        try:
            sealed = b64decode(sealed, what="sealed")
        except Base64Error as exc:
            return _invalid(str(exc))
    try:
        box = nacl.public.SealedBox(nacl.public.PrivateKey(bytes(secret_key)))
        plaintext = box.decrypt(bytes(sealed))
    except (nacl.exceptions.CryptoError, binascii.Error, TypeError, ValueError):
        return _invalid("does not open with the round's tally key")
    try:
        value: object = canonical.loads(plaintext)
    except canonical.CanonicalError as exc:
        return _invalid(f"plaintext is not canonical JSON: {exc}")
    if not isinstance(value, dict) or set(value) != {"round", "grades", "pad"}:
        return _invalid("plaintext is not an object with exactly round, grades, pad")
    if isinstance(value["round"], bool) or not isinstance(value["round"], int):
        return _invalid("round is not an integer")
    if not isinstance(value["pad"], str):
        return _invalid("pad is not a string")
    grades = value["grades"]
    if not isinstance(grades, dict):
        return _invalid("grades is not an object")
    if value["round"] != round_number:
        return _invalid(f"ballot is for round {value['round']}, not {round_number}")
    allowed = set(candidates)
    for candidate, grade in grades.items():
        if candidate not in allowed:
            return _invalid(f"candidate {candidate!r} is not in the round")
        if isinstance(grade, bool) or not isinstance(grade, int):
            return _invalid(f"grade for {candidate!r} is not an integer")
        if not 0 <= grade < n_grades:
            return _invalid(f"grade {grade} for {candidate!r} is outside 0..{n_grades - 1}")
    # §8: the pad only brings every ballot of the round to one length; a mark in it, or
    # another length, could sign a ballot for a buyer, so such a ballot is not counted.
    if value["pad"].strip(" "):
        return _invalid("pad holds something other than spaces")
    expected = ballot_plaintext_size(round_number, candidates, n_grades)
    if len(plaintext) != expected:
        return _invalid(f"plaintext is {len(plaintext)} bytes, not the round's {expected}")
    # §8: an honest booth shows each voter only `subset_size` candidates (0 = all of them).
    if 0 < subset_size < len(grades):
        return _invalid(f"{len(grades)} candidates graded, the round shows {subset_size}")
    if not grades:
        if not allow_blank:
            return _invalid("blank ballot in a round that does not allow blank ballots")
        return OpenedBallot("blank", {}, "")
    return OpenedBallot("valid", dict(grades), "")
