"""Sharing a large audit between processes or machines: ``--shard i/n`` and ``combine``.

The costly part of verifying an encrypted round is checking every ballot's proofs. With
``scrutin-audit verify SOURCE --shard i/n --part FILE`` a run checks the proofs of one slice of
the ballots only and writes what it found to FILE: for each encrypted round, the sums of the
counted valid ballots' ciphertexts of its slice and the list of its invalid ballots. The slices
are cut by voter credential (a ballot goes to slice ``1 + SHA-256(credential) mod n``), so all
the ballots of one voter — a revote and the ballot it replaces — are in the same slice, and
the slice alone decides which of them counts.

``scrutin-audit combine PART… --log SOURCE --log-key KEY`` reads the parts, refuses parts of
different logs (origin, tree size, root), of different ``n``, overlapping or missing slices,
adds their sums and finishes the audit (sums compared with the log, decryption shares, recount).

A part file is the auditor's own record, not signed: it says which log it covers so that parts
of different logs cannot be mixed by mistake.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from audit import group
from audit.sources import InputError

PART_FORMAT = "scrutin-audit-part/v1"
MAX_SHARDS = 4096
_SHARD_RE = re.compile(r"([1-9][0-9]*)/([1-9][0-9]*)\Z")


class PartError(InputError):
    """A --shard value or a part file that cannot be used (a one-line reason): unusable
    input, exit status 2."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with 1 ≤ i ≤ n ≤ 4096."""
    m = _SHARD_RE.match(text.strip())
    if not m:
        raise PartError(f"--shard {text!r}: expected i/n, e.g. 1/4")
    i, n = int(m.group(1)), int(m.group(2))
    if not 1 <= i <= n or n > MAX_SHARDS:
        raise PartError(f"--shard {text!r}: need 1 ≤ i ≤ n ≤ {MAX_SHARDS}")
    return i, n


