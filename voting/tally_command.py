"""``scrutin tally CASE.json``: rank the candidates of a tally case and explain the ranking.

CASE.json holds ``grades`` (labels worst first, or a number of grades), ``profiles``
(candidate -> counts worst first) and optionally ``participants``. The shared test vectors'
``missing_grade_policy`` and ``default_grade_index`` are used unless overridden on the command
line; profiles given as shares (``profile_unit`` "shares…") are scaled to exact integer counts.

Run it as ``scrutin tally`` or ``python -m voting.tally_command``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from math import lcm
from pathlib import Path
from typing import Any

from voting.majority import (
    FRENCH_7,
    LAPRIMAIRE_6,
    MISSING_POLICIES,
    POLICY_ALIASES,
    RULES,
    Scale,
    TallyError,
    TallyResult,
    tally,
)

__all__ = ["CaseError", "add_arguments", "load_case", "main", "run"]


class CaseError(TallyError):
    """The case file is missing, unreadable or not a tally case."""


def _default_lang() -> str:
    return "en" if os.environ.get("LANG", "").lower().startswith("en") else "fr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``scrutin tally`` on ``parser``."""
    parser.add_argument("case", metavar="CASE.json", help="tally case: grades, profiles")
    parser.add_argument("--rule", choices=RULES, default=None, help="ranking rule")
    parser.add_argument(
        "--missing",
        choices=MISSING_POLICIES,
        default=None,
        help="missing-judgment policy (default: the case's, else normalize)",
    )
    parser.add_argument(
        "--default-grade",
        type=int,
        default=None,
        metavar="INDEX",
        help="grade index given to missing judgments by worst-grade (default 0)",
    )
    parser.add_argument(
        "--upper-median", action="store_true", help="upper middle grade for even counts"
    )
    favor = parser.add_mutually_exclusive_group()
    favor.add_argument(
        "--favor-adhesion",
        dest="favor_contestation",
        action="store_false",
        default=None,
        help="equal outer groups go to adhesion (majority-gauge, mieux-voter)",
    )
    favor.add_argument(
        "--favor-contestation",
        dest="favor_contestation",
        action="store_true",
        help="equal outer groups go to contestation (default, except mieux-voter with "
        "--upper-median)",
    )
    parser.add_argument(
        "--min-participation",
        default=None,
        metavar="SHARE",
        help="flag candidates with fewer judgments than SHARE (e.g. 1/3) of the median",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument(
        "--lang",
        choices=("fr", "en"),
        default=None,
        help="language of labels and explanations (default from LANG: fr unless en*)",
    )


def _exact_counts(values: object, cid: str) -> list[Fraction]:
    if not isinstance(values, list):
        raise CaseError(f"profile of {cid!r} must be a list of counts")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CaseError(f"profile of {cid!r} holds a non-number: {value!r}")
        try:
            out.append(Fraction(Decimal(str(value))))
        except (InvalidOperation, ValueError) as exc:
            raise CaseError(f"profile of {cid!r} holds a bad number: {value!r}") from exc
    return out


def load_case(path: str | Path) -> dict[str, Any]:
    """Read and check a case file; returns the keyword arguments of :func:`tally`, untyped: the
    policy and default grade go from the file's JSON to `tally` unchecked (it checks them)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CaseError(f"{path} is not UTF-8 text") from exc
    try:
        case = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(case, dict):
        raise CaseError(f"{path} must hold a JSON object with grades and profiles")
    for key in ("grades", "profiles"):
        if key not in case:
            raise CaseError(f"{path} has no {key!r}")
    grades = case["grades"]
    if not (isinstance(grades, list) or (isinstance(grades, int) and not isinstance(grades, bool))):
        raise CaseError(f"'grades' must be a list of labels or a number of grades, not {grades!r}")
    # A bare number of grades reads better with the service's presets when their size fits.
    presets = {len(FRENCH_7): FRENCH_7, len(LAPRIMAIRE_6): LAPRIMAIRE_6}
    scale = presets.get(grades, None) if isinstance(grades, int) else None
    scale = scale or Scale.coerce(grades)
    profiles = case["profiles"]
    if not isinstance(profiles, dict):
        raise CaseError("'profiles' must map candidates to lists of counts")
    exact = {cid: _exact_counts(values, cid) for cid, values in profiles.items()}
    denominators = [f.denominator for values in exact.values() for f in values]
    factor = lcm(*denominators) if denominators else 1
    if factor != 1 and not str(case.get("profile_unit", "")).startswith("shares"):
        raise CaseError("profile counts must be integers (or declare profile_unit 'shares')")
    counts = {cid: [int(f * factor) for f in values] for cid, values in exact.items()}
    participants = case.get("participants")
    if factor != 1:
        participants = None  # shares: participants no longer match the scaled counts
    elif participants is not None and (
        isinstance(participants, bool) or not isinstance(participants, int)
    ):
        raise CaseError(f"'participants' must be an integer, not {participants!r}")
    options: dict[str, Any] = {
        "scale": scale,
        "candidates": list(counts),
        "profiles": counts,
        "participants": participants,
    }
    policy = case.get("missing_grade_policy")
    if policy is not None:
        options["missing"] = POLICY_ALIASES.get(policy, policy)
    default = case.get("default_grade_index")
    if default is not None:
        options["default_grade"] = default
    return options


def _table(result: TallyResult, lang: str) -> str:
    scale = result.scale
    head = (
        ("Rang", "Candidat", "Mention majoritaire", "Profil (pire → meilleure)")
        if lang == "fr"
        else ("Rank", "Candidate", "Majority grade", "Profile (worst → best)")
    )
    rows = [head]
    for cid in result.ranking:
        rank = str(result.ranks[cid]) + ("*" if cid in result.flagged else "")
        grade = scale.label(result.majority_grades[cid], lang)
        profile = " ".join(str(n) for n in result.profiles[cid])
        rows.append((rank, cid, grade, profile))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0].rjust(widths[0])}  {row[1].ljust(widths[1])}  {row[2].ljust(widths[2])}  {row[3]}"
        for row in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    if result.flagged:
        lines.append(
            "* participation insuffisante" if lang == "fr" else "* insufficient participation"
        )
    return "\n".join(lines)


def _json_output(result: TallyResult, lang: str) -> dict[str, object]:
    data = result.to_dict()
    return {
        "rule": result.rule,
        "ranking": data["ranking"],
        "ranks": data["ranks"],
        "majority_grades": {
            c: result.scale.label(g, lang) for c, g in result.majority_grades.items()
        },
        "majority_grade_indexes": data["majority_grades"],
        "tie_groups": data["tie_groups"],
        "flagged": data["flagged"],
        "explanations": result.explanations(lang),
        "result": data,
    }


def run(args: argparse.Namespace) -> int:
    """Run ``scrutin tally`` with parsed ``args``; returns the exit status."""
    lang = args.lang or _default_lang()
    try:
        options = load_case(args.case)
        if args.missing is not None:
            options["missing"] = args.missing
        if args.default_grade is not None:
            options["default_grade"] = args.default_grade
        result = tally(
            options.pop("scale"),
            options.pop("candidates"),
            rule=args.rule or "majority-value",
            upper_median=args.upper_median,
            favor_contestation=args.favor_contestation,
            min_participation=args.min_participation,
            **options,
        )
    except TallyError as exc:
        print(f"scrutin tally: {args.case}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_json_output(result, lang), ensure_ascii=False, indent=2))
    else:
        print(_table(result, lang))
        explanations = result.explanations(lang)
        if explanations:
            print()
            for line in explanations:
                print(f"- {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m voting.tally_command``."""
    parser = argparse.ArgumentParser(
        prog="scrutin tally", description="Rank a majority judgment tally case."
    )
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
