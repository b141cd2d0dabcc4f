"""audit/witness.py: the verifier's own reading of cosignatures and witness policies agrees
with the producer's (crypto/cosignature.py, crypto/policy.py) and with the C2SP examples."""

from __future__ import annotations

import random

import nacl.signing
import pytest

from audit import note as audit_note
from audit import witness as audit_witness
from crypto import note
from crypto.cosignature import CosignerKey
from crypto.policy import PolicyError, parse_policy
from tests.fixtures import witness_vectors as v


def test_litetlog_witness_key_and_spec_timestamp() -> None:
    key = CosignerKey(
        v.LITETLOG_WITNESS_NAME, nacl.signing.SigningKey(bytes.fromhex(v.LITETLOG_WITNESS_SEED))
    )
    witness = audit_witness.parse_witness_key("w", key.vkey)
    assert witness.public_key.hex() == v.LITETLOG_WITNESS_PUBLIC_KEY
    assert witness.key_id.hex() == "10a1c019"
    parsed = audit_note.parse_note(v.SPEC_COSIGNED_CHECKPOINT)
    line = parsed.signatures[1]
    assert int.from_bytes(line.signature[:8], "big") == v.SPEC_COSIGNATURE_TIME


def test_differential_random_quorums() -> None:
    rng = random.Random(15)
    log_key = nacl.signing.SigningKey.generate()
    origin = "scrutin.localhost/primaries/diff"
    for trial in range(30):
        n = rng.randint(1, 5)
        witnesses = [CosignerKey.generate(f"w{i}.example/{trial}") for i in range(n)]
        k = rng.randint(1, n)
        text = "".join(
            f"witness w{i} {w.vkey} http://127.0.0.1:{9000 + i}\n" for i, w in enumerate(witnesses)
        )
        text += f"group g {k} " + " ".join(f"w{i}" for i in range(n)) + "\nquorum g\n"
        size = rng.randint(0, 1000)
        checkpoint = note.Checkpoint(origin, size, rng.randbytes(32))
        signed = note.sign_checkpoint(checkpoint, log_key)
        signers = rng.sample(range(n), rng.randint(0, n))
        for i in signers:
            signed += witnesses[i].cosign(checkpoint.text(), timestamp=rng.randint(1, 2**40)).line()
        if rng.random() < 0.3 and signers:  # a forged line by a listed witness counts for nobody
            other = note.Checkpoint(origin, size + 1, bytes(32)).text()
            signed += witnesses[signers[0]].cosign(other).line()
        producer = parse_policy(text)
        expected = producer.witnessed({f"w{i}" for i in signers})
        report = audit_witness.check_quorum(
            audit_note.parse_note(signed), audit_witness.parse_policy(text)
        )
        assert report.met == expected == (len(signers) >= k)
        assert set(report.cosigned) == {f"w{i}" for i in signers}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "quorum w1\n",
        "witness a {k}\ngroup g 2 a\nquorum g\n",
        "witness a {k}\ngroup g any a a\nquorum g\n",
        "witness a {k}\nquorum a\nquorum a\n",
        "witness a {log}\nquorum a\n",
        "log {k}\nquorum none\n",
    ],
)
def test_both_refuse_the_same_bad_policies(text: str) -> None:
    k = CosignerKey.generate("w.example").vkey
    log = note.format_verifier_key("log.example", nacl.signing.SigningKey.generate().verify_key)
    text = text.format(k=k, log=log)
    with pytest.raises(PolicyError):
        parse_policy(text)
    with pytest.raises((audit_witness.PolicyError, audit_note.NoteError)):
        audit_witness.parse_policy(text)
