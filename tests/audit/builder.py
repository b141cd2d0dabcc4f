"""Builds honest (and deliberately broken) Scrutin logs for the verifier's tests.

Written from docs/audit-log.md, independently of the producer; it uses PyNaCl and the
verifier's own canonical JSON and Merkle code (tests may import audit, never the reverse).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from audit import merkle, timeline
from audit.canonical import encode
from audit.envelope import sign_message
from audit.note import checkpoint_body, key_id
from audit.recount import tally
from audit.sources import TILE_HEIGHT, TILE_WIDTH, tile_path

GRADES = ["À rejeter", "Insuffisant", "Passable", "Assez bien", "Bien", "Très bien", "Excellent"]
AUTO = "AUTO"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def vkey_string(name: str, verify_key: bytes) -> str:
    blob = b64(b"\x01" + verify_key)
    return f"{name}+{key_id(name, verify_key).hex()}+{blob}"


def sign_note(body: str, name: str, key: SigningKey) -> str:
    sig = key.sign(body.encode()).signature
    kid = key_id(name, bytes(key.verify_key))
    return f"{body}\n\u2014 {name} {b64(kid + sig)}\n"


def seal(public_key: bytes, plaintext: bytes) -> str:
    return b64(SealedBox(PublicKey(public_key)).encrypt(plaintext))


def ballot_plaintext(round_number: int, grades: dict[str, int], pad: str = "") -> bytes:
    return encode({"round": round_number, "grades": grades, "pad": pad})


def padded_plaintext(
    round_number: int,
    grades: dict[str, int],
    candidates: list[str],
    n_grades: int,
    *,
    pad_char: str = " ",
    extra: int = 0,
) -> bytes:
    """A §8 plaintext padded with spaces to the round's length (``pad_char``/``extra``: a
    dishonest pad, or ``extra`` bytes more (negative: fewer) than the round's length)."""
    size = len(ballot_plaintext(round_number, dict.fromkeys(candidates, n_grades - 1)))
    bare = len(ballot_plaintext(round_number, grades))
    return ballot_plaintext(round_number, grades, pad_char * max(0, size - bare + extra))


def pseudonym(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


@dataclass
class Spec:
    kind: str
    body: dict[str, Any]
    time: int
    signer: SigningKey | None = None  # None: the log key
    key_field: str | None = None  # overrides the envelope's "key"
    raw: bytes | None = None  # exact bytes, bypassing the envelope


@dataclass
class LogBuilder:
    host: str = "scrutin.localhost"
    slug: str = "demo"
    time: int = 1_767_225_600
    signing_key: SigningKey = field(default_factory=SigningKey.generate)
    primary: str = field(default_factory=lambda: str(uuid.uuid4()))
    specs: list[Spec] = field(default_factory=list)
    checkpoint_sizes: list[int] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"{self.host}/primaries/{self.slug}"

    @property
    def vkey(self) -> str:
        return vkey_string(self.origin, bytes(self.signing_key.verify_key))

    @property
    def key_id(self) -> str:
        return key_id(self.origin, bytes(self.signing_key.verify_key)).hex()

    def add(self, kind: str, body: dict[str, Any], **kw: Any) -> int:
        self.time += 7
        self.specs.append(Spec(kind, body, self.time, **kw))
        return len(self.specs) - 1

    def advance_to(self, moment: str) -> None:
        """Entries added from now on are dated from `moment` (ISO-8601 UTC) on, if later."""
        seconds = timeline.instant(moment)
        assert seconds is not None, moment
        self.time = max(self.time, seconds - 7)

    def mark_checkpoint(self) -> None:
        self.checkpoint_sizes.append(len(self.specs))

    # -- building ---------------------------------------------------------------------------
    def entry_bytes(self, spec: Spec) -> bytes:
        if spec.raw is not None:
            return spec.raw
        signer = spec.signer or self.signing_key
        env = {
            "v": 1,
            "origin": self.origin,
            "primary": self.primary,
            "kind": spec.kind,
            "time": spec.time,
            "body": spec.body,
            "key": spec.key_field or key_id(self.origin, bytes(signer.verify_key)).hex(),
        }
        sig = signer.sign(sign_message(spec.kind, encode(env))).signature
        return encode({**env, "sig": b64(sig)})

    def build(self) -> list[bytes]:
        entries: list[bytes] = []
        for i, spec in enumerate(self.specs):
            if spec.kind == "result" and spec.body.get("tree_size") == AUTO:
                spec = copy.deepcopy(spec)
                tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])
                spec.body["tree_size"] = i
                spec.body["root"] = b64(tree.root(i))
            entries.append(self.entry_bytes(spec))
        return entries

    def checkpoint(
        self, entries: list[bytes], size: int | None = None, key: SigningKey | None = None
    ) -> str:
        size = len(entries) if size is None else size
        root = (
            merkle.root_of_leaves([merkle.leaf_hash(e) for e in entries[:size]])
            if size < 64
            else merkle.Tree([merkle.leaf_hash(e) for e in entries]).root(size)
        )
        return sign_note(
            checkpoint_body(self.origin, size, root), self.origin, key or self.signing_key
        )

    def export(self) -> dict[str, Any]:
        entries = self.build()
        sizes = [s for s in self.checkpoint_sizes if s <= len(entries)] + [len(entries)]
        tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])
        cps = [
            sign_note(checkpoint_body(self.origin, s, tree.root(s)), self.origin, self.signing_key)
            for s in dict.fromkeys(sizes)
        ]
        return {
            "format": "scrutin-export/v1",
            "origin": self.origin,
            "primary": self.primary,
            "vkey": self.vkey,
            "entries": [b64(e) for e in entries],
            "checkpoints": cps,
        }

    def receipt(self, export: dict[str, Any], index: int) -> dict[str, Any]:
        entries = [base64.b64decode(e) for e in export["entries"]]
        tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])
        return {
            "format": "scrutin-receipt/v1",
            "origin": self.origin,
            "vkey": self.vkey,
            "index": index,
            "entry": b64(entries[index]),
            "tracker": merkle.leaf_hash(entries[index]).hex(),
            "inclusion_proof": [b64(h) for h in tree.inclusion_proof(index, len(entries))],
            "checkpoint": export["checkpoints"][-1],
        }


