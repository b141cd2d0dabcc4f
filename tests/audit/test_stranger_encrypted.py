"""The stranger's verifier (tests/audit/stranger/, written from docs/audit-log.md alone) on
encrypted primaries (§10): the spec's worked examples, then honest and dishonest logs made
with tests/audit/encrypted_builder.py (each re-signed with the valid log key), where the
stranger's verdict must agree with `scrutin-audit verify` run as a command: pass or fail, and
which checks fail, and which invalid-ballot codes are warned."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from tests.audit.encrypted_builder import EncryptedPrimary, key_of, trustee_sig
from tests.audit.stranger import encrypted as E
from tests.audit.stranger.verifier import jcs, key_id, verify_export

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text()
ORIGIN = "scrutin.localhost/primaries/demo"


def _spec_value(label: str) -> str:
    m = re.search(re.escape(label) + r":?\s*`?([A-Za-z0-9+/=]+)`", SPEC)
    assert m, label
    return m.group(1)


# -- §10 worked examples ---------------------------------------------------------------------


def test_worked_example_ballot() -> None:
    blob = base64.b64decode(re.search(r"The blob \(713 bytes\) is\n\n    (\S+)", SPEC).group(1))
    assert len(blob) == 713
    sha = "4e0bab57a3856da5dd01554e60b26e925a2e405e76ccd1719007f865c34edcd9"
    assert hashlib.sha256(blob).hexdigest() == sha
    x = int.from_bytes(
        bytes.fromhex("b0e9ec77b44f653b77c4230ea38f3b9821f586a21e14058cb9727a725d51230b"),
        "little",
    )
    h = base64.b64decode("azc4Fqf0SFMQUWICBixSTQX8wgM8Ue/rKV/ttZgKI5M=")
    assert E.base(x) == h
    key = SigningKey(bytes([1]) * 32)
    cred = bytes(key.verify_key)
    cands = ["5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]
    rows, blank, why = E.parse_ballot(
        blob,
        origin=ORIGIN,
        round_no=1,
        credential=cred,
        candidates=cands,
        n_grades=3,
        allow_blank=True,
        subset_size=0,
        h=h,
    )
    assert why == "" and rows is not None and blank is not None
    assert list(rows) == cands  # header: indexes 0 and 1

    def dec(c: E.Cipher) -> int | None:
        return E.dlog(E.sub(c[1], E.mul(x, c[0])), 1)

    assert [dec(c) for c in rows[cands[0]]] == [0, 0, 1]
    assert [dec(c) for c in rows[cands[1]]] == [1, 0, 0]
    assert dec(blank) == 0
    message = b"scrutin-ballot/v2\x00" + ORIGIN.encode() + b"\x001\x00" + blob
    sig = base64.b64encode(key.sign(message).signature).decode()
    assert sig == (
        "NFXBthpLVH+P6jZYuv/rs5MafSqBCOQHnr0GmDcAta/BbwsmSTIBBW0HWCrcF2GESr56JkPDcMTrdF+dRPSUBg=="
    )
    # The first row's weight z_0 and the sum of its challenges.
    first = 5 + 4 + 64
    statement = blob[first : first + 128] + blob[9 : 9 + 64]
    z0 = E.H128("ballot-weight", ORIGIN, 1, cred, cands[0], h, statement, "0")
    assert z0.to_bytes(16, "little").hex() == "67bca7fe0c1438d6170236dc67293f98"
    cs = [int.from_bytes(blob[first + 128 + 48 * k :][:16], "little") for k in range(4)]
    assert sum(cs) % 2**128 == 130375650680817323386153297378467667714
    # A flipped bit in a response makes the row fail.
    bad = bytearray(blob)
    bad[first + 128 + 16] ^= 1
    *_, why = E.parse_ballot(
        bytes(bad),
        origin=ORIGIN,
        round_no=1,
        credential=cred,
        candidates=cands,
        n_grades=3,
        allow_blank=True,
        subset_size=0,
        h=h,
    )
    assert why == "proof-failed"


H_EXAMPLE = base64.b64decode("azc4Fqf0SFMQUWICBixSTQX8wgM8Ue/rKV/ttZgKI5M=")


def test_worked_example_ballot_reproduced_by_the_spec_prover() -> None:
    """The stranger's prover, written from "The row proof" and the example's draw order,
    gives the spec's blob byte for byte."""
    blob = re.search(r"The blob \(713 bytes\) is\n\n    (\S+)", SPEC).group(1)
    cred = bytes(SigningKey(bytes([1]) * 32).verify_key)
    made = E.encrypt_ballot(
        origin=ORIGIN,
        round_no=1,
        credential=cred,
        candidates=["5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
        rows=[0, 1],
        grades={0: 2, 1: 0},
        n_grades=3,
        allow_blank=True,
        h=H_EXAMPLE,
        draw=E.example_draws(b"scrutin example ballot"),
    )
    assert base64.b64encode(made).decode() == blob


def test_worked_example_twelve_candidates() -> None:
    cred_key = SigningKey(bytes([1]) * 32)
    cred = bytes(cred_key.verify_key)
    cands = [f"00000000-0000-0000-0000-{k:012x}" for k in range(1, 13)]
    blob = E.encrypt_ballot(
        origin=ORIGIN,
        round_no=1,
        credential=cred,
        candidates=cands,
        rows=list(range(12)),
        grades={k: k % 7 for k in range(12)},
        n_grades=7,
        allow_blank=True,
        h=H_EXAMPLE,
        draw=E.example_draws(b"scrutin example ballot 12x7"),
    )
    assert len(blob) == E.ballot_length(7, 1, 12) == 9309
    assert (
        base64.b64encode(blob)
        .decode()
        .startswith("AQcBAAwAAAABAAIAAwAEAAUABgAHAAgACQAKAAv8A7KmLAaa99Qppv5sX/EZMhqI")
    )
    sha = "ab06f5da2665ef8c6adff710de95784633b7cb29693c804cee93ea40266dcf28"
    assert hashlib.sha256(blob).hexdigest() == sha
    rows, _, why = E.parse_ballot(
        blob,
        origin=ORIGIN,
        round_no=1,
        credential=cred,
        candidates=cands,
        n_grades=7,
        allow_blank=True,
        subset_size=0,
        h=H_EXAMPLE,
    )
    assert why == "" and rows is not None
    # As a `ballot` entry signed by §3's log key: 12,862 bytes.
    sig = cred_key.sign(b"scrutin-ballot/v2\x00" + ORIGIN.encode() + b"\x001\x00" + blob)
    log = SigningKey(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    env: dict[str, Any] = {
        "v": 1,
        "origin": ORIGIN,
        "primary": "0b9d6b5c-6b1e-4c1a-9a57-2f3d1c8e7a10",
        "kind": "ballot",
        "time": 1700000000,
        "body": {
            "round": 1,
            "encrypted": base64.b64encode(blob).decode(),
            "credential": base64.b64encode(cred).decode(),
            "credential_sig": base64.b64encode(sig.signature).decode(),
        },
        "key": key_id(ORIGIN, bytes(log.verify_key)).hex(),
    }
    signed = log.sign(b"scrutin-entry/v1\x00ballot\x00" + jcs(env)).signature
    env["sig"] = base64.b64encode(signed).decode()
    assert env["key"] == "3d90ae7e"
    assert len(jcs(env)) == 12862


def test_worked_examples_trustee_part() -> None:
    g = E.G
    assert E.H("trustee-pok", ORIGIN, 1, g).to_bytes(32, "little").hex() == (
        "bfb3e1d71ee2d7e110a24c09cb8fd30afd86bd447604ad9f20914b830de4de0e"
    )
    c0, c1 = E.base(7), E.base(9)
    assert base64.b64encode(c0).decode() == _spec_value("commitment-0")
    assert base64.b64encode(c1).decode() == _spec_value("commitment-1")
    pok = base64.b64decode(_spec_value("pok"))
    c, s = E.scalar(pok[:32]), E.scalar(pok[32:])
    assert c is not None and s is not None
    a = E.sub(E.base(s), E.mul(c, c0))
    assert a == E.base(11) and E.H("trustee-pok", ORIGIN, 1, c0, c1, a) == c
    assert E.base(34) == E.add(c0, E.mul(3, c1))
    # Trustee signature (the ack of trustee 1).
    key = SigningKey(bytes([1]) * 32)
    message = b"scrutin-trustee-ack/v2\x00" + ORIGIN.encode() + b"\x00"
    message += jcs({"complaints": [], "index": 1})
    assert base64.b64encode(key.sign(message).signature).decode() == _spec_value("ack-sig")
    # Decryption share, n = k = 1, x_1 = 7.
    alpha = base64.b64decode(_spec_value("alpha"))
    assert alpha == E.base(3)
    value = base64.b64decode(_spec_value("decryption-share"))
    position = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0/3"
    d = E.share_ok(ORIGIN, 1, 1, position, E.base(7), E.base(7), alpha, value)
    assert d == E.base(21)
    assert E.share_ok(ORIGIN, 1, 1, "blank", E.base(7), E.base(7), alpha, value) is None
    # Lagrange for S = {1, 3}.
    for j, label in ((1, "lambda-1"), (3, "lambda-3")):
        want = bytes.fromhex(re.search(label + r": ([0-9a-f]{64})", SPEC).group(1))
        assert E.lagrange(j, [1, 3]).to_bytes(32, "little") == want


def test_group_edge_cases() -> None:
    """§10: derived points may be the identity (libsodium refuses it as input); scalar 0
    gives the identity; the bounded dlog finds every count in 0 … bound and nothing above."""
    assert E.mul(5, E.IDENTITY) == E.IDENTITY and E.mul(E.L, E.G) == E.IDENTITY
    assert E.base(0) == E.IDENTITY and not E.valid_point(E.IDENTITY)
    assert E.add(E.G, E.IDENTITY) == E.G and E.sub(E.G, E.G) == E.IDENTITY
    assert E.scalar(E.L.to_bytes(32, "little")) is None
    assert E.scalar((E.L - 1).to_bytes(32, "little")) == E.L - 1
    for bound in (0, 1, 2, 10, 99):
        for m in range(bound + 1):
            assert E.dlog(E.base(m), bound) == m
        assert E.dlog(E.base(bound + 1), bound) is None


# -- honest and dishonest logs: the stranger agrees with scrutin-audit --------------------


def _audit(export: dict[str, Any], vkey: str, tmp: Path) -> dict[str, Any]:
    path = tmp / "export.json"
    path.write_text(json.dumps(export))
    keyfile = tmp / "key.txt"
    keyfile.write_text(vkey)
    run = subprocess.run(
        [sys.executable, "-m", "audit", "verify", str(path), "--log-key", str(keyfile), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def _voters(p: EncryptedPrimary) -> None:
    p.ceremony()
    p.open()
    p.cast(1, {"A": 2, "B": 0, "C": 1})
    p.cast(2, {"A": 1, "B": 1, "C": 1})
    p.cast(3, None)
    p.cast(4, {"A": 0, "B": 2, "C": 2})


def _honest(p: EncryptedPrimary) -> None:
    _voters(p)
    p.finish()


def _sums_swapped(p: EncryptedPrimary) -> None:
    """The operator swaps two sums cells of A: the decrypted profile follows."""
    _voters(p)
    p.close()
    body = p.honest_sums()
    a = p.ids["A"]
    body["sums"][a][0], body["sums"][a][2] = body["sums"][a][2], body["sums"][a][0]
    p.publish_sums(body)
    p.publish_decryptions(body)
    profiles, valid, blank = p.honest_profiles()
    profiles[a][0], profiles[a][2] = profiles[a][2], profiles[a][0]
    p.publish_result(p.result_body(profiles, valid, blank))


def _result_lies(p: EncryptedPrimary) -> None:
    """Honest sums and decryptions, a result that moves one judgment."""
    _voters(p)
    p.close()
    body = p.honest_sums()
    p.publish_sums(body)
    p.publish_decryptions(body)
    profiles, valid, blank = p.honest_profiles()
    a = p.ids["A"]
    profiles[a][0] -= 1
    profiles[a][6] += 1
    p.publish_result(p.result_body(profiles, valid, blank))


def _bad_share(p: EncryptedPrimary) -> None:
    """Trustee 1's decryption made with a wrong secret (its proof cannot hold)."""
    _voters(p)
    p.close()
    body = p.honest_sums()
    p.publish_sums(body)
    t = p.trustees[0]
    p.b.add("trustee-decryption", p.decryption_body(t, body, secret=12345))
    p.publish_decryptions(body, which=[2, 3])
    p.publish_result(p.result_body(*p.honest_profiles()))


def _too_few_shares(p: EncryptedPrimary) -> None:
    _voters(p)
    p.close()
    body = p.honest_sums()
    p.publish_sums(body)
    p.publish_decryptions(body, which=[1])
    p.publish_result(p.result_body(*p.honest_profiles()))


def _turnout_wrong(p: EncryptedPrimary) -> None:
    _voters(p)
    p.close(turnout=5)
    body = p.honest_sums()
    p.publish_sums(body)
    p.publish_decryptions(body)
    p.publish_result(p.result_body(*p.honest_profiles()))


def _tampered_ballot(p: EncryptedPrimary) -> None:
    """Voter 5's ballot with one flipped bit in a response, properly signed by the voter's
    own credential: an invalid ballot (proof-failed), warned, counted as invalid."""
    _voters(p)
    honest = p.honest_sums()  # the four valid ballots' sums, before voter 5's
    profiles, valid, blank = p.honest_profiles()
    p.cast(5, {"A": 3, "B": 3, "C": 3})
    spec = p.b.specs[-1]
    body = dict(spec.body)
    blob = bytearray(base64.b64decode(body["encrypted"]))
    blob[-1] ^= 0x01  # the last response's top byte: still canonical, the proof fails
    blob[-1] &= 0x0F
    body["encrypted"] = base64.b64encode(bytes(blob)).decode()
    key = next(k for i, k, *_ in p.counted() if i == len(p.b.specs) - 1)
    message = b"scrutin-ballot/v2\x00" + p.origin.encode() + b"\x001\x00" + bytes(blob)
    body["credential_sig"] = base64.b64encode(key.sign(message).signature).decode()
    spec.body = body
    p.close()
    p.publish_sums(honest)
    p.publish_decryptions(honest)
    p.publish_result(p.result_body(profiles, valid, blank, invalid=1))


def _respec(p: EncryptedPrimary, kind: str, nth: int, change: Callable[[dict], None]) -> None:
    """Change the body of the nth entry of `kind`, re-signed by the trustee of its index (a
    dishonest trustee) when it is a trustee's body; the log key re-signs every envelope."""
    spec = [x for x in p.b.specs if x.kind == kind][nth]
    body = dict(spec.body)
    change(body)
    if "trustee_sig" in body:
        t = next(t for t in p.trustees if t.index == body["index"])
        rest = {k: v for k, v in body.items() if k != "trustee_sig"}
        body["trustee_sig"] = trustee_sig(t.signing, kind, p.origin, rest)
    spec.body = body


def _pok_forged(p: EncryptedPrimary) -> None:
    """Trustee 2 posts a proof of knowledge that does not hold (c and s swapped)."""
    p.ceremony()

    def swap(body: dict) -> None:
        raw = base64.b64decode(body["pok"])
        body["pok"] = base64.b64encode(raw[32:] + raw[:32]).decode()

    _respec(p, "trustee-keygen", 1, swap)
    p.open()
    p.finish()


def _ack_not_signed(p: EncryptedPrimary) -> None:
    """The operator writes trustee 3's ack with a signature by another key."""
    p.ceremony()
    spec = [x for x in p.b.specs if x.kind == "trustee-ack"][2]
    body = dict(spec.body)
    rest = {k: v for k, v in body.items() if k != "trustee_sig"}
    body["trustee_sig"] = trustee_sig(key_of(99), "trustee-ack", p.origin, rest)
    spec.body = body
    p.open()
    p.finish()


def _election_key_wrong(p: EncryptedPrimary) -> None:
    """The election-key entry announces a key that is not the commitments' sum."""
    p.ceremony()

    def other(body: dict) -> None:
        body["public_key"] = body["verification_keys"][0]

    _respec(p, "election-key", 0, other)
    p.open()
    p.finish()


def _blob(p: EncryptedPrimary, voter: int, **over: Any) -> bytes:
    """An honest-looking blob by the stranger's own prover (random draws), for voter
    `voter`, grading every candidate 3 unless `over` says otherwise."""
    cands = list(p.ids.values())
    args: dict[str, Any] = {
        "origin": p.origin,
        "round_no": 1,
        "credential": bytes(p.keys[voter].verify_key),
        "candidates": cands,
        "rows": list(range(len(cands))),
        "grades": dict.fromkeys(range(len(cands)), 3),
        "n_grades": len(p.definition["grades"]) if "grades" in p.definition else 7,
        "allow_blank": True,
        "h": p.public_key,
        "draw": lambda: secrets.token_bytes(64),
    }
    args.update(over)
    if "rows" in over and "grades" not in over:
        args["grades"] = dict.fromkeys(over["rows"], 3)
    return E.encrypt_ballot(**args)


def _cast_blob(p: EncryptedPrimary, voter: int, blob: bytes) -> None:
    """Voter `voter` signs and the log writes a ballot holding `blob`."""
    key = p.keys[voter]
    message = b"scrutin-ballot/v2\x00" + p.origin.encode() + b"\x001\x00" + blob
    p.b.add(
        "ballot",
        {
            "round": 1,
            "encrypted": base64.b64encode(blob).decode(),
            "credential": base64.b64encode(bytes(key.verify_key)).decode(),
            "credential_sig": base64.b64encode(key.sign(message).signature).decode(),
        },
    )


def _invalid_ballot(make: Callable[[EncryptedPrimary], bytes], voter: int = 5) -> Callable:
    """Four honest ballots, then one by `voter` holding `make(p)`: an invalid ballot, warned
    with its §10 code, left out of the sums; the honest tally follows (with `invalid` 1 when
    the voter has no valid ballot)."""

    def script(p: EncryptedPrimary) -> None:
        _voters(p)
        honest = p.honest_sums()
        profiles, valid, blank = p.honest_profiles()
        _cast_blob(p, voter, make(p))
        p.close(turnout=5 if voter > 4 else 4)  # the turnout counts the invalid ballot's voter
        p.publish_sums(honest)
        p.publish_decryptions(honest)
        invalid = 1 if voter > 4 else 0
        p.publish_result(p.result_body(profiles, valid, blank, invalid=invalid))

    return script


def _patch(p: EncryptedPrimary, at: int, data: bytes) -> bytes:
    blob = bytearray(_blob(p, 5))
    blob[at : at + len(data)] = data
    return bytes(blob)


# The builder's round: 3 candidates, 7 grades, blank allowed: header 5 + 6 bytes of indexes,
# the blank cell (64), then each row: 6 cells (384) and 8 branches (384).
ROW0 = 5 + 6 + 64
INVALID: dict[str, Callable[[EncryptedPrimary], bytes]] = {
    "bad-layout": lambda p: _patch(p, 0, b"\x02"),
    "bad-layout-length": lambda p: _blob(p, 5)[:-1],
    "wrong-grades": lambda p: _blob(p, 5, n_grades=6),
    "wrong-blank": lambda p: _blob(p, 5, allow_blank=False),
    "unknown-candidate": lambda p: _blob(
        p,
        5,
        candidates=[*p.ids.values(), *(f"{i:08x}-0000-4000-8000-000000000000" for i in range(4))],
        rows=[0, 1, 6],
    ),
    "candidate-order": lambda p: _patch(p, 5, b"\x00\x01\x00\x00\x00\x02"),
    "wrong-row-count": lambda p: _blob(p, 5, rows=[0, 1]),
    "invalid-point": lambda p: _patch(p, ROW0 + 2 * 64, b"\xff" * 31 + b"\x7f"),
    "invalid-scalar": lambda p: _patch(p, ROW0 + 384 + 16, E.L.to_bytes(32, "little")),
    "proof-failed-copied-row": lambda p: _blob(p, 5, credential=bytes(p.keys[6].verify_key)),
}


def _tally_after(p: EncryptedPrimary, edit: Callable[[EncryptedPrimary, dict], None]) -> None:
    """The honest tally with `edit(p, sums)` run after the sums are published."""
    p.close()
    body = p.honest_sums()
    p.publish_sums(body)
    edit(p, body)
    p.publish_result(p.result_body(*p.honest_profiles()))


def _subset_round(p: EncryptedPrimary) -> None:
    """subset_size 2 of 3 candidates: each ballot has two rows; `missing` fills the rest."""
    p.ceremony()
    p.open()
    p.cast(1, {"A": 2, "B": 5}, candidates=["A", "B"])
    p.cast(2, {"B": 1, "C": 6}, candidates=["B", "C"])
    p.cast(3, None, candidates=["A", "C"])
    p.cast(4, {"A": 4, "C": 0}, candidates=["A", "C"])
    p.finish()


def _duplicate_decryption(p: EncryptedPrimary) -> None:
    _voters(p)
    _tally_after(p, lambda p, s: p.publish_decryptions(s, which=[1, 1, 2]))


def _decryption_forged(p: EncryptedPrimary) -> None:
    """The operator writes trustee 1's decryption signed by another key."""

    def edit(p: EncryptedPrimary, sums: dict) -> None:
        body = p.decryption_body(p.trustees[0], sums)
        rest = {k: v for k, v in body.items() if k != "trustee_sig"}
        body["trustee_sig"] = trustee_sig(key_of(99), "trustee-decryption", p.origin, rest)
        p.b.add("trustee-decryption", body)
        p.publish_decryptions(sums, which=[2])

    _voters(p)
    _tally_after(p, edit)


def _decryption_without_blank(p: EncryptedPrimary) -> None:
    def edit(p: EncryptedPrimary, sums: dict) -> None:
        body = p.decryption_body(p.trustees[0], sums)
        body.pop("blank")
        rest = {k: v for k, v in body.items() if k != "trustee_sig"}
        body["trustee_sig"] = trustee_sig(
            p.trustees[0].signing, "trustee-decryption", p.origin, rest
        )
        p.b.add("trustee-decryption", body)
        p.publish_decryptions(sums, which=[2, 3])

    _voters(p)
    _tally_after(p, edit)


def _sums_count_wrong(p: EncryptedPrimary) -> None:
    _voters(p)
    p.close()
    body = p.honest_sums()
    body["ballots"] += 1
    p.publish_sums(body)
    p.publish_decryptions(body)
    p.publish_result(p.result_body(*p.honest_profiles()))


def _tally_key_written(p: EncryptedPrimary) -> None:
    """A v1 tally-key entry in an encrypted round (§10: never written)."""
    _voters(p)
    p.close()
    p.b.add("tally-key", {"round": 1, "tally_secret_key": base64.b64encode(bytes(32)).decode()})
    body = p.honest_sums()
    p.publish_sums(body)
    p.publish_decryptions(body)
    p.publish_result(p.result_body(*p.honest_profiles()))


def _result_before_sums(p: EncryptedPrimary) -> None:
    _voters(p)
    p.close()
    p.publish_result(p.result_body(*p.honest_profiles()))


def _no_election_key(p: EncryptedPrimary) -> None:
    p.ceremony(election_key=False)
    p.open()
    p.finish()


def _share_box_short(p: EncryptedPrimary) -> None:
    """Trustee 1 posts a share box one byte short (re-signed by trustee 1)."""
    p.ceremony()

    def cut(body: dict) -> None:
        shares = [dict(x) for x in body["shares"]]
        shares[0]["box"] = base64.b64encode(base64.b64decode(shares[0]["box"])[:-1]).decode()
        body["shares"] = shares

    _respec(p, "trustee-keygen", 0, cut)
    p.open()
    p.finish()


def _trustees_changed(p: EncryptedPrimary) -> None:
    """A definition revision after the trustees' registration changes the threshold."""
    p.ceremony()
    spec = next(x for x in p.b.specs if x.kind == "definition")
    i = p.b.specs.index(spec)
    body = dict(spec.body)
    body["revision"] = 2
    body["trustee_threshold"] = 3
    first_trustee = next(j for j, x in enumerate(p.b.specs) if x.kind == "trustee")
    p.b.specs.insert(
        first_trustee + 1, type(spec)("definition", body, p.b.specs[first_trustee].time)
    )
    assert i == 0
    p.open()
    p.finish()


def _two_invalid_one_voter(p: EncryptedPrimary) -> None:
    """Voter 5 casts two invalid ballots: `counts.invalid` counts the voter once."""
    _voters(p)
    honest = p.honest_sums()
    profiles = p.honest_profiles()
    _cast_blob(p, 5, _patch(p, 0, b"\x02"))
    _cast_blob(p, 5, _patch(p, 0, b"\x03"))
    p.close(turnout=5)
    p.publish_sums(honest)
    p.publish_decryptions(honest)
    p.publish_result(p.result_body(*profiles, invalid=1))


def _forged_credential_sig(p: EncryptedPrimary) -> None:
    """The operator writes a ballot under voter 5's key signed by voter 6's key, and leaves
    it out of the sums (both verifiers count it there: check 13 and check 9 fail)."""
    _voters(p)
    blob = _blob(p, 5)
    message = b"scrutin-ballot/v2\x00" + p.origin.encode() + b"\x001\x00" + blob
    p.b.add(
        "ballot",
        {
            "round": 1,
            "encrypted": base64.b64encode(blob).decode(),
            "credential": base64.b64encode(bytes(p.keys[5].verify_key)).decode(),
            "credential_sig": base64.b64encode(p.keys[6].sign(message).signature).decode(),
        },
    )
    p.close(turnout=5)
    body = p.honest_sums()
    p.publish_sums(body)
    p.publish_decryptions(body)
    p.publish_result(p.result_body(*p.honest_profiles()))


def _sealed_in_encrypted(p: EncryptedPrimary) -> None:
    _voters(p)
    key = p.keys[5]
    message = b"scrutin-ballot/v1\x00" + p.origin.encode() + b"\x001\x00" + bytes(3)
    p.b.add(
        "ballot",
        {
            "round": 1,
            "sealed": "AAAA",
            "credential": base64.b64encode(bytes(key.verify_key)).decode(),
            "credential_sig": base64.b64encode(key.sign(message).signature).decode(),
        },
    )
    p.finish()


def _honest_revote(p: EncryptedPrimary) -> None:
    _voters(p)
    p.cast(1, {"A": 6, "B": 6, "C": 6})
    p.finish()


def _decryption_after_result(p: EncryptedPrimary) -> None:
    _voters(p)
    p.finish()
    p.publish_decryptions(p.honest_sums(), which=[3])


def _trustee_edit(kind: str, nth: int, change: Callable[[dict], None]) -> Callable:
    def script(p: EncryptedPrimary) -> None:
        p.ceremony()
        _respec(p, kind, nth, change)
        p.open()
        _voters_cast(p)
        p.finish()

    return script


def _voters_cast(p: EncryptedPrimary) -> None:
    p.cast(1, {"A": 2, "B": 0, "C": 1})
    p.cast(2, None)


def _set(member: str, value: Any) -> Callable[[dict], None]:
    def change(body: dict) -> None:
        body[member] = value

    return change


def _copy_signing_key(p: EncryptedPrimary) -> None:
    """Trustee 2 is registered with trustee 1's signing key."""
    p.ceremony()
    first, second = [x for x in p.b.specs if x.kind == "trustee"][:2]
    second.body = {**second.body, "signing_key": first.body["signing_key"]}
    p.open()
    p.finish()


def _complaint(p: EncryptedPrimary) -> None:
    """Trustee 1 complains about dealer 2: the ceremony stops, no election key (honest)."""
    p.ceremony(election_key=False)
    _respec(p, "trustee-ack", 0, _set("complaints", [2]))


def _election_key_after_roll(p: EncryptedPrimary) -> None:
    """The election-key entry written between round 1's roll and its round-open (§9 check
    14: `ceremony-after-roll`; the round still opens with the right key)."""
    p.ceremony()
    p.open()
    specs = p.b.specs
    key = next(i for i, x in enumerate(specs) if x.kind == "election-key")
    specs[key].time, specs[key + 1].time = specs[key + 1].time, specs[key].time
    specs[key], specs[key + 1] = specs[key + 1], specs[key]
    _voters_cast(p)
    p.finish()


def _restart(replaced: list[int], **kw: Any) -> Callable:
    """Trustee 1 complains about dealer 2; the organiser restarts (§10 item 5), replacing
    `replaced`; attempt 2 gives the election key, and round 1 is counted."""

    def script(p: EncryptedPrimary) -> None:
        p.ceremony(complaints={1: [2]})
        p.restart(replaced, **kw)
        p.register([j for j in replaced if 1 <= j <= p.n])
        p.attempt_round()
        p.open()
        _voters_cast(p)
        p.finish()

    return script


def _no_blank(p: EncryptedPrimary) -> None:
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 0, "C": 3})
    p.cast(2, {"A": 5, "B": 5, "C": 5})
    p.finish()


PRIMARY: dict[str, dict[str, Any]] = {
    "honest-1-of-1": {"n": 1, "k": 1},
    "honest-3-of-5": {"n": 5, "k": 3},
    "honest-no-blank": {
        "definition": {"allow_blank": False, "grades": ["a", "b", "c", "d", "e", "f", "g"]}
    },
    "subset-round": {"definition": {"subset_size": 2, "missing": "normalize"}},
    "definition-encrypted-server": {"definition": {"credentials": "server"}},
    "definition-threshold-above-n": {"definition": {"trustee_threshold": 5}},
}

VARIANTS: dict[str, Callable[[EncryptedPrimary], None]] = {
    "honest-1-of-1": _honest,
    "honest-3-of-5": _honest,
    "honest-no-blank": _no_blank,
    "honest-restart": _restart([2]),
    "honest-restart-same-trustees": _restart([]),
    "restart-attempt-skipped": _restart([2], attempt=3),
    "restart-replaced-unsorted": _restart([3, 2]),
    "decryption-after-result": _decryption_after_result,
    "election-key-after-roll": _election_key_after_roll,
    "trustee-name-too-long": _trustee_edit("trustee", 0, _set("name", "x" * 201)),
    "trustee-name-empty": _trustee_edit("trustee", 0, _set("name", "")),
    "ack-complains-about-itself": _trustee_edit("trustee-ack", 0, _set("complaints", [1])),
    "ack-complaints-unsorted": _trustee_edit("trustee-ack", 0, _set("complaints", [3, 2])),
    "share-to-self": _trustee_edit(
        "trustee-keygen",
        0,
        lambda b: b.update(shares=[{**b["shares"][0], "to": 1}, b["shares"][1]]),
    ),
    "shared-signing-key": _copy_signing_key,
    "complaint-stops-ceremony": _complaint,
    "two-invalid-one-voter": _two_invalid_one_voter,
    "forged-credential-sig": _forged_credential_sig,
    "sealed-in-encrypted": _sealed_in_encrypted,
    "honest-revote": _honest_revote,
    "definition-encrypted-server": _honest,
    "definition-threshold-above-n": _honest,
    "subset-round": _subset_round,
    "duplicate-decryption": _duplicate_decryption,
    "decryption-forged": _decryption_forged,
    "decryption-without-blank": _decryption_without_blank,
    "sums-count-wrong": _sums_count_wrong,
    "tally-key-written": _tally_key_written,
    "result-before-sums": _result_before_sums,
    "no-election-key": _no_election_key,
    "share-box-short": _share_box_short,
    "trustees-changed": _trustees_changed,
    **{f"invalid-{k}": _invalid_ballot(v) for k, v in INVALID.items()},
    "revote-invalid-keeps-first": _invalid_ballot(lambda p: _patch(p, 0, b"\x02"), voter=1),
    "pok-forged": _pok_forged,
    "ack-not-signed": _ack_not_signed,
    "election-key-wrong": _election_key_wrong,
    "honest": _honest,
    "sums-swapped": _sums_swapped,
    "result-lies": _result_lies,
    "bad-share": _bad_share,
    "too-few-shares": _too_few_shares,
    "turnout-wrong": _turnout_wrong,
    "tampered-ballot": _tampered_ballot,
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_stranger_agrees_with_scrutin_audit(name: str, tmp_path: Path) -> None:
    p = EncryptedPrimary(**PRIMARY.get(name, {}))
    VARIANTS[name](p)
    export = p.export()
    ours = verify_export(export, p.b.vkey)
    theirs = _audit(export, p.b.vkey, tmp_path)
    failed = {c["number"] for c in theirs["checks"] if not c["ok"]}
    warned = {
        (w.get("code") or "").removeprefix("invalid-")
        for c in theirs["checks"]
        if c["number"] == 9
        for w in c.get("warnings") or []
        if isinstance(w, dict)
    }
    assert ours.usable
    assert ours.ok == theirs["ok"], (ours.failures, theirs)
    assert ours.failed_checks == failed, (ours.failures, theirs)
    assert {w.code for w in ours.warnings if w.check == 9} == warned
    # Invalid ballots are warnings, not failures: those logs are honest.
    honest = (
        name.startswith("honest")
        or name
        in (
            "tampered-ballot",
            "subset-round",
            "two-invalid-one-voter",
            "honest-revote",
            "complaint-stops-ceremony",
        )
        or name.startswith(("invalid-", "revote-"))
    )
    assert ours.ok == honest
    if name.startswith("invalid-"):
        code = name.removeprefix("invalid-").removesuffix("-length").removesuffix("-copied-row")
        assert [w.code for w in ours.warnings] == [code]
