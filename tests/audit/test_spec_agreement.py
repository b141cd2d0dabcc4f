"""Issue 11: the written spec, the producer and scrutin-audit agree on the silences it found.

Each dishonest log is built from the spec (tests/audit/builder.py), re-signed with the log's
valid key, and must be caught by one named check with one named message.
"""

from __future__ import annotations

from typing import Any

from audit.recount import tally
from tests.audit.builder import (
    AUTO,
    Scenario,
    Spec,
    honest_primary,
    padded_plaintext,
    seal,
)
from tests.audit.util import failed, run


def _result_body(s: Scenario, counted: list[dict[str, int]], invalid: int) -> dict[str, Any]:
    """The result an operator publishes when it counts ``counted`` (blank = {})."""
    d = s.definition
    t = tally(
        d["grades"],
        s.round_ids,
        [x for x in counted if x],
        rule=d["rule"],
        missing=d["missing"],
        default_grade=d["default_grade"],
        upper_median=d["upper_median"],
    )
    return {
        "round": 1,
        "tree_size": AUTO,
        "root": AUTO,
        "rule": d["rule"],
        "missing": d["missing"],
        "upper_median": d["upper_median"],
        "default_grade": d["default_grade"],
        "counts": {
            "valid": sum(1 for x in counted if x),
            "blank": sum(1 for x in counted if not x),
            "invalid": invalid,
        },
        **t,
    }


# -- item 1: a marked pad or a wrong length makes a ballot invalid -----------------------------


def _with_marked_ballots(*, operator_counts_them: bool) -> Scenario:
    s = honest_primary()
    b, n_grades = s.builder, len(s.definition["grades"])
    pk = bytes(s.tally_key.public_key)
    a, c = s.round_ids[0], s.round_ids[2]
    marked = {a: 6, c: 0}
    plaintexts = [
        # a buyer's mark in the pad, the length is right
        padded_plaintext(1, marked, s.round_ids, n_grades, pad_char="x"),
        # a ballot shorter than the round's length (pad cut short)
        padded_plaintext(1, marked, s.round_ids, n_grades, extra=-3),
    ]
    close = s.index["round-close"]
    for k, plain in enumerate(plaintexts):
        b.specs.insert(close + k, Spec("ballot", {"round": 1, "sealed": seal(pk, plain)}, b.time))
    b.specs[close + 2].body["turnout"] += 2
    if operator_counts_them:
        b.specs[close + 4].body = _result_body(s, [*s.ballots, marked, marked], 0)
    else:
        b.specs[close + 4].body = _result_body(s, s.ballots, 2)
    return s


def test_marked_or_short_ballots_counted_as_valid_fail_the_recount() -> None:
    s = _with_marked_ballots(operator_counts_them=True)
    report = run(s.builder.export(), s.builder.vkey)
    assert set(failed(report)) == {10}
    close = s.index["round-close"]
    assert [(w.index, w.code) for w in report.checks[9].warnings] == [
        (close, "invalid-pad-not-spaces"),
        (close + 1, "invalid-wrong-length"),
    ]
    assert (close + 4, "count-differs") in failed(report)[10]
    messages = [f.render("en") for f in report.checks[10].failures]
    assert messages[:2] == ["result: valid = 8, recounted 6", "result: invalid = 0, recounted 2"]
    warnings = [w.render("en") for w in report.checks[9].warnings]
    assert warnings[0].startswith("invalid ballot: the pad holds something other than spaces")
    assert warnings[1].startswith("invalid ballot: wrong plaintext length")


def test_marked_or_short_ballots_counted_as_invalid_pass() -> None:
    s = _with_marked_ballots(operator_counts_them=False)
    report = run(s.builder.export(), s.builder.vkey)
    assert failed(report) == {}
    assert [w.code for w in report.checks[9].warnings] == [
        "invalid-pad-not-spaces",
        "invalid-wrong-length",
    ]