def write_json(path: str, doc: Any) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    return path


def write_tiles(directory: str, export: dict[str, Any]) -> str:
    """Lay out an export as the log/ URL tree: checkpoint, vkey, tile/…"""
    entries = [base64.b64decode(e) for e in export["entries"]]
    tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])

    def put(rel: str, data: bytes) -> None:
        path = os.path.join(directory, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)

    put("checkpoint", export["checkpoints"][-1].encode())
    put("vkey", export["vkey"].encode())
    size = len(entries)
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        chunk = entries[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
        put(
            tile_path("entries", n, len(chunk)),
            b"".join(len(e).to_bytes(2, "big") + e for e in chunk),
        )
    level = 0
    while level * TILE_HEIGHT < len(tree.levels):
        hashes = tree.levels[level * TILE_HEIGHT]
        for n in range((len(hashes) + TILE_WIDTH - 1) // TILE_WIDTH):
            chunk = hashes[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
            put(tile_path(level, n, len(chunk)), b"".join(chunk))
        level += 1
    return directory


@dataclass
class Scenario:
    builder: LogBuilder
    candidates: dict[str, str]  # id -> name
    tally_key: PrivateKey
    ballots: list[dict[str, int]]
    index: dict[str, int]  # named entry indices
    definition: dict[str, Any]

    @property
    def round_ids(self) -> list[str]:
        return list(self.candidates)[:3]


def definition_body(slug: str = "demo", **over: Any) -> dict[str, Any]:
    body = {
        "revision": 1,
        "title": "Primaire citoyenne",
        "slug": slug,
        "description": "Une primaire de démonstration",
        "threshold": 3,
        "support_cap": 2,
        "qualification": "threshold",
        "grades": GRADES,
        "rule": "majority-value",
        "missing": "worst-grade",
        "default_grade": 0,
        "upper_median": False,
        "subset_size": 0,
        "allow_blank": True,
        "eligibility": "email",
        "phases": [
            {"name": "candidacies", "start": "2026-01-01T00:00:00Z", "end": "2026-01-20T00:00:00Z"},
            {"name": "supports", "start": "2026-01-01T00:00:00Z", "end": "2026-01-31T00:00:00Z"},
            {"name": "round-1", "start": "2026-02-01T00:00:00Z", "end": "2026-02-08T00:00:00Z"},
        ],
    }
    body.update(over)
    return body


DEFAULT_BALLOTS: list[dict[str, int]] = [
    {"A": 6, "B": 3, "C": 1},
    {"A": 5, "B": 4, "C": 2},
    {"A": 2, "B": 5, "C": 0},
    {"A": 4, "B": 4, "C": 4},
    {},
    {"A": 3, "B": 6},
    {"A": 6, "B": 0, "C": 5},
]


def honest_primary(
    ballots: list[dict[str, int]] | None = None, *, result: bool = True, **definition: Any
) -> Scenario:
    """A complete primary: definition (2 revisions), 4 candidacies, supports, 3 qualified,
    round 1 with sealed ballots (one blank, one partial), close, tally key, result."""
    b = LogBuilder()
    ids = {letter: str(uuid.UUID(int=i + 1)) for i, letter in enumerate("ABCD")}
    names = {"A": "Alice Martin", "B": "Bruno Diallo", "C": "Chloé Nguyen", "D": "Denis Roy"}
    idx: dict[str, int] = {}
    d = definition_body(**definition)
    idx["definition"] = b.add("definition", d)
    d = {**d, "revision": 2, "description": "Révisée"}
    idx["definition2"] = b.add("definition", d)
    decl = {k: hashlib.sha256(f"déclaration {k}".encode()).hexdigest() for k in ids}
    for k, cid in ids.items():
        b.add(
            "candidacy",
            {
                "candidate": cid,
                "action": "submitted",
                "name": names[k],
                "declaration": decl[k],
                "reason": "",
            },
        )
        b.add(
            "candidacy",
            {
                "candidate": cid,
                "action": "published",
                "name": names[k],
                "declaration": decl[k],
                "reason": "",
            },
        )
    b.mark_checkpoint()
    supporters = [pseudonym(f"citoyen-{i}") for i in range(8)]
    plan = {
        "A": supporters[0:3],
        "B": supporters[3:6],
        "C": supporters[6:8] + supporters[0:1],
        "D": supporters[1:3],
    }
    for k in "ABCD":
        for s in plan[k]:
            idx.setdefault(f"support-{k}", b.add("support", {"candidate": ids[k], "supporter": s}))
    idx["withdrawal"] = b.add(
        "support-withdrawal", {"candidate": ids["D"], "supporter": supporters[2]}
    )
    for k in "ABC":
        idx[f"qualification-{k}"] = b.add(
            "qualification", {"candidate": ids[k], "supports": 3, "threshold": d["threshold"]}
        )
        b.add(
            "candidacy",
            {
                "candidate": ids[k],
                "action": "confirmed",
                "name": names[k],
                "declaration": decl[k],
                "reason": "",
            },
        )
    b.mark_checkpoint()
    sk = PrivateKey.generate()
    round_ids = [ids[k] for k in "ABC"]
    for phase in d["phases"]:
        if phase["name"] == "round-1":  # the round opens inside its phase (check 11)
            b.advance_to(phase["start"])
    idx["round-open"] = b.add(
        "round-open",
        {
            "round": 1,
            "candidates": [
                {"candidate": ids[k], "name": names[k], "declaration": decl[k]} for k in "ABC"
            ],
            "tally_public_key": b64(bytes(sk.public_key)),
            "subset_size": 0,
            "allow_blank": True,
        },
    )
    b.mark_checkpoint()
    ballots = DEFAULT_BALLOTS if ballots is None else ballots
    real = [{ids[k]: g for k, g in ballot.items()} for ballot in ballots]
    idx["first-ballot"] = len(b.specs)
    for ballot in real:
        b.add(
            "ballot",
            {
                "round": 1,
                "sealed": seal(
                    bytes(sk.public_key),
                    padded_plaintext(1, ballot, round_ids, len(d["grades"])),
                ),
            },
        )
    idx["last-ballot"] = len(b.specs) - 1
    b.mark_checkpoint()
    idx["round-close"] = b.add("round-close", {"round": 1, "turnout": len(real)})
    b.mark_checkpoint()
    if result:
        idx["tally-key"] = b.add("tally-key", {"round": 1, "tally_secret_key": b64(bytes(sk))})
        t = tally(
            d["grades"],
            round_ids,
            [x for x in real if x],
            rule=d["rule"],
            missing=d["missing"],
            default_grade=d["default_grade"],
            upper_median=d["upper_median"],
        )
        body = {
            "round": 1,
            "tree_size": AUTO,
            "root": AUTO,
            "rule": d["rule"],
            "missing": d["missing"],
            "upper_median": d["upper_median"],
            "default_grade": d["default_grade"],
            "counts": {
                "valid": sum(1 for x in real if x),
                "blank": sum(1 for x in real if not x),
                "invalid": 0,
            },
            **t,
        }
        idx["result"] = b.add("result", body)
    return Scenario(b, {ids[k]: names[k] for k in "ABCD"}, sk, real, idx, d)
