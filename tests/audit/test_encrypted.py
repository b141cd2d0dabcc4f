"""scrutin-audit on encrypted primaries (docs/audit-log.md §10): an honest round passes, and
for each guarantee a dishonest operator's log, signed with the log's own valid key, fails with
the right check and code. The logs are built with the producer's crypto
(tests/audit/encrypted_builder.py); audit/ shares none of it."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from audit import group
from audit.encrypted import RoundContext, check_ballot
from crypto import elgamal
from crypto import encrypted_ballots as eb
from crypto import trustees as tm
from tests.audit.builder import b64
from tests.audit.encrypted_builder import EncryptedPrimary, pub, voted
from tests.audit.util import failed, run

SPEC = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text("utf-8")


def codes(report: Any) -> dict[int, set[str]]:
    return {n: {code for _, code in found} for n, found in failed(report).items()}


def check(p: EncryptedPrimary) -> Any:
    return run(p.export(), p.b.vkey)


# -- honest --------------------------------------------------------------------------------
def test_an_honest_encrypted_round_passes_and_is_recounted() -> None:
    p = voted()
    p.finish()
    report = check(p)
    assert failed(report) == {}
    notes = " ".join(f.render("en") for f in report.checks[9].notes)
    assert "proofs of 5 ballots checked, 4 counted, 0 invalid" in notes
    assert "decrypted by trustees 1, 2: 3 valid, 1 blank, 0 invalid" in notes
    assert "3 trustees, threshold 2" in report.checks[14].notes[0].render("en")
    (summary,) = report.summary["rounds"]
    assert (summary["valid"], summary["blank"], summary["invalid"]) == (3, 1, 0)


def test_subsets_without_blank_and_any_k_trustees_pass() -> None:
    p = EncryptedPrimary(definition={"subset_size": 2, "allow_blank": False}, n=3, k=2)
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 3})
    p.cast(2, {"B": 0, "C": 4})
    p.cast(3, {"A": 1, "C": 1})
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums, [3, 1])  # trustees 3 and 1, in that order
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    assert failed(check(p)) == {}


def test_a_round_still_open_or_awaiting_decryption_is_not_a_failure() -> None:
    p = voted()
    assert failed(check(p)) == {}
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums, [2])  # one of the two shares needed so far
    report = check(p)
    assert failed(report) == {}
    assert any(f.code == "decryption-pending" for f in report.checks[9].notes)


# -- ballots -------------------------------------------------------------------------------
def cheating_ballot(p: EncryptedPrimary, voter: int, first_row: list[int]) -> dict[str, Any]:
    """A ballot whose first row is not one-hot (e.g. a cell of 2), with a proof forged as well
    as one can: the cheater knows every randomness and claims each branch in turn; the
    best-looking forgery is the one for branch 0. Signed by the voter's own key."""
    params = p.params()
    key = p.keys[voter]
    cred = bytes(key.verify_key)
    blank = elgamal.encrypt_fresh(0, params.election_key) if params.allow_blank else None
    n = params.n_grades
    rows = []
    for i, cand in enumerate(params.candidates):
        plain = first_row if i == 0 else [1] + [0] * (n - 2)
        cells = [elgamal.encrypt_fresh(m, params.election_key) for m in plain]
        cts = [ct for ct, _ in cells]
        proof = eb.prove_row(params, cred, cand, cts, [r for _, r in cells], blank, 0)
        rows.append(eb.Row(cand, tuple(cts), proof))
    ballot = eb.EncryptedBallot(
        n, blank[0] if blank else None, tuple(rows), tuple(range(len(rows)))
    )
    blob = eb.pack(ballot)
    sig = key.sign(eb.signed_message(p.origin, 1, blob)).signature
    return {"round": 1, "encrypted": b64(blob), "credential": pub(key), "credential_sig": b64(sig)}


def counting_everything(p: EncryptedPrimary, grades: dict[str, list[int]]) -> None:
    """The operator sums every last ballot, valid or not, and publishes what that decrypts to."""
    params = p.params()
    last: dict[str, Any] = {}
    for _, key, _, body in p.ballots:
        last[pub(key)] = body
    ballots = [eb.unpack(base64.b64decode(b["encrypted"]), params) for b in last.values()]
    sums = eb.sum_ballots(params.n_grades, ballots)
    body = p.sums_body(
        {c: [(ct.alpha, ct.beta) for ct in cells] for c, cells in sums.rows.items()},
        sums.ballots,
        None if sums.blank is None else (sums.blank.alpha, sums.blank.beta),
    )
    p.close()
    p.publish_sums(body)
    p.publish_decryptions(body)
    p.publish_result(p.result_body(grades, len(last), 0))


