"""Canonical JSON, Merkle proofs, verifier keys and signed notes."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from audit import merkle
from audit.canonical import CanonicalError, encode, parse
from audit.note import NoteError, parse_checkpoint, parse_verifier_key
from tests.audit.builder import sign_note, vkey_string

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_round_trip(value: object) -> None:
    try:
        data = encode(value)
    except CanonicalError:
        return  # non-NFC or lone surrogate: not encodable
    assert parse(data) == value


@pytest.mark.parametrize("text", [
    b'{"b":1,"a":2}', b'{"a":1,"a":1}', b'{"a": 1}', b'{"a":1.0}', b'{"a":1e3}', b'[-0]',
    b'{"a":9007199254740992}', b'"caf\\u00e9"', '"cafe\u0301"'.encode(), b'\xff', b'[NaN]',
    b'"\\/"', b'"\\u001F"', b' 1',
])
def test_non_canonical_rejected(text: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse(text)


def test_jcs_details() -> None:
    assert encode({"b": [1, "é\n\x01"], "a": None, "\ue000": 1, "\U0001f600": 2}) == (
        '{"a":null,"b":[1,"é\\n\\u0001"],"\U0001f600":2,"\ue000":1}'.encode())
    assert parse('{"\U0001f600":2,"\ue000":1}'.encode()) == {"\U0001f600": 2, "\ue000": 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.data())
def test_merkle_proofs(n: int, data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(n)]
    tree = merkle.Tree(leaves)
    size = data.draw(st.integers(1, n))
    assert tree.root(size) == merkle.root_of_leaves(leaves[:size])
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    assert merkle.verify_inclusion(leaves[index], index, size, proof, tree.root(size))
    assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof,
                                       tree.root(size)) or size == 1 or proof == []
    old = data.draw(st.integers(1, size))
    cproof = tree.consistency_proof(old, size)
    assert merkle.verify_consistency(old, size, tree.root(old), tree.root(size), cproof)
    if old < size:
        bad = bytearray(tree.root(old))
        bad[0] ^= 1
        assert not merkle.verify_consistency(old, size, bytes(bad), tree.root(size), cproof)


def test_empty_tree() -> None:
    assert merkle.Tree([]).root() == merkle.EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_verifier_key_parsing() -> None:
    key = SigningKey.generate()
    text = vkey_string("scrutin.localhost/primaries/demo", bytes(key.verify_key))
    vk = parse_verifier_key(text)
    assert str(vk) == text and vk.public_key == bytes(key.verify_key)
    name, kid, blob = text.split("+", 2)
    for bad in (f"{name}+00000000+{blob}", f"{name}+{kid}", f"{name}+{kid}+AAAA",
                f"{name}+{kid.upper()}+{blob}", "nonsense"):
        with pytest.raises(NoteError):
            parse_verifier_key(bad)


def test_checkpoint_parsing_and_signature() -> None:
    key = SigningKey.generate()
    origin = "scrutin.localhost/primaries/demo"
    root = base64.b64encode(bytes(32)).decode()
    note = sign_note(f"{origin}\n5\n{root}\n", origin, key)
    cp = parse_checkpoint(note)
    vk = parse_verifier_key(vkey_string(origin, bytes(key.verify_key)))
    assert (cp.origin, cp.size, cp.root) == (origin, 5, bytes(32))
    assert cp.note.signed_by(vk)
    forged = note.replace("\n5\n", "\n6\n")
    assert not parse_checkpoint(forged).note.signed_by(vk)
    for bad in (note.rstrip("\n"), note.replace("\n\n", "\n"), f"{origin}\n05\n{root}\n\n—"):
        with pytest.raises(NoteError):
            parse_checkpoint(bad)
    assert json.dumps(cp.size) == "5"
