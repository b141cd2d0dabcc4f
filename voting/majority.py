"""Majority judgment tally engine: pure, exact, no I/O.

Every decision is taken on integers and :class:`fractions.Fraction`; floats never decide
anything. Every rule is computed from merit profiles (counts per grade, worst grade first), so
comparing two candidates costs O(number of grades) whatever the number of voters.

Public API::

    from voting.majority import (
        tally, Scale, FRENCH_7, LAPRIMAIRE_6, RULES, MISSING_POLICIES, TallyError, TallyResult,
    )

Conventions (see docs/majority-judgment.md):

* grade index 0 is the worst grade;
* the majority grade is the lower middle grade for an even number of judgments
  (``upper_median=True`` takes the upper one, as Belenios does);
* a candidate's judgments are compared as shares of its own total, which is the same as scaling
  every profile to the least common multiple of the totals: no rule depends on the scale.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from itertools import chain
from operator import itemgetter
from typing import Any, TypedDict

__all__ = [
    "ENGLISH_7",
    "FRENCH_7",
    "LAPRIMAIRE_6",
    "MISSING_POLICIES",
    "POLICY_ALIASES",
    "RULES",
    "SCALES",
    "BallotFormatError",
    "CandidateError",
    "DuplicateCandidateError",
    "DuplicateGradeError",
    "EmptyScaleError",
    "InvalidCandidateError",
    "InvalidCountError",
    "InvalidOptionError",
    "MissingProfileError",
    "NegativeCountError",
    "ProfileLengthError",
    "Scale",
    "ScaleError",
    "TallyError",
    "TallyResult",
    "UnbalancedProfilesError",
    "UnknownCandidateError",
    "UnknownGradeError",
    "UnknownPolicyError",
    "UnknownRuleError",
    "format_fraction",
    "median_grade",
    "tally",
]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class TallyError(ValueError):
    """Bad input to the tally. The message names the offending item."""


class ScaleError(TallyError):
    """The grade scale itself is unusable."""


class EmptyScaleError(ScaleError):
    """The grade scale has no grade."""


class DuplicateGradeError(ScaleError):
    """Two grades of the scale have the same label."""


class UnknownGradeError(TallyError):
    """A judgment or an option names a grade that is not on the scale."""


class CandidateError(TallyError):
    """Something is wrong with a candidate id."""


class DuplicateCandidateError(CandidateError):
    """The same candidate id appears twice."""


class UnknownCandidateError(CandidateError):
    """A ballot or a profile names a candidate that is not running."""


class InvalidCandidateError(CandidateError):
    """A candidate id is not a non-empty string."""


class MissingProfileError(CandidateError):
    """A running candidate has no merit profile."""


class InvalidCountError(TallyError):
    """A count in a merit profile is not an integer."""


class NegativeCountError(InvalidCountError):
    """A count in a merit profile is negative."""


class ProfileLengthError(TallyError):
    """A merit profile does not have one count per grade."""


class UnbalancedProfilesError(TallyError):
    """Candidates received different numbers of judgments and the policy is ``strict``."""


class BallotFormatError(TallyError):
    """A ballot is neither a mapping (candidate -> grade) nor a tuple aligned on candidates."""


class UnknownRuleError(TallyError):
    """The tie-breaking rule identifier is not one of :data:`RULES`."""


class UnknownPolicyError(TallyError):
    """The missing-judgment policy is not one of :data:`MISSING_POLICIES`."""


class InvalidOptionError(TallyError):
    """An option has an impossible value (participants, default grade, threshold…)."""


# --------------------------------------------------------------------------------------------
# Grade scales
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """A grade scale, labels from the worst grade (index 0) to the best.

    ``labels`` are the labels shown by default (French for the presets); ``labels_en`` are
    optional English labels used by English explanations.
    """

    labels: tuple[str, ...]
    labels_en: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        given: object = self.labels  # one label may come as a plain string
        labels = (given,) if isinstance(given, str) else tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        if not labels:
            raise EmptyScaleError("the grade scale is empty: give at least one grade label")
        _check_labels(labels, "grade")
        if self.labels_en is not None:
            labels_en = tuple(self.labels_en)
            object.__setattr__(self, "labels_en", labels_en)
            if len(labels_en) != len(labels):
                raise ScaleError(
                    f"the scale has {len(labels)} grades but {len(labels_en)} English labels"
                )
            _check_labels(labels_en, "English grade")

    def __len__(self) -> int:
        return len(self.labels)

    def label(self, index: int, lang: str = "fr") -> str:
        """The label of grade ``index`` in ``lang`` ("fr" or "en")."""
        if not 0 <= index < len(self.labels):
            raise UnknownGradeError(f"grade index {index!r} is not on a {len(self)}-grade scale")
        if lang == "en" and self.labels_en is not None:
            return self.labels_en[index]
        return self.labels[index]

    def index(self, label: str) -> int:
        """The index of the grade called ``label`` (either language, case-insensitive)."""
        wanted = label.casefold().strip()
        for labels in (self.labels, self.labels_en or ()):
            for i, candidate in enumerate(labels):
                if candidate.casefold() == wanted:
                    return i
        raise UnknownGradeError(f"unknown grade {label!r}: the scale is {', '.join(self.labels)}")

    @classmethod
    def generic(cls, size: int) -> Scale:
        """A scale of ``size`` grades labelled by their index ("0" is the worst)."""
        if isinstance(size, bool) or not isinstance(size, int):
            raise ScaleError(f"a scale size must be an integer, not {size!r}")
        if size < 1:
            raise EmptyScaleError(f"the grade scale is empty: {size} grades")
        labels = tuple(str(i) for i in range(size))
        return cls(labels, labels)

    @classmethod
    def coerce(cls, value: Scale | int | Sequence[str]) -> Scale:
        """A :class:`Scale` from a Scale, a number of grades, or labels (worst first)."""
        if isinstance(value, Scale):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.generic(value)
        if isinstance(value, str):
            raise ScaleError(f"a scale is a list of labels, not the single string {value!r}")
        if isinstance(value, Sequence):
            return cls(tuple(value))
        raise ScaleError(f"cannot build a grade scale from {value!r}")


def _check_labels(labels: tuple[str, ...], what: str) -> None:
    seen: set[str] = set()
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ScaleError(f"{what} label {label!r} is not a non-empty string")
        key = label.casefold()
        if key in seen:
            raise DuplicateGradeError(f"{what} label {label!r} appears twice in the scale")
        seen.add(key)


_FR_7 = ("À rejeter", "Insuffisant", "Passable", "Assez bien", "Bien", "Très bien", "Excellent")
_EN_7 = ("Reject", "Poor", "Fair", "Fairly good", "Good", "Very good", "Excellent")

FRENCH_7 = Scale(_FR_7, _EN_7)
"""The French seven-grade scale (default)."""
LAPRIMAIRE_6 = Scale(_FR_7[:6], _EN_7[:6])
"""LaPrimaire.org's six-grade scale (no "Excellent")."""
ENGLISH_7 = Scale(_EN_7, _EN_7)
"""The seven-grade scale with English labels only."""
SCALES: dict[str, Scale] = {"fr-7": FRENCH_7, "laprimaire-6": LAPRIMAIRE_6, "en-7": ENGLISH_7}

