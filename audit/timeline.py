"""Check 11 of ``scrutin-audit verify``: every entry inside the phase its definition announces.

docs/audit-log.md §8 (phases) and §9 (check 11) are the rules; this module reads nothing
else. An entry's ``time`` is compared with the ``phases`` of the definition revision in force
at that entry (the last ``definition`` entry before it); phases are half-open intervals
[start, end) in whole seconds.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # report imports the modules that import this one
    from audit.report import Check

# Entries are timed when they are made, and concurrent transactions may reach the log in
# another order than they were timed: times may go back by at most this many seconds.
ORDER_TOLERANCE = 300

INSTANT_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def instant(text: object) -> int | None:
    """Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SSZ` string, or None if malformed."""
    match = INSTANT_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def phases_of(definition: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
    """{name: (start, end)} of a definition, or None when a phase is malformed."""
    phases: dict[str, tuple[int, int]] = {}
    for phase in definition.get("phases", []):
        if not isinstance(phase, dict):
            return None
        start, end = instant(phase.get("start")), instant(phase.get("end"))
        name = phase.get("name")
        if not isinstance(name, str) or start is None or end is None or name in phases:
            return None
        phases[name] = (start, end)
    return phases


ROUND_PHASE_RE = re.compile(r"round-([1-9][0-9]?)")


def _phase_rank(name: str) -> int | None:
    """Position of a phase in §8's order, or None for a name §8 does not allow."""
    fixed = {"candidacies": 0, "supports": 1, "results": 1000}
    if name in fixed:
        return fixed[name]
    match = ROUND_PHASE_RE.fullmatch(name)
    return 1 + int(match.group(1)) if match else None


def phase_rule_breaks(phases: dict[str, tuple[int, int]]) -> list[str]:
    """The phases (by name) that break §8 "Phases"' rules: unknown name, a required phase
    missing, a gap in the rounds' numbers, an end not after the start, or out of order."""
    breaks = [name for name in phases if _phase_rank(name) is None]
    breaks += [name for name in ("candidacies", "supports") if name not in phases]
    known = sorted((rank, n) for n in phases if (rank := _phase_rank(n)) is not None)
    rounds = [rank - 1 for rank, name in known if name.startswith("round-")]
    if rounds != list(range(1, len(rounds) + 1)):
        breaks.append(f"round-{len(rounds)}")
    breaks += [name for _rank, name in known if phases[name][1] <= phases[name][0]]
    for (_r1, first), (_r2, second) in itertools.pairwise(known):
        (start1, end1), (start2, end2) = phases[first], phases[second]
        if (first, second) == ("candidacies", "supports"):
            wrong = start2 < start1 or end2 < end1
        else:
            wrong = start2 < end1
        if wrong:
            breaks.append(second)
    return breaks


def iso(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


# Which phase holds each kind (§8 "Phases"); the rule is "start ≤ time < end" unless noted.
CANDIDACY_PHASE = "candidacies"  # candidacy entries with action `submitted`
SUPPORTS_PHASE = "supports"  # support, support-withdrawal; qualification: start ≤ time


def _revision_changes(
    check: Check,
    index: int,
    time: int,
    old: dict[str, tuple[int, int]],
    new: dict[str, tuple[int, int]],
) -> None:
    """A revision does not rewrite the past (§9 check 11, rule 2)."""
    for name, (start, _end) in old.items():
        if name not in new and start < time:
            check.fail(index, "revision-drops-begun-phase", phase=name, start=iso(start))
    for name, bounds in new.items():
        before = old.get(name)
        for which, value in zip(("start", "end"), bounds, strict=True):
            previous = None if before is None else before[0 if which == "start" else 1]
            if previous == value:
                continue
            if previous is not None and previous < time:
                check.fail(index, "revision-moves-past", phase=name, bound=which, old=iso(previous))
            elif value < time:
                check.fail(index, "revision-sets-past", phase=name, bound=which, new=iso(value))


def _inside(
    check: Check,
    index: int,
    time: int,
    phases: dict[str, tuple[int, int]],
    name: str,
    what: str,
    *,
    required: bool,
    open_end: bool = False,
) -> None:
    bounds = phases.get(name)
    if bounds is None:
        if required:
            check.fail(index, "phase-not-announced", what=what, phase=name)
        return
    start, end = bounds
    if time < start or (not open_end and time >= end):
        check.fail(
            index,
            "outside-phase",
            what=what,
            phase=name,
            time=iso(time),
            start=iso(start),
            end=iso(end) if not open_end else "…",
        )


def check_timeline(parsed: Sequence[tuple[Any, ...]], check: Check) -> None:
    """Check 11 over the parsed entries: (kind, time, key, body) or (None, reason) for the
    entries that failed check 4 (left out). A ballot's body is (round, digest)."""
    latest: int | None = None  # the largest time so far
    phases: dict[str, tuple[int, int]] | None = None
    checked = 0
    for index, item in enumerate(parsed):
        kind = item[0]
        if kind is None:
            continue
        time, body = item[1], item[3]
        checked += 1
        if latest is not None and time < latest - ORDER_TOLERANCE:
            check.fail(index, "time-goes-back", time=iso(time), latest=iso(latest))
        latest = time if latest is None else max(latest, time)
        if kind == "definition":
            new = phases_of(body)
            if new is None:
                check.fail(index, "phases-malformed")
                continue
            for name in dict.fromkeys(phase_rule_breaks(new)):
                check.fail(index, "phases-invalid", phase=name)
            if phases is not None:
                _revision_changes(check, index, time, phases, new)
            phases = new
            continue
        if phases is None:
            continue  # no definition yet: check 6 fails the log
        if kind == "candidacy" and body.get("action") == "submitted":
            _inside(check, index, time, phases, CANDIDACY_PHASE, "submitted", required=True)
        elif kind in ("support", "support-withdrawal"):
            _inside(check, index, time, phases, SUPPORTS_PHASE, kind, required=True)
        elif kind == "qualification":
            _inside(check, index, time, phases, SUPPORTS_PHASE, kind, required=True, open_end=True)
        elif kind == "round-open":
            number = body["round"]
            _inside(check, index, time, phases, f"round-{number}", kind, required=False)
        elif kind == "ballot":
            number = body[0]
            _inside(check, index, time, phases, f"round-{number}", kind, required=False)
    if not checked:
        check.note("nothing")
