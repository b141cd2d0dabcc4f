"""Differential: the observer's recount (audit/) equals the service's tally (voting/).

The two are independent implementations of docs/audit-log.md §8 and of the majority
judgment rules; on random ballots — partial (random subsets), blank or complete — they must
publish the same profiles, majority grades, ranks, ranking and tie groups, for every rule and
every missing-judgment policy.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import recount
from voting.majority import MISSING_POLICIES, RULES, Scale, TallyError, tally

CANDIDATES = ["a1", "b2", "c3", "d4", "e5"]


@st.composite
def elections(draw: st.DrawFn) -> tuple[int, list[str], list[dict[str, int]]]:
    n_grades = draw(st.integers(min_value=2, max_value=7))
    candidates = CANDIDATES[: draw(st.integers(min_value=1, max_value=len(CANDIDATES)))]
    complete = draw(st.booleans())
    ballot = st.fixed_dictionaries(
        {c: st.integers(0, n_grades - 1) for c in candidates}
    ) if complete else st.dictionaries(
        st.sampled_from(candidates), st.integers(0, n_grades - 1), max_size=len(candidates)
    )  # fmt: skip
    ballots = draw(st.lists(ballot, min_size=1, max_size=40))
    return n_grades, candidates, ballots


def _producer(n_grades: int, candidates: list[str], ballots: list[dict[str, int]], **options):  # type: ignore[no-untyped-def]
    participants = sum(1 for b in ballots if b)
    result = tally(
        Scale.generic(n_grades), candidates, ballots=ballots, participants=participants,
        **options,
    )  # fmt: skip
    out = result.to_dict()
    return {k: out[k] for k in ("candidates", "ranking", "tie_groups")}


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("missing", sorted(set(MISSING_POLICIES)))
@pytest.mark.parametrize("upper_median", [False, True])
@settings(max_examples=30, deadline=None)
@given(election=elections(), default_grade=st.integers(0, 1))
def test_recount_equals_service_tally(
    rule: str,
    missing: str,
    upper_median: bool,
    election: tuple[int, list[str], list[dict[str, int]]],
    default_grade: int,
) -> None:
    n_grades, candidates, ballots = election
    options = {
        "rule": rule, "missing": missing, "default_grade": default_grade,
        "upper_median": upper_median,
    }  # fmt: skip
    try:
        mine = _producer(n_grades, candidates, ballots, **options)
    except TallyError:
        mine = None
    try:
        theirs = recount.tally(n_grades, candidates, ballots, **options)
    except recount.TallyError:
        theirs = None
    if mine is None or theirs is None:
        # Both refuse the same input (e.g. `strict` with a missing judgment), or neither does.
        assert mine is None and theirs is None, (mine, theirs)
        return
    assert mine == {k: theirs[k] for k in ("candidates", "ranking", "tie_groups")}