def test_a_counted_ballot_with_a_cell_of_two_is_caught() -> None:
    p = EncryptedPrimary()
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 3, "C": 1})
    body = cheating_ballot(p, 2, [2, 0, 0, 0, 0, 0])  # two votes at grade 0 for A
    index = p.b.add("ballot", body)
    p.ballots.append((index, p.keys[2], {}, body))
    profiles = {c: [0] * 7 for c in p.ids.values()}
    profiles[p.ids["A"]][0] = 2
    profiles[p.ids["A"]][6] = 0  # the implicit cell: 1 − 2 = −1, plus voter 1's 1
    counting_everything(p, profiles)
    report = check(p)
    warnings = [(f.index, f.code) for f in report.checks[9].warnings]
    assert warnings == [(index, "invalid-proof-failed")]
    assert "sums-ballots" in codes(report)[9] and "sums-differ" in codes(report)[9]


def test_an_invalid_ballot_does_not_replace_the_earlier_valid_one() -> None:
    p = EncryptedPrimary()
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 3, "C": 1})
    p.cast(2, {"A": 1, "B": 1, "C": 1})
    body = cheating_ballot(p, 2, [1, 1, 0, 0, 0, 0])
    index = p.b.add("ballot", body)
    p.close()
    # The honest tally: both voters' valid ballots (voter 2's first one still counts).
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums)
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    report = check(p)
    assert failed(report) == {}
    assert [(f.index, f.code) for f in report.checks[9].warnings] == [
        (index, "invalid-proof-failed")
    ]


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda blob: blob[:1] + b"\x02" + blob[2:], "bad-layout"),
        (lambda blob: blob[:-1], "bad-layout"),
        (lambda blob: blob[:5] + b"\x00\x09" + blob[7:], "unknown-candidate"),
        (lambda blob: blob[:5] + blob[7:9] + blob[5:7] + blob[9:], "candidate-order"),
        (lambda blob: blob[:11] + bytes(32) + blob[43:], "invalid-point"),
        (lambda blob: blob[:-32] + b"\xff" * 32, "invalid-scalar"),
        (lambda blob: blob[:-40] + bytes([blob[-40] ^ 1]) + blob[-39:], "proof-failed"),
    ],
)
def test_each_invalid_reason_of_the_spec(mutate: Any, reason: str) -> None:
    p = EncryptedPrimary()
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 3, "C": 1})
    blob = base64.b64decode(p.ballots[0][3]["encrypted"])
    ctx = RoundContext(p.origin, 1, tuple(p.ids.values()), 7, 0, True, True, p.public_key)
    body = dict(p.ballots[0][3])
    assert len(check_ballot(ctx, body)) == 3 * 7 + 1
    body["encrypted"] = b64(mutate(blob))
    with pytest.raises(Exception) as info:
        check_ballot(ctx, body)
    assert getattr(info.value, "code", None) == reason


