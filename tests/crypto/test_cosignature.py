"""Witness cosignatures, add-checkpoint bodies and witness policies (crypto/), against the
examples of C2SP tlog-cosignature v1.0.1, tlog-witness v1.0.0 and tlog-policy, and the test
data of FiloSottile/litetlog (tests/fixtures/witness_vectors.py)."""

from __future__ import annotations

import hashlib

import nacl.signing
import pytest

from crypto import cosignature, merkle, note
from crypto.cosignature import (
    AddCheckpointError,
    CosignerKey,
    format_add_checkpoint,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_cosigner_vkey,
)
from crypto.encoding import b64decode
from crypto.note import MalformedKeyError, MalformedNoteError
from crypto.policy import PolicyError, parse_policy
from tests.fixtures import witness_vectors as v

TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def litetlog_witness() -> CosignerKey:
    return CosignerKey(
        v.LITETLOG_WITNESS_NAME, nacl.signing.SigningKey(bytes.fromhex(v.LITETLOG_WITNESS_SEED))
    )


def test_signed_message_is_the_spec_example() -> None:
    assert cosignature.signed_message(TEXT, v.SPEC_COSIGNATURE_TIME).decode() == (
        v.SPEC_SIGNED_MESSAGE
    )


def test_spec_cosignature_line_has_key_id_and_timestamp() -> None:
    text, signatures = note.parse_note(v.SPEC_COSIGNED_CHECKPOINT)
    assert text == TEXT
    witness = signatures[1]
    assert witness.name == "witness.example.com/w1"
    assert len(witness.signature) == 8 + 64
    assert int.from_bytes(witness.signature[:8], "big") == v.SPEC_COSIGNATURE_TIME


def test_spec_response_lines_parse() -> None:
    lines = parse_cosignature_lines(v.SPEC_RESPONSE.encode())
    assert [s.name for s in lines] == [
        "witness.example/w1",
        "witness.example/w1",
        "witness.example/w2",
    ]
    assert all(len(s.signature) == 72 for s in lines)


def test_key_id_uses_algorithm_byte_4() -> None:
    key = litetlog_witness()
    public = bytes(key.signing_key.verify_key)
    assert public.hex() == v.LITETLOG_WITNESS_PUBLIC_KEY
    expected = hashlib.sha256(b"example.com/witness\n\x04" + public).digest()[:4]
    assert key.cosigner.key_id == expected
    assert key.vkey == "example.com/witness+10a1c019+BGSEitir7W6FmBs7OHWyUrh2frtLAvcDrKOx5xu9ao5Q"
    # The same key as a log (0x01) key has another ID: the two can never be confused.
    assert note.key_id("example.com/witness", public) != expected


def test_cosign_and_verify_round_trip() -> None:
    key = litetlog_witness()
    line = key.cosign(TEXT, timestamp=1_700_000_000)
    assert line.signature[:8] == (1_700_000_000).to_bytes(8, "big")
    assert key.cosigner.verify(TEXT, line) == 1_700_000_000
    assert key.cosigner.verify(TEXT.replace("20852163", "20852164"), line) is None
    forged = note.Signature(
        line.name, line.key_id, (1_700_000_001).to_bytes(8, "big") + line.signature[8:]
    )
    assert key.cosigner.verify(TEXT, forged) is None
    # A cosigned note still opens with the log key alone: the cosignature is ignored.
    log_key = nacl.signing.SigningKey(bytes(32))
    cp = note.Checkpoint("example.com/behind-the-sofa", 20852163, b64decode(TEXT.split("\n")[2]))
    signed = note.sign_checkpoint(cp, log_key)
    assert (
        note.open_checkpoint(
            signed + line.line(), note.format_verifier_key(cp.origin, log_key.verify_key)
        )
        == cp
    )


def test_zero_timestamp_is_refused() -> None:
    with pytest.raises(ValueError):
        litetlog_witness().cosign(TEXT, timestamp=0)


def test_keys_round_trip_and_refuse_log_keys() -> None:
    key = CosignerKey.generate("news.example/witness")
    assert CosignerKey.parse(key.skey()).vkey == key.vkey
    assert parse_cosigner_vkey(key.vkey) == key.cosigner
    with pytest.raises(MalformedKeyError):
        parse_cosigner_vkey(v.SUMDB_VKEY)  # a 0x01 log key
    with pytest.raises(MalformedKeyError):
        parse_cosigner_vkey(key.vkey.replace("+", "+0", 1)[:-1])


def test_spec_request_parses() -> None:
    request = parse_add_checkpoint(v.SPEC_REQUEST.encode())
    assert request.old_size == 20852014
    assert len(request.proof) == 4
    assert request.note.decode().startswith("example.com/behind-the-sofa\n20852163\n")
    again = format_add_checkpoint(request.old_size, request.proof, request.note.decode())
    assert again == v.SPEC_REQUEST.encode()


