"""Qualification rules, without a database."""

from voting.qualification import (
    progress,
    qualification_body,
    qualified_at_phase_end,
    qualifies_on_support,
    reaches_threshold,
    recount,
)


def test_threshold_reached_at_equality() -> None:
    assert not reaches_threshold(499, 500)
    assert reaches_threshold(500, 500)
    assert reaches_threshold(501, 500)


def test_threshold_mode_qualifies_on_the_support_that_reaches_it() -> None:
    definition = {"qualification": "threshold", "threshold": 3}
    assert [qualifies_on_support(definition, n) for n in (1, 2, 3)] == [False, False, True]


def test_phase_end_mode_never_qualifies_on_a_support() -> None:
    assert not qualifies_on_support({"qualification": "phase-end", "threshold": 3}, 10)


def test_phase_end_qualifies_everyone_at_or_over_the_threshold_in_stable_order() -> None:
    counts = {"c": 5, "a": 3, "b": 2}
    assert qualified_at_phase_end(counts, 3) == ["a", "c"]
    assert qualified_at_phase_end({}, 3) == []


def test_recount_from_entries_follows_withdrawals() -> None:
    entries = [
        ("support", {"candidate": "a", "supporter": "x"}),
        ("support", {"candidate": "a", "supporter": "y"}),
        ("support-withdrawal", {"candidate": "a", "supporter": "x"}),
        ("candidacy", {"candidate": "b"}),
        ("support", {"candidate": "b", "supporter": "x"}),
    ]
    assert recount(entries) == {"a": 1, "b": 1}


def test_qualification_body_is_the_log_shape() -> None:
    assert qualification_body("a", 3, 3) == {"candidate": "a", "supports": 3, "threshold": 3}


def test_progress_is_capped_whole_per_cent() -> None:
    assert progress(0, 500) == 0
    assert progress(250, 500) == 50
    assert progress(999, 500) == 100
