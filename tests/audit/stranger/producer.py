"""A small Scrutin log producer, written from docs/audit-log.md alone (not the service, not
tests/audit/builder.py), to make honest and dishonest exports signed with a valid log key.

`Log` is the low level: entries as (kind, body, time), signed and checkpointed by `export()`.
`Primary` scripts a whole primary (definition, candidacies, supports, qualifications,
confirmations, rounds, ballots, results) so that a corpus case is a few parameters plus, for a
dishonest operator, an edit of the script before it is signed.

The canonical encoder, base64 and Merkle code here are this file's own (§2–§4). The numbers of a
`result` come from the stranger verifier's recount (tests/audit/stranger/verifier.py), itself
written from the spec: scrutin-audit checks them independently.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from tests.audit.stranger.verifier import classify, recount

MAX_ENTRY = 65535


class EntryTooLarge(ValueError):
    """An entry above 65,535 bytes cannot be served in a tile bundle (§7, §8)."""


# -- §2 canonical JSON (this producer's own encoder) ----------------------------------------


def canonical(value: Any) -> bytes:
    def enc(v: Any) -> str:
        if v is None or isinstance(v, bool):
            return {None: "null", True: "true", False: "false"}[v]
        if isinstance(v, int):
            assert abs(v) <= 2**53 - 1, "integer outside the canonical range"
            return str(v)
        if isinstance(v, str):
            assert unicodedata.is_normalized("NFC", v), "string not in NFC"
            out = ['"']
            for ch in v:
                if ch == '"' or ch == "\\":
                    out.append("\\" + ch)
                elif ch in "\b\t\n\f\r":
                    out.append(
                        {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch]
                    )
                elif ord(ch) < 0x20:
                    out.append(f"\\u{ord(ch):04x}")
                else:
                    out.append(ch)
            return "".join(out) + '"'
        if isinstance(v, list):
            return "[" + ",".join(map(enc, v)) + "]"
        if isinstance(v, dict):
            items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-16-be"))
            return "{" + ",".join(enc(k) + ":" + enc(x) for k, x in items) + "}"
        raise TypeError(f"{type(v).__name__} has no canonical form")

    return enc(value).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def root_of(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while 2 * k < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + root_of(leaves[:k]) + root_of(leaves[k:])).digest()


# -- §5/§6 keys and notes -------------------------------------------------------------------


class LogKey:
    def __init__(self, origin: str, seed: bytes) -> None:
        self.origin = origin
        self.signing = SigningKey(seed)
        self.public = bytes(self.signing.verify_key)
        self.key_id = hashlib.sha256(origin.encode() + b"\n\x01" + self.public).digest()[:4]
        typed = b"\x01" + self.public
        self.vkey = f"{origin}+{self.key_id.hex()}+{b64(typed)}"

    def sign_entry(self, envelope: dict[str, Any]) -> bytes:
        message = b"scrutin-entry/v1\x00" + envelope["kind"].encode() + b"\x00"
        message += canonical(envelope)
        sig = self.signing.sign(message).signature
        return canonical({**envelope, "sig": b64(sig)})

    def checkpoint(self, size: int, root: bytes) -> str:
        text = f"{self.origin}\n{size}\n{b64(root)}\n"
        sig = self.signing.sign(text.encode()).signature
        return f"{text}\n\u2014 {self.origin} {b64(self.key_id + sig)}\n"


class WitnessKey:
    """A witness (§6 "Witness cosignatures"): type 0x04 keys, tlog-cosignature lines."""

    def __init__(self, name: str, seed: bytes, stamp: int = 1_802_592_000) -> None:
        self.name, self.stamp = name, stamp
        self.signing = SigningKey(seed)
        public = bytes(self.signing.verify_key)
        self.key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
        typed = b"\x04" + public
        self.vkey = f"{name}+{self.key_id.hex()}+{b64(typed)}"

    def cosign(self, note: str) -> str:
        text = note[: note.rfind("\n\n") + 1]
        message = b"cosignature/v1\ntime " + str(self.stamp).encode() + b"\n" + text.encode()
        sig = self.signing.sign(message).signature
        raw = self.key_id + self.stamp.to_bytes(8, "big") + sig
        return f"\u2014 {self.name} {b64(raw)}\n"


# -- the log --------------------------------------------------------------------------------

PHASE_CHANGES = {"definition", "qualification", "round-open", "round-close", "tally-key", "result"}


@dataclass
class Step:
    kind: str
    body: dict[str, Any]
    time: int
    # A dishonest operator's edits of the signed bytes (re-signed or not, as the case says).
    raw: Callable[[bytes], bytes] | None = None


@dataclass
class Log:
    origin: str = "scrutin.localhost/primaries/corpus"
    primary: str = "0b9d6b5c-6b1e-4c1a-9a57-2f3d1c8e7a10"
    seed: bytes = bytes(range(32))
    steps: list[Step] = field(default_factory=list)
    allow_oversize: bool = False
    witnesses: list[WitnessKey] = field(default_factory=list)

    @property
    def key(self) -> LogKey:
        return LogKey(self.origin, self.seed)

    def add(self, kind: str, body: dict[str, Any], time: int) -> int:
        self.steps.append(Step(kind, body, time))
        return len(self.steps) - 1

    def index(self, kind: str, n: int = 0, **match: Any) -> int:
        """Index of the n-th step of `kind` whose body has the `match` members."""
        hits = [
            i
            for i, s in enumerate(self.steps)
            if s.kind == kind and all(s.body.get(k) == v for k, v in match.items())
        ]
        return hits[n]

    def entries(self) -> list[bytes]:
        key, out, leaves = self.key, [], []
        for i, step in enumerate(self.steps):
            body = dict(step.body)
            if step.kind == "result" and body.get("tree_size") is None:
                # The tree the result was computed over: every entry before it.
                body["tree_size"] = i
                body["root"] = b64(root_of(leaves))
            envelope = {
                "v": 1,
                "origin": self.origin,
                "primary": self.primary,
                "kind": step.kind,
                "time": step.time,
                "body": body,
                "key": key.key_id.hex(),
            }
            data = key.sign_entry(envelope)
            if step.raw is not None:
                data = step.raw(data)
            if len(data) > MAX_ENTRY and not self.allow_oversize:
                raise EntryTooLarge(
                    f"entry {i} ({step.kind}) is {len(data)} bytes; at most {MAX_ENTRY}"
                )
            out.append(data)
            leaves.append(leaf(data))
        return out

    def export(self) -> dict[str, Any]:
        entries = self.entries()
        leaves = [leaf(e) for e in entries]
        key = self.key
        sizes = [0] + [i + 1 for i, s in enumerate(self.steps) if s.kind in PHASE_CHANGES]
        sizes.append(len(entries))
        checkpoints = [key.checkpoint(n, root_of(leaves[:n])) for n in sorted(set(sizes))]
        if self.witnesses:
            # §6: the latest checkpoint carries one cosignature line per witness.
            checkpoints[-1] += "".join(w.cosign(checkpoints[-1]) for w in self.witnesses)
        return {
            "format": "scrutin-export/v1",
            "origin": self.origin,
            "primary": self.primary,
            "vkey": key.vkey,
            "entries": [b64(e) for e in entries],
            "checkpoints": checkpoints,
        }


# -- §8 sealed ballots ----------------------------------------------------------------------


def ballot_plaintext(
    round_no: int,
    grades: dict[str, int],
    candidates: list[str],
    n_grades: int,
    pad: str | None = None,
) -> bytes:
    longest = len(
        canonical({"round": round_no, "grades": {c: n_grades - 1 for c in candidates}, "pad": ""})
    )
    if pad is None:
        pad = " " * (longest - len(canonical({"round": round_no, "grades": grades, "pad": ""})))
    return canonical({"round": round_no, "grades": grades, "pad": pad})


def seal(public_key: bytes, plaintext: bytes) -> str:
    return b64(SealedBox(PublicKey(public_key)).encrypt(plaintext))


# -- a scripted primary ---------------------------------------------------------------------

DAY = 86400
T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


def iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cand_id(n: int) -> str:
    return f"{n:08x}-abcd-4ef0-8a00-{n:012x}"


def supporter(n: int) -> str:
    return hashlib.sha256(b"supporter %d" % n).hexdigest()


def declaration(n: int) -> str:
    return hashlib.sha256(b"declaration %d" % n).hexdigest()


@dataclass
class Primary:
    """A whole primary. Ballots are grade dicts (None: a blank ballot); `extra_plaintexts` are
    sealed as they are (dishonest or invalid ballots)."""

    rule: str = "majority-value"
    missing: str = "normalize"
    upper_median: bool = False
    default_grade: int = 0
    grades: tuple[str, ...] = ("Reject", "Fair", "Good", "Excellent")
    n_candidates: int = 3
    subset_size: int = 0
    allow_blank: bool = False
    threshold: int = 2
    support_cap: int = 0
    witness_policy: str = ""
    credentials: str = ""  # "", "server" or "voter" (§8 "Voter-held credentials")
    log: Log = field(default_factory=Log)

    def __post_init__(self) -> None:
        self.candidates = [cand_id(n + 1) for n in range(self.n_candidates)]
        self.names = {c: f"Candidate {n + 1}" for n, c in enumerate(self.candidates)}
        self.tally_keys: dict[int, PrivateKey] = {}
        self.round_candidates: dict[int, list[str]] = {}
        self.plaintexts: dict[int, list[bytes]] = {}
        self.qualified: list[str] = []
        self.answered: set[str] = set()  # confirmed, or candidacy closed
        self.keys: dict[int, SigningKey] = {}  # credentials: voter — person n's key
        self.voters: dict[int, list[int | None]] = {}  # round → person of each ballot

    @property
    def slug(self) -> str:
        return self.log.origin.rsplit("/", 1)[-1]

    def phases(self) -> list[dict[str, str]]:
        # §8 "Phases": names, YYYY-MM-DDTHH:MM:SSZ instants, half-open intervals.
        return [
            {"name": "candidacies", "start": iso(T0), "end": iso(T0 + 10 * DAY)},
            {"name": "supports", "start": iso(T0), "end": iso(T0 + 10 * DAY)},
            {"name": "round-1", "start": iso(T0 + 10 * DAY), "end": iso(T0 + 12 * DAY)},
            {"name": "round-2", "start": iso(T0 + 13 * DAY), "end": iso(T0 + 15 * DAY)},
        ]

    def definition(self, revision: int = 1) -> dict[str, Any]:
        return {
            "revision": revision,
            "title": "Corpus primary",
            "slug": self.slug,
            "description": "A primary of the stranger's corpus.",
            "threshold": self.threshold,
            "support_cap": self.support_cap,
            "qualification": "threshold",
            "grades": list(self.grades),
            "rule": self.rule,
            "missing": self.missing,
            "default_grade": self.default_grade,
            "upper_median": self.upper_median,
            "subset_size": self.subset_size,
            "allow_blank": self.allow_blank,
            "eligibility": "email",
            "phases": self.phases(),
            **({"witness_policy": self.witness_policy} if self.witness_policy else {}),
            **({"credentials": self.credentials} if self.credentials else {}),
        }

    def candidacy(self, c: str, action: str, t: int, reason: str = "") -> int:
        n = self.candidates.index(c) + 1
        body = {
            "candidate": c,
            "action": action,
            "name": self.names[c],
            "declaration": declaration(n),
            "reason": reason,
        }
        if action in ("confirmed", "declined", "rejected", "withdrawn", "excluded", "lapsed"):
            # §8: confirmed, or closed for good (a closed candidacy never lapses later).
            self.answered.add(c)
        return self.log.add("candidacy", body, t)

    def pre_voting(self, confirm: bool | set[str] = True) -> None:
        """Definition, candidacies, supports, qualifications and confirmations (of every
        candidate, or of those in `confirm`)."""
        log = self.log
        log.add("definition", self.definition(), T0)
        t = T0 + 60
        for c in self.candidates:
            self.candidacy(c, "submitted", t)
            self.candidacy(c, "published", t + 10)
            t += 60
        t = T0 + DAY
        for k, c in enumerate(self.candidates):
            for s in range(self.threshold):
                body = {"candidate": c, "supporter": supporter(k * 10 + s)}
                if self.credentials == "voter":
                    message = b"scrutin-support/v1\x00" + self.log.origin.encode()
                    body |= self.signed(k * 10 + s, message + b"\x00" + c.encode(), t)
                log.add("support", body, t)
                t += 60
            body = {"candidate": c, "supports": self.threshold, "threshold": self.threshold}
            log.add("qualification", body, t)
            t += 60
            self.qualified.append(c)
            if confirm is True or (confirm and c in confirm):
                self.candidacy(c, "confirmed", t)
                self.answered.add(c)
                t += 60

    def open_round(self, r: int, candidates: list[str], t: int) -> int:
        sk = PrivateKey(hashlib.sha256(b"tally %d" % r).digest())
        self.tally_keys[r] = sk
        self.round_candidates[r] = list(candidates)
        self.plaintexts[r] = []
        n = {c: self.candidates.index(c) + 1 for c in candidates}
        body = {
            "round": r,
            "candidates": [
                {"candidate": c, "name": self.names[c], "declaration": declaration(n[c])}
                for c in candidates
            ],
            "tally_public_key": b64(bytes(sk.public_key)),
            "subset_size": self.subset_size,
            "allow_blank": self.allow_blank,
        }
        return self.log.add("round-open", body, t)

    def register(self, person: int, t: int) -> SigningKey:
        """A `credential` entry for person n (once), as §8 says."""
        if person not in self.keys:
            self.keys[person] = SigningKey(hashlib.sha256(b"person %d" % person).digest())
            body = {
                "credential": b64(bytes(self.keys[person].verify_key)),
                "citizen": hashlib.sha256(b"citizen %d" % person).hexdigest(),
                "assisted": person % 5 == 4,
            }
            self.log.add("credential", body, t)
        return self.keys[person]

    def signed(self, person: int, message: bytes, t: int) -> dict[str, str]:
        key = self.register(person, t)
        sig = key.sign(message).signature
        return {"credential": b64(bytes(key.verify_key)), "credential_sig": b64(sig)}

    def roll(self, r: int, t: int) -> None:
        keys = sorted(b64(bytes(k.verify_key)) for k in self.keys.values())
        helped = sum(1 for n in self.keys if n % 5 == 4)
        digest = hashlib.sha256(canonical(keys)).hexdigest()
        body = {"round": r, "count": len(keys), "assisted": helped, "digest": digest}
        self.log.add("roll", body, t)

    def cast(self, r: int, plaintext: bytes, t: int, person: int | None = None) -> int:
        self.plaintexts[r].append(plaintext)
        self.voters.setdefault(r, []).append(person)
        sealed = seal(bytes(self.tally_keys[r].public_key), plaintext)
        body = {"round": r, "sealed": sealed}
        if self.credentials == "voter" and person is not None:
            message = b"scrutin-ballot/v1\x00" + self.log.origin.encode() + b"\x00"
            message += str(r).encode() + b"\x00" + base64.b64decode(sealed)
            body |= self.signed(person, message, t)
        return self.log.add("ballot", body, t)

    def plain(self, r: int, grades: dict[str, int] | None, pad: str | None = None) -> bytes:
        return ballot_plaintext(r, grades or {}, self.round_candidates[r], len(self.grades), pad)

    def tally(self, r: int, count_as_valid: set[int] = frozenset()) -> dict[str, Any]:
        """The result body of round r; `count_as_valid`: plaintext positions a dishonest
        operator counts as valid whatever they hold."""
        cands, n_grades = self.round_candidates[r], len(self.grades)
        valid, blank, invalid = [], 0, 0
        people = self.voters.get(r, [])
        last = {n: pos for pos, n in enumerate(people)}  # revoting: the last ballot counts
        for pos, data in enumerate(self.plaintexts[r]):
            if self.credentials == "voter" and people[pos] is not None:
                if last[people[pos]] != pos:
                    continue
            grades, _ = classify(data, r, cands, n_grades, self.allow_blank, self.subset_size)
            value = _ballot_value(data)
            if pos in count_as_valid and value is not None:
                # Counted anyway: its judgments of the round's candidates, within the scale.
                grades = {
                    c: min(max(g, 0), n_grades - 1)
                    for c, g in value["grades"].items()
                    if c in cands and isinstance(g, int)
                }
            if grades is None:
                invalid += 1
            elif grades:
                valid.append(grades)
            else:
                blank += 1
        body = recount(
            valid,
            cands,
            n_grades,
            self.rule,
            self.missing,
            self.default_grade,
            self.upper_median,
        )
        return {
            "round": r,
            "tree_size": None,
            "root": None,
            "rule": self.rule,
            "missing": self.missing,
            "upper_median": self.upper_median,
            "default_grade": self.default_grade,
            "counts": {"valid": len(valid), "blank": blank, "invalid": invalid},
            **body,
        }

    def run_round(
        self,
        r: int,
        candidates: list[str],
        ballots: list[dict[str, int] | None],
        extra_plaintexts: list[bytes] = (),
        count_as_valid: set[int] = frozenset(),
        revotes: list[tuple[int, dict[str, int] | None]] = (),
    ) -> None:
        """Ballots are cast by persons 100, 101, … (under `credentials: voter`, each with
        their key); `revotes` are (ballot number, grades) cast again later."""
        start = T0 + (10 if r == 1 else 13) * DAY
        if r == 1:
            # §8 "Candidacy actions": a qualified candidate who neither confirmed nor declined
            # lapses just before round 1 opens (unless a dishonest script lists it anyway).
            for c in self.qualified:
                if c not in self.answered and c not in candidates:
                    reason = "not confirmed in time"
                    self.candidacy(c, "lapsed", start + 60, reason)
        self.round_candidates[r] = list(candidates)
        if self.credentials == "voter":
            for v in range(len(ballots) + len(extra_plaintexts)):
                self.register(100 + v, start + 60)
            self.roll(r, start + 60)
        self.open_round(r, candidates, start + 60)
        t = start + 3600
        for v, grades in enumerate(ballots):
            self.cast(r, self.plain(r, grades), t, 100 + v)
            t += 60
        for v, data in enumerate(extra_plaintexts, start=len(ballots)):
            self.cast(r, data, t, 100 + v)
            t += 60
        for v, grades in revotes:
            self.cast(r, self.plain(r, grades), t, 100 + v)
            t += 60
        people = self.voters.get(r, [])
        turnout = len(set(people)) if self.credentials == "voter" else len(people)
        self.log.add("round-close", {"round": r, "turnout": turnout}, t)
        sk = b64(bytes(self.tally_keys[r]))
        self.log.add("tally-key", {"round": r, "tally_secret_key": sk}, t + 60)
        self.log.add("result", self.tally(r, count_as_valid), t + 120)


def _ballot_value(data: bytes) -> dict[str, Any] | None:
    import json

    try:
        value = json.loads(data)
    except ValueError:
        return None
    ok = isinstance(value, dict) and set(value) == {"round", "grades", "pad"}
    return value if ok and isinstance(value["grades"], dict) else None


# -- §7 tiles: a copy of the log/ tree (checkpoint + tile/…) --------------------------------


def tile_index(n: int) -> str:
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def write_tiles(export: dict[str, Any], directory: str) -> None:
    """The tiles of the export's latest checkpoint, as §7 lays them out (height 8)."""
    import pathlib

    root = pathlib.Path(directory)
    entries = [base64.b64decode(e) for e in export["entries"]]
    size = len(entries)

    def put(path: str, data: bytes) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    put("checkpoint", export["checkpoints"][-1].encode())
    level, hashes = 0, [leaf(e) for e in entries]
    while hashes:
        full, width = divmod(len(hashes), 256)
        for n in range(full + (1 if width else 0)):
            chunk = hashes[n * 256 : (n + 1) * 256]
            suffix = "" if len(chunk) == 256 else f".p/{len(chunk)}"
            put(f"tile/{level}/{tile_index(n)}{suffix}", b"".join(chunk))
            if level == 0:
                bundle = b"".join(
                    len(e).to_bytes(2, "big") + e for e in entries[n * 256 : (n + 1) * 256]
                )
                put(f"tile/entries/{tile_index(n)}{suffix}", bundle)
        # Level L+1 hashes are the roots of the full level-L tiles.
        hashes = [root_of(hashes[n * 256 : (n + 1) * 256]) for n in range(full)]
        level += 1
    assert size == len(entries)


def inclusion_path(leaves: list[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[n]), from the leaf's sibling up."""
    if len(leaves) <= 1:
        return []
    k = 1
    while 2 * k < len(leaves):
        k *= 2
    if index < k:
        return [*inclusion_path(leaves[:k], index), root_of(leaves[k:])]
    return [*inclusion_path(leaves[k:], index - k), root_of(leaves[:k])]


def receipt(export: dict[str, Any], index: int) -> dict[str, Any]:
    """§7's JSON receipt of the entry at `index`, against the export's latest checkpoint."""
    entries = [base64.b64decode(e) for e in export["entries"]]
    leaves = [leaf(e) for e in entries]
    return {
        "format": "scrutin-receipt/v1",
        "origin": export["origin"],
        "vkey": export["vkey"],
        "index": index,
        "entry": export["entries"][index],
        "tracker": leaves[index].hex(),
        "inclusion_proof": [b64(h) for h in inclusion_path(leaves, index)],
        "checkpoint": export["checkpoints"][-1],
    }
