"""Issue 11: the written spec, the producer and scrutin-audit agree on the silences it found.

Each dishonest log is built from the spec (tests/audit/builder.py), re-signed with the log's
valid key, and must be caught by one named check with one named message.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
from typing import Any

from audit import recount
from audit.cli import main as audit_main
from audit.recount import tally
from tests.audit.builder import (
    AUTO,
    Scenario,
    Spec,
    honest_primary,
    padded_plaintext,
    seal,
    write_json,
)
from tests.audit.util import failed, run
from voting import majority


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


# -- item 2: mieux-voter with the upper median gives equal outer groups to the supporters ----

SPEC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"


def _mieux_voter_example() -> tuple[dict[str, list[int]], dict[str, list[tuple[int, int]]], list]:
    text = SPEC.read_text(encoding="utf-8")
    profiles, steps = {}, {}
    for name, prof, rest in re.findall(r"^ {6}(\w) = (\[[\d, ]+\]) +steps (.+)$", text, re.M):
        profiles[name] = json.loads(prof)
        steps[name] = [(int(g), int(v)) for g, v in re.findall(r"\((\d+), (\d+)\)", rest)]
    [ranking] = re.findall(r"^ {6}ranking (.+) \(ranks ([\d, ]+)\)$", text, re.M)
    order = [
        (c, int(r)) for c, r in zip(ranking[0].split(", "), ranking[1].split(", "), strict=True)
    ]
    return profiles, steps, order


def test_mieux_voter_worked_example_of_the_spec() -> None:
    profiles, steps, order = _mieux_voter_example()
    assert profiles == {"A": [1, 0, 2, 1], "B": [0, 0, 4, 0]}
    for name, profile in profiles.items():
        assert recount.mieux_voter_score(profile, upper_median=True) == steps[name]
    options = {"rule": "mieux-voter", "missing": "normalize", "default_grade": 0}
    mine = recount.tally_profiles(4, profiles, **options, upper_median=True)
    assert [(c, mine["candidates"][c]["rank"]) for c in mine["ranking"]] == order
    # The service's engine ranks the example the same way.
    engine = majority.tally(["0", "1", "2", "3"], list(profiles), profiles=profiles, **options,
                            upper_median=True)  # fmt: skip
    assert [(c, engine.ranks[c]) for c in engine.ranking] == order
    # With the lower median the tie goes to the critics: B first (A: median 0-based pos 1 = 2,
    # one below and one above, step (2, 3)).
    lower = recount.tally_profiles(4, profiles, **options, upper_median=False)
    assert lower["ranking"] == ["B", "A"]
    engine = majority.tally(["0", "1", "2", "3"], list(profiles), profiles=profiles, **options)
    assert list(engine.ranking) == ["B", "A"]


def test_mieux_voter_upper_median_tie_decides_a_published_result() -> None:
    # A log whose result gives the tie to the critics (§9's old formula) fails the recount.
    a, b = "A", "B"
    ballots = [{a: 0, b: 2}, {a: 2, b: 2}, {a: 2, b: 2}, {a: 3, b: 2}]
    s = honest_primary(ballots, rule="mieux-voter", upper_median=True, missing="worst-grade")
    report = run(s.builder.export(), s.builder.vkey)
    assert failed(report) == {}
    ids = s.round_ids
    result = s.builder.specs[s.index["result"]].body
    assert result["ranking"][:2] == [ids[0], ids[1]]  # A before B
    swapped = {**result, "ranking": [ids[1], ids[0], *result["ranking"][2:]]}
    swapped["candidates"] = {
        **result["candidates"],
        ids[0]: {**result["candidates"][ids[0]], "rank": 2},
        ids[1]: {**result["candidates"][ids[1]], "rank": 1},
    }
    s.builder.specs[s.index["result"]].body = swapped
    report = run(s.builder.export(), s.builder.vkey)
    assert set(failed(report)) == {10}
    assert "result-ranking" in report.checks[10].codes()


# -- item 3: an entry over 65,535 bytes fails check 4 --------------------------------------


def test_an_entry_too_large_for_a_tile_bundle_fails_check_4() -> None:
    s = honest_primary()
    b = s.builder
    huge = b.specs[s.index["definition2"]].body
    huge["description"] = "é" * 33_000  # 66,000 bytes of UTF-8 once encoded
    report = run(b.export(), b.vkey)
    assert 4 in failed(report)
    assert failed(report)[4] == [(s.index["definition2"], "entry-malformed")]
    [failure] = report.checks[4].failures
    size = len(b.build()[s.index["definition2"]])
    assert size > 65_535
    assert failure.render("en") == (
        f"invalid entry: entry is {size} bytes, more than the 65535 a tile bundle can hold"
    )
    # Exactly 65,535 bytes is fine; one more is not.
    huge["description"] = ""
    room = 65_535 - len(b.build()[s.index["definition2"]])
    huge["description"] = "d" * room
    assert len(b.build()[s.index["definition2"]]) == 65_535
    assert failed(run(b.export(), b.vkey)) == {}
    huge["description"] = "d" * (room + 1)
    assert failed(run(b.export(), b.vkey)) == {4: [(s.index["definition2"], "entry-malformed")]}


# -- item 4: the scale rules scrutin-audit applied silently, now in §8 -----------------------


def test_a_scale_of_one_grade_or_a_default_grade_off_the_scale_fails_check_4() -> None:
    for over, message in [
        ({"grades": ["Seule"]}, "body.grades: a scale has at least two grades"),
        (
            {"default_grade": 7},
            "body.default_grade: 7 is not a grade of the scale (0 to 6)",
        ),
    ]:
        s = honest_primary()
        b = s.builder
        b.specs[s.index["definition2"]].body.update(over)
        report = run(b.export(), b.vkey)
        assert failed(report)[4] == [(s.index["definition2"], "entry-malformed")]
        [failure] = report.checks[4].failures
        assert failure.render("en") == f"invalid entry: {message}"


# -- item 5: candidate ids, an export without checkpoint, a re-spelt base64 entry -------------


def _upper_case_candidate(s: Scenario) -> str:
    """Every entry names candidate A by its id in upper case; returns that id."""
    lower = s.round_ids[0]
    upper = "ABCDEF01" + lower[8:].upper()  # a UUID, in upper case
    for spec in s.builder.specs:
        spec.body = json.loads(json.dumps(spec.body).replace(lower, upper))
    return upper


def test_a_candidate_id_in_upper_case_fails_check_4() -> None:
    s = honest_primary()
    upper = _upper_case_candidate(s)
    assert upper != upper.lower()
    report = run(s.builder.export(), s.builder.vkey)
    first = s.index["definition2"] + 1  # candidate A's "submitted" candidacy
    assert (first, "entry-malformed") in failed(report)[4]
    f = next(f for f in report.checks[4].failures if f.index == first)
    assert f.render("en") == "invalid entry: body.candidate: not a lowercase UUID"
    result = next(f for f in report.checks[4].failures if f.index == s.index["result"])
    assert "is not a lowercase UUID" in result.render("en")


def _cli(args: list[str], capsys: Any) -> tuple[int, Any, str]:
    code = audit_main(args)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith("{") else out), err


def test_an_export_without_checkpoint_fails_check_1_with_exit_1(
    tmp_path: pathlib.Path, capsys: Any
) -> None:
    s = honest_primary()
    doc = s.builder.export()
    doc["checkpoints"] = []
    path = write_json(str(tmp_path / "export.json"), doc)
    code, report, _ = _cli(
        ["verify", path, "--log-key", s.builder.vkey, "--json", "--lang", "en"], capsys
    )
    assert code == 1
    check1 = report["checks"][0]
    assert check1["number"] == 1 and not check1["ok"]
    assert check1["failures"][0]["code"] == "checkpoint-missing"
    assert check1["failures"][0]["reason"] == (
        "no checkpoint: nothing signed by the log key covers its entries"
    )


def test_a_re_spelt_base64_entry_in_an_export_fails_check_4(
    tmp_path: pathlib.Path, capsys: Any
) -> None:
    s = honest_primary()
    doc = s.builder.export()
    index = next(i for i, t in enumerate(doc["entries"]) if t.endswith("=="))
    text = doc["entries"][index]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    respelled = text[:-3] + alphabet[alphabet.index(text[-3]) ^ 1] + "=="
    assert base64.b64decode(respelled) == base64.b64decode(text) and respelled != text
    doc["entries"][index] = respelled
    path = write_json(str(tmp_path / "export.json"), doc)
    code, report, _ = _cli(
        ["verify", path, "--log-key", s.builder.vkey, "--json", "--lang", "en"], capsys
    )
    assert code == 1
    [check4] = [c for c in report["checks"] if c["number"] == 4]
    assert [(f["index"], f["code"]) for f in check4["failures"]] == [(index, "entry-base64")]
    assert check4["failures"][0]["reason"] == (
        "the export spells this entry in non-canonical base64 (non-zero unused bits)"
    )
    # Not base64 at all (extra padding, a stray character): the file is unusable, exit 2.
    for bad in (text + "==", text[:-1] + "!"):
        doc["entries"][index] = bad
        write_json(path, doc)
        code, out, err = _cli(["verify", path, "--log-key", s.builder.vkey], capsys)
        assert code == 2 and out == ""
        assert err == f"scrutin-audit: {path}: entries[{index}] is not base64\n"


# -- item 4: rules of checks 6 and 10 the spec now states --------------------------------------


def _candidacy(s: Scenario, letter_index: int, action: str) -> Spec:
    cid = s.round_ids[letter_index]
    body = {
        "candidate": cid,
        "action": action,
        "name": s.candidates[cid],
        "declaration": "ab" * 32,
        "reason": "" if action == "published" else "Hors charte",
    }
    return Spec("candidacy", body, s.builder.time)


def test_a_closed_candidacy_stays_closed() -> None:
    # Rejected, then published again, then confirmed again: a closed candidacy stays closed
    # (§8), so both later actions fail check 6 and A, still rejected, may not be on round 1.
    s = honest_primary()
    at = s.index["round-open"]
    s.builder.specs[at:at] = [
        _candidacy(s, 0, "rejected"),
        _candidacy(s, 0, "published"),
        _candidacy(s, 0, "confirmed"),
    ]
    report = failed(run(s.builder.export(), s.builder.vkey))
    assert set(report) == {6}
    assert {(at + 1, "candidacy-closed"), (at + 2, "candidacy-closed")} <= set(report[6])
    assert (at + 3, "round-candidate-ineligible") in report[6]
    # Rejected last: A may not be on the ballot.
    s = honest_primary()
    at = s.index["round-open"]
    s.builder.specs[at:at] = [_candidacy(s, 0, "rejected")]
    report = run(s.builder.export(), s.builder.vkey)
    assert (at + 1, "round-candidate-ineligible") in failed(report)[6]
    # Submitted twice: refused.
    s = honest_primary()
    at = s.index["round-open"]
    s.builder.specs[at:at] = [_candidacy(s, 0, "submitted")]
    assert (at, "candidacy-resubmitted") in failed(run(s.builder.export(), s.builder.vkey))[6]


def test_a_result_missing_a_round_candidate_fails_check_10() -> None:
    s = honest_primary()
    body = s.builder.specs[s.index["result"]].body
    dropped = s.round_ids[2]
    del body["candidates"][dropped]
    report = run(s.builder.export(), s.builder.vkey)
    assert (s.index["result"], "result-missing-candidate") in failed(report)[10]