def test_the_spec_worked_example_blob_verifies_and_decrypts() -> None:
    part = SPEC[SPEC.index("### The encrypted ballot") : SPEC.index("### Encrypted tally")]
    blob = base64.b64decode(re.search(r"\n    (AQMB[A-Za-z0-9+/=]+)\n", part).group(1))  # type: ignore[union-attr]
    assert hashlib.sha256(blob).hexdigest() == re.search(  # type: ignore[union-attr]
        r"\(SHA-256 `([0-9a-f]{64})`\)", part
    ).group(1)
    x = bytes.fromhex(re.search(r"election secret `x` = `([0-9a-f]{64})`", part).group(1))  # type: ignore[union-attr]
    h = group.base(x)
    assert b64(h) == "azc4Fqf0SFMQUWICBixSTQX8wgM8Ue/rKV/ttZgKI5M="
    cands = ("5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    ctx = RoundContext("scrutin.localhost/primaries/demo", 1, cands, 3, 0, True, True, h)
    credential = pub(SigningKey(bytes([1]) * 32))
    cells = check_ballot(ctx, {"encrypted": b64(blob), "credential": credential})

    def value(cipher: tuple[bytes, bytes]) -> int | None:
        return group.dlog(group.sub(cipher[1], group.mul(x, cipher[0])), 2)

    assert [value(cells[ctx.cell(0, g)]) for g in range(3)] == [0, 0, 1]
    assert [value(cells[ctx.cell(1, g)]) for g in range(3)] == [1, 0, 0]
    assert value(cells[ctx.blank_cell]) == 0
    other = pub(SigningKey(bytes([2]) * 32))  # the proofs bind the credential
    with pytest.raises(Exception, match="proof-failed"):
        check_ballot(ctx, {"encrypted": b64(blob), "credential": other})


# -- sums, decryption, result --------------------------------------------------------------
def test_a_sum_that_is_not_the_sum_is_caught() -> None:
    p = voted()
    p.close()
    sums = p.honest_sums()
    forged = copy.deepcopy(sums)
    a = p.ids["A"]
    # Move one judgment of A from grade 0 to grade 6: add Enc(1) to one cell, Enc(-1) to another.
    one, _ = elgamal.encrypt_fresh(1, p.public_key)
    cells = forged["sums"][a]
    c6 = elgamal.Ciphertext.from_bytes(base64.b64decode(cells[6])) + one
    c0 = elgamal.Ciphertext.from_bytes(base64.b64decode(cells[0])) - one
    cells[6], cells[0] = b64(c6.to_bytes()), b64(c0.to_bytes())
    index = p.publish_sums(forged)
    p.publish_decryptions(forged)
    profiles, valid, blank = p.honest_profiles()
    profiles[a][6] += 1
    profiles[a][0] -= 1
    p.publish_result(p.result_body(profiles, valid, blank))
    report = check(p)
    assert (index, "sums-differ") in failed(report)[9]


def test_a_result_differing_from_the_decrypted_profiles_is_caught() -> None:
    p = voted()
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums)
    profiles, valid, blank = p.honest_profiles()
    profiles[p.ids["C"]] = [0, 0, 0, 0, 0, 0, 3]
    index = p.publish_result(p.result_body(profiles, valid, blank))
    report = check(p)
    assert set(failed(report)) == {10}
    assert (index, "result-value") in failed(report)[10]


def test_a_decryption_share_altered_by_the_operator_is_caught() -> None:
    p = voted()
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    body = p.decryption_body(p.trustees[0], sums)
    a = p.ids["A"]
    body["shares"][a][0] = body["shares"][a][1]  # the operator cannot re-sign as trustee 1
    index = p.b.add("trustee-decryption", body)
    p.publish_decryptions(sums, [2])
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    assert (index, "share-bad-signature") in failed(check(p))[9]


def test_a_decryption_share_with_a_bad_proof_is_caught() -> None:
    """Trustee 1 signs a share computed with a wrong secret: its proof against h_1 fails."""
    p = voted()
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    t = p.trustees[0]
    body = p.decryption_body(t, sums, secret=(t.secret + 1) % group.L)
    index = p.b.add("trustee-decryption", body)
    p.publish_decryptions(sums, [2])
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    found = failed(check(p))
    assert (index, "share-invalid") in found[9] and (None, "first-shares-invalid") in found[9]


def test_a_result_with_fewer_than_k_shares_is_caught() -> None:
    p = voted()
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums, [1])
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    found = failed(check(p))
    assert (None, "shares-too-few") in found[9] and "cannot-recount" in codes(check(p))[10]


def test_a_tally_key_in_an_encrypted_round_is_caught() -> None:
    p = voted()
    p.close()
    index = p.b.add("tally-key", {"round": 1, "tally_secret_key": b64(bytes(32))})
    assert (index, "tally-key-encrypted") in failed(check(p))[6]


# -- the key ceremony ----------------------------------------------------------------------
def ceremony_with(change: Any) -> tuple[EncryptedPrimary, dict[str, int]]:
    p = EncryptedPrimary()
    p.ceremony()
    change(p)
    p.open()
    return p, p.index


def resign_entry(p: EncryptedPrimary, name: str, body: dict[str, Any]) -> None:
    p.b.specs[p.index[name]].body = body


