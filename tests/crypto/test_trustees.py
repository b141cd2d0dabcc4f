"""Threshold key generation and decryption (crypto/trustees.py)."""

from __future__ import annotations

import itertools

import nacl.public
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import trustees as t

ORIGIN = "scrutin.localhost/primaries/demo"


def ceremony(n: int, k: int) -> tuple[bytes, dict[int, int], list[tuple[bytes, ...]]]:
    """Run the whole DKG in memory: shares travel in real NaCl boxes."""
    boxes = {i: nacl.public.PrivateKey.generate() for i in range(1, n + 1)}
    dealings = {i: t.deal(ORIGIN, i, k) for i in range(1, n + 1)}
    for i, dealing in dealings.items():
        t.check_commitments(ORIGIN, i, dealing.commitments, dealing.pok, k)
    secrets_ = {}
    for j in range(1, n + 1):
        received = [dealings[j].share_for(j)]
        for i in range(1, n + 1):
            if i == j:
                continue
            boxed = t.seal_share(
                ORIGIN, i, j, dealings[i].share_for(j), bytes(boxes[i]), bytes(boxes[j].public_key)
            )
            share = t.open_share(ORIGIN, i, j, boxed, bytes(boxes[j]), bytes(boxes[i].public_key))
            assert t.share_matches(dealings[i].commitments, j, share)
            received.append(share)
        secrets_[j] = t.secret_share(received)
    commitments = [dealings[i].commitments for i in range(1, n + 1)]
    return t.election_key(commitments), secrets_, commitments


def decrypt_with(context, secrets_, commitments, indexes, ciphertext, bound):
    alpha, beta = ciphertext
    shares = {}
    for j in indexes:
        share = t.decryption_share(context, j, secrets_[j], "c/0", alpha)
        vk = t.verification_key(commitments, j)
        shares[j] = t.verify_decryption_share(context, j, vk, "c/0", alpha, share)
    return t.decrypt(beta, t.combine(shares), t.DiscreteLog(bound))


@settings(max_examples=12, deadline=None)
@given(
    st.integers(min_value=1, max_value=5).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(min_value=1, max_value=n))
    ),
    st.integers(min_value=0, max_value=40),
    st.data(),
)
def test_any_k_of_n_decrypt_and_k_minus_1_do_not(nk, m, data):
    n, k = nk
    h, secrets_, commitments = ceremony(n, k)
    # Nobody's share is the key, and the verification keys match the secrets.
    for j, x in secrets_.items():
        assert t.verification_key(commitments, j) == t.base(x)
    context = t.Context(ORIGIN, 1, h)
    ciphertext = t.encrypt(h, m)
    chosen = data.draw(st.permutations(range(1, n + 1)))[:k]
    assert decrypt_with(context, secrets_, commitments, chosen, ciphertext, 40) == m
    if k > 1:
        fewer = chosen[: k - 1]
        shares = {j: t.mul(secrets_[j], ciphertext[0]) for j in fewer}
        with pytest.raises(t.TrusteeError):
            t.decrypt(ciphertext[1], t.combine(shares), t.DiscreteLog(40))


def test_every_subset_of_size_k_gives_the_same_key_secret():
    n, k = 4, 3
    h, secrets_, _ = ceremony(n, k)
    for subset in itertools.combinations(range(1, n + 1), k):
        x = sum(t.lagrange_at_zero(subset, j) * secrets_[j] for j in subset) % t.L
        assert t.base(x) == h
    for subset in itertools.combinations(range(1, n + 1), k - 1):
        x = sum(t.lagrange_at_zero(subset, j) * secrets_[j] for j in subset) % t.L
        assert t.base(x) != h


def test_sum_of_ciphertexts_decrypts_to_the_count():
    h, secrets_, commitments = ceremony(3, 2)
    votes = [1, 0, 1, 1, 0, 1, 1]
    total = t.add_ciphertexts(t.encrypt(h, v) for v in votes)
    context = t.Context(ORIGIN, 2, h)
    assert decrypt_with(context, secrets_, commitments, [3, 1], total, len(votes)) == 5


def test_a_count_of_zero_and_the_bound():
    h, secrets_, commitments = ceremony(2, 2)
    context = t.Context(ORIGIN, 1, h)
    assert decrypt_with(context, secrets_, commitments, [1, 2], t.encrypt(h, 0), 10) == 0
    assert decrypt_with(context, secrets_, commitments, [1, 2], t.encrypt(h, 10), 10) == 10
    with pytest.raises(t.TrusteeError, match="no count"):
        decrypt_with(context, secrets_, commitments, [1, 2], t.encrypt(h, 11), 10)


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=95), st.integers(min_value=0, max_value=7))
def test_a_changed_decryption_share_or_proof_is_rejected(byte, bit):
    h, secrets_, commitments = ceremony(3, 2)
    context = t.Context(ORIGIN, 1, h)
    alpha, _ = t.encrypt(h, 1)
    share = bytearray(t.decryption_share(context, 2, secrets_[2], "c/0", alpha))
    share[byte] ^= 1 << bit
    with pytest.raises(t.TrusteeError):
        t.verify_decryption_share(
            context, 2, t.verification_key(commitments, 2), "c/0", alpha, bytes(share)
        )