def shard_of(credential: str, n: int) -> int:
    """The slice (1..n) a voter credential's ballots belong to."""
    digest = hashlib.sha256(credential.encode("ascii", "replace")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % n


Cipher = tuple[bytes, bytes]


def zero_sums(size: int) -> list[Cipher]:
    return [(group.IDENTITY, group.IDENTITY)] * size


def add_sums(a: list[Cipher], b: list[Cipher]) -> list[Cipher]:
    if len(a) != len(b):
        raise PartError("sums of different lengths")
    return [(group.add(x[0], y[0]), group.add(x[1], y[1])) for x, y in zip(a, b, strict=True)]


class RoundProofsJSON(TypedDict):
    round: int
    size: int
    checked: int
    counted: int
    lost: int
    present: list[int]
    sums: list[list[str]]  # [alpha, beta] in base64
    invalid: list[list[int | str]]  # [index, code, detail]


class PartJSON(TypedDict):
    """A part file (``--part``)."""

    format: str
    origin: str
    tree_size: int
    root: str
    shard: str  # "i/n"
    rounds: list[RoundProofsJSON]


@dataclass
class RoundProofs:
    """What checking the proofs of (a slice of) one encrypted round's ballots found."""

    round: int
    size: int  # ciphertexts per sum vector (the round's layout, from the spec)
    checked: int = 0  # ballots whose proofs were checked
    counted: int = 0  # counted valid ballots summed (the last valid one of each credential)
    lost: int = 0  # credentials with no valid ballot (counted as invalid)
    present: list[int] = field(default_factory=list)  # per candidate: counted ballots with it
    sums: list[Cipher] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (index, code, detail)

    def __post_init__(self) -> None:
        if not self.sums:
            self.sums = zero_sums(self.size)

    def merge(self, other: RoundProofs) -> None:
        if other.round != self.round or other.size != self.size:
            raise PartError(f"round {self.round}: parts disagree on the round's layout")
        self.checked += other.checked
        self.counted += other.counted
        self.lost += other.lost
        if len(self.present) < len(other.present):
            self.present += [0] * (len(other.present) - len(self.present))
        for pos, n in enumerate(other.present):
            self.present[pos] += n
        self.sums = add_sums(self.sums, other.sums)
        self.invalid = sorted(self.invalid + other.invalid)

    def to_json(self) -> RoundProofsJSON:
        def b64(x: bytes) -> str:
            return base64.b64encode(x).decode()

        return {
            "round": self.round,
            "size": self.size,
            "checked": self.checked,
            "counted": self.counted,
            "lost": self.lost,
            "present": list(self.present),
            "sums": [[b64(a), b64(b)] for a, b in self.sums],
            "invalid": [list(item) for item in self.invalid],
        }

    @classmethod
    def from_json(cls, doc: Any) -> RoundProofs:
        try:
            sums = [(base64.b64decode(a, validate=True), base64.b64decode(b, validate=True))
                    for a, b in doc["sums"]]  # fmt: skip
            if any(len(x) != 32 for pair in sums for x in pair):
                raise ValueError("a sum is not 32-byte points")
            invalid = [(int(i), str(code), str(detail)) for i, code, detail in doc["invalid"]]
            out = cls(int(doc["round"]), int(doc["size"]), int(doc["checked"]),
                      int(doc["counted"]), int(doc["lost"]), [int(n) for n in doc["present"]],
                      sums, invalid)  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise PartError(f"malformed round in part file: {exc}") from exc
        if len(out.sums) != out.size:
            raise PartError(f"round {out.round}: {len(out.sums)} sums, expected {out.size}")
        return out


@dataclass
class Part:
    origin: str
    tree_size: int
    root: str  # base64
    shard: tuple[int, int]
    rounds: dict[int, RoundProofs]
    source: str = ""

    def to_json(self) -> PartJSON:
        return {
            "format": PART_FORMAT,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root": self.root,
            "shard": f"{self.shard[0]}/{self.shard[1]}",
            "rounds": [self.rounds[r].to_json() for r in sorted(self.rounds)],
        }


def write_part(path: str, part: Part) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(part.to_json(), fh, indent=1)
        fh.write("\n")


def load_part(path: str) -> Part:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise PartError(f"{path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise PartError(f"{path}: not a JSON part file ({exc})") from exc
    if type(doc) is not dict or doc.get("format") != PART_FORMAT:
        raise PartError(f"{path}: not a {PART_FORMAT} file")
    try:
        shard = parse_shard(str(doc["shard"]))
        rounds = [RoundProofs.from_json(r) for r in doc["rounds"]]
        part = Part(str(doc["origin"]), int(doc["tree_size"]), str(doc["root"]), shard,
                    {r.round: r for r in rounds}, path)  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise PartError(f"{path}: {exc}") from exc
    if len(part.rounds) != len(rounds):
        raise PartError(f"{path}: a round appears twice")
    return part


def combine(
    parts: Sequence[Part], origin: str, tree_size: int, root: str
) -> dict[int, RoundProofs]:
    """Add up the parts of one log; refuse parts of another log or slices that overlap or
    leave a gap. ``origin``, ``tree_size`` and ``root`` are those of the log being finished."""
    if not parts:
        raise PartError("no part file given")
    for p in parts:
        if (p.origin, p.tree_size, p.root) != (origin, tree_size, root):
            raise PartError(
                f"{p.source}: covers {p.origin} at size {p.tree_size} (root {p.root}), not the "
                f"log being verified ({origin} at size {tree_size}, root {root})"
            )
    ns = {p.shard[1] for p in parts}
    if len(ns) != 1:
        raise PartError(f"parts cut the ballots into different numbers of slices: {sorted(ns)}")
    n = ns.pop()
    seen: dict[int, str] = {}
    for p in parts:
        i = p.shard[0]
        if i in seen:
            raise PartError(f"slice {i}/{n} given twice ({seen[i]} and {p.source})")
        seen[i] = p.source
    missing = [i for i in range(1, n + 1) if i not in seen]
    if missing:
        raise PartError(f"slice(s) {', '.join(f'{i}/{n}' for i in missing)} missing")
    rounds = {r for p in parts for r in p.rounds}
    out: dict[int, RoundProofs] = {}
    for number in sorted(rounds):
        having = [p.rounds[number] for p in parts if number in p.rounds]
        if len(having) != len(parts):
            raise PartError(f"round {number} is not in every part")
        total = RoundProofs(number, having[0].size)
        for rp in having:
            total.merge(rp)
        out[number] = total
    return out
