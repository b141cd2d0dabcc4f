"""Signed notes and checkpoints.

Vectors: golang.org/x/mod sumdb/note/note_test.go (PeterNeumann and EnochRoot keys, the
"If you think cryptography is the answer to your problem" note and its signatures);
C2SP/C2SP signed-note.md and tlog-checkpoint.md example notes (their public keys are not
published, so only their structure is checked); golang.org/x/mod sumdb/tlog note_test.go
(tree text "go.sum database tree\\n123456789012\\nTszz...="); RFC 8032 §7.1 TEST 1-3.
"""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest

from crypto import note
from crypto.merkle import leaf_hash
from crypto.note import (
    BadSignatureError,
    Checkpoint,
    MalformedKeyError,
    MalformedNoteError,
    UnknownKeyError,
    Verifier,
)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwn"
    "WLox33WWd1RvMc+QQ=\n"
)

# RFC 8032 §7.1, TEST 1..3: (secret seed, public key, message, signature)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(seed: str, public: str, message: str, signature: str) -> None:
    key = nacl.signing.SigningKey(bytes.fromhex(seed))
    assert bytes(key.verify_key).hex() == public
    assert key.sign(bytes.fromhex(message)).signature.hex() == signature
    key.verify_key.verify(bytes.fromhex(message), bytes.fromhex(signature))


def test_verifier_key_parse_and_format() -> None:
    v = note.parse_verifier_key(PETER_VKEY)
    assert v.name == "PeterNeumann" and v.key_id.hex() == "c74f20a3"
    assert note.format_verifier_key(v.name, v.public_key) == PETER_VKEY
    assert v.vkey == PETER_VKEY
    assert note.key_id("PeterNeumann", v.public_key) == bytes.fromhex("c74f20a3")


def test_verifier_key_manglings_refused() -> None:
    # As note_test.go TestNewVerifier: every strict substring and every byte+1 fails.
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(MalformedKeyError):
                    note.parse_verifier_key(b[i:j])
    for i in range(len(b)):
        with pytest.raises(MalformedKeyError):
            note.parse_verifier_key(b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :])
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(MalformedKeyError):
            note.parse_verifier_key(bad)


def test_signer_key_and_exact_signature() -> None:
    name, key = note.parse_signer_key(PETER_SKEY)
    assert name == "PeterNeumann"
    assert note.format_signer_key(name, key) == PETER_SKEY
    assert note.format_verifier_key(name, key.verify_key) == PETER_VKEY
    # note_test.go TestSign: Ed25519 is deterministic, so the note is byte-exact.
    assert note.sign_note(TEXT, name, key) == TEXT + "\n" + PETER_SIG
    with pytest.raises(MalformedKeyError):
        note.parse_signer_key(PETER_SKEY.replace("c74f20a3", "c74f20a4"))


def test_sign_refuses_bad_text_and_names() -> None:
    _, key = note.parse_signer_key(PETER_SKEY)
    with pytest.raises(MalformedNoteError):
        note.sign_note("abc", "PeterNeumann", key)
    with pytest.raises(MalformedNoteError):
        note.sign_note("a\x01b\n", "PeterNeumann", key)
    for name in ["a+b", "bad name", "", "tab\tname", "nbsp\u00a0name"]:
        with pytest.raises(MalformedKeyError):
            note.sign_note(TEXT, name, key)


def test_open_one_verified_one_unknown() -> None:
    peter = note.parse_verifier_key(PETER_VKEY)
    enoch = note.parse_verifier_key(ENOCH_VKEY)
    opened = note.open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert opened.text == TEXT
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [(s.name, s.key_id.hex()) for s in opened.unverified] == [("EnochRoot", "af0cfe78")]
    both = note.open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]
    assert note.verify_note((TEXT + "\n" + PETER_SIG).encode(), peter) == TEXT


def test_open_errors() -> None:
    peter = note.parse_verifier_key(PETER_VKEY)
    enoch = note.parse_verifier_key(ENOCH_VKEY)
    with pytest.raises(UnknownKeyError, match="no signature from a trusted key"):
        note.verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    with pytest.raises(UnknownKeyError):
        note.verify_note(TEXT + "\n" + ENOCH_SIG, [peter])
    # Corrupted signature from a known key: the whole note is refused.
    tampered = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(BadSignatureError, match="PeterNeumann\\+c74f20a3"):
        note.verify_note(TEXT + "\n" + tampered, [peter])
    # Same name and ID as a trusted key but different key: ambiguity is an error.
    impostor = Verifier("EnochRoot", enoch.key_id, peter.public_key)
    with pytest.raises(UnknownKeyError, match="ambiguous"):
        note.verify_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, impostor])
    # Text changed: Peter's signature no longer matches.
    with pytest.raises(BadSignatureError):
        note.verify_note(TEXT.replace("think", "thinks") + "\n" + PETER_SIG, [peter])
    with pytest.raises(MalformedNoteError):
        note.verify_note(TEXT + "\n" + PETER_SIG * 101, [peter])


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
        "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_malformed_notes(msg: str) -> None:
    # note_test.go TestOpen "Invalid encoded message syntax".
    with pytest.raises(MalformedNoteError):
        note.verify_note(msg, [note.parse_verifier_key(PETER_VKEY)])


