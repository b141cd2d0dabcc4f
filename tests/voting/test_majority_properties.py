"""Property tests of the tally engine over random ballots, for every rule.

The engine compares run-length encoded profiles; the references below work on the expanded,
sorted list of judgments, exactly as the rules are written in the literature, so that the
fast path is checked against the slow, obvious one.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from math import lcm
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voting.majority import RULES, TallyResult, tally

SETTINGS = settings(max_examples=100, deadline=None)


# ---------------------------------------------------------------------------------------------
# Slow references on expanded judgments
# ---------------------------------------------------------------------------------------------


def expand(counts: list[int] | tuple[int, ...]) -> list[int]:
    return [grade for grade, n in enumerate(counts) for _ in range(n)]


def median_of(judgments: list[int], upper: bool) -> int:
    return judgments[len(judgments) // 2 if upper else (len(judgments) - 1) // 2]


def ref_majority_value(counts: tuple[int, ...], upper: bool) -> list[int]:
    """Balinski–Laraki: repeatedly take out the median judgment."""
    judgments = expand(counts)
    sequence = []
    while judgments:
        i = len(judgments) // 2 if upper else (len(judgments) - 1) // 2
        sequence.append(judgments.pop(i))
    return sequence


def ref_gauge(counts: tuple[int, ...], upper: bool) -> tuple[int, int, Fraction]:
    """Balinski–Laraki majority gauge (p, α, q): α+ beats α−; larger p better, larger q worse."""
    judgments = expand(counts)
    alpha = median_of(judgments, upper)
    p = Fraction(sum(g > alpha for g in judgments), len(judgments))
    q = Fraction(sum(g < alpha for g in judgments), len(judgments))
    return (alpha, 1, p) if p > q else (alpha, 0, -q)


def ref_fabre(rule: str, counts: tuple[int, ...], upper: bool) -> tuple[int, Fraction]:
    """(majority grade, Fabre score): his scores break ties of the median, never override it."""
    judgments = expand(counts)
    alpha = median_of(judgments, upper)
    p = Fraction(sum(g > alpha for g in judgments), len(judgments))
    q = Fraction(sum(g < alpha for g in judgments), len(judgments))
    if rule == "typical":
        return alpha, alpha + p - q
    if rule == "central":
        return alpha, alpha + (p - q) / (2 * (p + q)) if p + q else Fraction(alpha)
    return alpha, alpha + (p - q) / (2 * (1 - p - q))


def ref_mieux_voter(counts: tuple[int, ...], upper: bool, favor_contestation: bool) -> str:
    """The MieuxVoter libraries' score string, built as their Java deliberator builds it."""
    tally_ = list(counts)
    judges = sum(tally_)
    digits_grade = len(str(len(tally_)))
    digits_group = len(str(judges)) + 1
    parts = []
    for _ in range(len(tally_)):
        cursor = (judges + (2 if upper else 1)) // 2
        running = 0
        median = contest_grade = adhesion_grade = 0
        contest = adhesion = 0
        found = False
        for grade, n in enumerate(tally_):
            before = running
            running += n
            if not found:
                if running >= cursor:
                    found = True
                    median, contest = grade, before
                    adhesion = judges - before - n
                elif n > 0:
                    contest_grade = grade
            elif n > 0 and adhesion_grade == 0:
                adhesion_grade = grade
        if adhesion > contest or (adhesion == contest and not favor_contestation):
            second, size, sign = adhesion_grade, adhesion, 1
        else:
            second, size, sign = contest_grade, contest, -1
        parts.append(f"{median:0{digits_grade}d}_{judges + sign * size:0{digits_group}d}")
        tally_[second] += tally_[median]
        if second != median:
            tally_[median] = 0
    return "/".join(parts)


def reference_key(rule: str, counts: tuple[int, ...], upper: bool) -> Any:
    if rule == "majority-value":
        return ref_majority_value(counts, upper)
    if rule == "majority-gauge":
        return ref_gauge(counts, upper)
    if rule == "mieux-voter":
        # MieuxVoter's single switch: lower median + contestation, or upper median + adhesion.
        return ref_mieux_voter(counts, upper, not upper)
    return ref_fabre(rule, counts, upper)


