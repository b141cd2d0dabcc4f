"""Plain-language reasons for a majority judgment ranking, in French and English.

One sentence per pair of consecutive candidates. Percentages are for display only: they are
rounded, with just enough decimals to show two different shares as different. Every decision
was already taken exactly by :mod:`voting.majority`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING

from voting.majority import Analysis, _Context, _gauge_value, _mieux_voter_steps, _value_runs

if TYPE_CHECKING:
    from voting.majority import TallyResult

__all__ = ["explain_pair", "explain_ranking", "format_percent"]

LANGS = ("fr", "en")

_RULE_NAMES = {
    "fr": {
        "majority-value": "valeur majoritaire",
        "majority-gauge": "jauge majoritaire",
        "mieux-voter": "score Mieux Voter",
        "typical": "jugement typique",
        "central": "jugement central",
        "usual": "jugement usuel",
    },
    "en": {
        "majority-value": "majority value",
        "majority-gauge": "majority gauge",
        "mieux-voter": "Mieux Voter score",
        "typical": "typical judgment",
        "central": "central judgment",
        "usual": "usual judgment",
    },
}


def _round_half_up(value: Fraction, decimals: int) -> Fraction:
    scale = 10**decimals
    return Fraction(
        int(value * scale + Fraction(1, 2))
        if value >= 0
        else -int(-value * scale + Fraction(1, 2)),
        scale,
    )


def _decimal_text(value: Fraction, decimals: int, lang: str) -> str:
    rounded = _round_half_up(value, decimals)
    sign = "-" if rounded < 0 else ""
    rounded = abs(rounded)
    whole = int(rounded)
    text = str(whole)
    if decimals:
        frac = int((rounded - whole) * 10**decimals)
        text += ("," if lang == "fr" else ".") + str(frac).rjust(decimals, "0")
    return sign + text


def _digits_to_separate(values: list[Fraction], scale: int, start: int, limit: int = 4) -> int:
    decimals = start
    while decimals < limit:
        shown = {_round_half_up(v * scale, decimals) for v in values}
        if len(shown) == len(set(values)):
            break
        decimals += 1
    return decimals


def format_percent(share: Fraction, lang: str = "fr", decimals: int = 0) -> str:
    """``share`` (between 0 and 1) as a rounded percentage: "46 %" (fr) or "46%" (en)."""
    number = _decimal_text(share * 100, decimals, lang)
    return f"{number} %" if lang == "fr" else f"{number}%"


def _percents(shares: list[Fraction], lang: str) -> list[str]:
    decimals = _digits_to_separate(shares, 100, 0)
    return [format_percent(s, lang, decimals) for s in shares]


def _numbers(values: list[Fraction], lang: str) -> list[str]:
    decimals = _digits_to_separate(values, 1, 3, limit=8)
    return [_decimal_text(v, decimals, lang) for v in values]


def _q(label: str, lang: str) -> str:
    return f"« {label} »" if lang == "fr" else f"“{label}”"


def explain_ranking(
    result: TallyResult, lang: str = "fr", names: Mapping[str, str] | None = None
) -> list[str]:
    """One sentence per pair of consecutive candidates in ``result.ranking``; ``names`` maps
    candidate ids to the names to print (ids are printed otherwise)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}: choose fr or en")
    ranking = result.ranking
    names = names or {}
    return [
        explain_pair(result, ranking[i], ranking[i + 1], lang, names)
        for i in range(len(ranking) - 1)
    ]


