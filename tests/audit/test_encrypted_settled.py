"""§9/§10 points the stranger had to guess, now written in docs/audit-log.md: each dishonest
log (re-signed with the valid log key) fails the check the text names, with a reason that
describes an encrypted round (no tally key)."""

from __future__ import annotations

from typing import Any

from tests.audit.encrypted_builder import EncryptedPrimary, voted
from tests.audit.util import failed, run


def _reasons(report: Any, number: int, lang: str = "en") -> list[str]:
    return [f.render(lang) for f in report.checks[number].failures]


def test_an_invalid_share_among_the_first_k_is_not_replaced_by_a_later_valid_one() -> None:
    """§10 item 7: trustee 1's share is invalid, trustees 2 and 3 post valid ones after it;
    only the first k = 2 combine, so nothing decrypts and the result cannot be recounted."""
    p = voted()
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    bad = p.b.add("trustee-decryption", p.decryption_body(p.trustees[0], sums, secret=12345))
    p.publish_decryptions(sums, [2, 3])
    result = p.publish_result(p.result_body(*p.honest_profiles()))
    report = run(p.export(), p.b.vkey)
    found = failed(report)
    assert (bad, "share-invalid") in found[9]
    assert (None, "first-shares-invalid") in found[9]
    assert found[10] == [(result, "cannot-recount")]
    nine = " ".join(_reasons(report, 9))
    assert "does not replace it" in nine and "needed" not in nine
    ten = _reasons(report, 10)[0]
    assert "tally key" not in ten and "do not decrypt" in ten
    assert "clé de dépouillement" not in _reasons(report, 10, "fr")[0]


def test_wrong_sums_leave_the_result_unrecountable_without_blaming_a_tally_key() -> None:
    p = voted()
    p.close()
    sums = p.honest_sums()
    a = p.ids["A"]
    sums["sums"][a][0], sums["sums"][a][1] = sums["sums"][a][1], sums["sums"][a][0]
    p.publish_sums(sums)
    p.publish_decryptions(sums)
    result = p.publish_result(p.result_body(*p.honest_profiles()))
    report = run(p.export(), p.b.vkey)
    found = failed(report)
    assert {code for _, code in found[9]} == {"sums-differ"}
    assert found[10] == [(result, "cannot-recount")]
    assert "tally key" not in _reasons(report, 10)[0]


def test_a_result_before_the_sums_names_the_sums_not_a_tally_key() -> None:
    p = voted()
    p.close()
    result = p.publish_result(p.result_body(*p.honest_profiles()))
    report = run(p.export(), p.b.vkey)
    assert (result, "result-phase") in failed(report)[6]
    reason = next(f.render("en") for f in report.checks[6].failures if f.code == "result-phase")
    assert "tally-sums" in reason and "tally key" not in reason


def test_a_ceremony_entry_after_round_1s_roll_fails_check_14() -> None:
    """The election key written between round 1's roll and its opening: the round opens
    with the right key (check 6 passes), but the ceremony came after the roll."""
    p = EncryptedPrimary()
    p.ceremony()
    p.open()
    specs = p.b.specs
    key = next(i for i, x in enumerate(specs) if x.kind == "election-key")
    assert specs[key + 1].kind == "roll"
    specs[key].time, specs[key + 1].time = specs[key + 1].time, specs[key].time
    specs[key], specs[key + 1] = specs[key + 1], specs[key]
    p.cast(1, {"A": 2, "B": 0, "C": 1})
    p.finish()
    assert failed(run(p.export(), p.b.vkey)) == {14: [(key + 1, "ceremony-after-roll")]}
