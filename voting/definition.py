"""A primary's definition: validation and phases. Pure: no I/O.

The definition is the body of the log's `definition` entry (docs/audit-log.md §8), exactly
those members and nothing else, so that what the service checks is what observers read.
`validate_definition` turns untrusted input (a form, a JSON document) into that body or
raises `Refused` naming the offending field; `phase_state` says where a primary stands in its
timeline at a given instant.

Phases are named `candidacies`, `supports`, `round-1`, `round-2`, … and `results`, with ISO-8601
UTC instants written `YYYY-MM-DDTHH:MM:SSZ`. Candidacies and supports may overlap (citizens
support a candidate while others still declare, as on LaPrimaire.org); every later phase starts
once the previous one has ended.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NotRequired, TypedDict

from crypto.policy import PolicyError, parse_policy
from voting.majority import FRENCH_7, LAPRIMAIRE_6, MISSING_POLICIES, RULES
from voting.refusals import Refused

# The tally engine is the reference for scales and rules.
FRENCH_GRADES: tuple[str, ...] = tuple(FRENCH_7.labels)
LAPRIMAIRE_GRADES: tuple[str, ...] = tuple(LAPRIMAIRE_6.labels)


GRADE_PRESETS: dict[str, tuple[str, ...]] = {
    "fr-7": FRENCH_GRADES,
    "laprimaire-6": LAPRIMAIRE_GRADES,
}
QUALIFICATION_MODES = ("threshold", "phase-end")
ELIGIBILITY_POLICIES = ("email", "allow-list", "approval")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
ROUND_RE = re.compile(r"round-([1-9][0-9]?)")
DEFAULT_THRESHOLD = 500
RESERVED_SLUGS = frozenset({"new"})  # /primaries/new is the creation page

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_THRESHOLD = 10_000_000
MAX_SUPPORT_CAP = 1_000
MAX_SUBSET = 1_000
MAX_GRADES = 10
MAX_GRADE_LABEL = 40
MAX_PHASES = 12

# Who signs ballots and supports (docs/audit-log.md §8 "Voter-held credentials").
CREDENTIALS = ("server", "voter")


class DefinitionBody(TypedDict):
    """The `definition` body's members, in order (`BODY_MEMBERS`), with their types: what
    `validate_definition` returns, and the members of its log entry
    (`voting.entry_kinds.Definition`). An optional member is absent when it takes its default
    (server credentials, sealed ballots, no witnesses, no translation); `refuse_disposable` is
    absent from bodies made before it existed."""

    revision: int
    title: str
    slug: str
    description: str
    threshold: int
    support_cap: int
    qualification: str
    grades: list[str]
    rule: str
    missing: str
    default_grade: int
    upper_median: bool
    subset_size: int
    allow_blank: bool
    eligibility: str
    refuse_disposable: NotRequired[bool]
    phases: list[dict[str, str]]  # {name, start, end}
    witness_policy: NotRequired[str]
    credentials: NotRequired[str]
    ballots: NotRequired[str]
    trustees: NotRequired[int]
    trustee_threshold: NotRequired[int]
    grade_labels: NotRequired[dict[str, list[str]]]


BODY_MEMBERS = tuple(DefinitionBody.__annotations__)  # in declaration order
# The languages a scale's labels may be translated into (`grade_labels`): the ones the pages
# offer besides French, the language of `grades` (docs/audit-log.md §8).
LABEL_LANGUAGES = ("en",)
# Sealed (v1) or encrypted in the voter's browser under the trustees' key (docs/audit-log.md §10).
BALLOT_MODES = ("sealed", "encrypted")
MAX_TRUSTEES = 20


# Merged under untrusted input before `validate_definition` checks every member.
DEFAULTS: dict[str, object] = {
    "description": "",
    "threshold": DEFAULT_THRESHOLD,
    "support_cap": 0,
    "qualification": "threshold",
    "grades": list(FRENCH_GRADES),
    "rule": "majority-value",
    "missing": "normalize",
    "default_grade": 0,
    "upper_median": False,
    "subset_size": 0,
    "allow_blank": True,
    "eligibility": "email",
    "refuse_disposable": False,
    "credentials": "server",
    "ballots": "sealed",
}


def nfc(text: str) -> str:
    """Log entries are NFC (docs/audit-log.md §2); so is everything we store."""
    return unicodedata.normalize("NFC", text)


def clean_text(
    value: object, field_name: str, *,
    max_length: int, required: bool = False, multiline: bool = True,
) -> str:  # fmt: skip
    """A stripped NFC string within `max_length`, without control characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Refused("not-text", field=field_name)
    text = nfc(value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    allowed = {"\n", "\t"} if multiline else set()
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in allowed for c in text):
        raise Refused("control-characters", field=field_name)
    if required and not text:
        raise Refused("required", field=field_name)
    if len(text) > max_length:
        raise Refused("too-long", field=field_name, max=max_length)
    return text