def test_a_dishonest_share_with_a_valid_proof_for_another_key_is_rejected():
    """A trustee using a secret other than the one its commitments give is caught."""
    h, secrets_, commitments = ceremony(3, 2)
    context = t.Context(ORIGIN, 1, h)
    alpha, _ = t.encrypt(h, 1)
    forged = t.decryption_share(context, 2, secrets_[2] + 1, "c/0", alpha)
    with pytest.raises(t.TrusteeError, match="proof is false"):
        t.verify_decryption_share(
            context, 2, t.verification_key(commitments, 2), "c/0", alpha, forged
        )
    # The proof binds its position and round: replaying it elsewhere fails.
    good = t.decryption_share(context, 2, secrets_[2], "c/0", alpha)
    vk = t.verification_key(commitments, 2)
    with pytest.raises(t.TrusteeError):
        t.verify_decryption_share(context, 2, vk, "c/1", alpha, good)
    with pytest.raises(t.TrusteeError):
        t.verify_decryption_share(t.Context(ORIGIN, 2, h), 2, vk, "c/0", alpha, good)


def test_a_bad_dealt_share_is_detected_and_a_bad_pok_rejected():
    dealing = t.deal(ORIGIN, 1, 3)
    assert t.share_matches(dealing.commitments, 2, dealing.share_for(2))
    assert not t.share_matches(dealing.commitments, 2, dealing.share_for(2) + 1)
    assert not t.share_matches(dealing.commitments, 3, dealing.share_for(2))
    with pytest.raises(t.TrusteeError, match="proof of knowledge"):
        t.check_commitments(ORIGIN, 2, dealing.commitments, dealing.pok, 3)  # wrong index
    other = t.deal(ORIGIN, 1, 3)
    with pytest.raises(t.TrusteeError):
        t.check_commitments(ORIGIN, 1, other.commitments, dealing.pok, 3)
    with pytest.raises(t.TrusteeError, match="3 commitments"):
        t.check_commitments(ORIGIN, 1, dealing.commitments[:2], dealing.pok, 3)
    with pytest.raises(t.TrusteeError, match="valid point"):
        t.check_commitments(ORIGIN, 1, (t.IDENTITY, *dealing.commitments[1:]), dealing.pok, 3)


def test_a_share_box_opens_only_for_its_recipient_and_position():
    a, b, c = (nacl.public.PrivateKey.generate() for _ in range(3))
    boxed = t.seal_share(ORIGIN, 1, 2, 12345, bytes(a), bytes(b.public_key))
    assert t.open_share(ORIGIN, 1, 2, boxed, bytes(b), bytes(a.public_key)) == 12345
    with pytest.raises(t.TrusteeError, match="does not open"):
        t.open_share(ORIGIN, 1, 3, boxed, bytes(c), bytes(a.public_key))
    with pytest.raises(t.TrusteeError, match="not addressed"):
        t.open_share(ORIGIN, 1, 3, boxed, bytes(b), bytes(a.public_key))


def test_points_and_scalars_from_outside_are_validated():
    with pytest.raises(t.TrusteeError):
        t.point(t.IDENTITY)
    with pytest.raises(t.TrusteeError):
        t.point(b"\x00" * 31)
    with pytest.raises(t.TrusteeError):
        t.scalar(t.L.to_bytes(32, "little"))
    assert t.point(t.BASE) == t.BASE


def _example(name: str) -> str:
    """A value of docs/audit-log.md §10 "Worked examples of the trustee part"."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text("utf-8")
    part = text[text.index("### Worked examples of the trustee part") :]
    found = re.search(rf"`{re.escape(name)}: ([^`]+)`", part)
    assert found, name
    return found.group(1)


def test_the_specs_worked_examples() -> None:
    import nacl.signing

    from crypto import canonical
    from crypto.encoding import b64decode, b64encode

    assert t.hash_to_scalar("trustee-pok", ORIGIN, 1, t.BASE) == int.from_bytes(
        bytes.fromhex(_example("trustee-pok-hash")), "little"
    )
    commitments = (t.base(7), t.base(9))
    assert b64encode(commitments[0]) == _example("commitment-0")
    assert b64encode(commitments[1]) == _example("commitment-1")
    pok = t.prove_knowledge(ORIGIN, 1, commitments, 7, w=11)
    assert b64encode(pok) == _example("pok")
    t.verify_knowledge(ORIGIN, 1, commitments, b64decode(_example("pok")))
    assert t.share_matches(commitments, 3, 34)

    body = {"complaints": [], "index": 1}
    message = b"scrutin-trustee-ack/v2\x00" + ORIGIN.encode() + b"\x00" + canonical.dumps(body)
    signature = nacl.signing.SigningKey(bytes([1]) * 32).sign(message).signature
    assert b64encode(signature) == _example("ack-sig")

    context = t.Context(ORIGIN, 1, t.base(7))
    alpha = b64decode(_example("alpha"))
    assert alpha == t.base(3)
    position = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0/3"
    share = t.decryption_share(context, 1, 7, position, alpha, w=13)
    assert b64encode(share) == _example("decryption-share")
    d = t.verify_decryption_share(context, 1, t.base(7), position, alpha, share)
    assert d == t.base(21)

    for j in (1, 3):
        lam = t.lagrange_at_zero([1, 3], j)
        assert lam.to_bytes(32, "little").hex() == _example(f"lambda-{j}")
    assert t.lagrange_at_zero([1, 3], 1) * 2 % t.L == 3
    assert (t.lagrange_at_zero([1, 3], 3) * 2 + 1) % t.L == 0