RULES: tuple[str, ...] = (
    "majority-value",
    "majority-gauge",
    "mieux-voter",
    "typical",
    "central",
    "usual",
)
"""Stable identifiers of the ranking rules; ``majority-value`` is the default."""

MISSING_POLICIES: tuple[str, ...] = ("normalize", "worst-grade", "median", "strict")
"""Stable identifiers of the missing-judgment policies; ``normalize`` is the default."""

POLICY_ALIASES: dict[str, str] = {
    "normalize-lcm": "normalize",
    "static-default": "worst-grade",
    "median-default": "median",
}
"""Names used by the MieuxVoter libraries and the shared test vectors."""


# --------------------------------------------------------------------------------------------
# Small exact helpers
# --------------------------------------------------------------------------------------------


def format_fraction(value: Fraction | int) -> str:
    """``"num/den"`` (always with a denominator), the JSON-safe form of an exact number."""
    value = Fraction(value)
    return f"{value.numerator}/{value.denominator}"


def median_grade(counts: Sequence[int], upper: bool = False) -> int:
    """The majority grade: lower middle grade (or upper with ``upper``) of a non-empty profile."""
    total = sum(counts)
    if total <= 0:
        raise InvalidCountError("the median of an empty merit profile is undefined")
    acc = 0
    for grade, count in enumerate(counts):
        acc += count
        if 2 * acc > total or (not upper and 2 * acc == total):
            return grade
    raise AssertionError("unreachable: cumulative counts reach the total")  # pragma: no cover


