"""The fourteen checks of ``scrutin-audit verify`` (docs/audit-log.md §9)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from audit import merkle
from audit.ballots import open_chunk, public_key_of
from audit.credentials import CredentialResult, check_credentials
from audit.encrypted import RoundContext, check_sums, decrypt_round, verify_groups
from audit.envelope import EntryError, parse_entry
from audit.note import Checkpoint, NoteError, VerifierKey, parse_checkpoint
from audit.parallel import map_chunks
from audit.recount import Opened, Result, TallyError, tally_profiles
from audit.report import Check, Report, RoundSummary
from audit.shard import Part, PartError, RoundProofs, combine, shard_of
from audit.signatures import verify_chunk
from audit.sources import TILE_HEIGHT, TILE_WIDTH, LogData, tile_path
from audit.timeline import check_timeline
from audit.trustees import CEREMONY_KINDS, Ceremony
from audit.witness import check_witnesses, latest_policy

Progress = Callable[[str, int, int], None]
NEGATIVE_ACTIONS = {"rejected", "withdrawn", "excluded", "declined", "lapsed"}
# What a qualified candidate's last action is once round 1 opens (§9 check 6): an answer
# (`confirmed`, `declined`), `lapsed` (no answer when round 1 opened), or a departure.
ANSWERS = {"confirmed", "declined", "lapsed"}

# §8: these candidacy actions close a candidacy for good.
CLOSING_ACTIONS = frozenset({"rejected", "withdrawn", "excluded", "declined", "lapsed"})


def parse_chunk(args: tuple[int, Sequence[bytes], str, str | None]) -> list[tuple[Any, ...]]:
    """Check 4 on a chunk: (kind, time, key, body) per entry, or (None, reason).

    A ballot's body is reduced to (round, digest of the sealed bytes) to keep results small.
    """
    _, raws, origin, primary = args
    out: list[tuple[Any, ...]] = []
    for raw in raws:
        try:
            entry = parse_entry(raw, origin, primary)
        except EntryError as exc:
            out.append((None, str(exc)))
            continue
        body = entry["body"]
        if entry["kind"] == "ballot":
            payload = body.get("sealed") or body["encrypted"]  # §10: an encrypted ballot's blob
            digest = hashlib.sha256(payload.encode()).digest()[:16]
            body = (body["round"], digest, body.get("credential"), "encrypted" in body)
        out.append((entry["kind"], entry["time"], entry["key"], body))
    return out


@dataclass
class RoundState:
    number: int
    open_index: int
    body: dict[str, Any]
    definition: dict[str, Any]
    ballots: list[int] = field(default_factory=list)
    close_index: int | None = None
    turnout: int | None = None
    tally_index: int | None = None
    secret_key: bytes | None = None
    key_matches: bool = False
    result_index: int | None = None
    result: dict[str, Any] | None = None
    opened: Opened | None = None
    # §10 encrypted rounds
    encrypted: bool = False
    all_ballots: list[int] = field(default_factory=list)  # revotes included, in log order
    sums_index: int | None = None
    sums: dict[str, Any] | None = None
    decryptions: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    proofs: RoundProofs | None = None

    @property
    def candidates(self) -> list[str]:
        return [c["candidate"] for c in self.body["candidates"]]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def state_path(state_dir: str, origin: str) -> str:
    return os.path.join(state_dir, re.sub(r"[^A-Za-z0-9.-]", "_", origin) + ".checkpoint")


class Options(TypedDict, total=False):
    """What a run of the checks may be told besides the log and its pinned key (all None
    when not given)."""

    state_dir: str | None  # where the last verified checkpoint is kept (check 3)
    workers: int | None  # processes for the chunked checks (None: one per CPU)
    progress: Progress | None
    policy: tuple[str, str] | None  # (--policy file name, its text) overriding the definition's
    credential: str | None  # a voter's own key (base64): check 13 reports on it
    shard: tuple[int, int] | None  # (i, n): check the proofs of slice i of n only (audit/shard.py)
    parts: Sequence[Part] | None  # combined proofs of every slice: not checked again


class Verification:
    def __init__(self, log: LogData, key: VerifierKey, **options: Unpack[Options]) -> None:
        self.log = log
        self.key = key
        self.state_dir = options.get("state_dir")
        self.workers = options.get("workers")
        self.progress = options.get("progress")
        self.policy = options.get("policy")
        self.credential = options.get("credential")
        self.shard = options.get("shard")
        self.parts = options.get("parts")
        self.report = Report(origin=key.name)
        self.latest: Checkpoint | None = None
        self.parsed: list[tuple[Any, ...]] = []
        self.tree: merkle.Tree | None = None
        self.rounds: dict[int, RoundState] = {}
        self.definitions: list[tuple[int, dict[str, Any]]] = []
        self.support_counts: dict[str, int] = {}
        self.names: dict[str, str] = {}
        self.credentials = CredentialResult()
        self.ceremony = Ceremony(key.name, self.report.check(14))

    # -- helpers ---------------------------------------------------------------------------
    def _progress(self, phase: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        report = self.progress
        return lambda done, total: report(phase, done, total)

    def _timed(self, phase: str, fn: Callable[[], None]) -> None:
        start = time.perf_counter()
        fn()
        self.report.timings[phase] = time.perf_counter() - start

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> Report:
        self._timed("checkpoints", self.check_checkpoints)  # 1
        self._timed("entries", self.check_entries)  # 4
        self._timed("signatures", self.check_signatures)  # 5
        self._timed("merkle", self.check_completeness)  # 2
        self._timed("append-only", self.check_append_only)  # 3
        self._timed("credentials", self.check_credentials)  # 13, before 8-10 (revotes)
        self._timed("sequence", self.check_sequence)  # 6, 7, 8
        self._timed("proofs", self.check_proofs)  # 9, encrypted rounds: every ballot's proofs
        self._timed("opening", self.check_opening)  # 9
        self._timed("recount", self.check_recount)  # 10
        self._timed("timeline", lambda: check_timeline(self.parsed, self.report.check(11)))  # 11
        self._timed("witnesses", self.check_witnesses)  # 12
        self.report.summary.update(
            {
                "entries": len(self.log.entries),
                "tree_size": self.latest.size if self.latest else None,
                "root": _b64(self.latest.root) if self.latest else None,
                "primary": self.log.primary,
                "source": self.log.kind,
            }
        )
        if self.report.ok and self.state_dir and self.latest is not None:
            os.makedirs(self.state_dir, exist_ok=True)
            with open(state_path(self.state_dir, self.key.name), "w", encoding="utf-8") as fh:
                fh.write(self.latest.text)
            self.report.summary["state_saved"] = True
        return self.report

    # -- check 13 --------------------------------------------------------------------------
    def check_credentials(self) -> None:
        self.credentials, summary = check_credentials(
            self.log.entries, self.parsed, self.key.name, self.report.check(13), self.credential
        )
        if self.credentials.voter_mode:
            self.report.summary["credentials"] = summary

    # -- check 12 --------------------------------------------------------------------------
    def check_witnesses(self) -> None:
        source, text = self.policy or ("definition", latest_policy(self.definitions))
        report = check_witnesses(self.report.check(12), self.latest, self.key, text, source)
        if report is not None:
            self.report.summary["witnesses"] = {
                "quorum": report.quorum,
                "met": report.met,
                "cosigned": sorted(report.cosigned),
            }

    # -- check 1 ---------------------------------------------------------------------------
    def check_checkpoints(self) -> None:
        check = self.report.check(1)
        key = self.key
        if self.log.vkey is not None and self.log.vkey != str(key):
            check.fail(None, "vkey-differs", published=self.log.vkey)
        if self.log.origin is not None and self.log.origin != key.name:
            check.fail(None, "export-origin", origin=self.log.origin)
        last = len(self.log.checkpoints) - 1
        if last < 0:
            check.fail(None, "checkpoint-missing")
        for n, text in enumerate(self.log.checkpoints):
            label = "latest" if n == last else n + 1
            try:
                cp = parse_checkpoint(text)
            except NoteError as exc:
                check.fail(None, "checkpoint-malformed", which=label, detail=str(exc))
                continue
            if cp.origin != key.name:
                check.fail(None, "checkpoint-origin", which=label, origin=cp.origin)
            elif not cp.note.names_key(key):
                check.fail(None, "checkpoint-unsigned", which=label, size=cp.size)
            elif not cp.note.signed_by(key):
                check.fail(None, "checkpoint-bad-signature", which=label, size=cp.size)
            if n == last:
                self.latest = cp
        for note in self.log.notes:
            check.note("source-note", detail=note)

    # -- check 4 ---------------------------------------------------------------------------
    def check_entries(self) -> None:
        check = self.report.check(4)
        entries = self.log.entries
        primary = self.log.primary
        if primary is None and entries:
            try:
                primary = parse_entry(entries[0], self.key.name, None)["primary"]
                self.log.primary = primary
            except EntryError:
                primary = None
        chunks = map_chunks(
            parse_chunk,
            lambda part: (0, part, self.key.name, primary),
            entries,
            workers=self.workers,
            chunk=5000,
            progress=self._progress("entries"),
        )
        self.parsed = [item for chunk in chunks for item in chunk]
        for index in self.log.respelled:  # the export's base64 is not the bytes' own spelling
            self.parsed[index] = (None, "entry-base64")
        for index, item in enumerate(self.parsed):
            if item == (None, "entry-base64"):
                check.fail(index, "entry-base64")
            elif item[0] is None:
                check.fail(index, "entry-malformed", detail=item[1])
        if not entries:
            check.note("nothing")

    # -- check 5 ---------------------------------------------------------------------------
    def check_signatures(self) -> None:
        check = self.report.check(5)
        kid = self.key.key_id_hex
        todo = []
        for index, item in enumerate(self.parsed):
            if item[0] is None:
                continue
            if item[2] != kid:
                check.fail(index, "signer-not-allowed", signer=item[2], kind=item[0])
                continue
            todo.append((index, item[0], self.log.entries[index]))
        pk = self.key.public_key
        bad = map_chunks(
            verify_chunk,
            lambda part: (pk, part),
            todo,
            workers=self.workers,
            chunk=4000,
            progress=self._progress("signatures"),
        )
        for index in sorted(i for chunk in bad for i in chunk):
            check.fail(index, "bad-signature", kind=self.parsed[index][0])
        if not todo and not check.failure_count:
            check.note("nothing")
        self.report.summary["signatures_verified"] = len(todo)

    # -- check 2 ---------------------------------------------------------------------------
    def check_completeness(self) -> None:
        check = self.report.check(2)
        leaves = [hashlib.sha256(b"\x00" + e).digest() for e in self.log.entries]
        self.tree = tree = merkle.Tree(leaves)
        n = tree.size
        if self.latest is None and not self.log.checkpoints:
            check.fail(None, "no-checkpoint")
            return
        # §9 check 2: an unreadable latest checkpoint fails check 1 only; the readable
        # ones are still compared below.
        if self.latest is not None and self.latest.size != n:
            check.fail(None, "size-mismatch", size=self.latest.size, entries=n)
        good, first_bad = 0, None
        last = len(self.log.checkpoints) - 1
        prev_size = 0
        for pos, text in enumerate(self.log.checkpoints):
            try:
                cp = parse_checkpoint(text)
            except NoteError:
                continue
            label = "latest" if pos == last else pos + 1
            if cp.size < prev_size:
                check.fail(None, "checkpoints-shrink", which=label, size=cp.size, prev=prev_size)
            prev_size = max(prev_size, cp.size)
            if cp.size > n:
                if pos != last:
                    check.fail(None, "checkpoint-beyond", which=label, size=cp.size, entries=n)
                continue
            if tree.root(cp.size) != cp.root:
                if first_bad is None or cp.size < first_bad:
                    first_bad = cp.size
                check.fail(None, "root-mismatch", which=label, size=cp.size)
            elif first_bad is None or cp.size < first_bad:
                good = max(good, cp.size)
        if first_bad is not None:
            check.note("changed-between", start=good, end=first_bad - 1)
        self._check_hash_tiles(check)

    def _check_hash_tiles(self, check: Check) -> None:
        if not self.log.hash_tiles or self.tree is None:
            return
        for (level, n), data in sorted(self.log.hash_tiles.items()):
            height = level * TILE_HEIGHT
            if height >= len(self.tree.levels):
                continue
            nodes = self.tree.levels[height][n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
            if data != b"".join(nodes[: len(data) // 32]) or len(data) % 32:
                check.fail(None, "hash-tile", path=tile_path(level, n, len(data) // 32))

    # -- check 3 ---------------------------------------------------------------------------
    def check_append_only(self) -> None:
        check = self.report.check(3)
        if not self.state_dir:
            check.note("no-state")
            return
        path = state_path(self.state_dir, self.key.name)
        if not os.path.exists(path):
            check.note("first-run", path=path)
            return
        try:
            with open(path, encoding="utf-8") as fh:
                old = parse_checkpoint(fh.read())
        except (OSError, NoteError, UnicodeDecodeError) as exc:
            check.fail(None, "state-unreadable", path=path, detail=str(exc))
            return
        if old.origin != self.key.name or not old.note.signed_by(self.key):
            check.fail(None, "state-unsigned", path=path)
            return
        assert self.tree is not None
        latest = self.latest
        if latest is not None and old.size > latest.size:
            check.fail(None, "rollback", old=old.size, new=latest.size)
            return
        if latest is not None and old.size == latest.size and old.root != latest.root:
            check.fail(None, "fork", size=old.size)
            return
        if old.size > self.tree.size:
            check.fail(None, "rollback", old=old.size, new=self.tree.size)
            return
        if self.tree.root(old.size) != old.root:
            check.fail(None, "fork", size=old.size)
            return
        if self.log.consistency_proof and latest is not None and old.size < latest.size:
            proof = self.log.consistency_proof(old.size, latest.size)
            if proof is None:
                check.note("no-proof-endpoint")
            elif not merkle.verify_consistency(old.size, latest.size, old.root, latest.root, proof):
                check.fail(None, "bad-consistency-proof", old=old.size, new=latest.size)
        check.note("consistent-with", old=old.size)

    # -- checks 6, 7, 8 --------------------------------------------------------------------
    def _definition(self) -> dict[str, Any] | None:
        return self.definitions[-1][1] if self.definitions else None

    def check_sequence(self) -> None:
        c6, c7, c8 = self.report.check(6), self.report.check(7), self.report.check(8)
        cands: dict[str, str] = {}  # candidate -> last candidacy action
        active: set[tuple[str, str]] = set()
        per_supporter: dict[str, int] = {}
        counts: dict[str, int] = {}
        qualified: dict[str, int] = {}
        sealed_seen: dict[bytes, int] = {}
        current: RoundState | None = None
        slug = self.key.name.rsplit("/", 1)[-1]
        for index, item in enumerate(self.parsed):
            kind = item[0]
            if kind is None:
                if index == 0:  # §9 check 6: an entry 0 failing check 4 is no definition
                    c6.fail(index, "definition-unreadable")
                continue
            body = item[3]
            if index == 0 and kind != "definition":
                c6.fail(index, "definition-first", kind=kind)
            definition = self._definition()
            if kind == "definition":
                expected = len(self.definitions) + 1
                if body["revision"] != expected:
                    c6.fail(index, "revision-order", revision=body["revision"], expected=expected)
                if self.rounds:
                    c6.fail(index, "definition-after-open")
                if body["slug"] != slug:
                    c6.fail(index, "slug", slug=body["slug"], expected=slug)
                self.definitions.append((index, body))
                self.ceremony.definition(index, body)
                continue
            if definition is None:
                if index != 0:
                    c6.fail(index, "before-definition", kind=kind)
                continue
            if kind in CEREMONY_KINDS:
                self.ceremony.entry(index, kind, body)  # check 14
                continue
            if kind == "roll":
                self.ceremony.roll(index, body)
                continue
            if kind == "candidacy":
                cand, action = body["candidate"], body["action"]
                if cand not in cands and action != "submitted":
                    c6.fail(index, "candidacy-unknown", candidate=cand, action=action)
                elif cand in cands and action == "submitted":
                    c6.fail(index, "candidacy-resubmitted", candidate=cand)
                if cands.get(cand) in CLOSING_ACTIONS:
                    # §8: a closed candidacy stays closed; its closing action keeps deciding.
                    c6.fail(index, "candidacy-closed", candidate=cand, action=action)
                    continue
                cands[cand] = action
                self.names[cand] = body["name"]
            elif kind in ("support", "support-withdrawal"):
                cand, who = body["candidate"], body["supporter"]
                if self.rounds:
                    c7.fail(index, "support-after-open", kind=kind)
                if cand not in cands:
                    c7.fail(index, "support-unknown", candidate=cand)
                if cand in qualified:
                    c7.fail(
                        index,
                        "support-after-qualification",
                        candidate=cand,
                        qualified=qualified[cand],
                    )
                if kind == "support":
                    cap = definition["support_cap"]
                    if (cand, who) in active:
                        c7.fail(index, "support-duplicate", candidate=cand)
                        continue
                    if cap and per_supporter.get(who, 0) >= cap:
                        c7.fail(index, "support-cap", cap=cap)
                    active.add((cand, who))
                    per_supporter[who] = per_supporter.get(who, 0) + 1
                    counts[cand] = counts.get(cand, 0) + 1
                else:
                    if (cand, who) not in active:
                        c7.fail(index, "withdrawal-unknown", candidate=cand)
                        continue
                    active.discard((cand, who))
                    per_supporter[who] -= 1
                    counts[cand] -= 1
            elif kind == "qualification":
                cand = body["candidate"]
                have = counts.get(cand, 0)
                if self.rounds:
                    c6.fail(index, "qualification-after-open", candidate=cand)
                if cand not in cands:
                    c7.fail(index, "qualification-unknown", candidate=cand)
                if cand in qualified:
                    c7.fail(index, "qualified-twice", candidate=cand, first=qualified[cand])
                if body["threshold"] != definition["threshold"]:
                    c7.fail(
                        index,
                        "threshold-differs",
                        stated=body["threshold"],
                        threshold=definition["threshold"],
                    )
                if body["supports"] != have:
                    c7.fail(
                        index,
                        "supports-differ",
                        candidate=cand,
                        stated=body["supports"],
                        recount=have,
                    )
                if have < definition["threshold"]:
                    c7.fail(
                        index,
                        "below-threshold",
                        candidate=cand,
                        recount=have,
                        threshold=definition["threshold"],
                    )
                qualified.setdefault(cand, index)
            elif kind == "round-open":
                number = body["round"]
                if number != len(self.rounds) + 1 or number in self.rounds:
                    c6.fail(index, "round-order", round=number, expected=len(self.rounds) + 1)
                    continue
                if current is not None and current.close_index is None:
                    c6.fail(index, "round-still-open", round=current.number)
                prev = self.rounds.get(number - 1)
                if prev is not None and prev.result_index is None:
                    c6.fail(index, "open-before-result", round=number, prev=prev.number)
                ids = [c["candidate"] for c in body["candidates"]]
                if len(set(ids)) != len(ids):
                    c6.fail(index, "round-duplicate-candidate", round=number)
                for c in ids:
                    if c not in cands or cands[c] in NEGATIVE_ACTIONS:
                        c6.fail(index, "round-candidate-ineligible", candidate=c)
                    elif number == 1 and c not in qualified:
                        c6.fail(index, "round-candidate-unqualified", candidate=c)
                    elif number == 1 and cands[c] != "confirmed":
                        c6.fail(index, "round-candidate-unconfirmed", candidate=c)
                    elif prev is not None and c not in prev.candidates:
                        c6.fail(index, "round-candidate-new", candidate=c, prev=prev.number)
                if number == 1:  # the list is exactly the confirmed qualified candidates
                    for c in sorted(qualified):
                        if cands.get(c) == "confirmed" and c not in ids:
                            c6.fail(index, "round-candidate-missing", candidate=c)
                        elif c not in ids and cands.get(c) not in NEGATIVE_ACTIONS | ANSWERS:
                            c6.fail(index, "qualified-unanswered", candidate=c)
                for name in ("subset_size", "allow_blank"):
                    if body[name] != definition[name]:
                        c6.fail(index, "round-setting", name=name)
                for c in body["candidates"]:
                    self.names.setdefault(c["candidate"], c["name"])
                current = RoundState(number, index, body, definition)
                self._round_key(c6, index, current)
                self.rounds[number] = current
            elif kind == "ballot":
                number, digest, _credential, encrypted = body
                r = self.rounds.get(number)
                if r is not None and encrypted != r.encrypted:
                    c8.fail(index, "ballot-kind", kind="encrypted" if encrypted else "sealed",
                            ballots="encrypted" if r.encrypted else "sealed")  # fmt: skip
                    continue
                if r is None:
                    c8.fail(index, "ballot-before-open", round=number)
                elif r.close_index is not None:
                    c8.fail(index, "ballot-after-close", round=number, close=r.close_index)
                else:
                    if digest in sealed_seen:
                        # §9 check 8: a replayed copy is no ballot of the round (turnout,
                        # checks 9 and 10 leave it out); only this failure reports it.
                        c8.fail(index, "ballot-duplicate", first=sealed_seen[digest])
                        continue
                    sealed_seen[digest] = index
                    r.all_ballots.append(index)
                    if index in self.credentials.superseded:
                        continue  # a revote replaced it: only the last one counts (§8)
                    r.ballots.append(index)
            elif kind == "round-close":
                r = self.rounds.get(body["round"])
                if r is None or r.close_index is not None or r is not current:
                    c6.fail(index, "close-without-open", round=body["round"])
                    continue
                r.close_index, r.turnout = index, body["turnout"]
                if body["turnout"] != len(r.ballots):
                    c8.fail(
                        index,
                        "turnout",
                        round=r.number,
                        turnout=body["turnout"],
                        ballots=len(r.ballots),
                    )
            elif kind == "tally-key":
                r = self.rounds.get(body["round"])
                if r is not None and r.encrypted:
                    c6.fail(index, "tally-key-encrypted", round=r.number)
                    continue
                if r is None or r.close_index is None or r.tally_index is not None:
                    c6.fail(index, "tally-key-phase", round=body["round"])
                    continue
                r.tally_index = index
                r.secret_key = base64.b64decode(body["tally_secret_key"])
            elif kind == "tally-sums":
                r = self.rounds.get(body["round"])
                if r is None or not r.encrypted or r.close_index is None or r.sums is not None:
                    c6.fail(index, "sums-phase", round=body["round"])
                    continue
                r.sums_index, r.sums = index, body
            elif kind == "trustee-decryption":
                r = self.rounds.get(body["round"])
                if r is None or r.sums is None or r.result_index is not None:
                    c6.fail(index, "decryption-phase", round=body["round"])
                    continue
                r.decryptions.append((index, body))
            elif kind == "result":
                r = self.rounds.get(body["round"])
                ready = r is not None and (r.sums_index if r.encrypted else r.tally_index)
                if r is None or ready is None or r.result_index is not None:
                    worded = "result-phase-encrypted" if r is not None and r.encrypted else None
                    c6.fail(
                        index, "result-phase", round=body["round"], _text=worded or "result-phase"
                    )
                    continue
                r.result_index, r.result = index, body
        self.ceremony.finish()
        if not self.parsed:
            c6.note("nothing")
        if not counts and not qualified:
            c7.note("nothing")
        if not self.rounds:
            c8.note("nothing")
        self.support_counts = counts
        self.report.summary["names"] = dict(self.names)
        self.report.summary["supports"] = {c: counts[c] for c in sorted(counts)}
        self.report.summary["qualified"] = sorted(qualified)
        for r in self.rounds.values():
            if r.close_index is None:
                c8.note("round-open-now", round=r.number, ballots=len(r.ballots))

    def _round_key(self, c6: Check, index: int, r: RoundState) -> None:
        """§10: an encrypted round carries the recomputed election key, a sealed one its
        tally key."""
        r.encrypted = r.definition.get("ballots") == "encrypted"
        body, kind = r.body, "encrypted" if r.encrypted else "sealed"
        member = "election_public_key" if r.encrypted else "tally_public_key"
        if member not in body:
            other = "tally_public_key" if r.encrypted else "election_public_key"
            c6.fail(index, "round-key-kind", round=r.number, member=other, ballots=kind)
            return
        if not r.encrypted:
            return
        key = self.ceremony.election_key
        if key is None or self.ceremony.election_index is None:
            c6.fail(index, "round-key-missing", round=r.number)
        elif base64.b64decode(body[member]) != key:
            c6.fail(index, "round-key-differs", round=r.number)

    # -- check 9, encrypted rounds: every ballot's proofs -----------------------------------
    def _context(self, r: RoundState) -> RoundContext:
        d = r.definition
        return RoundContext(
            origin=self.key.name,
            round=r.number,
            candidates=tuple(r.candidates),
            n_grades=len(d["grades"]),
            subset_size=r.body["subset_size"],
            allow_blank=r.body["allow_blank"],
            missing_allowed=d["missing"] != "strict",
            # §10: ballots are encrypted under the round-open's key (check 6 compares it
            # with the ceremony's)
            election_key=base64.b64decode(r.body.get("election_public_key", "")),
        )

    def check_proofs(self) -> None:
        """Check the proofs of every ballot of each encrypted round (of this run's slice with
        --shard), grouped by credential so that a worker decides which ballot counts."""
        combined = None
        if self.parts is not None:  # `combine`: the parts must cover this very log
            if self.latest is None:
                raise PartError("the log has no readable checkpoint to match the parts against")
            latest = self.latest
            combined = combine(self.parts, self.key.name, latest.size, _b64(latest.root))
        for r in self.rounds.values():
            if not r.encrypted or "election_public_key" not in r.body:
                continue
            ctx = self._context(r)
            if combined is not None:
                r.proofs = combined.get(r.number) or RoundProofs(
                    r.number, ctx.size, present=[0] * len(ctx.candidates)
                )
                continue
            by_key: dict[str, list[tuple[int, bytes, bool]]] = {}
            for index in r.all_ballots:
                credential = self.parsed[index][3][2] or f"#{index}"
                if self.shard is not None and shard_of(credential, self.shard[1]) != self.shard[0]:
                    continue
                counted = index not in self.credentials.superseded
                by_key.setdefault(credential, []).append((index, self.log.entries[index], counted))
            groups = list(by_key.items())
            chunks = map_chunks(
                verify_groups,
                lambda part: (ctx, part),  # noqa: B023 - called before the loop moves on
                groups,
                workers=self.workers,
                chunk=200,
                progress=self._progress(f"proofs round {r.number}"),
                serial_below=64,
            )
            total = RoundProofs(r.number, ctx.size, present=[0] * len(ctx.candidates))
            for rp in chunks:
                total.merge(rp)
            r.proofs = total

    def part(self) -> Part:
        """This run's partial result (--shard): the proofs of its slice, and which log."""
        assert self.shard is not None and self.latest is not None
        rounds = {r.number: r.proofs for r in self.rounds.values() if r.proofs is not None}
        return Part(self.key.name, self.latest.size, _b64(self.latest.root), self.shard, rounds)

    def _open_encrypted(self, check: Check, r: RoundState) -> None:
        """§10 items 5–7: sums recomputed, decryption shares checked, counts combined."""
        proofs = r.proofs
        if proofs is None:
            if r.close_index is not None:
                check.note("sums-missing", round=r.number)
            return
        for index, code, detail in proofs.invalid:
            check.warn(index, "invalid-" + code, detail=detail)
        check.note("proofs-checked", round=r.number, checked=proofs.checked,
                   counted=proofs.counted, invalid=len(proofs.invalid))  # fmt: skip
        if self.shard is not None:
            return  # a slice: its sums are finished by `combine`
        if r.sums is None or r.sums_index is None:
            if r.close_index is not None:
                check.note("sums-missing", round=r.number)
            return
        ctx = self._context(r)
        if not check_sums(ctx, proofs, r.sums_index, r.sums, check):
            return
        r.opened = decrypt_round(
            ctx, proofs, r.sums, r.decryptions, self.ceremony, check, r.result is not None
        )

    # -- check 9 ---------------------------------------------------------------------------
    def check_opening(self) -> None:
        check = self.report.check(9)
        entries = self.log.entries
        opened_any = False
        for r in self.rounds.values():
            if r.encrypted:
                self._open_encrypted(check, r)
                opened_any = True
                continue
            if r.secret_key is None:
                if r.close_index is not None:
                    check.note("key-not-revealed", round=r.number)
                continue
            published = base64.b64decode(r.body["tally_public_key"])
            if public_key_of(r.secret_key) != published:
                check.fail(r.tally_index, "tally-key-mismatch", round=r.number)
                continue
            r.key_matches = True
            opened_any = True
            d = r.definition
            ids = r.candidates
            items = [(i, entries[i]) for i in r.ballots]
            sk, n_grades, blank_ok = r.secret_key, len(d["grades"]), r.body["allow_blank"]
            subset = r.body["subset_size"]
            chunks = map_chunks(
                open_chunk,
                lambda part: (sk, r.number, ids, n_grades, blank_ok, subset, part),  # noqa: B023
                items,
                workers=self.workers,
                chunk=2000,
                progress=self._progress(f"opening round {r.number}"),
            )
            profiles = [[0] * n_grades for _ in ids]
            valid = blank = 0
            invalid: list[tuple[int, str, str]] = []
            for ch in chunks:
                valid += ch["valid"]
                blank += ch["blank"]
                invalid.extend(ch["invalid"])
                for pos, prof in enumerate(ch["profiles"]):
                    profiles[pos] = [a + b for a, b in zip(profiles[pos], prof, strict=True)]
            for index, reason, detail in invalid:
                check.warn(index, "invalid-" + reason, detail=detail)
            r.opened = {
                "profiles": dict(zip(ids, profiles, strict=True)),
                "valid": valid,
                "blank": blank,
                "invalid": len(invalid),
            }
            check.note("opened", round=r.number, valid=valid, blank=blank, invalid=len(invalid))
        if not opened_any and not check.failure_count:
            check.note("nothing")

    # -- check 10 --------------------------------------------------------------------------
    def check_recount(self) -> None:
        check = self.report.check(10)
        rounds_summary: list[RoundSummary] = []
        checked = False
        for r in self.rounds.values():
            if r.result is None:
                continue
            if self.shard is not None and r.encrypted:
                check.note("shard-recount", round=r.number)
                continue
            checked = True
            res, idx, d = r.result, r.result_index, r.definition
            for name in ("rule", "missing", "upper_median", "default_grade"):
                if res[name] != d[name]:
                    check.fail(idx, "result-setting", name=name, stated=res[name], expected=d[name])
            tree = self.tree
            assert tree is not None and idx is not None and r.close_index is not None
            if not r.close_index < res["tree_size"] <= idx:
                check.fail(idx, "result-tree-size", size=res["tree_size"], close=r.close_index)
            elif tree.root(res["tree_size"]) != base64.b64decode(res["root"]):
                check.fail(idx, "result-root", size=res["tree_size"])
            if r.opened is None:
                worded = "cannot-recount-encrypted" if r.encrypted else "cannot-recount"
                check.fail(idx, "cannot-recount", round=r.number, _text=worded)
                continue
            opened = r.opened
            counts = {k: opened[k] for k in ("valid", "blank", "invalid")}
            for k, v in counts.items():
                if res["counts"][k] != v:
                    check.fail(idx, "count-differs", name=k, stated=res["counts"][k], recount=v)
            try:
                mine = tally_profiles(
                    len(d["grades"]),
                    opened["profiles"],
                    rule=d["rule"],
                    missing=d["missing"],
                    default_grade=d["default_grade"],
                    upper_median=d["upper_median"],
                    participants=opened["valid"],
                )
            except TallyError as exc:
                check.fail(idx, "tally-error", detail=str(exc))
                continue
            self._compare_result(check, idx, res, mine)
            rounds_summary.append(
                {
                    "round": r.number,
                    "turnout": r.turnout,
                    "valid": opened["valid"],
                    "blank": opened["blank"],
                    "invalid": opened["invalid"],
                    "ranking": [
                        {
                            "candidate": c,
                            "name": self.names.get(c, c),
                            "rank": mine["candidates"][c]["rank"],
                            "majority_grade": d["grades"][mine["candidates"][c]["majority_grade"]],
                        }
                        for c in mine["ranking"]
                    ],
                }
            )
        if not checked:
            check.note("nothing")
        self.report.summary["rounds"] = rounds_summary

    def _compare_result(self, check: Check, idx: int, res: dict[str, Any], mine: Result) -> None:
        theirs = res["candidates"]
        for c in sorted(set(theirs) - set(mine["candidates"])):
            check.fail(idx, "result-extra-candidate", candidate=c)
        for c, want in mine["candidates"].items():
            got = theirs.get(c)
            if got is None:
                check.fail(idx, "result-missing-candidate", candidate=c)
                continue
            for name in ("profile", "majority_grade", "rank"):
                if got[name] != want[name]:
                    check.fail(
                        idx,
                        "result-value",
                        candidate=c,
                        name=name,
                        stated=got[name],
                        recount=want[name],
                    )
        # §8 fixes the order: by rank, ties in code-point order of ids, groups in rank order.
        if res["ranking"] != mine["ranking"]:
            check.fail(
                idx,
                "result-ranking",
                stated=", ".join(res["ranking"]),
                recount=", ".join(mine["ranking"]),
            )
        if res["tie_groups"] != mine["tie_groups"]:
            check.fail(idx, "result-ties", stated=res["tie_groups"], recount=mine["tie_groups"])


def verify(log: LogData, key: VerifierKey, **options: Unpack[Options]) -> Report:
    """Run the checks on a loaded log against the pinned log key, as `options` say."""
    return Verification(log, key, **options).run()