def sign(x: Any, y: Any) -> int:
    return (x > y) - (x < y)


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


@st.composite
def elections(draw: st.DrawFn, min_candidates: int = 1) -> dict[str, Any]:
    """Full ballots (every voter grades every candidate) as tuples aligned on candidates."""
    grades = draw(st.integers(2, 7))
    n = draw(st.integers(min_candidates, 6))
    candidates = [f"c{i}" for i in range(n)]
    ballots = draw(
        st.lists(
            st.tuples(*[st.integers(0, grades - 1)] * n),
            min_size=1,
            max_size=25,
        )
    )
    return {"grades": grades, "candidates": candidates, "ballots": ballots}


def run(election: dict[str, Any], rule: str, **options: Any) -> TallyResult:
    return tally(
        election["grades"],
        election["candidates"],
        ballots=election["ballots"],
        rule=rule,
        **options,
    )


rules = pytest.mark.parametrize("rule", RULES)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@rules
@SETTINGS
@given(election=elections(), upper=st.booleans())
def test_ranking_is_a_total_preorder_matching_the_reference(
    rule: str, election: dict[str, Any], upper: bool
) -> None:
    result = run(election, rule, upper_median=upper)
    ids = election["candidates"]
    assert sorted(result.ranking) == sorted(ids)
    for a in ids:
        for b in ids:
            expected = sign(
                reference_key(rule, result.profiles[a], upper),
                reference_key(rule, result.profiles[b], upper),
            )
            assert result.compare(a, b) == expected, (a, b)
            assert sign(result.ranks[b], result.ranks[a]) == expected, (a, b)
    for before, after in itertools.pairwise(result.ranking):
        assert result.compare(before, after) >= 0
        if result.compare(before, after) == 0:
            assert before < after  # ties listed by candidate id


@rules
@SETTINGS
@given(election=elections(), data=st.data())
def test_permuting_ballots_changes_nothing(
    rule: str, election: dict[str, Any], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(election["ballots"]))
    assert run(election, rule).to_dict() == run({**election, "ballots": shuffled}, rule).to_dict()


@rules
@SETTINGS
@given(election=elections(), data=st.data())
def test_renaming_candidates_changes_nothing(
    rule: str, election: dict[str, Any], data: st.DataObject
) -> None:
    ids = election["candidates"]
    new_names = data.draw(st.permutations([f"n{i}" for i in range(len(ids))]))
    rename = dict(zip(ids, new_names, strict=True))
    order = data.draw(st.permutations(range(len(ids))))
    renamed = {
        "grades": election["grades"],
        "candidates": [rename[ids[i]] for i in order],
        "ballots": [tuple(ballot[i] for i in order) for ballot in election["ballots"]],
    }
    before, after = run(election, rule), run(renamed, rule)
    for cid in ids:
        assert after.ranks[rename[cid]] == before.ranks[cid]
        assert after.scores[rename[cid]] == before.scores[cid]
        assert after.majority_grades[rename[cid]] == before.majority_grades[cid]


@rules
@SETTINGS
@given(election=elections(), data=st.data(), upper=st.booleans())
def test_raising_one_judgment_never_lowers_the_rank(
    rule: str, election: dict[str, Any], data: st.DataObject, upper: bool
) -> None:
    ballots = election["ballots"]
    voter = data.draw(st.integers(0, len(ballots) - 1))
    slot = data.draw(st.integers(0, len(election["candidates"]) - 1))
    if ballots[voter][slot] == election["grades"] - 1:
        return
    raised = list(ballots)
    ballot = list(raised[voter])
    ballot[slot] += 1
    raised[voter] = tuple(ballot)
    cid = election["candidates"][slot]
    before = run(election, rule, upper_median=upper).ranks[cid]
    after = run({**election, "ballots": raised}, rule, upper_median=upper).ranks[cid]
    assert after <= before


