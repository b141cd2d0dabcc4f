"""Check 11 (docs/audit-log.md §9): every entry inside the phase its definition announces.

Each dishonest log is built with tests/audit/builder.py and signed with the log's own valid
key, as a dishonest operator would: only the times disagree with the calendar.
"""

from __future__ import annotations

import copy

from audit import timeline
from audit.report import text
from tests.audit.builder import honest_primary
from tests.audit.util import failed, run

DAY = 86_400


def _at(moment: str) -> int:
    seconds = timeline.instant(moment)
    assert seconds is not None
    return seconds


def _check_11(builder) -> list[tuple[int | None, str]]:  # type: ignore[no-untyped-def]
    report = run(builder.export(), builder.vkey)
    return failed(report).get(11, [])


def test_the_honest_log_is_inside_its_phases() -> None:
    s = honest_primary()
    report = run(s.builder.export(), s.builder.vkey)
    assert report.checks[11].ok and report.checks[11].notes == []


def test_a_support_before_the_supports_phase_fails() -> None:
    s = honest_primary()
    first = s.index["support-A"]
    for spec in s.builder.specs[: first + 1]:  # keep times non-decreasing
        spec.time = _at("2025-12-31T23:00:00Z")
    assert (first, "outside-phase") in _check_11(s.builder)
    reason = run(s.builder.export(), s.builder.vkey).checks[11].failures
    message = next(f for f in reason if f.index == first).render("en")
    assert message == (
        "support dated 2025-12-31T23:00:00Z, outside phase “supports” "
        "[2026-01-01T00:00:00Z, 2026-01-31T00:00:00Z)"
    )


def test_a_ballot_after_its_round_phase_fails() -> None:
    s = honest_primary()
    last = s.index["last-ballot"]
    late = _at("2026-02-08T00:00:00Z")  # the phase is [start, end): its end is outside
    for spec in s.builder.specs[last:]:
        spec.time = late
    assert _check_11(s.builder) == [(last, "outside-phase")]


def test_a_round_opened_before_its_phase_fails() -> None:
    s = honest_primary()
    b = s.builder
    shift = _at("2026-02-01T00:00:00Z") - b.specs[s.index["round-open"] - 1].time - 1
    for spec in b.specs[s.index["round-open"] :]:
        spec.time -= shift  # round-open one second after the last support, in January
    found = _check_11(b)
    assert (s.index["round-open"], "outside-phase") in found
    assert (s.index["first-ballot"], "outside-phase") in found


def test_a_candidacy_submitted_after_the_candidacies_phase_fails() -> None:
    s = honest_primary()
    b = s.builder
    # A fifth candidacy, submitted (and published) on the day round 1 opened.
    body = copy.deepcopy(b.specs[2].body)
    body["candidate"] = "00000000-0000-4000-8000-0000000000ee"
    index = s.index["round-open"]
    b.specs.insert(index, copy.deepcopy(b.specs[index]))
    b.specs[index].kind, b.specs[index].body = "candidacy", {**body, "action": "submitted"}
    b.specs[index].time = b.specs[index + 1].time
    assert _check_11(b) == [(index, "outside-phase")]


def test_a_qualification_before_the_supports_phase_fails() -> None:
    s = honest_primary()
    b = s.builder
    q = s.index["qualification-A"]
    # A dishonest calendar: supports opened after everything before round 1 happened.
    for spec in b.specs[:q]:
        spec.time = _at("2025-12-01T00:00:00Z")
    for spec in b.specs[q : s.index["round-open"]]:
        spec.time = _at("2025-12-02T00:00:00Z")
    codes = _check_11(b)
    assert (q, "outside-phase") in codes
    assert all(code == "outside-phase" for _, code in codes)


def test_times_going_back_more_than_the_tolerance_fail() -> None:
    s = honest_primary()
    b = s.builder
    published = 3  # candidacy `published`: moderation has no phase of its own
    assert b.specs[published].body["action"] == "published"
    b.specs[published].time = b.specs[published - 1].time - timeline.ORDER_TOLERANCE  # allowed
    assert _check_11(b) == []
    b.specs[published].time -= 1
    assert _check_11(b) == [(published, "time-goes-back")]


def test_a_revision_rewriting_a_passed_boundary_fails() -> None:
    s = honest_primary()
    b = s.builder
    index = s.index["definition2"]
    revised = copy.deepcopy(b.specs[index].body)
    # Made on 2026-01-01 a few seconds after midnight: the supports phase had begun, so its
    # start may not move; the end of round 1 may move, but not into the past.
    revised["phases"][1]["start"] = "2026-01-01T00:00:05Z"
    b.specs[index].body = revised
    assert _check_11(b) == [(index, "revision-moves-past")]
    revised["phases"][1]["start"] = "2026-01-01T00:00:00Z"
    revised["phases"] = [p for p in revised["phases"] if p["name"] != "supports"]
    assert (index, "revision-drops-begun-phase") in _check_11(b)  # supports then fail too


def test_the_messages_exist_in_both_languages() -> None:
    codes = ("outside-phase", "time-goes-back", "revision-moves-past", "revision-sets-past",
             "revision-drops-begun-phase", "phase-not-announced", "phases-malformed")  # fmt: skip
    names = ("what", "phase", "time", "start", "end", "latest", "bound", "old", "new")
    params = dict.fromkeys(names, "x")
    for code in codes:
        assert text(code, "fr", params) != text(code, "en", params)