def _to_fraction(value: object, name: str) -> Fraction:
    if isinstance(value, bool):
        raise InvalidOptionError(f"{name} must be a number, not {value!r}")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, float | str | Decimal):
        try:
            if isinstance(value, str) and "/" in value:
                return Fraction(value.strip())
            return Fraction(Decimal(str(value).strip()))
        except (ValueError, InvalidOperation, ZeroDivisionError):
            pass
    raise InvalidOptionError(f"{name} must be a fraction such as 1/3 or 0.32, not {value!r}")


# --------------------------------------------------------------------------------------------
# Per-candidate analysis
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Analysis:
    """The median split of one balanced profile: counts below, at and above the majority grade."""

    grade: int
    below: int
    at: int
    above: int
    total: int

    @property
    def p(self) -> Fraction:
        """Share of judgments strictly above the majority grade."""
        return Fraction(self.above, self.total)

    @property
    def q(self) -> Fraction:
        """Share of judgments strictly below the majority grade."""
        return Fraction(self.below, self.total)


def _analyse(counts: tuple[int, ...], total: int, upper: bool) -> Analysis:
    acc = 0
    for grade, count in enumerate(counts):
        before = acc
        acc += count
        if 2 * acc > total or (not upper and 2 * acc == total):
            return Analysis(grade, before, count, total - acc, total)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class _Context:
    upper: bool
    favor_contestation: bool
    uniform: bool  # every balanced total is the same: raw counts compare exactly
    scale: int = 1  # (largest denominator)², see measure()

    def measure(self, amount: int, total: int) -> int:
        """An integer with the same order as amount / total across candidates.

        Denominators are at most D = 2 × the largest total, and two different fractions with
        such denominators differ by at least 1 / D², so ``floor(amount × D² / total)`` keeps
        every strict inequality and every equality: exact, and much cheaper than Fraction.
        """
        return amount if self.uniform else (amount * self.scale) // total


# Each rule: (counts, total, analysis, ctx) -> sort key (bigger is better) and JSON-safe score.


def _gauge_value(a: Analysis, ctx: _Context) -> Fraction:
    """Balinski–Laraki majority gauge as one number: α + p if p > q, else α − q."""
    if a.above > a.below or (a.above == a.below and a.above > 0 and not ctx.favor_contestation):
        return a.grade + a.p
    return a.grade - a.q


def _typical_value(a: Analysis) -> Fraction:
    return a.grade + a.p - a.q


def _central_value(a: Analysis) -> Fraction:
    if a.above + a.below == 0:
        return Fraction(a.grade)
    return a.grade + Fraction(a.above - a.below, 2 * (a.above + a.below))


def _usual_value(a: Analysis) -> Fraction:
    # 1 - p - q is the share at the majority grade, never zero.
    return a.grade + Fraction(a.above - a.below, 2 * a.at)


def _ratio(num: int, den: int) -> str:
    """``"num/den"`` in lowest terms, without building a Fraction (hot path)."""
    g = math.gcd(num, den)
    return f"{num // g}/{den // g}"


def _scalar_rule(value_of: Callable[[Analysis], Fraction]) -> Callable[..., tuple[Any, Any]]:
    # Fabre's central and usual scores reach α ± 1/2, so a candidate with only judgments above
    # its majority grade α can tie one graded α + 1 with only judgments below. The majority
    # grade decides first, as majority judgment always does; the score breaks ties within it.
    def rule(counts: tuple[int, ...], total: int, a: Analysis, ctx: _Context) -> tuple[Any, Any]:
        value = value_of(a)
        return (a.grade, value), format_fraction(value)

    return rule


def _gauge_rule(counts: tuple[int, ...], total: int, a: Analysis, ctx: _Context) -> tuple[Any, Any]:
    value = _gauge_value(a, ctx)
    return value, format_fraction(value)


