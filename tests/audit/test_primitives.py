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
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_round_trip(value: object) -> None:
    try:
        data = encode(value)
    except CanonicalError:
        return  # non-NFC or lone surrogate: not encodable
    assert parse(data) == value


@pytest.mark.parametrize(
    "text",
    [
        b'{"b":1,"a":2}',
        b'{"a":1,"a":1}',
        b'{"a": 1}',
        b'{"a":1.0}',
        b'{"a":1e3}',
        b"[-0]",
        b'{"a":9007199254740992}',
        b'"caf\\u00e9"',
        '"cafe\u0301"'.encode(),
        b"\xff",
        b"[NaN]",
        b'"\\/"',
        b'"\\u001F"',
        b" 1",
    ],
)
def test_non_canonical_rejected(text: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse(text)


def test_jcs_details() -> None:
    assert encode({"b": [1, "é\n\x01"], "a": None, "\ue000": 1, "\U0001f600": 2}) == (
        '{"a":null,"b":[1,"é\\n\\u0001"],"\U0001f600":2,"\ue000":1}'.encode()
    )
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
    assert (
        not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof, tree.root(size))
        or size == 1
        or proof == []
    )
    old = data.draw(st.integers(1, size))
    cproof = tree.consistency_proof(old, size)
    assert merkle.verify_consistency(old, size, tree.root(old), tree.root(size), cproof)
    if old < size:
        bad = bytearray(tree.root(old))
        bad[0] ^= 1
        assert not merkle.verify_consistency(old, size, bytes(bad), tree.root(size), cproof)


def test_empty_tree() -> None:
    assert (
        merkle.Tree([]).root()
        == merkle.EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )


def test_verifier_key_parsing() -> None:
    # A fixed key whose ID has hex letters, so that its upper-case spelling differs (a random
    # key's 8 hex digits are all decimal about once in 43 runs).
    origin = "scrutin.localhost/primaries/demo"
    key = next(
        k
        for k in (SigningKey(bytes([seed]) * 32) for seed in range(256))
        if not vkey_string(origin, bytes(k.verify_key)).split("+")[1].isdigit()
    )
    text = vkey_string(origin, bytes(key.verify_key))
    vk = parse_verifier_key(text)
    assert str(vk) == text and vk.public_key == bytes(key.verify_key)
    name, kid, blob = text.split("+", 2)
    assert kid.upper() != kid
    for bad in (
        f"{name}+00000000+{blob}",
        f"{name}+{kid}",
        f"{name}+{kid}+AAAA",
        f"{name}+{kid.upper()}+{blob}",
        "nonsense",
    ):
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


# -- the worked examples and test data of docs/audit-log.md ----------------------------------

SPEC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
SPEC_VKEY = "scrutin.localhost/primaries/demo+3d90ae7e+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
SPEC_ENTRY = (
    '{"body":{"candidate":"5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0","supporter":"'
    + "ab" * 32
    + '"},"key":"3d90ae7e","kind":"support","origin":"scrutin.localhost/primaries/'
    'demo","primary":"0b9d6b5c-6b1e-4c1a-9a57-2f3d1c8e7a10","sig":"fclL2kFP1B9EnsRpqKpd6SQ7x2Qu'
    'WBqAN7zSW78LprqHq5MY4xT867DL6mBjp7QYzdiE+LEtoaQuKxP9gBrbCg==","time":1700000000,"v":1}'
).encode()
SPEC_CHECKPOINT = (
    "scrutin.localhost/primaries/demo\n1\nPDQB4khhohu9eo7qfT3rndv1BzUoSMK8FFJrAyZtfe0=\n\n"
    "\u2014 scrutin.localhost/primaries/demo PZCufnLifadLYBmaFfFQwjIlK4DmlFIQW3THkcn+cVcKbW0qtALql"
    "HhC2eb74Pgbj8oCkm7WxNCEIaOJJg0rlYqFHAA=\n"
)


def test_spec_worked_examples() -> None:
    from audit.envelope import parse_entry
    from audit.signatures import verify_chunk

    vk = parse_verifier_key(SPEC_VKEY)
    assert vk.public_key == bytes(SigningKey(SPEC_SEED).verify_key)
    entry = parse_entry(SPEC_ENTRY, vk.name, None)
    assert entry["kind"] == "support"
    assert verify_chunk((vk.public_key, [(0, "support", SPEC_ENTRY)])) == []
    assert merkle.leaf_hash(SPEC_ENTRY).hex() == (
        "3c3401e24861a21bbd7a8eea7d3deb9ddbf507352848c2bc14526b03266d7ded"
    )
    cp = parse_checkpoint(SPEC_CHECKPOINT)
    assert cp.size == 1 and cp.root == merkle.leaf_hash(SPEC_ENTRY) and cp.note.signed_by(vk)
    # Re-spelling the signature's last base64 character keeps the bytes but not the entry.
    respelled = SPEC_ENTRY.replace(b"Cg==", b"Ch==")
    with pytest.raises(Exception, match="base64"):
        parse_entry(respelled, vk.name, None)


def test_c2sp_test_key_and_rfc6962_tree() -> None:
    vk = parse_verifier_key("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert vk.key_id_hex == "c74f20a3"
    leaves = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        bytes(range(0x50, 0x58)),
        bytes(range(0x60, 0x70)),
    ]
    tree = merkle.Tree([merkle.leaf_hash(x) for x in leaves])
    assert tree.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert base64.b64encode(merkle.EMPTY_ROOT).decode() == (
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    )


def test_note_rules() -> None:
    from audit.note import parse_note

    key, other = SigningKey.generate(), SigningKey.generate()
    origin = "scrutin.localhost/primaries/demo"
    vk = parse_verifier_key(vkey_string(origin, bytes(key.verify_key)))
    body = f"{origin}\n1\n{base64.b64encode(bytes(32)).decode()}\n"
    note = sign_note(body, origin, key)
    witness = sign_note(body, "witness.example", other).split("\n\n")[1]
    assert parse_note(note + witness).signed_by(vk)  # other keys' lines are ignored
    bogus = "\u2014 " + origin + " " + base64.b64encode(vk.key_id + bytes(64)).decode() + "\n"
    assert not parse_note(note + bogus).signed_by(vk)  # a bad line naming the log key
    with pytest.raises(NoteError):
        parse_note(note.replace("\n1\n", "\n1\r\n"))


def test_tile_paths() -> None:
    from audit.sources import tile_path

    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(0, 1000) == "tile/0/x001/000"
    assert tile_path("entries", 1234067, 5) == "tile/entries/x001/x234/067.p/5"


@settings(max_examples=400, deadline=None)
@given(
    json_values,
    st.sampled_from(["", " ", "1.0", "-0", "\\u0041", "01", '"a":1,']),
    st.integers(0, 200),
)
def test_fast_and_reference_canonical_checks_agree(value: object, insert: str, at: int) -> None:
    from audit.canonical import _parse_slow

    try:
        data = encode(value)
    except CanonicalError:
        return
    text = data.decode()
    mutated = (text[:at] + insert + text[at:]).encode()
    results = []
    for fn in (parse, _parse_slow):
        try:
            results.append(("ok", fn(mutated)))
        except CanonicalError:
            results.append(("rejected", None))
    assert results[0] == results[1]