def explain_pair(
    result: TallyResult,
    a: str,
    b: str,
    lang: str = "fr",
    names: Mapping[str, str] | None = None,
) -> str:
    """Why ``a`` is ranked before ``b`` (or ties with it)."""
    names = names or {}
    da, db = names.get(a, a), names.get(b, b)
    fr = lang == "fr"
    flagged = set(result.flagged)
    if (a in flagged) != (b in flagged):
        low, high = (b, a) if b in flagged else (a, b)
        dlow, dhigh = names.get(low, low), names.get(high, high)
        share = result.min_participation or Fraction(0)
        pct = format_percent(share, lang)
        n = result.totals[low]
        if fr:
            return (
                f"{dhigh} passe devant {dlow} : {dlow} n'a reçu que {n} jugement(s), moins de "
                f"{pct} de la participation médiane, ce qui place cette candidature après "
                f"toutes les autres."
            )
        return (
            f"{dhigh} is ranked before {dlow}, which received only {n} judgment(s), fewer than "
            f"{pct} of the median participation: it is ranked after all others."
        )

    grade_a = result.majority_grades[a]
    grade_b = result.majority_grades[b]
    label_a = _q(result.scale.label(grade_a, lang), lang)
    label_b = _q(result.scale.label(grade_b, lang), lang)
    if result.compare(a, b) == 0:
        if result.balanced_profiles[a] == result.balanced_profiles[b] or (
            result.totals[a] != result.totals[b]
            and _same_shares(result.balanced_profiles[a], result.balanced_profiles[b])
        ):
            if fr:
                return (
                    f"{da} et {db} sont à égalité parfaite : mêmes proportions de chaque mention "
                    f"(mention majoritaire {label_a})."
                )
            return (
                f"{da} and {db} are perfectly tied: the same share of every grade "
                f"(majority grade {label_a})."
            )
        rule = _RULE_NAMES[lang][result.rule]
        if fr:
            return (
                f"{da} et {db} sont ex aequo selon la règle ({rule}) ; "
                f"mention majoritaire {label_a}."
            )
        return f"{da} and {db} are tied under the rule ({rule}); majority grade {label_a}."

    if grade_a != grade_b:
        if fr:
            return (
                f"{da} passe devant {db} : mention majoritaire {label_a} pour {da}, "
                f"contre {label_b} pour {db}."
            )
        return f"{da} is ranked before {db}: majority grade {label_a} versus {label_b} for {db}."

    head_fr = f"{da} et {db} ont la même mention majoritaire {label_a} ; "
    head_en = f"{da} and {db} share the majority grade {label_a}; "
    head = head_fr if fr else head_en
    rule = result.rule
    if rule == "majority-value":
        return head + _explain_value(result, a, b, lang, names)
    if rule == "mieux-voter":
        return head + _explain_mieux_voter(result, a, b, lang, names)
    if rule == "majority-gauge":
        return head + _explain_gauge(result, a, b, lang, names)
    return head + _explain_scalar(result, a, b, lang, names)


def _same_shares(pa: tuple[int, ...], pb: tuple[int, ...]) -> bool:
    ta, tb = sum(pa), sum(pb)
    return all(x * tb == y * ta for x, y in zip(pa, pb, strict=True))


def _gauge_sign(an: Analysis, result: TallyResult) -> int:
    ctx = _Context(result.upper_median, result.favor_contestation, uniform=False)
    value = _gauge_value(an, ctx)
    if value > an.grade:
        return 1
    return -1 if an.below else 0


def _explain_gauge(result: TallyResult, a: str, b: str, lang: str, names: Mapping[str, str]) -> str:
    da, db = names.get(a, a), names.get(b, b)
    fr = lang == "fr"
    an, bn = result.analyses[a], result.analyses[b]
    sa, sb = _gauge_sign(an, result), _gauge_sign(bn, result)
    if sa > 0 and sb > 0:
        pa, pb = _percents([an.p, bn.p], lang)
        if fr:
            return f"{pa} des votants jugent {da} au-dessus, contre {pb} pour {db}."
        return f"{pa} of voters grade {da} above it, versus {pb} for {db}."
    if sa < 0 and sb < 0:
        qb, qa = _percents([bn.q, an.q], lang)
        if fr:
            return f"{qb} des votants jugent {db} en dessous, contre {qa} pour {da}."
        return f"{qb} of voters grade {db} below it, versus {qa} for {da}."
    label = _q(result.scale.label(an.grade, lang), lang)
    if sa == 0 and sb < 0:
        (qb,) = _percents([bn.q], lang)
        if fr:
            return (
                f"tous les votants donnent {label} à {da}, alors que {qb} placent {db} en dessous."
            )
        return f"every voter gives {da} {label}, whereas {qb} of voters grade {db} below it."
    if sa > 0 and sb == 0:
        (pa,) = _percents([an.p], lang)
        if fr:
            return (
                f"{pa} des votants placent {da} au-dessus, alors que tous donnent {label} à {db}."
            )
        return f"{pa} of voters grade {da} above it, whereas every voter gives {db} {label}."
    pa, qa, pb, qb = _percents([an.p, an.q, bn.p, bn.q], lang)
    if fr:
        return (
            f"{pa} des votants placent {da} au-dessus et {qa} en dessous ; pour {db}, {pb} "
            f"au-dessus et {qb} en dessous : hors de la mention majoritaire, les jugements "
            f"de {da} penchent vers le haut, pas ceux de {db}."
        )
    return (
        f"{pa} of voters grade {da} above it and {qa} below; {db} gets {pb} above and {qb} below: "
        f"outside the majority grade, {da}'s judgments lean upwards, {db}'s do not."
    )


def _explain_scalar(
    result: TallyResult, a: str, b: str, lang: str, names: Mapping[str, str]
) -> str:
    da, db = names.get(a, a), names.get(b, b)
    fr = lang == "fr"
    an, bn = result.analyses[a], result.analyses[b]
    va, vb = Fraction(result.scores[a]), Fraction(result.scores[b])
    na, nb = _numbers([va, vb], lang)
    pa, qa, pb, qb = _percents([an.p, an.q, bn.p, bn.q], lang)
    rule = _RULE_NAMES[lang][result.rule]
    if fr:
        return (
            f"{rule} : {na} pour {da} ({pa} au-dessus, {qa} en dessous) "
            f"contre {nb} pour {db} ({pb} au-dessus, {qb} en dessous)."
        )
    return (
        f"{rule}: {na} for {da} ({pa} above, {qa} below) "
        f"versus {nb} for {db} ({pb} above, {qb} below)."
    )


