"""Qualification rules: pure functions, no I/O.

A candidate collecting supports qualifies when its count reaches the primary's threshold:
at once, in the transaction of the support that reaches it (`threshold` mode), or when the
organiser closes the supports phase (`phase-end` mode). The same rules are what an observer
recounts from the public log (docs/audit-log.md §8: `support`, `support-withdrawal`,
`qualification`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict


def reaches_threshold(count: int, threshold: int) -> bool:
    return count >= threshold


class QualificationRule(TypedDict):
    """The members of a definition (`voting.definition.DefinitionBody`) that decide it."""

    qualification: str
    threshold: int


def qualifies_on_support(definition: QualificationRule, count: int) -> bool:
    """True when the support that brought the count to `count` qualifies the candidate now."""
    return definition["qualification"] == "threshold" and reaches_threshold(
        count, definition["threshold"]
    )


def qualified_at_phase_end(counts: Mapping[str, int], threshold: int) -> list[str]:
    """The candidates (ids) a phase-end closing qualifies, in a stable order."""
    return sorted(c for c, n in counts.items() if reaches_threshold(n, threshold))


class QualificationBody(TypedDict):
    """The `qualification` entry's body (`voting.entry_kinds.Qualification`)."""

    candidate: str
    supports: int
    threshold: int


def qualification_body(candidate: str, supports: int, threshold: int) -> QualificationBody:
    return {"candidate": candidate, "supports": supports, "threshold": threshold}


def recount(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, int]:
    """Support counts per candidate from (kind, body) log entries, in log order. The bodies
    are JSON decoded from the log, of several kinds: untyped."""
    counts: dict[str, int] = {}
    for kind, body in entries:
        if kind == "support":
            counts[body["candidate"]] = counts.get(body["candidate"], 0) + 1
        elif kind == "support-withdrawal":
            counts[body["candidate"]] = counts.get(body["candidate"], 0) - 1
    return counts


def progress(count: int, threshold: int) -> int:
    """Whole per cent of the threshold reached, capped at 100 (for progress bars)."""
    if threshold <= 0:
        return 100
    return min(100, count * 100 // threshold)
