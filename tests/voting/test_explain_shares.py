"""The shares quoted by the ranking explanations are the true ones, for every rule.

Each reference below is computed here from the merit profiles, the slow and obvious way, without
voting/explain.py: the test reads the percentages out of the sentences and checks that each is
the rounding of the share it names.
"""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from math import lcm

import asyncpg
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from voting.majority import RULES, tally
from web.settings import Settings

PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s?%")
AFTER_REGRADING = re.compile(r"(?:after regrading the median group|après) (\d+) ")


def stated_percents(sentence: str) -> list[tuple[Fraction, int]]:
    """Every percentage of a sentence, as (value in %, number of decimals shown)."""
    found = []
    for text in PERCENT.findall(sentence):
        text = text.replace(",", ".")
        decimals = len(text.split(".")[1]) if "." in text else 0
        found.append((Fraction(text), decimals))
    return found


def rounds_to(share: Fraction, stated: tuple[Fraction, int]) -> bool:
    value, decimals = stated
    return abs(share * 100 - value) <= Fraction(1, 2 * 10**decimals)


def median_index(counts: list[int], upper: bool) -> int:
    total = sum(counts)
    position = total // 2 if upper else (total - 1) // 2  # 0-based, in sorted judgments
    seen = 0
    for grade, n in enumerate(counts):
        seen += n
        if seen > position:
            return grade
    raise AssertionError("empty profile")


def removed_before_difference(pa: list[int], pb: list[int], upper: bool) -> Fraction:
    """Both profiles scaled to a common number of judgments; the median judgment is taken out of
    each, one at a time, until the two medians differ: the share taken out before that."""
    common = lcm(sum(pa), sum(pb))
    a = [n * common // sum(pa) for n in pa]
    b = [n * common // sum(pb) for n in pb]
    for removed in range(common):
        ga, gb = median_index(a, upper), median_index(b, upper)
        if ga != gb:
            return Fraction(removed, common)
        a[ga] -= 1
        b[gb] -= 1
    raise AssertionError("the two profiles have the same shares")


def above_below(counts: list[int], upper: bool) -> tuple[Fraction, Fraction]:
    grade = median_index(counts, upper)
    total = sum(counts)
    return Fraction(sum(counts[grade + 1 :]), total), Fraction(sum(counts[:grade]), total)


def mieux_voter_groups(counts: list[int], upper: bool, contest: bool) -> list[tuple[int, Fraction]]:
    """Per regrading: (median grade, signed share of the larger group outside it)."""
    current = list(counts)
    total = sum(current)
    steps = []
    for _ in current:
        median = median_index(current, upper)
        below, above = sum(current[:median]), sum(current[median + 1 :])
        if above > below or (above == below and not contest):
            signed = Fraction(above, total)
            target = next((g for g in range(median + 1, len(current)) if current[g]), median)
        else:
            signed = -Fraction(below, total)
            target = next((g for g in range(median - 1, -1, -1) if current[g]), median)
        steps.append((median, signed))
        current[target] += current[median]
        if target != median:
            current[median] = 0
    return steps


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, bool, dict[str, list[int]]]:
    rule = draw(st.sampled_from(RULES))
    upper = draw(st.booleans())
    size = draw(st.integers(2, 6))
    profile = st.lists(st.integers(0, 7), min_size=size, max_size=size).filter(sum)
    profiles = {c: draw(profile) for c in ("A", "B", "C")}
    return rule, upper, profiles


@hypothesis_settings(max_examples=400, deadline=None)
@given(cases())
def test_stated_shares_are_the_true_shares(case: tuple[str, bool, dict[str, list[int]]]) -> None:
    rule, upper, profiles = case
    result = tally(len(profiles["A"]), list(profiles), profiles=profiles, rule=rule,
                   upper_median=upper)  # fmt: skip
    for lang in ("fr", "en"):
        for (a, b), sentence in zip(
            zip(result.ranking, result.ranking[1:], strict=False),
            result.explanations(lang),
            strict=True,
        ):
            pa, pb = profiles[a], profiles[b]
            if result.compare(a, b) == 0 or result.majority_grades[a] != result.majority_grades[b]:
                continue
            stated = stated_percents(sentence)
            if rule == "majority-value":
                (share,) = stated
                true = removed_before_difference(pa, pb, upper)
                assert rounds_to(true, share), (sentence, true)
            elif rule == "mieux-voter":
                steps_a = mieux_voter_groups(pa, upper, result.favor_contestation)
                steps_b = mieux_voter_groups(pb, upper, result.favor_contestation)
                k = next(i for i, (x, y) in enumerate(zip(steps_a, steps_b, strict=True)) if x != y)
                regraded = AFTER_REGRADING.search(sentence)
                assert (int(regraded.group(1)) if regraded else 0) == k, sentence
                groups = [abs(s) for _, s in (steps_a[k], steps_b[k]) if s]
                if steps_a[k][0] == steps_b[k][0]:
                    assert len(stated) == len(groups), sentence
                    assert all(map(rounds_to, groups, stated)), (sentence, groups)
            else:
                p_a, q_a = above_below(pa, upper)
                p_b, q_b = above_below(pb, upper)
                shares = {p_a, q_a, p_b, q_b}
                for one in stated:
                    assert any(rounds_to(s, one) for s in shares), (sentence, shares)
                if rule != "majority-gauge":
                    assert all(map(rounds_to, [p_a, q_a, p_b, q_b], stated)), sentence


def test_demo_round_two_tie_break_is_at_half() -> None:
    # Six voters each, judgments sorted x1..x6: the medians come out as x3, x4, x2, x5…; the
    # two agree on x1..x4, so three judgments (50 %) are removed before they differ, not 33 %.
    profiles = {"K": [0, 1, 1, 2, 0, 2], "L": [0, 1, 1, 2, 1, 1]}
    result = tally(6, list(profiles), profiles=profiles)
    assert result.ranking == ("K", "L")
    assert removed_before_difference(profiles["K"], profiles["L"], False) == Fraction(1, 2)
    assert "(50 % des jugements)" in result.explanations("fr")[0]
    assert "(50% of the judgments)" in result.explanations("en")[0]


@pytest.mark.anyio
async def test_the_demo_results_state_the_true_shares(
    log_pool: asyncpg.Pool, database_url: str, settings: Settings
) -> None:
    """Walking the demo: every tie-break share its results page states is the true one."""
    from web.demo import seed_demo

    await seed_demo(database_url, settings)
    async with log_pool.acquire() as conn:
        rows = await conn.fetch("SELECT body, explanations FROM round_results")
    checked = 0
    for row in rows:
        body, explanations = (json.loads(v) if isinstance(v, str) else v for v in row)
        if body["rule"] != "majority-value" or body["missing"] != "normalize":
            continue
        ranking, candidates = body["ranking"], body["candidates"]
        for lang in ("fr", "en"):
            for (a, b), sentence in zip(
                itertools.pairwise(ranking), explanations[lang], strict=True
            ):
                stated = stated_percents(sentence)
                if candidates[a]["rank"] == candidates[b]["rank"] or len(stated) != 1:
                    continue
                pa, pb = candidates[a]["profile"], candidates[b]["profile"]
                true = removed_before_difference(pa, pb, body["upper_median"])
                assert rounds_to(true, stated[0]), (sentence, true)
                checked += 1
    assert checked, "the demo's results have no tie-break to check"