def _value_runs(counts: tuple[int, ...], total: int, upper: bool) -> list[tuple[int, int, int]]:
    """The majority value as runs ``(first, second, length)`` of pairs of grades.

    Iterated removal of the median judgment reads the sorted judgments outwards from the middle,
    alternately one from the lower half and one from the upper half (lower half first with the
    lower median). Working in half-judgment units (total 2N) makes both halves exactly N long
    for any N, and duplicating every judgment changes no comparison, so the sequence is a list
    of pairs whose runs are cut where either half changes grade: at most 2 × grades runs.
    Lengths are in half-judgment units; a run of length ``n`` covers ``n`` judgments.
    """
    half = total  # in half-judgment units the lower half is [0, total], the upper [total, 2total]
    lower: list[tuple[int, int]] = []  # (grade, length), from the middle downwards
    upper_runs: list[tuple[int, int]] = []  # from the middle upwards
    acc = 0
    for grade, count in enumerate(counts):
        start, end = 2 * acc, 2 * (acc + count)
        acc += count
        if count == 0:
            continue
        low_len = min(end, half) - start
        if low_len > 0:
            lower.append((grade, low_len))
        high_len = end - max(start, half)
        if high_len > 0:
            upper_runs.append((grade, high_len))
    lower.reverse()
    runs: list[tuple[int, int, int]] = []
    i = j = 0
    left_l = lower[0][1]
    left_u = upper_runs[0][1]
    while i < len(lower) and j < len(upper_runs):
        step = min(left_l, left_u)
        lo, hi = lower[i][0], upper_runs[j][0]
        first, second = (hi, lo) if upper else (lo, hi)
        runs.append((first, second, step))
        left_l -= step
        left_u -= step
        if left_l == 0:
            i += 1
            if i < len(lower):
                left_l = lower[i][1]
        if left_u == 0:
            j += 1
            if j < len(upper_runs):
                left_u = upper_runs[j][1]
    return runs


def _majority_value_rule(
    counts: tuple[int, ...], total: int, a: Analysis, ctx: _Context
) -> tuple[Any, Any]:
    """A sort key equal to lexicographic comparison of the (run-length encoded) majority values.

    Two sequences agreeing up to a run of the same pair but of different lengths are decided by
    what follows the shorter run: if the next pair is worse (direction -1) the longer run wins,
    if better (+1) the shorter run wins. So each run contributes (pair, direction,
    -direction × length). The JSON score lists the runs with the share of judgments they cover.
    """
    runs = _value_runs(counts, total, ctx.upper)
    key: list[tuple[tuple[int, int], int, int]] = []
    last = len(runs) - 1
    for index, (first, second, length) in enumerate(runs):
        pair = (first, second)
        if index == last:
            direction = 0
        else:
            direction = 1 if (runs[index + 1][0], runs[index + 1][1]) > pair else -1
        key.append((pair, direction, ctx.measure(-direction * length, 2 * total)))
    score = [[first, second, _ratio(length, total)] for first, second, length in runs]
    return tuple(key), score


def _mieux_voter_steps(
    counts: tuple[int, ...], upper: bool, favor_contestation: bool
) -> list[tuple[int, int, int]]:
    """MieuxVoter's score: per round (median grade, signed size of the larger outer group, total).

    Each round takes the median grade, keeps the larger of the groups strictly below
    (contestation, sign -) and strictly above (adhesion, sign +) with ties going to
    contestation (or adhesion if ``favor_contestation`` is false), then moves the median
    group into the adjacent grade on that side ("regrading") and repeats, once per grade.
    """
    current = list(counts)
    total = sum(current)
    steps: list[tuple[int, int, int]] = []
    for _ in range(len(current)):
        acc = 0
        median = contest_grade = 0
        below = 0
        for grade, count in enumerate(current):
            before = acc
            acc += count
            if 2 * acc > total or (not upper and 2 * acc == total):
                median, below = grade, before
                break
            if count:
                contest_grade = grade
        above = total - acc
        adhesion_grade = 0
        for grade in range(median + 1, len(current)):
            if current[grade]:
                adhesion_grade = grade
                break
        if above > below or (above == below and not favor_contestation):
            second_grade, signed = adhesion_grade, above
        else:
            second_grade, signed = contest_grade, -below
        steps.append((median, signed, total))
        if second_grade != median:
            current[second_grade] += current[median]
            current[median] = 0
    return steps