@pytest.mark.parametrize(
    "body",
    [
        b"old 1\n",  # no empty line
        b"old 01\n\nx",  # leading zero
        b"old -1\n\nx",
        b"new 1\n\nx",
        b"old 1\nnot base64\n\nx",
        b"old 1\nAAAA\n\nx",  # not 32 bytes
        b"old 1\n\n",  # no checkpoint
        ("old 1\n" + "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + "\nx").encode(),
    ],
)
def test_malformed_requests(body: bytes) -> None:
    with pytest.raises(AddCheckpointError):
        parse_add_checkpoint(body)


def test_litetlog_sigsum_vectors() -> None:
    pk = bytes.fromhex(v.SIGSUM_LOG_PUBLIC_KEY)
    assert v.SIGSUM_ORIGIN == "sigsum.org/v1/tree/" + hashlib.sha256(pk).hexdigest()
    log = note.Verifier.from_public_key(v.SIGSUM_ORIGIN, pk)
    one = note.open_checkpoint(v.SIGSUM_SIZE_1, log)
    three = note.open_checkpoint(v.SIGSUM_SIZE_3, log)
    proof = [b64decode(h) for h in v.SIGSUM_PROOF_1_3]
    merkle.verify_consistency(1, 3, one.root_hash, three.root_hash, proof)
    broken = [b64decode(h) for h in v.SIGSUM_PROOF_1_3_BROKEN]
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(1, 3, one.root_hash, three.root_hash, broken)
    # litetlog's tampered line is also non-canonical base64, which we refuse outright.
    with pytest.raises(MalformedNoteError):
        note.open_checkpoint(v.SIGSUM_SIZE_3_BAD_SIGNATURE, log)
    with pytest.raises(note.BadSignatureError):
        note.open_checkpoint(v.SIGSUM_SIZE_3.replace("6go=\n", "6gg=\n"), log)
    # sum.golang.org signs under another name than its origin: open as a plain note.
    text = note.verify_note(v.SUMDB_CHECKPOINT, note.parse_verifier_key(v.SUMDB_VKEY))
    assert note.parse_checkpoint(text).size == 35225469


def test_size_body() -> None:
    assert cosignature.parse_size_body(b"42\n") == 42
    with pytest.raises(MalformedNoteError):
        cosignature.parse_size_body(b"042\n")


# -- tlog-policy ---------------------------------------------------------------------------


def keys(n: int) -> list[str]:
    return [CosignerKey.generate(f"w{i}.example").vkey for i in range(n)]


def test_spec_example_policy_shape() -> None:
    w = keys(6)
    log_vkey = note.format_verifier_key(
        "log.example", nacl.signing.SigningKey.generate().verify_key
    )
    text = (
        f"log {log_vkey}\n\n"
        f"witness X1 {w[0]}\nwitness X2 {w[1]}\nwitness X3 {w[2]}\n"
        "group X-witnesses 2 X1 X2 X3\n\n"
        f"witness Y1 {w[3]}\nwitness Y2 {w[4]}\nwitness Y3 {w[5]}\n"
        "group Y-witnesses any Y1 Y2 Y3\n\n"
        "  # a comment\n"
        "group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n"
    )
    policy = parse_policy(text)
    assert policy.quorum == "X-and-Y"
    assert policy.witnessed({"X1", "X3", "Y2"})
    assert not policy.witnessed({"X1", "Y2", "Y3"})
    assert not policy.witnessed({"X1", "X2", "X3"})
    assert parse_policy("quorum none\n").witnessed(set())


@pytest.mark.parametrize(
    "text",
    [
        "",  # no quorum
        "quorum w1\n",  # not defined
        "witness none {k0}\nquorum none\n",
        "witness a {k0}\nwitness a {k1}\nquorum a\n",
        "witness a {k0}\nwitness b {k0}\nquorum a\n",  # duplicate key
        "witness a {k0}\ngroup g 2 a\nquorum g\n",
        "witness a {k0}\ngroup g 0 a\nquorum g\n",
        "witness a {k0}\ngroup g any a a\nquorum g\n",
        "group g any a\nwitness a {k0}\nquorum g\n",  # member defined later
        "witness a {k0}\nquorum a\nquorum a\n",
        "witness a {k0}\x00\nquorum a\n",
        "witness a not-a-key\nquorum a\n",
        "frobnicate\nquorum none\n",
    ],
)
def test_bad_policies(text: str) -> None:
    k = keys(2)
    with pytest.raises(PolicyError):
        parse_policy(text.format(k0=k[0], k1=k[1]))