@rules
@SETTINGS
@given(
    grades=st.integers(2, 6),
    partial=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 5), max_size=4),
        min_size=1,
        max_size=20,
    ),
    policy=st.sampled_from(["normalize", "worst-grade", "median"]),
    data=st.data(),
)
def test_raising_one_judgment_never_lowers_the_rank_with_missing_judgments(
    rule: str, grades: int, partial: list[dict[str, int]], policy: str, data: st.DataObject
) -> None:
    ballots = [{c: min(g, grades - 1) for c, g in b.items()} for b in partial]
    raisable = [(i, c) for i, b in enumerate(ballots) for c, g in b.items() if g < grades - 1]
    if not raisable:
        return
    voter, cid = data.draw(st.sampled_from(raisable))
    raised = [dict(b) for b in ballots]
    raised[voter][cid] += 1
    ids = ["a", "b", "c", "d"]
    before = tally(grades, ids, ballots=ballots, rule=rule, missing=policy)
    after = tally(grades, ids, ballots=raised, rule=rule, missing=policy)
    assert after.ranks[cid] <= before.ranks[cid]


@rules
@SETTINGS
@given(election=elections(min_candidates=2), data=st.data())
def test_removing_a_candidate_keeps_the_order_of_the_others(
    rule: str, election: dict[str, Any], data: st.DataObject
) -> None:
    ids = election["candidates"]
    gone = data.draw(st.integers(0, len(ids) - 1))
    smaller = {
        "grades": election["grades"],
        "candidates": ids[:gone] + ids[gone + 1 :],
        "ballots": [b[:gone] + b[gone + 1 :] for b in election["ballots"]],
    }
    full, reduced = run(election, rule), run(smaller, rule)
    assert [c for c in full.ranking if c != ids[gone]] == list(reduced.ranking)
    for a in smaller["candidates"]:
        for b in smaller["candidates"]:
            assert full.compare(a, b) == reduced.compare(a, b)


@rules
@SETTINGS
@given(election=elections(), k=st.integers(2, 5))
def test_multiplying_every_count_changes_nothing(
    rule: str, election: dict[str, Any], k: int
) -> None:
    result = run(election, rule)
    scaled = {c: [n * k for n in p] for c, p in result.profiles.items()}
    bigger = tally(election["grades"], election["candidates"], profiles=scaled, rule=rule)
    assert bigger.ranking == result.ranking
    assert bigger.ranks == result.ranks
    assert bigger.majority_grades == result.majority_grades
    assert bigger.scores == result.scores  # scores are expressed in shares


@rules
@SETTINGS
@given(
    grades=st.integers(2, 5),
    profiles=st.lists(st.lists(st.integers(0, 4), min_size=5, max_size=5), min_size=2, max_size=5),
    upper=st.booleans(),
)
def test_normalize_is_scaling_to_the_least_common_multiple(
    rule: str, grades: int, profiles: list[list[int]], upper: bool
) -> None:
    raw = {f"c{i}": p[:grades] for i, p in enumerate(profiles) if sum(p[:grades])}
    if len(raw) < 2:
        return
    common = lcm(*(sum(p) for p in raw.values()))
    scaled = {c: [n * (common // sum(p)) for n in p] for c, p in raw.items()}
    normalized = tally(grades, list(raw), profiles=raw, rule=rule, upper_median=upper)
    explicit = tally(
        grades, list(raw), profiles=scaled, rule=rule, upper_median=upper, missing="strict"
    )
    assert normalized.ranks == explicit.ranks
    for a in raw:
        for b in raw:
            assert normalized.compare(a, b) == sign(
                reference_key(rule, tuple(scaled[a]), upper),
                reference_key(rule, tuple(scaled[b]), upper),
            )


@rules
@SETTINGS
@given(election=elections())
def test_majority_grade_order_is_respected(rule: str, election: dict[str, Any]) -> None:
    """A better majority grade ranks strictly higher; Fabre's central judgment is continuous
    (α + 1/2 == (α + 1) − 1/2), so there it can only tie."""
    result = run(election, rule)
    for a in result.ranking:
        for b in result.ranking:
            if result.majority_grades[a] > result.majority_grades[b]:
                if rule == "central":
                    assert result.ranks[a] <= result.ranks[b]
                else:
                    assert result.ranks[a] < result.ranks[b]