def test_invalid_utf8_note() -> None:
    with pytest.raises(MalformedNoteError):
        note.parse_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode())


def test_c2sp_example_notes_parse() -> None:
    # C2SP signed-note.md opening example.
    signed_note = (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n"
        "\ned è subito sera.\n"
        "\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9o"
        "JKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
    )
    text, sigs = note.parse_note(signed_note)
    assert text.endswith("\n\ned è subito sera.\n")  # text may contain blank lines
    assert [(s.name, len(s.signature)) for s in sigs] == [("quasimodo.example/salvatore", 64)]
    # C2SP tlog-checkpoint.md example.
    checkpoint_note = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
        "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    )
    text, sigs = note.parse_note(checkpoint_note)
    cp = note.parse_checkpoint(text)
    assert cp.origin == "example.com/behind-the-sofa" and cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.text() == text
    assert sigs[0].key_id.hex() == "033de0ae"
    with pytest.raises(UnknownKeyError):
        note.verify_note(checkpoint_note, [note.parse_verifier_key(PETER_VKEY)])


def test_go_sumdb_tree_text() -> None:
    # golang.org/x/mod sumdb/tlog note_test.go TestFormatTree: RecordHash("hello world").
    cp = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    assert cp.text() == golden
    assert note.parse_checkpoint(golden) == cp
    for bad in [
        "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
        "go.sum database tree\n0123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        "go.sum database tree\n123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=",
        "go.sum database tree\n123\n\n",
        "origin\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n\n",  # empty extension line
    ]:
        with pytest.raises(MalformedNoteError):
            note.parse_checkpoint(bad)


def test_checkpoint_sign_and_open() -> None:
    origin = "scrutin.localhost/primaries/demo"
    key = nacl.signing.SigningKey(bytes.fromhex(RFC8032[0][0]))
    vkey = note.format_verifier_key(origin, key.verify_key)
    cp = Checkpoint(origin, 7, leaf_hash(b"x"))
    signed = note.sign_checkpoint(cp, key)
    assert signed.startswith(cp.text() + "\n— " + origin + " ")
    assert note.open_checkpoint(signed, vkey) == cp
    # A witness cosignature by an unknown key is ignored.
    witness = nacl.signing.SigningKey.generate()
    cosigned = note.sign_note_multi(cp.text(), [(origin, key), ("witness.example/w1", witness)])
    assert note.open_checkpoint(cosigned, vkey) == cp
    # The origin must be the key name.
    other = Checkpoint("scrutin.localhost/primaries/other", 7, leaf_hash(b"x"))
    with pytest.raises(MalformedNoteError, match="origin"):
        note.open_checkpoint(note.sign_checkpoint(other, key, name=origin), vkey)
    with_ext = Checkpoint(origin, 7, leaf_hash(b"x"), ("ext line",))
    with pytest.raises(MalformedNoteError, match="extension"):
        note.open_checkpoint(note.sign_checkpoint(with_ext, key), vkey)
    assert note.open_checkpoint(note.sign_checkpoint(with_ext, key), vkey, allow_extensions=True)


def test_worked_checkpoint_example_in_the_spec() -> None:
    # docs/audit-log.md §6: the one-entry tree of the §3 example, signed by the RFC 8032
    # TEST 1 key; Ed25519 is deterministic, so the note is byte-exact.
    origin = "scrutin.localhost/primaries/demo"
    key = nacl.signing.SigningKey(bytes.fromhex(RFC8032[0][0]))
    leaf = bytes.fromhex("3c3401e24861a21bbd7a8eea7d3deb9ddbf507352848c2bc14526b03266d7ded")
    expected = (
        "scrutin.localhost/primaries/demo\n1\nPDQB4khhohu9eo7qfT3rndv1BzUoSMK8FFJrAyZtfe0=\n\n"
        "— scrutin.localhost/primaries/demo PZCufnLifadLYBmaFfFQwjIlK4DmlFIQW3THkcn+cVcKbW0qtAL"
        "qlHhC2eb74Pgbj8oCkm7WxNCEIaOJJg0rlYqFHAA=\n"
    )
    assert note.sign_checkpoint(Checkpoint(origin, 1, leaf), key) == expected
    vkey = "scrutin.localhost/primaries/demo+3d90ae7e+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    assert note.open_checkpoint(expected, vkey) == Checkpoint(origin, 1, leaf)
    empty = Checkpoint(origin, 0, hashlib.sha256(b"").digest())
    assert empty.text().splitlines()[2] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