def test_a_trustee_commitment_signed_by_the_wrong_key_is_caught() -> None:
    def forge(p: EncryptedPrimary) -> None:
        spec = p.b.specs[p.index["keygen-2"]]
        dealing = tm.deal(p.origin, 2, p.k)  # the operator's own polynomial for trustee 2
        body = {**spec.body, "commitments": [b64(c) for c in dealing.commitments],
                "pok": b64(dealing.pok)}  # fmt: skip
        body.pop("trustee_sig")
        wrong = SigningKey(bytes([77]) * 32)
        spec.body = p.sign(type(p.trustees[0])(2, wrong, p.trustees[1].box), "trustee-keygen",
                           body)  # fmt: skip

    p, idx = ceremony_with(forge)
    found = failed(check(p))
    assert (idx["keygen-2"], "trustee-bad-signature") in found[14]


def test_an_election_key_that_is_not_the_sum_of_the_commitments_is_caught() -> None:
    def forge(p: EncryptedPrimary) -> None:
        body = p.b.specs[p.index["election-key"]].body
        body["public_key"] = b64(group.base(group.s(5)))
        p.public_key = group.base(group.s(5))  # the round opens (and voters encrypt) under it

    p, idx = ceremony_with(forge)
    found = failed(check(p))
    assert (idx["election-key"], "election-key-differs") in found[14]
    assert (idx["round-open"], "round-key-differs") in found[6]


def test_a_false_proof_of_knowledge_and_a_wrong_verification_key_are_caught() -> None:
    def forge(p: EncryptedPrimary) -> None:
        t = p.trustees[2]
        spec = p.b.specs[p.index["keygen-3"]]
        body = {k: v for k, v in spec.body.items() if k != "trustee_sig"}
        body["pok"] = b64(bytes(64))
        spec.body = p.sign(t, "trustee-keygen", body)
        ek = p.b.specs[p.index["election-key"]].body
        ek["verification_keys"][0] = ek["verification_keys"][1]

    p, idx = ceremony_with(forge)
    found = failed(check(p))
    assert (idx["keygen-3"], "pok-invalid") in found[14]
    assert (idx["election-key"], "election-key-differs") in found[14]


def test_an_election_key_despite_a_complaint_is_caught() -> None:
    def forge(p: EncryptedPrimary) -> None:
        t = p.trustees[1]
        spec = p.b.specs[p.index["ack-2"]]
        spec.body = p.sign(t, "trustee-ack", {"index": 2, "complaints": [3]})

    p, idx = ceremony_with(forge)
    found = failed(check(p))
    assert (idx["election-key"], "election-key-early") in found[14]


def test_ceremony_entries_in_a_sealed_primary_are_caught() -> None:
    p = EncryptedPrimary()
    p.b.specs[0].body = {
        k: v for k, v in p.d.items() if k not in ("ballots", "trustees", "trustee_threshold")
    }
    p.ceremony()
    found = failed(check(p))
    assert (p.index["trustee-1"], "trustee-not-encrypted") in found[14]


def test_encrypted_ballots_without_voter_credentials_are_malformed() -> None:
    p = EncryptedPrimary(definition={"credentials": "server"})
    found = failed(check(p))
    assert (0, "entry-malformed") in found[4]


def test_a_receipt_for_an_encrypted_ballot_checks_its_proofs_and_shows_no_grade() -> None:
    import json as _json

    from audit.receipt import verify_receipt
    from audit.sources import parse_export

    p = voted()
    p.finish()
    doc = p.export()
    log = parse_export(_json.dumps(doc).encode(), "test-export")
    receipt = p.b.receipt(doc, p.ballots[0][0])
    report = verify_receipt(receipt, log=log)
    assert report.ok
    (note,) = [f.render("en") for f in report.checks[4].notes]
    assert "proofs hold" in note and "Alice Martin, Bruno Diallo, Chloé Nguyen" in note
    assert "ballot" not in report.summary and "ballot_lines" not in report.summary
    alone = verify_receipt(receipt)  # without the log: nothing to check the proofs against
    assert alone.ok and alone.checks[4].notes[0].code == "receipt-encrypted-unchecked"