def _int(value: object, field_name: str, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,12}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("not-integer", field=field_name)
    if not low <= value <= high:
        raise Refused("out-of-range", field=field_name, low=low, high=high)
    return value


def _bool(value: object, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise Refused("not-boolean", field=field_name)


def _choice(value: object, field_name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise Refused("unknown-choice", field=field_name, choices=", ".join(choices))
    return value


def parse_instant(value: object, field_name: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (naive means UTC), to the second."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and 10 <= len(value.strip()) <= 40:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise Refused("bad-instant", field=field_name) from None
    else:
        raise Refused("bad-instant", field=field_name)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 2000 <= moment.year <= 2200:
        raise Refused("instant-out-of-range", field=field_name)
    return moment.astimezone(UTC).replace(microsecond=0)


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _phase_order(name: str) -> int:
    if name == "candidacies":
        return 0
    if name == "supports":
        return 1
    if name == "results":
        return 1000
    match = ROUND_RE.fullmatch(name)
    if match:
        return 1 + int(match.group(1))
    return -1


def validate_phases(value: object) -> list[dict[str, str]]:
    """Phases in canonical order, instants normalised, consistency checked."""
    if not isinstance(value, list):
        raise Refused("phases-not-list", field="phases")
    if len(value) > MAX_PHASES:
        raise Refused("too-many-phases", field="phases", max=MAX_PHASES)
    parsed: list[tuple[int, str, datetime, datetime]] = []
    seen: set[str] = set()
    for i, phase in enumerate(value):
        path = f"phases[{i}]"
        if not isinstance(phase, Mapping):
            raise Refused("phase-not-object", field=path)
        extra = set(phase) - {"name", "start", "end"}
        if extra:
            raise Refused("unknown-member", field=path, name=sorted(extra)[0])
        name = phase.get("name")
        if not isinstance(name, str) or _phase_order(name) < 0:
            raise Refused("unknown-phase", field=f"{path}.name")
        if name in seen:
            raise Refused("duplicate-phase", field=f"{path}.name")
        seen.add(name)
        start = parse_instant(phase.get("start"), f"{path}.start")
        end = parse_instant(phase.get("end"), f"{path}.end")
        if end <= start:
            raise Refused("phase-ends-before-start", field=f"{path}.end")
        parsed.append((_phase_order(name), name, start, end))
    for required in ("candidacies", "supports"):
        if required not in seen:
            raise Refused("phase-required", field="phases", name=required)
    parsed.sort()
    rounds = [order - 1 for order, name, _s, _e in parsed if name.startswith("round-")]
    if rounds != list(range(1, len(rounds) + 1)):
        raise Refused("rounds-not-consecutive", field="phases")
    for (_o1, first, start1, end1), (_o2, second, start2, end2) in itertools.pairwise(parsed):
        where = f"phases[{[p.get('name') for p in value].index(second)}].start"
        if start2 < start1:
            raise Refused("phase-order", field=where, first=first, second=second)
        if (first, second) == ("candidacies", "supports"):
            if end2 < end1:
                raise Refused("candidacies-after-supports", field=where.replace(".start", ".end"))
        elif start2 < end1:
            raise Refused("phase-overlap", field=where, first=first, second=second)
    return [
        {"name": name, "start": format_instant(start), "end": format_instant(end)}
        for _o, name, start, end in parsed
    ]


def validate_grades(value: object) -> list[str]:
    if isinstance(value, str) and value in GRADE_PRESETS:
        return list(GRADE_PRESETS[value])
    if not isinstance(value, list):
        raise Refused("grades-not-list", field="grades")
    if not 2 <= len(value) <= MAX_GRADES:
        raise Refused("grade-count", field="grades", max=MAX_GRADES)
    return _distinct_labels(value, "grades")


def _distinct_labels(value: list[object], path: str) -> list[str]:
    """A list of grade labels at `path`: each a one-line text, no two alike (case aside)."""
    labels: list[str] = []
    seen: set[str] = set()
    for i, label in enumerate(value):
        text = clean_text(
            label, f"{path}[{i}]", max_length=MAX_GRADE_LABEL, required=True, multiline=False
        )
        if text.casefold() in seen:
            raise Refused("duplicate-grade", field=f"{path}[{i}]")
        seen.add(text.casefold())
        labels.append(text)
    return labels


def validate_grade_labels(value: object, grades: Sequence[str]) -> dict[str, list[str]]:
    """`grade_labels`: for each language offered besides French, one label per grade, worst
    first, as many as `grades`, distinct; `{}` (the member left out) when nothing is given."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Refused("grade-labels-not-object", field="grade_labels")
    translations: dict[str, list[str]] = {}
    for lang in sorted(value):
        path = f"grade_labels.{str(lang)[:20]}"
        if lang not in LABEL_LANGUAGES:
            raise Refused("unknown-choice", field=path, choices=", ".join(LABEL_LANGUAGES))
        labels = value[lang]
        if not isinstance(labels, list):
            raise Refused("grades-not-list", field=path)
        if len(labels) != len(grades):
            raise Refused("grade-labels-count", field=path, count=len(grades))
        translations[lang] = _distinct_labels(labels, path)
    return translations


def validate_definition(data: object, *, revision: int = 1) -> DefinitionBody:
    """The canonical `definition` body from untrusted input, or `Refused`.

    Missing optional members take their defaults; unknown members are refused (a typo must
    not silently fall back to a default).
    """
    if not isinstance(data, Mapping):
        raise Refused("definition-not-object", field=None)
    unknown = sorted(set(data) - set(BODY_MEMBERS))
    if unknown:
        raise Refused("unknown-member", field=unknown[0][:100], name=unknown[0][:100])
    merged = {**DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
    for required in ("title", "slug", "phases"):
        if required not in merged:
            raise Refused("required", field=required)
    slug = merged["slug"]
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug) or slug in RESERVED_SLUGS:
        raise Refused("bad-slug", field="slug")
    grades = validate_grades(merged["grades"])
    body: DefinitionBody = {
        "revision": _int(revision, "revision", 1, 1_000_000),
        "title": clean_text(
            merged["title"], "title", max_length=MAX_TITLE, required=True, multiline=False
        ),
        "slug": slug,
        "description": clean_text(merged["description"], "description", max_length=MAX_DESCRIPTION),
        "threshold": _int(merged["threshold"], "threshold", 1, MAX_THRESHOLD),
        "support_cap": _int(merged["support_cap"], "support_cap", 0, MAX_SUPPORT_CAP),
        "qualification": _choice(merged["qualification"], "qualification", QUALIFICATION_MODES),
        "grades": grades,
        "rule": _choice(merged["rule"], "rule", RULES),
        "missing": _choice(merged["missing"], "missing", MISSING_POLICIES),
        "default_grade": _int(merged["default_grade"], "default_grade", 0, len(grades) - 1),
        "upper_median": _bool(merged["upper_median"], "upper_median"),
        "subset_size": _int(merged["subset_size"], "subset_size", 0, MAX_SUBSET),
        "allow_blank": _bool(merged["allow_blank"], "allow_blank"),
        "eligibility": _choice(merged["eligibility"], "eligibility", ELIGIBILITY_POLICIES),
        "refuse_disposable": _bool(merged["refuse_disposable"], "refuse_disposable"),
        "phases": validate_phases(merged["phases"]),
    }
    if body["subset_size"] == 1:
        raise Refused("subset-too-small", field="subset_size")
    # Optional: absent means "server", so logs made before the option stay byte-identical.
    if _choice(merged["credentials"], "credentials", CREDENTIALS) == "voter":
        body["credentials"] = "voter"
    if merged.get("witness_policy"):  # optional: absent means no witnesses
        body["witness_policy"] = validate_witness_policy(merged["witness_policy"])
    # Optional: absent means "sealed"; encrypted ballots need voter-held credentials and k-of-n
    # trustees (docs/audit-log.md §10).
    if _choice(merged["ballots"], "ballots", BALLOT_MODES) == "encrypted":
        if body.get("credentials") != "voter":
            raise Refused("encrypted-needs-voter-credentials", field="credentials")
        if "trustees" not in merged:
            raise Refused("required", field="trustees")
        if "trustee_threshold" not in merged:
            raise Refused("required", field="trustee_threshold")
        body["ballots"] = "encrypted"
        body["trustees"] = _int(merged["trustees"], "trustees", 1, MAX_TRUSTEES)
        body["trustee_threshold"] = _int(
            merged["trustee_threshold"], "trustee_threshold", 1, body["trustees"]
        )
    elif "trustees" in merged or "trustee_threshold" in merged:
        raise Refused("trustees-need-encrypted-ballots", field="ballots")
    # Optional: absent means no translation (a preset scale's words are known in English).
    translations = validate_grade_labels(merged.get("grade_labels"), grades)
    if translations:
        body["grade_labels"] = translations
    return body


MAX_WITNESS_POLICY = 10_000


def validate_witness_policy(value: object) -> str:
    """A C2SP tlog-policy text for the primary's log (docs/witness.md): witnesses with the
    http(s) URL the service submits checkpoints to, groups, one quorum; no `log` line (the
    log is the primary's own, its key pinned by each observer)."""
    if not isinstance(value, str) or len(value) > MAX_WITNESS_POLICY:
        raise Refused("witness-policy-too-long", field="witness_policy", max=MAX_WITNESS_POLICY)
    text = nfc(value).replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    try:
        policy = parse_policy(text)
        if policy.logs:
            raise PolicyError("no 'log' line: the log is the primary's own")
        for witness in policy.witnesses.values():
            if not (witness.url or "").startswith(("http://", "https://")):
                raise PolicyError(f"witness {witness.name} needs its http(s) submission URL")
    except PolicyError as exc:
        raise Refused("witness-policy-invalid", field="witness_policy", detail=str(exc)) from None
    return text


# --------------------------------------------------------------------------------------------
# Phases in time
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    name: str
    start: datetime
    end: datetime
    status: str  # "past", "current" or "future"


@dataclass(frozen=True)
class PhaseState:
    """Where a primary stands at `now`: the phases under way (candidacies and supports may
    both be), and the whole timeline with each phase's status."""

    now: datetime
    timeline: list[Phase] = field(default_factory=list)

    @property
    def current(self) -> list[str]:
        return [p.name for p in self.timeline if p.status == "current"]

    @property
    def name(self) -> str:
        """The latest phase under way, or `upcoming` / `between` / `over`."""
        if self.current:
            return self.current[-1]
        if not self.timeline or all(p.status == "future" for p in self.timeline):
            return "upcoming"
        if all(p.status == "past" for p in self.timeline):
            return "over"
        return "between"

    @property
    def next(self) -> Phase | None:
        future = [p for p in self.timeline if p.status == "future"]
        return min(future, key=lambda p: p.start) if future else None

    def is_open(self, name: str) -> bool:
        return name in self.current

    def get(self, name: str) -> Phase | None:
        return next((p for p in self.timeline if p.name == name), None)


def phase_state(phases: Sequence[Mapping[str, str]], now: datetime | None = None) -> PhaseState:
    """Each phase is open on [start, end): it opens at `start` and is closed at `end`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    timeline: list[Phase] = []
    for phase in phases:
        start = parse_instant(phase["start"], "start")
        end = parse_instant(phase["end"], "end")
        status = "past" if moment >= end else "current" if moment >= start else "future"
        timeline.append(Phase(phase["name"], start, end, status))
    return PhaseState(moment, timeline)


def current_phase(phases: Sequence[Mapping[str, str]], now: datetime | None = None) -> str:
    """The name of the phase under way at `now` (see `PhaseState.name`)."""
    return phase_state(phases, now).name


def changed_members(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """Members that differ; a member absent from an older body counts as its default."""
    return [
        m
        for m in BODY_MEMBERS
        if m != "revision" and old.get(m, DEFAULTS.get(m)) != new.get(m, DEFAULTS.get(m))
    ]


def check_schedule_change(
    old: Sequence[Mapping[str, str]], new: Sequence[Mapping[str, str]], now: datetime
) -> None:
    """A revision may not rewrite the past: a boundary (start or end of a phase) that has
    passed stays as it was, a changed one cannot be put in the past, and a phase that has
    begun cannot be removed. Moving the end of an open phase to `now` is allowed: that is how
    an organiser ends it early, in the log for everyone to see."""
    moment = now.astimezone(UTC).replace(microsecond=0)
    before = {p["name"]: p for p in old}
    after = {p["name"]: p for p in new}
    for name, phase in before.items():
        if name not in after and parse_instant(phase["start"], "start") < moment:
            raise Refused("phase-started", field="phases", name=name)
    for index, phase in enumerate(new):
        previous = before.get(phase["name"])
        for bound in ("start", "end"):
            if previous is not None and previous[bound] == phase[bound]:
                continue
            path = f"phases[{index}].{bound}"
            if previous is not None and parse_instant(previous[bound], path) < moment:
                raise Refused("instant-passed", field=path)
            if parse_instant(phase[bound], path) < moment:
                raise Refused("instant-in-past", field=path)
