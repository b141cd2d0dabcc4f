"""The independent majority-judgment engine against published vectors and by properties."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.recount import (
    TallyError,
    compare_majority_value,
    effective_profiles,
    majority_grade,
    tally,
    tally_profiles,
)

VECTORS = json.loads(
    (pathlib.Path(__file__).parent / "data" / "mj_vectors.json").read_text(encoding="utf-8")
)
POLICY = {"static-default": "worst-grade", "median-default": "median", "normalize-lcm": "normalize"}
FABRE_RULES = {"mj": "majority-gauge", "typical": "typical", "central": "central", "usual": "usual"}


def _case(c: dict[str, Any]) -> tuple[int, dict[str, list[int]], str, bool]:
    n_grades = c["grades"] if isinstance(c["grades"], int) else len(c["grades"])
    profiles = c["profiles"]
    if "profile_unit" in c:  # shares with four decimals
        profiles = {k: [round(x * 10_000) for x in v] for k, v in profiles.items()}
    missing = POLICY.get(c.get("missing_grade_policy", ""), "strict")
    if missing == "strict" and len({sum(p) for p in profiles.values()}) > 1:
        missing = "normalize"
    upper = "favorContestation=false" in c["rule"]
    return n_grades, profiles, missing, upper


def _rules(c: dict[str, Any]) -> list[tuple[str, list[str]]]:
    if "expected_rankings_by_rule" in c:
        return [(FABRE_RULES[r], order) for r, order in c["expected_rankings_by_rule"].items()]
    if c["rule"].startswith("mj-mieuxvoter"):
        return [("mieux-voter", c["expected_ranking"]), ("majority-value", c["expected_ranking"])]
    return [("majority-value", c["expected_ranking"]), ("mieux-voter", c["expected_ranking"])]


CASES = [(i, rule, order) for i, c in enumerate(VECTORS) for rule, order in _rules(c)]


@pytest.mark.parametrize(("i", "rule", "order"), CASES, ids=[f"{i}-{r}" for i, r, _ in CASES])
def test_published_vectors(i: int, rule: str, order: list[str]) -> None:
    c = VECTORS[i]
    n_grades, profiles, missing, upper = _case(c)
    participants = c.get("participants") if missing != "normalize" else None
    result = tally_profiles(
        n_grades,
        profiles,
        rule=rule,
        missing=missing,
        default_grade=c.get("default_grade_index", 0),
        upper_median=upper,
        participants=participants,
    )
    assert result["ranking"] == order
    if "expected_ranks" in c and rule in ("mieux-voter", "majority-value", "majority-gauge"):
        assert {k: v["rank"] for k, v in result["candidates"].items()} == c["expected_ranks"]
    if "expected_majority_grade" in c:
        labels = c["grades"]
        assert {k: labels[v["majority_grade"]] for k, v in result["candidates"].items()} == c[
            "expected_majority_grade"
        ]
    if "expected_median_grade_index" in c:
        assert {k: v["majority_grade"] for k, v in result["candidates"].items()} == c[
            "expected_median_grade_index"
        ]


def test_competition_ranking_and_tie_groups() -> None:
    r = tally_profiles(
        3,
        {"A": [0, 0, 6], "B": [1, 2, 3], "C": [1, 2, 3], "D": [2, 1, 3], "E": [1, 2, 3]},
        rule="majority-value",
        missing="strict",
        default_grade=0,
        upper_median=False,
    )
    assert [r["candidates"][c]["rank"] for c in "ABCDE"] == [1, 2, 2, 5, 2]
    assert r["tie_groups"] == [["B", "C", "E"]]


def test_missing_policies() -> None:
    profiles = {"A": [0, 1, 1], "B": [1, 1, 2]}
    assert effective_profiles(
        profiles, missing="worst-grade", default_grade=0, upper_median=False, participants=4
    )["A"] == [2, 1, 1]
    assert effective_profiles(
        profiles, missing="median", default_grade=0, upper_median=False, participants=4
    )["A"] == [0, 3, 1]
    assert effective_profiles(
        profiles, missing="normalize", default_grade=0, upper_median=False, participants=None
    ) == {"A": [0, 2, 2], "B": [1, 1, 2]}
    with pytest.raises(TallyError):
        effective_profiles(
            profiles, missing="strict", default_grade=0, upper_median=False, participants=4
        )


def test_tally_from_ballots_shape() -> None:
    result = tally(
        ["bad", "ok", "good"],
        ["x", "y"],
        [{"x": 2, "y": 0}, {"x": 1}, {}],
        rule="majority-value",
        missing="worst-grade",
        default_grade=0,
        upper_median=False,
    )
    assert result == {
        "candidates": {
            "x": {"profile": [0, 1, 1], "majority_grade": 1, "rank": 1},
            "y": {"profile": [1, 0, 0], "majority_grade": 0, "rank": 2},
        },
        "ranking": ["x", "y"],
        "tie_groups": [],
    }


def _expand(profile: list[int]) -> list[int]:
    return [g for g, k in enumerate(profile) for _ in range(k)]


def _majority_value(profile: list[int], upper: bool) -> list[int]:
    """Literal Balinski–Laraki definition: remove the median judgment again and again."""
    judgments = _expand(profile)
    out = []
    while judgments:
        pos = len(judgments) // 2 if upper else (len(judgments) - 1) // 2
        out.append(judgments.pop(pos))
    return out


profiles_st = st.integers(2, 5).flatmap(
    lambda g: st.integers(1, 9).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(0, g - 1), min_size=n, max_size=n).map(
                lambda js, g=g: [js.count(k) for k in range(g)]
            ),
            min_size=2,
            max_size=2,
        )
    )
)


@settings(max_examples=400, deadline=None)
@given(profiles_st, st.booleans())
def test_fast_majority_value_equals_the_definition(pair: list[list[int]], upper: bool) -> None:
    a, b = pair
    expected = _majority_value(a, upper) > _majority_value(b, upper)
    worse = _majority_value(a, upper) < _majority_value(b, upper)
    assert compare_majority_value(a, b, upper) == expected - worse


@settings(max_examples=200, deadline=None)
@given(
    profiles_st,
    st.sampled_from(
        ["majority-value", "majority-gauge", "mieux-voter", "typical", "central", "usual"]
    ),
    st.booleans(),
)
def test_majority_grade_orders_every_rule(pair: list[list[int]], rule: str, upper: bool) -> None:
    r = tally_profiles(
        len(pair[0]),
        {"a": pair[0], "b": pair[1]},
        rule=rule,
        missing="strict",
        default_grade=0,
        upper_median=upper,
    )
    ga, gb = (majority_grade(p, upper) for p in pair)
    ra, rb = r["candidates"]["a"]["rank"], r["candidates"]["b"]["rank"]
    if ga != gb:
        assert (ga > gb) == (ra < rb)


def test_ties_listed_in_code_point_order_of_ids() -> None:
    same = [1, 2, 3]
    r = tally_profiles(
        3,
        {"z": same, "é": same, "a": same, "b": [0, 0, 6]},
        rule="majority-value",
        missing="strict",
        default_grade=0,
        upper_median=False,
    )
    assert r["ranking"] == ["b", "a", "z", "é"]
    assert r["tie_groups"] == [["a", "z", "é"]]
