"""Sealed ballots (docs/audit-log.md §8)."""

from __future__ import annotations

import json

import nacl.public
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import ballots, canonical
from crypto.encoding import b64encode

CANDIDATES = [
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
]
N_GRADES = 7


@pytest.fixture(scope="module")
def pair() -> ballots.TallyKeyPair:
    return ballots.generate_tally_keypair()


def test_plaintext_shape_and_padding() -> None:
    size = ballots.ballot_plaintext_size(1, CANDIDATES, N_GRADES)
    full = ballots.ballot_plaintext(1, dict.fromkeys(CANDIDATES, 6), pad_to=size)
    assert full == canonical.dumps({"round": 1, "grades": dict.fromkeys(CANDIDATES, 6), "pad": ""})
    blank = ballots.ballot_plaintext(1, {}, pad_to=size)
    assert len(blank) == size
    assert json.loads(blank) == {
        "round": 1,
        "grades": {},
        "pad": " " * (size - len(b'{"grades":{},"pad":"","round":1}')),
    }
    assert blank.startswith(b'{"grades":{},"pad":"   ')
    with pytest.raises(ValueError, match="more than pad_to"):
        ballots.ballot_plaintext(1, dict.fromkeys(CANDIDATES, 6), pad_to=size - 1)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(CANDIDATES), st.integers(0, N_GRADES - 1)),
)
def test_all_ballots_of_a_round_have_the_same_size(grades: dict[str, int]) -> None:
    public = bytes(nacl.public.PrivateKey.generate().public_key)
    size = ballots.ballot_plaintext_size(3, CANDIDATES, N_GRADES)
    sealed = ballots.seal_ballot(public, 3, grades, pad_to=size)
    assert len(sealed) == size + ballots.SEAL_OVERHEAD


def test_open_valid_and_blank(pair) -> None:
    size = ballots.ballot_plaintext_size(1, CANDIDATES, N_GRADES)
    grades = {CANDIDATES[0]: 6, CANDIDATES[2]: 0}
    sealed = ballots.seal_ballot(pair.public_key, 1, grades, pad_to=size)
    assert ballots.open_ballot(pair.secret_key, sealed, 1, CANDIDATES, N_GRADES) == (
        "valid",
        grades,
        "",
    )
    # The ballot entry body carries base64.
    opened = ballots.open_ballot(pair.secret_key, b64encode(sealed), 1, CANDIDATES, N_GRADES)
    assert opened.status == "valid"
    blank = ballots.seal_ballot(pair.public_key, 1, {}, pad_to=size)
    assert ballots.open_ballot(pair.secret_key, blank, 1, CANDIDATES, N_GRADES).status == "blank"
    refused = ballots.open_ballot(
        pair.secret_key, blank, 1, CANDIDATES, N_GRADES, allow_blank=False
    )
    assert refused.status == "invalid" and "blank" in refused.reason


def _seal_raw(public: bytes, plaintext: bytes) -> bytes:
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(public)).encrypt(plaintext))


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [
        (b'{"grades":{},"pad":"","round":2}', "round 2"),
        (b'{"grades":{"x":1},"pad":"","round":1}', "not in the round"),
        (b'{"grades":{"%s":7},"pad":"","round":1}' % CANDIDATES[0].encode(), "outside"),
        (b'{"grades":{"%s":-1},"pad":"","round":1}' % CANDIDATES[0].encode(), "outside"),
        (b'{"grades":{"%s":true},"pad":"","round":1}' % CANDIDATES[0].encode(), "integer"),
        (b'{"grades":{},"pad":"","round":1,"x":0}', "exactly"),
        (b'{"grades":[],"pad":"","round":1}', "grades"),
        (b'{"grades":{},"pad":0,"round":1}', "pad"),
        (b'{"round":1,"grades":{},"pad":""}', "canonical"),
        (b'{"grades":{},"pad":"","round":1.0}', "canonical"),
        (b"not json", "canonical"),
    ],
)
def test_invalid_plaintexts(pair, plaintext: bytes, reason: str) -> None:
    opened = ballots.open_ballot(
        pair.secret_key, _seal_raw(pair.public_key, plaintext), 1, CANDIDATES, N_GRADES
    )
    assert opened.status == "invalid" and opened.grades == {}
    assert reason in opened.reason


def test_invalid_sealing(pair) -> None:
    other = ballots.generate_tally_keypair()
    sealed = ballots.seal_ballot(other.public_key, 1, {}, pad_to=100)
    for bad in [sealed, b"short", "not base64!", b64encode(sealed)[:-1]]:
        opened = ballots.open_ballot(pair.secret_key, bad, 1, CANDIDATES, N_GRADES)
        assert opened.status == "invalid"


def test_check_tally_key(pair) -> None:
    assert ballots.check_tally_key(pair.secret_key, pair.public_key)
    other = ballots.generate_tally_keypair()
    assert not ballots.check_tally_key(other.secret_key, pair.public_key)
    assert not ballots.check_tally_key(b"short", pair.public_key)


def test_seal_refuses_bad_ballots(pair) -> None:
    with pytest.raises(ValueError):
        ballots.seal_ballot(pair.public_key, 0, {}, pad_to=100)
    with pytest.raises(ValueError):
        ballots.seal_ballot(pair.public_key, 1, {CANDIDATES[0]: -1}, pad_to=100)
    with pytest.raises(ValueError):
        ballots.seal_ballot(pair.public_key, 1, {CANDIDATES[0]: True}, pad_to=100)


def test_a_ballot_grading_more_candidates_than_the_subset_is_invalid(pair) -> None:
    """§8 case 10: an honest booth shows only `subset_size` candidates (0 = all)."""
    size = ballots.ballot_plaintext_size(1, CANDIDATES, N_GRADES)
    three = ballots.seal_ballot(pair.public_key, 1, dict.fromkeys(CANDIDATES, 3), pad_to=size)
    two = ballots.seal_ballot(pair.public_key, 1, dict.fromkeys(CANDIDATES[:2], 3), pad_to=size)
    opened = ballots.open_ballot(pair.secret_key, three, 1, CANDIDATES, N_GRADES, subset_size=2)
    assert opened.status == "invalid" and "3 candidates graded" in opened.reason
    for sealed, subset in ((two, 2), (three, 0), (three, 3)):
        assert (
            ballots.open_ballot(
                pair.secret_key, sealed, 1, CANDIDATES, N_GRADES, subset_size=subset
            ).status
            == "valid"
        )