def test_the_spec_trustee_examples_hold_for_scrutin_audit() -> None:
    """§10 "Worked examples of the trustee part", checked with audit/'s own code."""
    from audit.trustees import trustee_message, verifies, verify_pok, verify_share

    part = SPEC[SPEC.index("### Worked examples of the trustee part") :]

    def value(name: str) -> str:
        return re.search(rf"`{name}: ([A-Za-z0-9+/=]+)`", part).group(1)  # type: ignore[union-attr]

    origin = "scrutin.localhost/primaries/demo"
    digest = group.hash_to_scalar("trustee-pok", [origin.encode(), b"1", group.G])
    assert digest.hex() == value("trustee-pok-hash")
    commitments = [group.base(group.s(7)), group.base(group.s(9))]
    assert [b64(c) for c in commitments] == [value("commitment-0"), value("commitment-1")]
    assert verify_pok(origin, 1, commitments, base64.b64decode(value("pok")))
    assert not verify_pok(origin, 2, commitments, base64.b64decode(value("pok")))
    three = group.add(commitments[0], group.int_mul(3, commitments[1]))
    assert group.base(group.s(34)) == three
    signer = bytes(SigningKey(bytes([1]) * 32).verify_key)
    body = {"complaints": [], "index": 1, "trustee_sig": value("ack-sig")}
    assert verifies(signer, trustee_message("trustee-ack", origin, body), body["trustee_sig"])
    assert not verifies(signer, trustee_message("trustee-keygen", origin, body), value("ack-sig"))
    h = group.base(group.s(7))
    alpha = base64.b64decode(value("alpha"))
    assert alpha == group.base(group.s(3))
    share = base64.b64decode(value("decryption-share"))
    position = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0/3"
    assert verify_share(origin, 1, 1, position, h, h, alpha, share) == group.base(group.s(21))
    assert verify_share(origin, 2, 1, position, h, h, alpha, share) is None
    lam = group.lagrange_at_zero([1, 3])
    assert group.s(lam[1]).hex() == value("lambda-1")
    assert group.s(lam[3]).hex() == value("lambda-3")


def test_a_share_box_of_the_wrong_size_is_caught() -> None:
    def forge(p: EncryptedPrimary) -> None:
        t = p.trustees[0]
        spec = p.b.specs[p.index["keygen-1"]]
        body = {k: v for k, v in spec.body.items() if k != "trustee_sig"}
        body["shares"] = [dict(s) for s in body["shares"]]
        body["shares"][0]["box"] = b64(base64.b64decode(body["shares"][0]["box"]) + b"\x00")
        spec.body = p.sign(t, "trustee-keygen", body)

    p, idx = ceremony_with(forge)
    assert (idx["keygen-1"], "share-box") in failed(check(p))[14]


def test_sums_leaving_out_a_counted_ballot_are_caught() -> None:
    p = voted()
    p.close()
    dropped = p.ballots.pop(3)  # voter 4's ballot, valid and counted, left out of the sums
    sums = p.honest_sums()
    index = p.publish_sums(sums)
    p.publish_decryptions(sums)
    profiles, valid, blank = p.honest_profiles()
    p.publish_result(p.result_body(profiles, valid, blank))
    p.ballots.insert(3, dropped)
    found = failed(check(p))
    assert (index, "sums-ballots") in found[9]
    assert {code for _, code in found[9]} >= {"sums-ballots", "sums-differ"}


@pytest.mark.parametrize(
    "rule, missing, upper",
    [
        ("majority-value", "normalize", False),
        ("majority-gauge", "worst-grade", True),
        ("mieux-voter", "median", True),
        ("typical", "normalize", True),
        ("central", "worst-grade", False),
        ("usual", "median", False),
    ],
)
def test_every_rule_and_policy_recounts_the_decrypted_profiles(
    rule: str, missing: str, upper: bool
) -> None:
    """Random subsets of 2 of 3, a blank ballot: the decrypted profiles have missing
    judgments, which each policy handles as in v1; a swapped ranking is caught."""
    p = EncryptedPrimary(
        definition={"subset_size": 2, "rule": rule, "missing": missing, "upper_median": upper}
    )
    p.ceremony()
    p.open()
    p.cast(1, {"A": 6, "B": 2})
    p.cast(2, {"B": 5, "C": 1})
    p.cast(3, {"A": 3, "C": 4})
    p.cast(4, None, candidates=["A", "C"])
    p.cast(5, {"A": 0, "B": 6})
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums)
    profiles, valid, blank = p.honest_profiles()
    body = p.result_body(profiles, valid, blank)
    assert (valid, blank) == (4, 1)
    index = p.publish_result(body)
    assert failed(check(p)) == {}
    p.b.specs[index].body = {**body, "ranking": list(reversed(body["ranking"]))}
    assert (index, "result-ranking") in failed(check(p))[10]