def _mieux_voter_rule(
    counts: tuple[int, ...], total: int, a: Analysis, ctx: _Context
) -> tuple[Any, Any]:
    steps = _mieux_voter_steps(counts, ctx.upper, ctx.favor_contestation)
    key = tuple((median, ctx.measure(signed, total)) for median, signed, _ in steps)
    score = [[median, _ratio(signed, tot)] for median, signed, tot in steps]
    return key, score


_RULE_FUNCTIONS: dict[str, Callable[..., tuple[Any, Any]]] = {
    "majority-value": _majority_value_rule,
    "majority-gauge": _gauge_rule,
    "mieux-voter": _mieux_voter_rule,
    "typical": _scalar_rule(_typical_value),
    "central": _scalar_rule(_central_value),
    "usual": _scalar_rule(_usual_value),
}


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


class Standing(TypedDict):
    """One candidate's place in a result, as JSON."""

    profile: list[int]
    majority_grade: int
    rank: int


@dataclass(frozen=True)
class TallyResult:
    """The outcome of :func:`tally`. Everything is exact; :meth:`to_dict` is JSON-safe."""

    rule: str
    scale: Scale
    candidates: tuple[str, ...]
    missing: str
    default_grade: int
    upper_median: bool
    favor_contestation: bool
    min_participation: Fraction | None
    participants: int
    counts: dict[str, int]
    profiles: dict[str, tuple[int, ...]]
    balanced_profiles: dict[str, tuple[int, ...]]
    totals: dict[str, int]
    analyses: dict[str, Analysis]
    majority_grades: dict[str, int]
    ranking: tuple[str, ...]
    ranks: dict[str, int]
    tie_groups: tuple[tuple[str, ...], ...]
    flagged: tuple[str, ...]
    scores: dict[str, Any]
    _keys: dict[str, Any] = field(repr=False, compare=False)

    def compare(self, a: str, b: str) -> int:
        """1 if ``a`` ranks before ``b``, -1 if after, 0 if they share a rank."""
        ka, kb = self._keys[a], self._keys[b]  # each rule's key is a value of its own type
        return int(ka > kb) - int(ka < kb)

    def winners(self) -> tuple[str, ...]:
        """The candidates ranked first (several on a perfect tie)."""
        return tuple(c for c in self.ranking if self.ranks[c] == 1)

    def explanations(self, lang: str = "fr", names: Mapping[str, str] | None = None) -> list[str]:
        """One plain-language sentence per pair of consecutive candidates in the ranking.

        ``lang`` is "fr" or "en"; ``names`` maps candidate ids to the names to print.
        """
        from voting.explain import explain_ranking

        return explain_ranking(self, lang, names)

    def standing(self, candidate: str) -> Standing:
        """A candidate's profile, majority grade and rank (in `to_dict` and the result entry)."""
        return {
            "profile": list(self.profiles[candidate]),
            "majority_grade": self.majority_grades[candidate],
            "rank": self.ranks[candidate],
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: only ints, strings, lists, dicts, bools and None (no float)."""
        return {
            "rule": self.rule,
            "missing": self.missing,
            "default_grade": self.default_grade,
            "upper_median": self.upper_median,
            "favor_contestation": self.favor_contestation,
            "min_participation": (
                None if self.min_participation is None else format_fraction(self.min_participation)
            ),
            "scale": list(self.scale.labels),
            "candidates": {c: self.standing(c) for c in self.candidates},
            "participants": self.participants,
            "counts": dict(self.counts),
            "ranking": list(self.ranking),
            "ranks": dict(self.ranks),
            "tie_groups": [list(group) for group in self.tie_groups],
            "majority_grades": dict(self.majority_grades),
            "profiles": {c: list(p) for c, p in self.profiles.items()},
            "balanced_profiles": {c: list(p) for c, p in self.balanced_profiles.items()},
            "totals": dict(self.totals),
            "shares": {
                c: {"below": format_fraction(a.q), "above": format_fraction(a.p)}
                for c, a in self.analyses.items()
            },
            "scores": dict(self.scores),
            "flagged": list(self.flagged),
        }


# --------------------------------------------------------------------------------------------
# Building profiles
# --------------------------------------------------------------------------------------------


def _check_candidates(candidates: Iterable[str]) -> tuple[str, ...]:
    if isinstance(candidates, str):
        raise InvalidCandidateError(
            f"candidates must be a list of ids, not the string {candidates!r}"
        )
    ids = tuple(candidates)
    seen: set[str] = set()
    for cid in ids:
        if not isinstance(cid, str) or not cid:
            raise InvalidCandidateError(f"candidate id {cid!r} is not a non-empty string")
        if cid in seen:
            raise DuplicateCandidateError(f"candidate {cid!r} appears twice")
        seen.add(cid)
    return ids


def _check_profiles(
    profiles: Mapping[str, Sequence[int]], ids: tuple[str, ...], size: int
) -> dict[str, tuple[int, ...]]:
    if not isinstance(profiles, Mapping):
        raise TallyError(
            f"profiles must map candidate ids to counts, not {type(profiles).__name__}"
        )
    known = set(ids)
    for cid in profiles:
        if cid not in known:
            raise UnknownCandidateError(f"profile given for unknown candidate {cid!r}")
    checked: dict[str, tuple[int, ...]] = {}
    for cid in ids:
        if cid not in profiles:
            raise MissingProfileError(f"candidate {cid!r} has no merit profile")
        raw = profiles[cid]
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
            raise ProfileLengthError(
                f"profile of {cid!r} must be a list of {size} counts, not {raw!r}"
            )
        if len(raw) != size:
            raise ProfileLengthError(
                f"profile of {cid!r} has {len(raw)} counts for a {size}-grade scale"
            )
        for grade, count in enumerate(raw):
            if isinstance(count, bool) or not isinstance(count, int):
                raise InvalidCountError(
                    f"count for grade {grade} of {cid!r} is not an integer: {count!r}"
                )
            if count < 0:
                raise NegativeCountError(f"count for grade {grade} of {cid!r} is negative: {count}")
        checked[cid] = tuple(raw)
    return checked


def _grade_ok(grade: object, size: int) -> bool:
    return isinstance(grade, int) and not isinstance(grade, bool) and 0 <= grade < size


def _count_pairs(source: Sequence[Any]) -> Counter[Any]:
    try:
        return Counter(chain.from_iterable(map(dict.items, source)))
    except TypeError:
        for b in source:
            if not isinstance(b, Mapping):
                raise BallotFormatError(
                    f"ballot {b!r} is not a mapping like the first ballot"
                ) from None
        return Counter(chain.from_iterable(b.items() for b in source))


def _bad_grade(cid: str, grade: object, size: int) -> UnknownGradeError:
    return UnknownGradeError(
        f"a ballot gives candidate {cid!r} unknown grade {grade!r} (valid: 0..{size - 1})"
    )


def _add_pairs(
    table: list[list[int]], pairs: Counter[Any], index_of: dict[str, int], size: int
) -> None:
    for (cid, grade), count in pairs.items():
        slot = index_of.get(cid)
        if slot is None:
            raise UnknownCandidateError(f"a ballot grades unknown candidate {cid!r}")
        if grade is None:
            continue
        if not _grade_ok(grade, size):
            raise _bad_grade(cid, grade, size)
        table[slot][grade] += count


def _add_columns(
    table: list[list[int]], columns: list[Counter[Any]], ids: tuple[str, ...], size: int
) -> None:
    for slot, column in enumerate(columns):
        for grade, count in column.items():
            if grade is None:
                continue
            if not _grade_ok(grade, size):
                raise _bad_grade(ids[slot], grade, size)
            table[slot][grade] += count


def _count_ballots(
    ballots: Iterable[Any], ids: tuple[str, ...], size: int
) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Profiles and ballot counts. A ballot is a mapping candidate -> grade index, or a tuple of
    grade indexes (None for "not graded") aligned on ``candidates``; ``None`` is an invalid
    ballot (e.g. one that failed verification upstream), an empty ballot is blank."""
    if not isinstance(ballots, list | tuple):
        ballots = list(ballots)
    invalid = ballots.count(None)
    first = next((b for b in ballots if b is not None), None)
    n_cand = len(ids)
    index_of = {cid: i for i, cid in enumerate(ids)}
    table = [[0] * size for _ in ids]
    if first is None:
        blank = 0
    elif isinstance(first, Mapping):
        blank = ballots.count({})
        source = [b for b in ballots if b is not None] if invalid else ballots
        # One pass over (candidate, grade) pairs beats per-candidate passes over the dicts.
        _add_pairs(table, _count_pairs(source), index_of, size)
    elif isinstance(first, tuple | list):
        source = [b for b in ballots if b is not None] if invalid else ballots
        blank_t = (None,) * n_cand
        blank = source.count(blank_t) + source.count(list(blank_t))
        for b in source:
            if not isinstance(b, tuple | list):
                raise BallotFormatError(f"ballot {b!r} is not a tuple like the first ballot")
        lengths = set(map(len, source))
        if lengths != {n_cand}:
            bad = next(n for n in lengths if n != n_cand)
            raise BallotFormatError(f"a tuple ballot has {bad} grades for {n_cand} candidates")
        columns = [Counter(map(itemgetter(slot), source)) for slot in range(n_cand)]
        _add_columns(table, columns, ids, size)
    else:
        raise BallotFormatError(
            f"ballot {first!r} is neither a mapping candidate -> grade nor a tuple of grades"
        )
    valid = len(ballots) - invalid - blank
    profiles = {cid: tuple(table[i]) for i, cid in enumerate(ids)}
    return profiles, {"valid": valid, "blank": blank, "invalid": invalid}


def _balance(
    profiles: dict[str, tuple[int, ...]],
    participants: int,
    policy: str,
    default_grade: int,
    upper: bool,
) -> dict[str, tuple[int, ...]]:
    """Apply the missing-judgment policy. Normalize keeps the counts (rules use shares)."""
    balanced: dict[str, tuple[int, ...]] = {}
    if policy == "strict":
        for cid, counts in profiles.items():
            if sum(counts) != participants:
                raise UnbalancedProfilesError(
                    f"candidate {cid!r} has {sum(counts)} judgments but there are "
                    f"{participants} participants (policy 'strict')"
                )
    for cid, counts in profiles.items():
        total = sum(counts)
        missing = participants - total
        if total == 0 or (missing > 0 and policy not in ("normalize", "strict")):
            if policy == "median" and total > 0:
                fill = median_grade(counts, upper)
            else:
                fill = default_grade
            filled = list(counts)
            # A candidate nobody graded counts as graded `default_grade` by everyone.
            filled[fill] += missing if total else max(participants, 1)
            balanced[cid] = tuple(filled)
        else:
            balanced[cid] = counts
    return balanced


# --------------------------------------------------------------------------------------------
# The tally
# --------------------------------------------------------------------------------------------


def tally(
    scale: Scale | int | Sequence[str],
    candidates: Sequence[str] | None,
    *,
    ballots: Iterable[Mapping[str, int] | Sequence[int | None] | None] | None = None,
    profiles: Mapping[str, Sequence[int]] | None = None,
    participants: int | None = None,
    rule: str = "majority-value",
    missing: str = "normalize",
    default_grade: int = 0,
    upper_median: bool = False,
    min_participation: Fraction | int | str | None = None,
    favor_contestation: bool | None = None,
) -> TallyResult:
    """Rank ``candidates`` by majority judgment.

    Give either ``ballots`` (each a mapping candidate -> grade index, possibly partial or empty,
    or a tuple of grade indexes / None aligned on ``candidates``; None counts as an invalid
    ballot) or ``profiles`` (candidate -> counts per grade, worst first). ``participants`` is
    the number of voters; it defaults to the number of non-blank valid ballots, or to the
    largest total of judgments when profiles are given. Missing judgments (participants minus a
    candidate's judgments) are handled by ``missing`` (see :data:`MISSING_POLICIES`).

    ``rule`` is one of :data:`RULES`. ``favor_contestation`` decides equal outer groups for
    ``majority-gauge`` and ``mieux-voter``: True gives them to the contestation group (below the
    majority grade), False to the adhesion group. None (the default) means True, except for
    ``mieux-voter`` with ``upper_median``, where it means False: the MieuxVoter libraries have a
    single ``favorContestation`` switch that selects both the lower median and contestation, or
    the upper median and adhesion. ``min_participation``: a candidate with fewer judgments than this
    share of the median participation is ranked after all others and flagged.
    """
    scale = Scale.coerce(scale)
    size = len(scale)
    if rule not in RULES:
        raise UnknownRuleError(f"unknown rule {rule!r}: choose one of {', '.join(RULES)}")
    policy = POLICY_ALIASES.get(missing, missing)
    if policy not in MISSING_POLICIES:
        raise UnknownPolicyError(
            f"unknown missing-judgment policy {missing!r}: choose one of "
            f"{', '.join(MISSING_POLICIES)}"
        )
    if not _grade_ok(default_grade, size):
        raise UnknownGradeError(
            f"default grade {default_grade!r} is not on the {size}-grade scale (0..{size - 1})"
        )
    threshold = None
    if min_participation is not None:
        threshold = _to_fraction(min_participation, "min_participation")
        if threshold < 0:
            raise InvalidOptionError(f"min_participation {min_participation!r} is negative")
    if favor_contestation is None:
        favor_contestation = not (rule == "mieux-voter" and upper_median)
    if (ballots is None) == (profiles is None):
        raise InvalidOptionError("give either ballots or profiles, not both or neither")
    if candidates is None:
        if profiles is None:
            raise InvalidOptionError("candidates are required with ballots")
        candidates = list(profiles)
    ids = _check_candidates(candidates)

    if ballots is not None:
        raw, counts = _count_ballots(ballots, ids, size)
    else:
        assert profiles is not None
        raw = _check_profiles(profiles, ids, size)
        counts = {"valid": 0, "blank": 0, "invalid": 0}
    totals = {cid: sum(p) for cid, p in raw.items()}
    most = max(totals.values(), default=0)
    if participants is None:
        participants = counts["valid"] if ballots is not None else most
    elif isinstance(participants, bool) or not isinstance(participants, int):
        raise InvalidOptionError(f"participants must be an integer, not {participants!r}")
    if participants < most:
        worst = max(ids, key=lambda c: totals[c])
        raise InvalidOptionError(
            f"candidate {worst!r} has {totals[worst]} judgments but there are only "
            f"{participants} participants"
        )
    if ballots is None:
        counts["valid"] = participants

    balanced = _balance(raw, participants, policy, default_grade, upper_median)
    btotals = {cid: sum(p) for cid, p in balanced.items()}
    ctx = _Context(
        upper=upper_median,
        favor_contestation=favor_contestation,
        uniform=len(set(btotals.values())) <= 1,
        scale=(2 * max(btotals.values(), default=1)) ** 2,
    )
    rule_of = _RULE_FUNCTIONS[rule]
    analyses: dict[str, Analysis] = {}
    keys: dict[str, Any] = {}
    scores: dict[str, Any] = {}
    for cid in ids:
        counts_c, total_c = balanced[cid], btotals[cid]
        a = _analyse(counts_c, total_c, upper_median)
        analyses[cid] = a
        keys[cid], scores[cid] = rule_of(counts_c, total_c, a, ctx)

    flagged: set[str] = set()
    if threshold is not None and ids:
        ordered = sorted(totals.values())
        median_participation = ordered[(len(ordered) - 1) // 2]
        flagged = {c for c in ids if totals[c] < threshold * median_participation}
    # Flagged candidates come after all others; ties are listed by candidate id.
    full_keys = {c: (c not in flagged, keys[c]) for c in ids}
    ranking = sorted(sorted(ids), key=full_keys.__getitem__, reverse=True)
    ranks: dict[str, int] = {}
    groups: list[list[str]] = []
    for position, cid in enumerate(ranking):
        if position and full_keys[cid] == full_keys[ranking[position - 1]]:
            ranks[cid] = ranks[ranking[position - 1]]
            groups[-1].append(cid)
        else:
            ranks[cid] = position + 1
            groups.append([cid])

    return TallyResult(
        rule=rule,
        scale=scale,
        candidates=ids,
        missing=policy,
        default_grade=default_grade,
        upper_median=upper_median,
        favor_contestation=favor_contestation,
        min_participation=threshold,
        participants=participants,
        counts=counts,
        profiles=raw,
        balanced_profiles=balanced,
        totals=totals,
        analyses=analyses,
        majority_grades={c: analyses[c].grade for c in ids},
        ranking=tuple(ranking),
        ranks=ranks,
        tie_groups=tuple(tuple(g) for g in groups if len(g) > 1),
        flagged=tuple(c for c in ranking if c in flagged),
        scores=scores,
        _keys=full_keys,
    )
