"""Majority judgment, independently of the producer's engine (spec §8 ``result``).

Profiles are counts per grade, worst grade first. Every rule works on exact integers or
fractions. Public entry points: ``tally`` (from ballots) and ``tally_profiles``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, NotRequired, TypedDict, Unpack

RULES = ("majority-value", "majority-gauge", "mieux-voter", "typical", "central", "usual")
MISSING_POLICIES = ("normalize", "worst-grade", "median", "strict")


class TallyError(ValueError):
    """The inputs cannot be tallied under the requested rule and policy."""


def median_index(n: int, upper_median: bool) -> int:
    """Position of the majority grade among n sorted judgments (0-based)."""
    return n // 2 if upper_median else (n - 1) // 2


def grade_at(profile: Sequence[int], position: int) -> int:
    """Grade of the judgment at ``position`` when the judgments are sorted worst first."""
    seen = 0
    for grade, count in enumerate(profile):
        seen += count
        if position < seen:
            return grade
    raise IndexError(position)


def majority_grade(
    profile: Sequence[int], upper_median: bool = False, default_grade: int = 0
) -> int:
    n = sum(profile)
    if n == 0:
        return default_grade
    return grade_at(profile, median_index(n, upper_median))


def effective_profiles(
    profiles: Mapping[str, Sequence[int]],
    *,
    missing: str,
    default_grade: int,
    upper_median: bool,
    participants: int | None,
) -> dict[str, list[int]]:
    """Apply the missing-judgment policy; every returned profile has the same total."""
    if missing not in MISSING_POLICIES:
        raise TallyError(f"unknown missing-judgment policy {missing!r}")
    totals = {c: sum(p) for c, p in profiles.items()}
    if participants is None:
        participants = max(totals.values(), default=0)
    out: dict[str, list[int]] = {}
    if missing == "normalize":
        nonzero = [t for t in totals.values() if t]
        lcm = math.lcm(*nonzero) if nonzero else 0
        for c, p in profiles.items():
            if totals[c]:
                out[c] = [k * (lcm // totals[c]) for k in p]
            else:
                out[c] = [0] * len(p)
                if lcm:
                    out[c][default_grade] = lcm
        return out
    for c, p in profiles.items():
        short = participants - totals[c]
        if short < 0:
            raise TallyError(f"{c} has {totals[c]} judgments for {participants} participants")
        eff = list(p)
        if short:
            if missing == "strict":
                raise TallyError(f"strict policy: {c} lacks {short} judgment(s)")
            if missing == "worst-grade" or totals[c] == 0:
                eff[default_grade] += short
            else:
                eff[majority_grade(p, upper_median)] += short
        if not any(eff):
            # Nobody graded anyone (every ballot blank): the candidate stands at the default.
            eff[default_grade] = 1
        out[c] = eff
    return out


def _shares(profile: Sequence[int], upper_median: bool) -> tuple[int, Fraction, Fraction]:
    n = sum(profile)
    if n == 0:
        return 0, Fraction(0), Fraction(0)
    alpha = majority_grade(profile, upper_median)
    above = Fraction(sum(profile[alpha + 1 :]), n)
    below = Fraction(sum(profile[:alpha]), n)
    return alpha, above, below


def _runs(profile: Sequence[int]) -> list[tuple[int, int]]:
    """(end position, grade) of each non-empty grade block in sorted order."""
    runs, end = [], 0
    for grade, count in enumerate(profile):
        if count:
            end += count
            runs.append((end, grade))
    return runs


def compare_majority_value(a: Sequence[int], b: Sequence[int], upper_median: bool) -> int:
    """Balinski–Laraki majority value, compared lexicographically (>0 when a is better).

    Removing the majority grade again and again reads the sorted judgments from the
    middle outwards in an order that depends only on n, so the first difference between
    two majority values is at the differing position nearest the middle.
    """
    n = sum(a)
    if sum(b) != n:
        raise TallyError("majority value needs equal numbers of judgments")
    if n == 0:
        return 0
    ra, rb = _runs(a), _runs(b)
    bounds = sorted({0, *(e for e, _ in ra), *(e for e, _ in rb)})
    ia = ib = 0
    best_key: tuple[int, int] | None = None
    best = 0
    lo_c, hi_c = (n - 1) // 2, n // 2
    for start, end in itertools.pairwise(bounds):
        while ra[ia][0] <= start:
            ia += 1
        while rb[ib][0] <= start:
            ib += 1
        ga, gb = ra[ia][1], rb[ib][1]
        if ga == gb:
            continue
        for c in (lo_c, hi_c):
            p = min(max(c, start), end - 1)
            key = (abs(2 * p - (n - 1)), -p if upper_median else p)
            if best_key is None or key < best_key:
                best_key, best = key, ga - gb
    return (best > 0) - (best < 0)


def mieux_voter_score(profile: Sequence[int], upper_median: bool) -> list[tuple[int, int]]:
    """MieuxVoter score: (median, n + adhesion | n - contestation), regrading the median
    group into the adjacent non-empty grade on the larger side, until one grade is left."""
    prof = list(profile)
    n = sum(prof)
    score: list[tuple[int, int]] = []
    if n == 0:
        return score
    for _ in range(len(prof)):
        g = grade_at(prof, median_index(n, upper_median))
        below, above = sum(prof[:g]), sum(prof[g + 1 :])
        if above == below == 0:
            score.append((g, n))
            break
        up = above > below or (upper_median and above == below)
        score.append((g, n + above if up else n - below))
        steps = range(g + 1, len(prof)) if up else range(g - 1, -1, -1)
        target = next(j for j in steps if prof[j])
        prof[target] += prof[g]
        prof[g] = 0
    return score


def _key_function(rule: str, upper_median: bool) -> Callable[[Sequence[int]], Any]:
    def gauge(p: Sequence[int]) -> tuple[int, int, Fraction]:
        alpha, above, below = _shares(p, upper_median)
        return (alpha, 1, above) if above > below else (alpha, 0, -below)

    # Fabre's scores are alpha + f(p, q) with |f| <= 1/2; ranking by (alpha, f) keeps the
    # majority grade first even where alpha - 1/2 meets (alpha - 1) + 1/2.
    def typical(p: Sequence[int]) -> tuple[int, Fraction]:
        alpha, above, below = _shares(p, upper_median)
        return alpha, above - below

    def central(p: Sequence[int]) -> tuple[int, Fraction]:
        alpha, above, below = _shares(p, upper_median)
        return alpha, ((above - below) / (2 * (above + below)) if above + below else Fraction(0))

    def usual(p: Sequence[int]) -> tuple[int, Fraction]:
        alpha, above, below = _shares(p, upper_median)
        return alpha, (above - below) / (2 * (1 - above - below))

    def mieux(p: Sequence[int]) -> list[tuple[int, int]]:
        return mieux_voter_score(p, upper_median)

    return {
        "majority-gauge": gauge,
        "typical": typical,
        "central": central,
        "usual": usual,
        "mieux-voter": mieux,
    }[rule]


def rank(
    profiles: Mapping[str, Sequence[int]], rule: str, upper_median: bool
) -> list[tuple[str, int]]:
    """(candidate, competition rank) best first; tied candidates in code-point order of ids."""
    if rule not in RULES:
        raise TallyError(f"unknown rule {rule!r}")
    names = list(profiles)
    if rule == "majority-value":

        def cmp(x: str, y: str) -> int:
            return -compare_majority_value(profiles[x], profiles[y], upper_median)
    else:
        key = _key_function(rule, upper_median)
        keys = {c: key(profiles[c]) for c in names}

        def cmp(x: str, y: str) -> int:  # each rule's key is a value of its own type
            return int(keys[y] > keys[x]) - int(keys[y] < keys[x])

    # §8: candidates sharing a rank are listed in increasing code-point order of their ids.
    ordered = sorted(sorted(names), key=functools.cmp_to_key(cmp))
    ranks: list[tuple[str, int]] = []
    for pos, c in enumerate(ordered):
        if pos and cmp(ordered[pos - 1], c) == 0:
            ranks.append((c, ranks[-1][1]))
        else:
            ranks.append((c, pos + 1))
    return ranks


class Method(TypedDict):
    """How a round's profiles are ranked (§8): the definition's rule, missing-judgment policy,
    default grade and median, and how many took part (None or left out: the entry point's
    default)."""

    rule: str
    missing: str
    default_grade: int
    upper_median: bool
    participants: NotRequired[int | None]


class Opened(TypedDict):
    """A round's ballots once opened or decrypted: the merit profile of each candidate and
    the counts of valid, blank and invalid ballots."""

    profiles: dict[str, list[int]]
    valid: int
    blank: int
    invalid: int


class CandidateResult(TypedDict):
    profile: list[int]
    majority_grade: int
    rank: int


class Result(TypedDict):
    """The §8 ``result`` shape, as far as a recount makes it."""

    candidates: dict[str, CandidateResult]
    ranking: list[str]
    tie_groups: list[list[str]]


def tally_profiles(
    grades: Sequence[str] | int, profiles: Mapping[str, Sequence[int]], **method: Unpack[Method]
) -> Result:
    """Rank candidates from their received merit profiles (counts worst→best).

    ``profile`` is the received counts, the majority grade and ranks are those of the
    profiles after the missing-judgment policy. ``participants`` defaults to the largest
    number of judgments received.
    """
    n_grades = grades if isinstance(grades, int) else len(grades)
    default_grade, upper_median = method["default_grade"], method["upper_median"]
    if not 0 <= default_grade < n_grades:
        raise TallyError(f"default grade {default_grade} outside the scale")
    for c, p in profiles.items():
        if len(p) != n_grades or any(type(k) is not int or k < 0 for k in p):
            raise TallyError(f"profile of {c} is not {n_grades} non-negative counts")
    eff = effective_profiles(
        profiles,
        missing=method["missing"],
        default_grade=default_grade,
        upper_median=upper_median,
        participants=method.get("participants"),
    )
    ranks = rank(eff, method["rule"], upper_median)
    groups: dict[int, list[str]] = {}
    for c, r in ranks:
        groups.setdefault(r, []).append(c)
    return {
        "candidates": {
            c: {
                "profile": list(profiles[c]),
                "majority_grade": majority_grade(eff[c], upper_median, default_grade),
                "rank": dict(ranks)[c],
            }
            for c in profiles
        },
        "ranking": [c for c, _ in ranks],
        "tie_groups": [g for g in groups.values() if len(g) > 1],
    }


def profiles_from_ballots(
    n_grades: int, candidates: Sequence[str], ballots: Sequence[Mapping[str, int]]
) -> dict[str, list[int]]:
    profiles = {c: [0] * n_grades for c in candidates}
    for ballot in ballots:
        for c, g in ballot.items():
            if c not in profiles or not 0 <= g < n_grades:
                raise TallyError(f"ballot grades unknown candidate or grade: {c!r}={g!r}")
            profiles[c][g] += 1
    return profiles


def tally(
    grades: Sequence[str] | int,
    candidates: Sequence[str],
    ballots: Sequence[Mapping[str, int]],
    **method: Unpack[Method],
) -> Result:
    """Tally valid ballots (candidate → grade index; ``{}`` is blank and ignored).

    ``participants`` defaults to the number of non-blank ballots: every voter who graded at
    least one candidate is a participant for the missing-judgment policy.
    """
    n_grades = grades if isinstance(grades, int) else len(grades)
    profiles = profiles_from_ballots(n_grades, candidates, ballots)
    if method.get("participants") is None:
        method["participants"] = sum(1 for b in ballots if b)
    return tally_profiles(n_grades, profiles, **method)