def _explain_value(result: TallyResult, a: str, b: str, lang: str, names: Mapping[str, str]) -> str:
    da, db = names.get(a, a), names.get(b, b)
    fr = lang == "fr"
    upper = result.upper_median
    pa_, pb_ = result.balanced_profiles[a], result.balanced_profiles[b]
    ta, tb = sum(pa_), sum(pb_)
    runs_a = [(f, s, Fraction(n, ta)) for f, s, n in _value_runs(pa_, ta, upper)]
    runs_b = [(f, s, Fraction(n, tb)) for f, s, n in _value_runs(pb_, tb, upper)]
    removed = Fraction(0)
    i = j = 0
    left_a, left_b = runs_a[0][2], runs_b[0][2]
    grade_a = grade_b = result.majority_grades[a]
    while i < len(runs_a) and j < len(runs_b):
        fa, sa_, _ = runs_a[i]
        fb, sb_, _ = runs_b[j]
        if (fa, sa_) != (fb, sb_):
            if fa != fb:
                grade_a, grade_b = fa, fb
            else:
                # A pair is two medians in a row: the first is common, so one more judgment
                # (of both profiles scaled to a common number of judgments) comes out first.
                grade_a, grade_b = sa_, sb_
                removed += Fraction(1, math.lcm(ta, tb))
            break
        step = min(left_a, left_b)
        removed += step
        left_a -= step
        left_b -= step
        if left_a == 0:
            i += 1
            left_a = runs_a[i][2] if i < len(runs_a) else Fraction(0)
        if left_b == 0:
            j += 1
            left_b = runs_b[j][2] if j < len(runs_b) else Fraction(0)
    label_a = _q(result.scale.label(grade_a, lang), lang)
    label_b = _q(result.scale.label(grade_b, lang), lang)
    (pct,) = _percents([removed], lang)
    if fr:
        return (
            f"en retirant une à une les mentions médianes communes ({pct} des jugements), "
            f"la mention médiane suivante est {label_a} pour {da} contre {label_b} pour {db}."
        )
    return (
        f"after removing the common median grades one by one ({pct} of the judgments), "
        f"the next median grade is {label_a} for {da} versus {label_b} for {db}."
    )


def _group_text(
    median: int, signed: int, total: int, pct: str, result: TallyResult, lang: str
) -> str:
    label = _q(result.scale.label(median, lang), lang)
    fr = lang == "fr"
    if signed > 0:
        return f"{pct} au-dessus de {label}" if fr else f"{pct} above {label}"
    if signed < 0:
        return f"{pct} en dessous de {label}" if fr else f"{pct} below {label}"
    return f"tous les votants à {label}" if fr else f"every voter at {label}"


def _explain_mieux_voter(
    result: TallyResult, a: str, b: str, lang: str, names: Mapping[str, str]
) -> str:
    da, db = names.get(a, a), names.get(b, b)
    fr = lang == "fr"
    fav = result.favor_contestation
    steps_a = _mieux_voter_steps(result.balanced_profiles[a], result.upper_median, fav)
    steps_b = _mieux_voter_steps(result.balanced_profiles[b], result.upper_median, fav)
    for k, ((ma, sa, ta), (mb, sb, tb)) in enumerate(zip(steps_a, steps_b, strict=True)):
        if ma == mb and sa * tb == sb * ta:
            continue
        if fr:
            prefix = "" if k == 0 else f"après {k} regroupement(s) de la mention médiane, "
        else:
            prefix = "" if k == 0 else f"after regrading the median group {k} time(s), "
        if ma != mb:
            la = _q(result.scale.label(ma, lang), lang)
            lb = _q(result.scale.label(mb, lang), lang)
            if fr:
                return f"{prefix}la mention médiane devient {la} pour {da} contre {lb} pour {db}."
            return f"{prefix}the median grade becomes {la} for {da} versus {lb} for {db}."
        pa, pb = _percents([Fraction(abs(sa), ta), Fraction(abs(sb), tb)], lang)
        ga = _group_text(ma, sa, ta, pa, result, lang)
        gb = _group_text(mb, sb, tb, pb, result, lang)
        if fr:
            return (
                f"{prefix}le plus grand groupe hors de la médiane : {ga} pour {da}, "
                f"contre {gb} pour {db}."
            )
        return f"{prefix}the larger group outside the median: {ga} for {da}, versus {gb} for {db}."
    if fr:  # pragma: no cover - a tie is reported before
        return "égalité."
    return "tie."  # pragma: no cover
