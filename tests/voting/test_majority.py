"""Majority judgment tally engine: worked examples, options, errors, JSON output, explanations."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from typing import Any

import pytest

from voting import majority
from voting.majority import (
    FRENCH_7,
    LAPRIMAIRE_6,
    MISSING_POLICIES,
    RULES,
    Scale,
    TallyError,
    TallyResult,
    tally,
)

# ---------------------------------------------------------------------------------------------
# Scales
# ---------------------------------------------------------------------------------------------


def test_presets() -> None:
    assert FRENCH_7.labels == (
        "À rejeter",
        "Insuffisant",
        "Passable",
        "Assez bien",
        "Bien",
        "Très bien",
        "Excellent",
    )
    assert LAPRIMAIRE_6.labels == FRENCH_7.labels[:6]
    assert FRENCH_7.labels_en == (
        "Reject",
        "Poor",
        "Fair",
        "Fairly good",
        "Good",
        "Very good",
        "Excellent",
    )
    assert LAPRIMAIRE_6.label(5, "en") == "Very good"
    assert FRENCH_7.label(4) == "Bien"
    assert FRENCH_7.index("très BIEN") == 5
    assert FRENCH_7.index("Fairly good") == 3


def test_scale_coercion() -> None:
    assert len(Scale.coerce(5)) == 5
    assert Scale.coerce(["bad", "good"]).labels == ("bad", "good")
    assert Scale.coerce(FRENCH_7) is FRENCH_7


def test_default_scale_in_tally_result() -> None:
    result = tally(FRENCH_7, ["A"], profiles={"A": [0, 0, 0, 0, 1, 0, 0]})
    assert result.scale.label(result.majority_grades["A"]) == "Bien"


# ---------------------------------------------------------------------------------------------
# Worked examples, one per rule (numbers small enough to check by hand)
# ---------------------------------------------------------------------------------------------

# 10 voters, grades 0..3. Pizza/Pasta/Chips share the majority grade 1, Bread has 2.
FOOD = {
    "Pizza": [3, 2, 2, 3],
    "Chips": [2, 4, 2, 2],
    "Pasta": [3, 2, 3, 2],
    "Bread": [1, 3, 4, 2],
}


def food(rule: str, **options: Any) -> TallyResult:
    return tally(4, list(FOOD), profiles=FOOD, rule=rule, **options)


def test_majority_value_by_hand() -> None:
    result = food("majority-value")
    # Pizza sorted 0 0 0 1 1 2 2 3 3 3: medians removed 1,2,1,2,0,3,0,3,0,3
    # Pasta sorted 0 0 0 1 1 2 2 2 3 3: 1,2,1,2,0,2,0,3,0,3 -> Pizza's 6th is 3 > 2.
    # Chips sorted 0 0 1 1 1 1 2 2 3 3: 1,1,... -> second value 1 < 2: last.
    assert list(result.ranking) == ["Bread", "Pizza", "Pasta", "Chips"]
    assert result.majority_grades == {"Pizza": 1, "Chips": 1, "Pasta": 1, "Bread": 2}
    # Runs of (lower, upper) pairs with the share of judgments they cover.
    assert result.scores["Pizza"] == [[1, 2, "2/5"], [0, 3, "3/5"]]


def test_majority_gauge_by_hand() -> None:
    result = food("majority-gauge")
    # Pizza: p = 5/10 > q = 3/10 -> 1+ with 1/2; Pasta the same; Chips: p=4/10 > q=2/10.
    assert result.scores["Pizza"] == "3/2"
    assert result.scores["Chips"] == "7/5"
    assert result.ranks == {"Bread": 1, "Pizza": 2, "Pasta": 2, "Chips": 4}
    assert result.tie_groups == (("Pasta", "Pizza"),)


def test_majority_gauge_equal_groups_go_to_contestation() -> None:
    profiles = {"A": [1, 1, 1], "B": [0, 3, 0], "C": [0, 2, 1]}
    result = tally(3, list(profiles), profiles=profiles, rule="majority-gauge")
    # A: p = q = 1/3 -> "1-" with 1/3, below B (everyone at 1), below C (1+).
    assert list(result.ranking) == ["C", "B", "A"]
    adhesion = tally(
        3, list(profiles), profiles=profiles, rule="majority-gauge", favor_contestation=False
    )
    assert list(adhesion.ranking) == ["A", "C", "B"]


def test_favor_contestation_defaults() -> None:
    # Equal groups on both sides of the majority grade: who gets the tie?
    profiles = {"A": [1, 2, 1], "B": [0, 4, 0]}
    for rule, upper, expected in [
        ("majority-gauge", False, True),
        ("majority-gauge", True, True),
        ("mieux-voter", False, True),
        ("mieux-voter", True, False),  # MieuxVoter's single favorContestation switch
    ]:
        result = tally(3, ["A", "B"], profiles=profiles, rule=rule, upper_median=upper)
        assert result.favor_contestation is expected, (rule, upper)
        assert list(result.ranking) == (["B", "A"] if expected else ["A", "B"]), (rule, upper)
    forced = tally(
        3,
        ["A", "B"],
        profiles=profiles,
        rule="mieux-voter",
        upper_median=True,
        favor_contestation=True,
    )
    assert list(forced.ranking) == ["B", "A"]


def test_mieux_voter_score_by_hand() -> None:
    result = food("mieux-voter")
    # The library's documented scores: Pizza 1_15/2_07/0_13, Pasta 1_15/2_07/0_12.
    assert result.scores["Pizza"][:3] == [[1, "1/2"], [2, "-3/10"], [0, "3/10"]]
    assert result.scores["Pasta"][:3] == [[1, "1/2"], [2, "-3/10"], [0, "1/5"]]
    assert result.scores["Bread"][:3] == [[2, "-2/5"], [1, "1/5"], [3, "-1/10"]]
    assert list(result.ranking) == ["Bread", "Pizza", "Pasta", "Chips"]


def test_fabre_scores_by_hand() -> None:
    # A: [1, 1, 2] over 4 judgments, lower median 1: p = 1/2, q = 1/4, at = 1/4.
    profiles = {"A": [1, 1, 2], "B": [0, 4, 0]}
    scores = {
        rule: tally(3, ["A", "B"], profiles=profiles, rule=rule).scores["A"]
        for rule in ("typical", "central", "usual")
    }
    assert scores["typical"] == "5/4"  # 1 + 1/2 - 1/4
    assert scores["central"] == "7/6"  # 1 + (1/4) / (2 * 3/4)
    assert scores["usual"] == "3/2"  # 1 + (1/4) / (2 * 1/4)
    central_b = tally(3, ["A", "B"], profiles=profiles, rule="central").scores["B"]
    assert central_b == "1/1"  # nobody outside the median: alpha itself


def test_equal_central_scores_across_grades_are_decided_by_the_majority_grade() -> None:
    # Fabre's central judgment is continuous: 1 + 1/2 == 2 - 1/2. His rules break ties of
    # the highest median, so the higher majority grade still wins (audit/ does the same).
    profiles = {"A": [0, 2, 2], "B": [0, 1, 3]}
    result = tally(3, ["A", "B"], profiles=profiles, rule="central")
    assert result.majority_grades == {"A": 1, "B": 2}
    assert result.scores["A"] == result.scores["B"] == "3/2"
    assert result.ranks == {"B": 1, "A": 2}
    assert "ex aequo" not in result.explanations("fr")[0]


def test_upper_median_option() -> None:
    profiles = {"A": [2, 0, 2], "B": [1, 2, 1]}
    lower = tally(3, ["A", "B"], profiles=profiles)
    upper = tally(3, ["A", "B"], profiles=profiles, upper_median=True)
    assert lower.majority_grades == {"A": 0, "B": 1}
    assert upper.majority_grades == {"A": 2, "B": 1}
    assert list(lower.ranking) == ["B", "A"]
    assert list(upper.ranking) == ["A", "B"]


@pytest.mark.parametrize("rule", RULES)
def test_competition_ranking_and_stable_tie_order(rule: str) -> None:
    profiles = {"d": [0, 0, 6], "c": [1, 2, 3], "a": [1, 2, 3], "e": [3, 0, 3], "b": [1, 2, 3]}
    result = tally(3, list(profiles), profiles=profiles, rule=rule)
    assert list(result.ranking) == ["d", "a", "b", "c", "e"]
    assert result.ranks == {"d": 1, "a": 2, "b": 2, "c": 2, "e": 5}
    assert result.tie_groups == (("a", "b", "c"),)
    assert result.winners() == ("d",)


@pytest.mark.parametrize("rule", RULES)
def test_rules_agree_on_majority_grade_order(rule: str) -> None:
    profiles = {"A": [0, 1, 4, 0, 0], "B": [0, 0, 1, 4, 0], "C": [4, 1, 0, 0, 0]}
    result = tally(5, list(profiles), profiles=profiles, rule=rule)
    assert list(result.ranking) == ["B", "A", "C"]


def test_same_input_same_output() -> None:
    one = food("majority-value").to_dict()
    two = food("majority-value").to_dict()
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Ballots
# ---------------------------------------------------------------------------------------------


def test_ballots_as_mappings_partial_blank_and_invalid() -> None:
    ballots = [
        {"A": 2, "B": 0},
        {"A": 1},
        {},  # blank
        None,  # invalid (rejected upstream)
        {"B": 2, "A": 2},
    ]
    result = tally(3, ["A", "B"], ballots=ballots, missing="worst-grade")
    assert result.counts == {"valid": 3, "blank": 1, "invalid": 1}
    assert result.participants == 3
    assert result.profiles == {"A": (0, 1, 2), "B": (1, 0, 1)}
    assert result.balanced_profiles == {"A": (0, 1, 2), "B": (2, 0, 1)}


def test_ballots_as_tuples_match_mappings() -> None:
    ids = ["A", "B", "C"]
    tuples = [(0, 1, None), (2, 2, 2), (None, None, None), (1, None, 0)]
    mappings = [{c: g for c, g in zip(ids, t, strict=True) if g is not None} for t in tuples]
    by_tuple = tally(3, ids, ballots=tuples)
    by_mapping = tally(3, ids, ballots=mappings)
    assert by_tuple.to_dict() == by_mapping.to_dict()
    assert by_tuple.counts == {"valid": 3, "blank": 1, "invalid": 0}


def test_full_mapping_ballots_match_tuples() -> None:
    ids = ["A", "B", "C"]
    tuples = [(0, 1, 2), (2, 2, 2), (1, None, 0), (0, 0, 1)]
    mappings = [dict(zip(ids, t, strict=True)) for t in tuples]
    assert tally(3, ids, ballots=mappings).to_dict() == tally(3, ids, ballots=tuples).to_dict()
    with pytest.raises(majority.UnknownCandidateError, match="'Z'"):
        tally(3, ids, ballots=[*mappings, {"A": 0, "B": 1, "Z": 2}])
    with pytest.raises(majority.UnknownGradeError, match=r"'C'.*grade 3"):
        tally(3, ids, ballots=[*mappings, {"A": 0, "B": 1, "C": 3}])
    with pytest.raises(majority.BallotFormatError, match="7"):
        tally(3, ids, ballots=[*mappings, 7])


def test_ballots_and_profiles_agree() -> None:
    ballots = [{"A": g, "B": 3 - g} for g in (0, 1, 1, 2, 3, 3)]
    from_ballots = tally(4, ["A", "B"], ballots=ballots)
    from_profiles = tally(4, ["A", "B"], profiles={"A": [1, 2, 1, 2], "B": [2, 1, 2, 1]})
    assert from_ballots.ranking == from_profiles.ranking
    assert from_ballots.profiles == from_profiles.profiles


def test_ballots_from_a_generator() -> None:
    result = tally(2, ["A"], ballots=({"A": i % 2} for i in range(5)))
    assert result.profiles == {"A": (3, 2)}


# ---------------------------------------------------------------------------------------------
# Missing judgments
# ---------------------------------------------------------------------------------------------

UNEVEN = {"A": [0, 0, 2], "B": [0, 4, 0], "C": [2, 1, 1]}  # A graded by only 2 of 4 voters


def uneven(missing: str, **options: Any) -> TallyResult:
    return tally(3, list(UNEVEN), profiles=UNEVEN, participants=4, missing=missing, **options)


def test_normalize_uses_shares() -> None:
    result = uneven("normalize")
    assert result.balanced_profiles["A"] == (0, 0, 2)
    assert result.majority_grades["A"] == 2
    assert list(result.ranking) == ["A", "B", "C"]


def test_normalize_equals_scaling_to_the_lcm() -> None:
    profiles = {"A": [1, 1, 1], "B": [1, 2, 1, 0][:3], "C": [2, 1, 2]}  # totals 3, 4, 5
    factor = {c: 60 // sum(p) for c, p in profiles.items()}
    scaled = {c: [n * factor[c] for n in p] for c, p in profiles.items()}
    for rule in RULES:
        normalized = tally(3, list(profiles), profiles=profiles, rule=rule)
        explicit = tally(3, list(scaled), profiles=scaled, rule=rule, missing="strict")
        assert normalized.ranks == explicit.ranks, rule
        assert normalized.scores == explicit.scores, rule


def test_worst_grade_policy_and_default_grade() -> None:
    result = uneven("worst-grade")
    assert result.balanced_profiles["A"] == (2, 0, 2)
    assert result.majority_grades["A"] == 0
    assert list(result.ranking) == ["B", "A", "C"]
    assert uneven("worst-grade", default_grade=1).balanced_profiles["A"] == (0, 2, 2)
    assert uneven("static-default").balanced_profiles == result.balanced_profiles


def test_median_policy() -> None:
    result = uneven("median")
    assert result.balanced_profiles["A"] == (0, 0, 4)
    assert result.missing == "median"
    assert uneven("median-default").balanced_profiles == result.balanced_profiles


def test_strict_policy_refuses_unbalanced_input() -> None:
    with pytest.raises(majority.UnbalancedProfilesError, match="'A' has 2 judgments"):
        uneven("strict")
    balanced = {"A": [1, 1], "B": [0, 2]}
    assert tally(2, ["A", "B"], profiles=balanced, missing="strict").ranking == ("B", "A")


def test_participants_default_to_largest_total() -> None:
    profiles = {"A": [0, 0, 6], "B": [0, 6, 5], "C": [0, 18, 0]}
    result = tally(3, list(profiles), profiles=profiles, missing="worst-grade")
    assert result.participants == 18
    assert result.balanced_profiles["A"] == (12, 0, 6)


def test_candidate_nobody_graded() -> None:
    for missing in MISSING_POLICIES[:3]:
        result = tally(2, ["A", "B"], profiles={"A": [0, 3], "B": [0, 0]}, missing=missing)
        assert result.ranking == ("A", "B"), missing
        assert result.majority_grades["B"] == 0


def test_no_ballot_at_all() -> None:
    result = tally(FRENCH_7, ["A", "B"], ballots=[])
    assert result.counts == {"valid": 0, "blank": 0, "invalid": 0}
    assert result.ranks == {"A": 1, "B": 1}


def test_min_participation_flags_and_ranks_last() -> None:
    profiles = {"A": [0, 0, 3], "B": [0, 40, 0], "C": [30, 0, 0], "D": [0, 30, 10]}
    result = tally(3, list(profiles), profiles=profiles, min_participation=Fraction(1, 3))
    # median participation: totals 3, 30, 40, 40 -> lower middle 30; 3 < 10.
    assert result.flagged == ("A",)
    assert list(result.ranking) == ["D", "B", "C", "A"]
    assert result.ranks["A"] == 4
    assert "A" in result.explanations("fr")[-1]
    assert tally(3, list(profiles), profiles=profiles, min_participation="0.05").flagged == ()
    assert tally(3, list(profiles), profiles=profiles).ranking[0] == "A"


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

OK = {"A": [1, 1], "B": [2, 0]}


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda: tally([], ["A"], profiles={"A": []}), "EmptyScaleError", "empty"),
        (lambda: tally(0, ["A"], profiles={"A": []}), "EmptyScaleError", "empty"),
        (lambda: Scale(("Bien", "bien")), "DuplicateGradeError", "'bien'"),
        (lambda: tally(2, ["A", "A"], profiles=OK), "DuplicateCandidateError", "'A'"),
        (lambda: tally(2, ["A", 3], profiles=OK), "InvalidCandidateError", "3"),
        (lambda: tally(2, ["A"], profiles=OK), "UnknownCandidateError", "'B'"),
        (lambda: tally(2, ["A", "B", "C"], profiles=OK), "MissingProfileError", "'C'"),
        (
            lambda: tally(2, ["A", "B"], profiles={"A": [1, 1], "B": [1, 1, 0]}),
            "ProfileLengthError",
            "'B'",
        ),
        (
            lambda: tally(2, ["A", "B"], profiles={"A": [1, -1], "B": [1, 1]}),
            "NegativeCountError",
            "'A'",
        ),
        (
            lambda: tally(2, ["A", "B"], profiles={"A": [1, 0.5], "B": [1, 1]}),
            "InvalidCountError",
            "0.5",
        ),
        (
            lambda: tally(2, ["A"], ballots=[{"A": 1}, {"A": 2}]),
            "UnknownGradeError",
            "grade 2",
        ),
        (
            lambda: tally(2, ["A"], ballots=[{"A": 1}, {"Z": 0}]),
            "UnknownCandidateError",
            "'Z'",
        ),
        (lambda: tally(2, ["A", "B"], ballots=[(0, 1), (1,)]), "BallotFormatError", "1 grades"),
        (lambda: tally(2, ["A"], ballots=[{"A": 1}, (1,)]), "BallotFormatError", "(1,)"),
        (lambda: tally(2, ["A"], ballots=["bad"]), "BallotFormatError", "'bad'"),
        (
            lambda: tally(2, ["A", "B"], profiles={"A": [1, 0], "B": [2, 0]}, missing="strict"),
            "UnbalancedProfilesError",
            "'A'",
        ),
        (lambda: tally(2, ["A", "B"], profiles=OK, rule="borda"), "UnknownRuleError", "'borda'"),
        (lambda: tally(2, ["A", "B"], profiles=OK, missing="zero"), "UnknownPolicyError", "zero"),
        (lambda: tally(2, ["A", "B"], profiles=OK, default_grade=2), "UnknownGradeError", "2"),
        (lambda: tally(2, ["A", "B"], profiles=OK, participants=1), "InvalidOptionError", "'A'"),
        (
            lambda: tally(2, ["A", "B"], profiles=OK, min_participation="a third"),
            "InvalidOptionError",
            "a third",
        ),
        (lambda: tally(2, ["A", "B"]), "InvalidOptionError", "either"),
        (
            lambda: tally(2, ["A"], profiles={"A": [1, 0]}, ballots=[]),
            "InvalidOptionError",
            "either",
        ),
        (lambda: FRENCH_7.index("Génial"), "UnknownGradeError", "'Génial'"),
    ],
)
def test_bad_input_raises_specific_error(call: Any, error: str, names: str) -> None:
    exc_type = getattr(majority, error)
    assert issubclass(exc_type, TallyError)
    assert issubclass(exc_type, ValueError)
    with pytest.raises(exc_type) as info:
        call()
    assert names in str(info.value)


def test_exceptions_are_exported() -> None:
    for name in majority.__all__:
        assert hasattr(majority, name), name
    errors = [n for n in majority.__all__ if n.endswith("Error")]
    assert len(errors) >= 15


# ---------------------------------------------------------------------------------------------
# JSON-safe output
# ---------------------------------------------------------------------------------------------


def assert_json_safe(value: Any, path: str = "$") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{path}: key {key!r}"
            assert_json_safe(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_json_safe(item, f"{path}[{i}]")
    else:
        assert value is None or type(value) in (int, str, bool), f"{path}: {value!r}"


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("missing", MISSING_POLICIES[:3])
def test_to_dict_is_json_safe_and_complete(rule: str, missing: str) -> None:
    result = tally(
        4,
        list(FOOD),
        profiles={**FOOD, "Chips": [2, 4, 2, 1]},
        rule=rule,
        missing=missing,
        min_participation=Fraction(1, 2),
    )
    data = result.to_dict()
    assert_json_safe(data)
    for key in (
        "rule",
        "ranking",
        "ranks",
        "majority_grades",
        "profiles",
        "balanced_profiles",
        "tie_groups",
        "counts",
        "scores",
        "flagged",
    ):
        assert key in data, key
    assert data["rule"] == rule
    assert data["counts"] == {"valid": 10, "blank": 0, "invalid": 0}
    assert data["min_participation"] == "1/2"
    assert data["missing"] == missing
    assert data["upper_median"] is False
    # The spec's `result` body shape (docs/audit-log.md §8).
    assert data["candidates"]["Chips"] == {
        "profile": [2, 4, 2, 1],
        "majority_grade": result.majority_grades["Chips"],
        "rank": result.ranks["Chips"],
    }
    assert data["profiles"]["Chips"] == [2, 4, 2, 1]
    assert json.loads(json.dumps(data)) == data


# ---------------------------------------------------------------------------------------------
# Explanations
# ---------------------------------------------------------------------------------------------


def test_explanations_cover_grade_rule_and_tie() -> None:
    profiles = {"A": [0, 1, 3, 1], "B": [0, 2, 2, 1], "C": [0, 2, 2, 1], "D": [3, 1, 1, 0]}
    scale = Scale(("Rejet", "Passable", "Bien", "Très bien"), ("Reject", "Fair", "Good", "Great"))
    result = tally(scale, list(profiles), profiles=profiles, rule="majority-gauge")
    assert list(result.ranking) == ["A", "B", "C", "D"]
    fr = result.explanations("fr")
    en = result.explanations("en")
    assert len(fr) == len(en) == 3
    # A: 1 above, 1 below Bien (20 % / 20 %) -> "Bien-" with 20 %; B: 40 % below Bien.
    assert fr[0].startswith("A et B ont la même mention majoritaire « Bien »")
    assert "40 % des votants jugent B en dessous, contre 20 % pour A" in fr[0]
    assert en[0].startswith("A and B share the majority grade “Good”")
    assert "40% of voters grade B below it, versus 20% for A" in en[0]
    assert "égalité parfaite" in fr[1]
    assert "perfectly tied" in en[1]
    assert "« Bien » pour C, contre « Rejet » pour D" in fr[2]
    assert "“Good” versus “Reject”" in en[2]


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_explains_every_pair(rule: str) -> None:
    for lang in ("fr", "en"):
        result = food(rule)
        lines = result.explanations(lang)
        assert len(lines) == 3
        for line, (a, b) in zip(lines, itertools.pairwise(result.ranking), strict=True):
            assert line.startswith(a) and b in line


def test_explanation_percentages_show_a_difference() -> None:
    # 10001 voters: shares 45.555 % and 45.545 % must not both print as "46 %".
    profiles = {"A": [0, 4545, 900, 4556], "B": [0, 4546, 900, 4555]}
    result = tally(4, ["A", "B"], profiles=profiles, rule="majority-gauge")
    text = result.explanations("en")[0]
    assert "45.6% of voters grade A above it, versus 45.5% for B" in text


def test_explanations_with_display_names() -> None:
    result = food("majority-gauge")
    names = {"Bread": "Pain", "Pizza": "Pizza 🍕", "Pasta": "Pâtes", "Chips": "Frites"}
    fr = result.explanations("fr", names=names)
    assert fr[0].startswith("Pain passe devant Pâtes")
    assert fr[1].startswith("Pâtes et Pizza 🍕 sont ex aequo")
    assert not any("Bread" in line or "Chips" in line for line in fr)
    profiles = {"a": [0, 9], "b": [0, 1], "c": [1, 8]}
    flagged = tally(2, ["a", "b", "c"], profiles=profiles, min_participation="1/2")
    assert flagged.flagged == ("b",)
    text = flagged.explanations("en", {"a": "Ann", "b": "Bob", "c": "Cy"})[1]
    assert text.startswith("Cy is ranked before Bob, which received only 1 judgment(s)")


def test_explanations_unknown_language() -> None:
    with pytest.raises(ValueError, match="de"):
        food("majority-value").explanations("de")


def test_compare_matches_ranks() -> None:
    result = food("majority-gauge")
    assert result.compare("Bread", "Chips") == 1
    assert result.compare("Chips", "Bread") == -1
    assert result.compare("Pizza", "Pasta") == 0
