"""Signed entries (docs/audit-log.md §3), including the worked example printed in the spec.

The signing key is RFC 8032 §7.1 TEST 1, so the example is reproducible by anyone.
"""

from __future__ import annotations

import hashlib
import json

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import canonical
from crypto.encoding import b64encode
from crypto.entries import EntryError, make_entry, open_entry
from crypto.note import key_id

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
KEY = nacl.signing.SigningKey(SEED)
ORIGIN = "scrutin.localhost/primaries/demo"
PRIMARY = "0b9d6b5c-6b1e-4c1a-9a57-2f3d1c8e7a10"
BODY = {"candidate": "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "supporter": "ab" * 32}

# Pinned: also printed in docs/audit-log.md §3 as the worked example.
EXAMPLE = (
    b'{"body":{"candidate":"5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0","supporter":"'
    + b"ab" * 32
    + b'"},"key":"3d90ae7e","kind":"support","origin":"scrutin.localhost/primaries/demo",'
    b'"primary":"0b9d6b5c-6b1e-4c1a-9a57-2f3d1c8e7a10","sig":"fclL2kFP1B9EnsRpqKpd6SQ7x2QuWBqAN'
    b'7zSW78LprqHq5MY4xT867DL6mBjp7QYzdiE+LEtoaQuKxP9gBrbCg==","time":1700000000,"v":1}'
)
EXAMPLE_LEAF_HASH = "3c3401e24861a21bbd7a8eea7d3deb9ddbf507352848c2bc14526b03266d7ded"


def _entry(**overrides: object) -> bytes:
    args: dict = {
        "origin": ORIGIN,
        "primary": PRIMARY,
        "kind": "support",
        "time": 1700000000,
        "body": BODY,
        "signing_key": KEY,
    }
    args.update(overrides)
    return make_entry(**args)


def test_worked_example_is_byte_exact() -> None:
    assert _entry() == EXAMPLE
    assert hashlib.sha256(b"\x00" + EXAMPLE).hexdigest() == EXAMPLE_LEAF_HASH


def test_signature_checked_independently() -> None:
    # Rebuild the signed message by hand: "sig" sorts between "primary" and "time", so
    # dropping its member from the canonical bytes gives JCS(envelope without sig).
    obj = json.loads(EXAMPLE)
    sig_member = b'"sig":"' + obj["sig"].encode() + b'",'
    unsigned = EXAMPLE.replace(sig_member, b"")
    message = b"scrutin-entry/v1\x00support\x00" + unsigned
    KEY.verify_key.verify(message, __import__("base64").b64decode(obj["sig"]))
    assert (
        obj["key"]
        == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + bytes(KEY.verify_key)).digest()[:4].hex()
    )


def test_open_entry() -> None:
    entry = open_entry(EXAMPLE, KEY.verify_key, origin=ORIGIN)
    assert (entry.v, entry.origin, entry.primary, entry.kind, entry.time) == (
        1,
        ORIGIN,
        PRIMARY,
        "support",
        1700000000,
    )
    assert entry.body == BODY and entry.key == "3d90ae7e" and len(entry.sig) == 64
    assert entry.raw == EXAMPLE and entry.tracker == EXAMPLE_LEAF_HASH
    by_id = open_entry(EXAMPLE, {"3d90ae7e": KEY.verify_key})
    assert by_id == entry


def _resign(obj: dict, key: nacl.signing.SigningKey = KEY, kind: str | None = None) -> bytes:
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    kind = obj["kind"] if kind is None else kind
    message = b"scrutin-entry/v1\x00" + kind.encode() + b"\x00" + canonical.dumps(unsigned)
    return canonical.dumps({**unsigned, "sig": b64encode(key.sign(message).signature)})


def test_refusals() -> None:
    obj = json.loads(EXAMPLE)
    other = nacl.signing.SigningKey.generate()
    cases = {
        "not canonical": EXAMPLE.replace(b'"v":1}', b'"v": 1}'),
        "unknown key": _entry(signing_key=other),
        "bad signature": EXAMPLE.replace(b'"time":1700000000', b'"time":1700000001'),
        "members": _resign({**obj, "extra": 1}),
        "version": _resign({**obj, "v": 2}),
        "primary": _resign({**obj, "primary": PRIMARY.upper()}),
        "kind": _resign({**obj, "kind": "Support"}),
        "time": _resign({**obj, "time": -1}),
        "body": _resign({**obj, "body": []}),
        "belongs to log": _resign({**obj, "origin": "elsewhere.example/primaries/x"}),
    }
    for reason, data in cases.items():
        with pytest.raises(EntryError, match=reason):
            open_entry(data, KEY.verify_key, origin=ORIGIN)
    # A signature made for another kind does not verify (per-kind domain separation).
    cross = _resign({**obj, "kind": "ballot"}, kind="support")
    with pytest.raises(EntryError, match="bad signature"):
        open_entry(cross, KEY.verify_key)
    # Non-canonical base64 in sig (flipped padding bits) is refused although it decodes
    # to the same signature: otherwise the same entry would have two leaf hashes.
    sig = obj["sig"]
    assert sig.endswith("Cg==")
    malleated = EXAMPLE.replace(sig.encode(), sig[:-3].encode() + b"h==")
    with pytest.raises(EntryError, match="non-canonical"):
        open_entry(malleated, KEY.verify_key)
    # The key map must agree with §5 key IDs.
    with pytest.raises(EntryError):
        open_entry(EXAMPLE, {"3d90ae7e": other.verify_key})


def test_make_entry_validates() -> None:
    for overrides in [
        {"origin": "has space/x"},
        {"origin": "a+b"},
        {"primary": "not-a-uuid"},
        {"kind": "a\x00b"},
        {"time": True},
        {"body": {"x": 1.5}},
        {"body": {"x": "e\u0301"}},
    ]:
        with pytest.raises(EntryError):
            _entry(**overrides)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["definition", "candidacy", "support", "ballot", "result"]),
    time=st.integers(0, 2**53 - 1),
    body=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(str.isalnum),
        st.integers() | st.booleans() | st.none() | st.text(max_size=6) | st.lists(st.integers()),
        max_size=4,
    ),
)
def test_round_trip(kind: str, time: int, body: dict) -> None:
    body = {k: v for k, v in body.items() if not isinstance(v, int) or abs(v) < 2**53}
    try:
        canonical.dumps(body)
    except canonical.CanonicalError:
        return
    data = _entry(kind=kind, time=time, body=body)
    entry = open_entry(data, KEY.verify_key)
    assert entry.kind == kind and entry.time == time and entry.body == body
    assert entry.key == key_id(ORIGIN, bytes(KEY.verify_key)).hex()
    # The sig member spliced into the unsigned bytes is the canonical form of the envelope.
    envelope = {
        "v": 1,
        "origin": ORIGIN,
        "primary": PRIMARY,
        "kind": kind,
        "time": time,
        "body": body,
        "key": entry.key,
        "sig": b64encode(entry.sig),
    }
    assert data == canonical.dumps(envelope)
