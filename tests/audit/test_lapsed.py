"""Round 1 lists exactly the confirmed qualified candidates, and the log says why any other
qualified candidate is absent (docs/audit-log.md §8 "Candidacy actions", §9 check 6).

Each log is built with tests/audit/builder.py and signed with the log's own valid key, as a
dishonest operator would."""

from __future__ import annotations

from tests.audit.builder import Scenario, honest_primary
from tests.audit.util import failed, run

C = 2  # Chloé Nguyen: qualified, and confirmed in the honest scenario


def _until_round_one(*, confirmed: str | None = "confirmed", listed: str = "ABC") -> Scenario:
    """The honest primary up to round 1's opening; C's answer is `confirmed`, `lapsed`, or
    nothing (None); round 1 lists the candidates named in `listed`."""
    s = honest_primary(result=False)
    b = s.builder
    b.specs = b.specs[: s.index["round-open"] + 1]
    cid = list(s.candidates)[C]
    answer = next(
        i
        for i, spec in enumerate(b.specs)
        if spec.kind == "candidacy"
        and spec.body["candidate"] == cid
        and spec.body["action"] == "confirmed"
    )
    if confirmed is None:
        del b.specs[answer]
    else:
        b.specs[answer].body = {**b.specs[answer].body, "action": confirmed}
        if confirmed == "lapsed":
            b.specs[answer].body["reason"] = "Participation non confirmée à l’ouverture du tour 1."
    ids = list(s.candidates)
    opening = b.specs[-1]
    opening.body = {
        **opening.body,
        "candidates": [c for c in opening.body["candidates"] if ids.index(c["candidate"]) in
                       ["ABCD".index(x) for x in listed]],
    }  # fmt: skip
    s.index["round-open"] = len(b.specs) - 1
    return s


def _check_6(s: Scenario) -> tuple[list[tuple[int | None, str]], list[str]]:
    report = run(s.builder.export(), s.builder.vkey)
    findings = failed(report)
    assert set(findings) <= {6}, findings
    return findings.get(6, []), [f.render("en") for f in report.checks[6].failures]


def test_a_lapsed_candidate_left_off_round_one_passes() -> None:
    s = _until_round_one(confirmed="lapsed", listed="AB")
    assert _check_6(s) == ([], [])


def test_an_unconfirmed_candidate_on_round_one_fails() -> None:
    s = _until_round_one(confirmed=None, listed="ABC")
    cid = list(s.candidates)[C]
    codes, messages = _check_6(s)
    assert codes == [(s.index["round-open"], "round-candidate-unconfirmed")]
    assert messages == [f"round 1: {cid} qualified but did not confirm taking part"]


def test_a_confirmed_candidate_left_off_round_one_fails() -> None:
    s = _until_round_one(confirmed="confirmed", listed="AB")
    cid = list(s.candidates)[C]
    codes, messages = _check_6(s)
    assert codes == [(s.index["round-open"], "round-candidate-missing")]
    assert messages == [f"round 1: {cid} confirmed taking part but is not on the list"]


def test_a_qualified_candidate_left_off_silently_fails() -> None:
    s = _until_round_one(confirmed=None, listed="AB")
    codes, _ = _check_6(s)
    assert codes == [(s.index["round-open"], "qualified-unanswered")]


def test_a_lapsed_candidate_on_round_one_fails() -> None:
    s = _until_round_one(confirmed="lapsed", listed="ABC")
    codes, _ = _check_6(s)
    assert codes == [(s.index["round-open"], "round-candidate-ineligible")]
