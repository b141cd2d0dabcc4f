"""A second verifier of Scrutin exports, written from the spec alone.

Sources: docs/audit-log.md (the format, §1–§10) and docs/majority-judgment.md (the rules). The
author did not read audit/, voting/, crypto/ or web/. Standard library and PyNaCl only.

`verify_export(export, vkey)` runs the §9 checks that an export allows (1, 2 and 4–13; check
3 needs a saved state), and for §10 encrypted primaries the key ceremony as check 14 (the
number scrutin-audit gives it; §10 names none) with the encrypted tally in checks 9 and 10
(the group, hashes and proofs are in encrypted.py), and returns a `StrangerReport`:
ok/failed (or unusable input, exit 2), each failure with the §9 check number, the entry
index when there is one, a reason, and the code where the spec names one; invalid ballots
are warnings of check 9 with §8's (or §10's) codes.
`verify_receipt(receipt, pinned, log)` runs the §9 receipt checks 1–4.

Where the spec is silent or ambiguous, the choice made here is marked "AMBIGUITY" in a comment;
those are findings to settle in the spec, not guesses from the code.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import itertools
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, SealedBox
from nacl.signing import VerifyKey

from . import encrypted as enc

MAX_INT = 2**53 - 1
EMPTY_ROOT = hashlib.sha256(b"").digest()


# -- report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    check: int
    index: int | None
    reason: str
    code: str = ""  # where the spec names one: §8's invalid-ballot codes, §9 check 6's


@dataclass
class StrangerReport:
    usable: bool = True
    unusable_reason: str = ""
    failures: list[Failure] = field(default_factory=list)
    warnings: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.usable and not self.failures

    @property
    def failed_checks(self) -> set[int]:
        return {f.check for f in self.failures}

    def fail(self, check: int, index: int | None, reason: str, code: str = "") -> None:
        self.failures.append(Failure(check, index, reason, code))

    def warn(self, check: int, index: int | None, reason: str, code: str = "") -> None:
        self.warnings.append(Failure(check, index, reason, code))


class Unusable(ValueError):
    """Input the verifier cannot use at all (§9: exit status 2)."""


class NotCanonical(ValueError):
    pass


# -- §2 canonical JSON ----------------------------------------------------------------------

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _encode_str(s: str) -> str:
    if any("\ud800" <= ch <= "\udfff" for ch in s):
        raise NotCanonical("a string holds a lone surrogate")
    if unicodedata.normalize("NFC", s) != s:
        raise NotCanonical("a string is not in Unicode NFC")
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _encode(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if not -MAX_INT <= v <= MAX_INT:
            raise NotCanonical(f"integer {v} outside ±(2^53-1)")
        return str(v)
    if isinstance(v, str):
        return _encode_str(v)
    if isinstance(v, list):
        return "[" + ",".join(_encode(x) for x in v) + "]"
    if isinstance(v, dict):
        for k in v:
            if not isinstance(k, str):
                raise NotCanonical("object key is not a string")
            _encode_str(k)
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code units
        return "{" + ",".join(_encode_str(k) + ":" + _encode(v[k]) for k in keys) + "}"
    raise NotCanonical(f"{type(v).__name__} is outside the canonical subset")


def jcs(value: Any) -> bytes:
    return _encode(value).encode("utf-8")


def parse_canonical(data: bytes) -> Any:
    """The value of canonical bytes; NotCanonical for anything else (§2)."""
    try:
        text = data.decode("utf-8")  # strict: rejects encoded surrogates and bad sequences
    except UnicodeDecodeError as exc:
        raise NotCanonical("invalid UTF-8") from exc

    def no_float(s: str) -> Any:
        raise NotCanonical(f"number {s} is not an integer")

    def no_constant(s: str) -> Any:
        raise NotCanonical(f"{s} is not JSON")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise NotCanonical("duplicate object key")
        return dict(items)

    try:
        value = json.loads(
            text, parse_float=no_float, parse_constant=no_constant, object_pairs_hook=pairs
        )
    except NotCanonical:
        raise
    except (ValueError, RecursionError) as exc:
        raise NotCanonical(f"not JSON: {exc}") from exc
    if jcs(value) != data:
        raise NotCanonical("bytes are not the JCS serialisation of their value")
    return value


# -- §3 base64 ------------------------------------------------------------------------------

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# §7: an `entries` item that is not even this is unusable input.
EXPORT_B64 = re.compile(r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def b64decode(s: Any, length: int | None = None) -> bytes:
    """Canonical standard base64 with padding (§3), optionally of `length` bytes."""
    if not isinstance(s, str) or not _B64.fullmatch(s):
        raise ValueError("not standard base64")
    try:
        raw = base64.b64decode(s, validate=True)
    except binascii.Error as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(raw).decode() != s:
        raise ValueError("not the canonical base64 spelling")
    if length is not None and len(raw) != length:
        raise ValueError(f"base64 of {len(raw)} bytes, expected {length}")
    return raw


# -- §4 Merkle tree -------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 tree hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), bottom first."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), tree_root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), tree_root(leaves[:k])]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 with the §4 edge rules."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False  # longer than the algorithm consumes
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# -- §5 keys, §6 notes ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogKey:
    name: str
    key_id: bytes
    public_key: bytes

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public_key).digest()[:4]


def parse_vkey(text: str) -> LogKey:
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise Unusable("a verifier key is <name>+<key ID>+<base64 key>")
    name, hex_id, b64 = parts
    if not name or any(ch.isspace() for ch in name):
        raise Unusable("the key name is empty or holds a space")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise Unusable("the key ID is not 8 lowercase hex digits")
    try:
        raw = b64decode(b64, 33)
    except ValueError as exc:
        raise Unusable(f"verifier key: {exc}") from exc
    if raw[0] != 1:
        raise Unusable("the verifier key is not of type Ed25519 (0x01)")
    if key_id(name, raw[1:]) != bytes.fromhex(hex_id):
        raise Unusable("the key ID does not match the name and key")
    return LogKey(name, bytes.fromhex(hex_id), raw[1:])


class NoteError(ValueError):
    pass


def open_checkpoint(note: Any, key: LogKey) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note signed by `key` (§6), else NoteError."""
    if not isinstance(note, str):
        raise NoteError("a checkpoint is not a string")
    if any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in note):
        raise NoteError("control character in the note")
    if not note.endswith("\n"):
        raise NoteError("the note does not end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("no empty line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block:
        raise NoteError("no signature line")
    lines = block[:-1].split("\n")
    if len(lines) > 100:
        raise NoteError("more than 100 signature lines")
    signed = False
    for line in lines:
        if not line.startswith("\u2014 "):
            raise NoteError("a signature line does not start with an em dash and a space")
        fields = line[2:].split(" ")
        if len(fields) != 2 or not fields[0]:
            raise NoteError("a signature line is not '— <name> <base64>'")
        try:
            raw = b64decode(fields[1])
        except ValueError as exc:
            raise NoteError(f"signature line: {exc}") from exc
        if len(raw) < 5:
            raise NoteError("a signature line is too short")
        if fields[0] == key.name and raw[:4] == key.key_id:
            try:
                if len(raw) != 68:
                    raise BadSignatureError("length")
                VerifyKey(key.public_key).verify(text.encode(), raw[4:])
            except (BadSignatureError, ValueError) as exc:
                raise NoteError("a signature by the log key does not verify") from exc
            signed = True
    if not signed:
        raise NoteError("no signature by the log key")
    body = text.split("\n")
    if len(body) != 4 or body[3] != "":
        raise NoteError("a checkpoint has exactly three lines (no extension lines)")
    origin, size, root = body[:3]
    if origin != key.name:
        raise NoteError(f"checkpoint origin {origin!r} is not the key name {key.name!r}")
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise NoteError("the tree size is not a decimal without leading zeros")
    try:
        root_hash = b64decode(root, 32)
    except ValueError as exc:
        raise NoteError(f"root hash: {exc}") from exc
    return origin, int(size), root_hash


# -- §3/§8 entry shapes (check 4) -----------------------------------------------------------

ENVELOPE = {"v", "origin", "primary", "kind", "time", "body", "key", "sig"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HEX64 = re.compile(r"[0-9a-f]{64}")
KIND = re.compile(r"[a-z][a-z0-9-]{0,63}")

RULES = {"majority-value", "majority-gauge", "mieux-voter", "typical", "central", "usual"}
MISSING = {"normalize", "worst-grade", "median", "strict"}
ACTIONS = {
    "submitted",
    "published",
    "rejected",
    "revised",
    "confirmed",
    "declined",
    "withdrawn",
    "excluded",
    "lapsed",  # §8 "Candidacy actions" (added with issue 11 item 8)
}
OUT_ACTIONS = {"rejected", "withdrawn", "excluded", "declined", "lapsed"}
# §9 check 6's codes for round 1's list of candidates.
UNCONFIRMED = "round-candidate-unconfirmed"
LEFT_OFF = "round-candidate-missing"
UNANSWERED = "qualified-unanswered"


class Shape(ValueError):
    pass


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is(t: Any, v: Any, where: str) -> None:
    """Check value `v` against the type spec `t`."""
    ok: bool
    if t == "int":
        ok = _int(v)
    elif t == "str":
        ok = isinstance(v, str)
    elif t == "bool":
        ok = isinstance(v, bool)
    elif t == "candidate":
        # §8 value rules: a lowercase UUID, never folded (was unstated: issue 11 item 5).
        ok = isinstance(v, str) and bool(UUID.fullmatch(v))
    elif t == "hex64":
        # §8 value rules: `declaration` and `supporter` are 64 lowercase hex digits.
        ok = isinstance(v, str) and bool(HEX64.fullmatch(v))
    elif t == "b64key":
        try:
            b64decode(v, 32)
            ok = True
        except ValueError:
            ok = False
    elif t == "b64sig":
        try:
            b64decode(v, 64)
            ok = True
        except ValueError:
            ok = False
    elif isinstance(t, tuple) and t[0] == "b64len":  # §10: points, proofs, ciphertexts
        try:
            b64decode(v, t[1])
            ok = True
        except ValueError:
            ok = False
    elif t == "b64":
        try:
            b64decode(v)
            ok = True
        except ValueError:
            ok = False
    elif isinstance(t, set):
        ok = isinstance(v, str) and v in t
    elif isinstance(t, tuple) and t[0] == "list":
        ok = isinstance(v, list)
        if ok:
            for i, x in enumerate(v):
                _is(t[1], x, f"{where}[{i}]")
    elif isinstance(t, tuple) and t[0] == "map":  # candidate → value
        ok = isinstance(v, dict)
        if ok:
            for k, x in v.items():
                _is(t[1], k, f"{where} key")
                _is(t[2], x, f"{where}.{k}")
    elif isinstance(t, dict):
        ok = isinstance(v, dict)
        if ok:
            _members(t, v, where)
    else:  # pragma: no cover
        raise AssertionError(t)
    if not ok:
        raise Shape(f"{where} has the wrong type or form")


def _members(spec: dict[str, Any], obj: dict[str, Any], where: str) -> None:
    required = {k for k in spec if not k.endswith("?")}
    optional = {k[:-1] for k in spec if k.endswith("?")}
    missing = required - set(obj)
    extra = set(obj) - required - optional
    if missing:
        raise Shape(f"{where} lacks {sorted(missing)}")
    if extra:
        raise Shape(f"{where} has unknown members {sorted(extra)}")
    for k, v in obj.items():
        _is(spec.get(k, spec.get(k + "?")), v, f"{where}.{k}")


BODIES: dict[str, dict[str, Any]] = {
    "definition": {
        "revision": "int",
        "title": "str",
        "slug": "str",
        "description": "str",
        "threshold": "int",
        "support_cap": "int",
        "qualification": {"threshold", "phase-end"},
        "grades": ("list", "str"),
        "rule": RULES,
        "missing": MISSING,
        "default_grade": "int",
        "upper_median": "bool",
        "subset_size": "int",
        "allow_blank": "bool",
        "eligibility": {"email", "allow-list", "approval"},
        "refuse_disposable?": "bool",
        # Check 12 (witness quorum, C2SP tlog-policy) is not implemented by the stranger.
        "witness_policy?": "str",
        "credentials?": {"server", "voter"},
        # §8: grade labels in other languages, a language code → one label per grade.
        "grade_labels?": ("map", "str", ("list", "str")),
        "phases": ("list", {"name": "str", "start": "str", "end": "str"}),
        # §10 "Definition members".
        "ballots?": {"sealed", "encrypted"},
        "trustees?": "int",
        "trustee_threshold?": "int",
    },
    "candidacy": {
        "candidate": "candidate",
        "action": ACTIONS,
        "name": "str",
        "declaration": "hex64",
        "reason": "str",
    },
    "support": {
        "candidate": "candidate",
        "supporter": "hex64",
        "credential?": "b64key",
        "credential_sig?": "b64sig",
    },
    "credential": {
        "credential": "b64key",
        "citizen": "hex64",
        "assisted": "bool",
        "replaces?": "b64key",
    },
    "roll": {"round": "int", "count": "int", "assisted": "int", "digest": "hex64"},
    "support-withdrawal": {"candidate": "candidate", "supporter": "hex64"},
    "qualification": {"candidate": "candidate", "supports": "int", "threshold": "int"},
    "allow-list": {
        "emails": "int",
        "numbers": "int",
        "added": "int",
        "removed": "int",
        "digest": "hex64",
    },
    # §8 "Approvals": the citizen's commitment, the decision, the approved count after it.
    "approval": {
        "citizen": "hex64",
        "decision": {"approved", "refused", "removed"},
        "approved": "int",
    },
    "round-open": {
        "round": "int",
        "candidates": ("list", {"candidate": "candidate", "name": "str", "declaration": "hex64"}),
        # §10: an encrypted primary's round-open carries `election_public_key` instead.
        "tally_public_key?": "b64key",
        "election_public_key?": "b64key",
        "subset_size": "int",
        "allow_blank": "bool",
    },
    "ballot": {
        "round": "int",
        # §10: under `ballots: "encrypted"`, `encrypted` and no `sealed`.
        "sealed?": "b64",
        "encrypted?": "b64",
        "credential?": "b64key",
        "credential_sig?": "b64sig",
    },
    "round-close": {"round": "int", "turnout": "int"},
    "tally-key": {"round": "int", "tally_secret_key": "b64key"},
    "result": {
        "round": "int",
        "tree_size": "int",
        "root": "b64key",
        "rule": RULES,
        "missing": MISSING,
        "upper_median": "bool",
        "default_grade": "int",
        "counts": {"valid": "int", "blank": "int", "invalid": "int"},
        "candidates": (
            "map",
            "candidate",
            {"profile": ("list", "int"), "majority_grade": "int", "rank": "int"},
        ),
        "ranking": ("list", "candidate"),
        "tie_groups": ("list", ("list", "candidate")),
    },
    # §10 "Key ceremony" and "Encrypted tally".
    "trustee": {"index": "int", "name": "str", "signing_key": "b64key", "box_key": "b64key"},
    "trustee-keygen": {
        "index": "int",
        "commitments": ("list", "b64key"),
        "pok": "b64sig",
        "shares": ("list", {"box": "b64", "to": "int"}),
        "attempt?": "int",  # §10 "The `attempt` member"
        "trustee_sig": "b64sig",
    },
    "trustee-ack": {
        "index": "int",
        "complaints": ("list", "int"),
        "attempt?": "int",
        "trustee_sig": "b64sig",
    },
    # §10 item 5; §9 check 4: its values beyond the types are check 14's.
    "ceremony-restart": {"attempt": "int", "replaced": ("list", "int"), "reason": "str"},
    "election-key": {
        "public_key": "b64key",
        "verification_keys": ("list", "b64key"),
        "trustees": "int",
        "threshold": "int",
    },
    "tally-sums": {
        "round": "int",
        "ballots": "int",
        "sums": ("map", "candidate", ("list", ("b64len", 64))),
        "blank?": ("b64len", 64),
    },
    "trustee-decryption": {
        "round": "int",
        "index": "int",
        "shares": ("map", "candidate", ("list", ("b64len", 96))),
        "blank?": ("b64len", 96),
        "trustee_sig": "b64sig",
    },
}


def parse_entry(data: bytes, origin: str, primary: str) -> dict[str, Any]:
    """The envelope of an entry that passes check 4, else Shape/NotCanonical."""
    env = parse_canonical(data)
    if not isinstance(env, dict):
        raise Shape("an entry is a JSON object")
    if set(env) != ENVELOPE:
        raise Shape(f"envelope members are {sorted(env)}, not exactly {sorted(ENVELOPE)}")
    if not _int(env["v"]) or env["v"] != 1:
        raise Shape("v is not 1")
    if env["origin"] != origin:
        raise Shape("origin is not the log's origin")
    if not isinstance(env["primary"], str) or not UUID.fullmatch(env["primary"]):
        raise Shape("primary is not a lowercase UUID")
    if env["primary"] != primary:
        raise Shape("primary is not the log's primary id")
    if not isinstance(env["kind"], str) or not KIND.fullmatch(env["kind"]):
        raise Shape("kind is malformed")
    if env["kind"] not in BODIES:
        raise Shape(f"unknown kind {env['kind']!r}")
    if not _int(env["time"]) or env["time"] < 0:
        raise Shape("time is not a non-negative integer")
    if not isinstance(env["key"], str) or not re.fullmatch(r"[0-9a-f]{8}", env["key"]):
        raise Shape("key is not 8 lowercase hex digits")
    try:
        b64decode(env["sig"], 64)
    except ValueError as exc:
        raise Shape(f"sig: {exc}") from exc
    if not isinstance(env["body"], dict):
        raise Shape("body is not an object")
    _members(BODIES[env["kind"]], env["body"], "body")
    _value_rules(env["kind"], env["body"])
    return env


def _value_rules(kind: str, body: dict[str, Any]) -> None:
    """§8 "Value rules" (the types and id spellings are checked with the members)."""

    def ints(v: Any) -> list[int]:
        if _int(v):
            return [v]
        if isinstance(v, list):
            return [x for item in v for x in ints(item)]
        if isinstance(v, dict):
            return [x for item in v.values() for x in ints(item)]
        return []

    if any(x < 0 for x in ints(body)):
        raise Shape("an integer of the body is negative")
    if kind == "definition":
        if len(body["grades"]) < 2:
            raise Shape("the grade scale has fewer than two grades")
        if not 0 <= body["default_grade"] < len(body["grades"]):
            raise Shape("default_grade is not on the scale")
        for lang, labels in body.get("grade_labels", {}).items():
            # §8 value rules: a 2- or 3-letter lowercase code, one label per grade.
            if not re.fullmatch(r"[a-z]{2,3}", lang):
                raise Shape(f"grade_labels names {lang!r}, not a language code")
            if len(labels) != len(body["grades"]):
                raise Shape(f"grade_labels.{lang} has not one label per grade")
    if kind == "round-open" and not body["candidates"]:
        raise Shape("a round opens with no candidate")
    # §10 "Definition members": "These are value rules of check 4"; §9 check 4 lists them
    # with the round-open's and the ballot's "exactly one of" (settled AMBIGUITY).
    if kind == "definition":
        encrypted = body.get("ballots") == "encrypted"
        if encrypted != ("trustees" in body) or encrypted != ("trustee_threshold" in body):
            raise Shape("trustees and trustee_threshold are present exactly when encrypted")
        if encrypted and not 1 <= body["trustee_threshold"] <= body["trustees"] <= 20:
            raise Shape("not 1 ≤ trustee_threshold ≤ trustees ≤ 20")
        if encrypted and body.get("credentials") != "voter":
            raise Shape('`ballots: "encrypted"` requires `credentials: "voter"`')
    if kind == "round-open" and ("tally_public_key" in body) == ("election_public_key" in body):
        raise Shape("a round-open carries exactly one of tally_public_key, election_public_key")
    if kind == "ballot" and ("sealed" in body) == ("encrypted" in body):
        raise Shape("a ballot carries exactly one of sealed, encrypted")


def signed_message(env: dict[str, Any]) -> bytes:
    rest = {k: v for k, v in env.items() if k != "sig"}
    return b"scrutin-entry/v1\x00" + env["kind"].encode("ascii") + b"\x00" + jcs(rest)


# -- majority judgment (§9 "How the recount reads §8") -------------------------------------


class StrictRefused(ValueError):
    pass


def _median_grade(counts: list[int], upper: bool) -> int:
    n = sum(counts)
    pos = n // 2 if upper else (n - 1) // 2
    seen = 0
    for g, c in enumerate(counts):
        seen += c
        if seen > pos:
            return g
    raise ValueError("no judgment")


def balance(
    profiles: dict[str, list[int]], participants: int, missing: str, default: int, upper: bool
) -> dict[str, list[int]]:
    """Profiles after the missing-judgment policy, all with the same total."""
    out: dict[str, list[int]] = {}
    if missing == "strict":
        for c, p in profiles.items():
            if sum(p) != participants:
                raise StrictRefused(f"candidate {c} has {sum(p)} judgments of {participants}")
        return {c: list(p) for c, p in profiles.items()}
    if missing == "normalize":
        totals = [sum(p) for p in profiles.values() if sum(p)]
        lcm = math.lcm(*totals) if totals else 1
        # With no participant, §9's "No participant" bullet fixes the outcome whatever L is
        # (every profile all zeros): L = 1 here (settled AMBIGUITY).
        for c, p in profiles.items():
            n = sum(p)
            if n:
                out[c] = [x * (lcm // n) for x in p]
            else:
                out[c] = [lcm if g == default else 0 for g in range(len(p))]
        return out
    for c, p in profiles.items():
        q = list(p)
        gap = participants - sum(p)
        if missing == "worst-grade":
            q[default] += gap
        else:  # median
            # §9: "the lower or upper median as `upper_median` says" (settled AMBIGUITY).
            g = _median_grade(p, upper) if sum(p) else default
            q[g] += gap
        out[c] = q
    return out


def _mv_sequence(counts: list[int], upper: bool) -> tuple[int, ...]:
    c = list(counts)
    seq = []
    for _ in range(sum(counts)):
        g = _median_grade(c, upper)
        seq.append(g)
        c[g] -= 1
    return tuple(seq)


def _mieux_voter(counts: list[int], upper: bool) -> tuple[tuple[int, int], ...]:
    c = list(counts)
    n = sum(c)
    seq = []
    while True:
        a = _median_grade(c, upper)
        above, below = sum(c[a + 1 :]), sum(c[:a])
        if above == below == 0:
            seq.append((a, n))
            return tuple(seq)
        # §9: up when above > below, or on a tie with the upper median (to the supporters).
        if above > below or (above == below and upper):
            seq.append((a, n + above))
            target = next(g for g in range(a + 1, len(c)) if c[g])
        else:
            seq.append((a, n - below))
            target = next(g for g in range(a - 1, -1, -1) if c[g])
        c[target] += c[a]
        c[a] = 0


def rule_key(counts: list[int], rule: str, upper: bool) -> Any:
    """A sort key, larger is better, for profiles that all have the same total."""
    n = sum(counts)
    a = _median_grade(counts, upper)
    above, below = sum(counts[a + 1 :]), sum(counts[:a])
    if rule == "majority-value":
        return _mv_sequence(counts, upper)
    if rule == "majority-gauge":
        return (a, 1, above) if above > below else (a, 0, -below)
    if rule == "mieux-voter":
        return _mieux_voter(counts, upper)
    if rule == "typical":
        return (a, Fraction(above - below, n))
    if rule == "central":
        return (a, Fraction(above - below, 2 * (above + below)) if above + below else Fraction(0))
    if rule == "usual":
        return (a, Fraction(above - below, 2 * (n - above - below)))
    raise ValueError(rule)


def recount(
    ballots: list[dict[str, int]],
    candidates: list[str],
    n_grades: int,
    rule: str,
    missing: str,
    default: int,
    upper: bool,
) -> dict[str, Any]:
    """The tally of valid non-blank ballots' grades: the result body's recounted members."""
    profiles = {c: [0] * n_grades for c in candidates}
    for b in ballots:
        for c, g in b.items():
            profiles[c][g] += 1
    return recount_profiles(
        profiles, len(ballots), candidates, n_grades, rule, missing, default, upper
    )


def recount_profiles(
    profiles: dict[str, list[int]],
    participants: int,
    candidates: list[str],
    n_grades: int,
    rule: str,
    missing: str,
    default: int,
    upper: bool,
) -> dict[str, Any]:
    """The recount from merit profiles (judgments received) and the number of participants
    (valid non-blank ballots): what §10's decrypted sums give, and what §8's ballots add to."""
    balanced = balance(profiles, participants, missing, default, upper)
    if all(sum(p) == 0 for p in balanced.values()):
        # §9 "No participant": every candidate's majority grade is default_grade, all tie
        # at rank 1 (settled AMBIGUITY).
        keys = {c: 0 for c in candidates}
        grades = {c: default for c in candidates}
    else:
        keys = {c: rule_key(p, rule, upper) for c, p in balanced.items()}
        grades = {c: _median_grade(p, upper) for c, p in balanced.items()}
    rank = {c: 1 + sum(1 for d in candidates if keys[d] > keys[c]) for c in candidates}
    ranking = sorted(candidates, key=lambda c: (rank[c], c))
    groups: dict[int, list[str]] = {}
    for c in ranking:
        groups.setdefault(rank[c], []).append(c)
    return {
        "candidates": {
            c: {"profile": profiles[c], "majority_grade": grades[c], "rank": rank[c]}
            for c in candidates
        },
        "ranking": ranking,
        "tie_groups": [g for _, g in sorted(groups.items()) if len(g) >= 2],
    }


# -- §8 sealed ballots (check 9) ------------------------------------------------------------


def ballot_length(round_no: int, candidates: list[str], n_grades: int) -> int:
    full = {"round": round_no, "grades": {c: n_grades - 1 for c in candidates}, "pad": ""}
    return len(jcs(full))


def open_ballot(
    box: SealedBox,
    sealed: str,
    round_no: int,
    candidates: list[str],
    n_grades: int,
    allow_blank: bool,
    subset_size: int = 0,
) -> tuple[dict[str, int] | None, str]:
    """(grades, "") for a valid ballot, (None, §8 reason code) for an invalid one."""
    try:
        plain = box.decrypt(b64decode(sealed))
    except (CryptoError, ValueError):
        return None, "does-not-open"
    return classify(plain, round_no, candidates, n_grades, allow_blank, subset_size)


def classify(
    plain: bytes,
    round_no: int,
    candidates: list[str],
    n_grades: int,
    allow_blank: bool,
    subset_size: int = 0,
) -> tuple[dict[str, int] | None, str]:
    """§8's list of invalid ballots, in its order, for an opened plaintext: (grades, "") or
    (None, the code §8 gives the first case that applies)."""
    try:
        value = parse_canonical(plain)
    except NotCanonical:
        return None, "not-canonical"
    if not isinstance(value, dict) or set(value) != {"round", "grades", "pad"}:
        return None, "bad-shape"
    grades, pad = value["grades"], value["pad"]
    if not _int(value["round"]) or not isinstance(grades, dict) or not isinstance(pad, str):
        return None, "bad-shape"
    if value["round"] != round_no:
        return None, "wrong-round"
    if any(c not in candidates for c in grades):
        return None, "unknown-candidate"
    if any(not _int(g) or not 0 <= g < n_grades for g in grades.values()):
        return None, "grade-out-of-range"
    if pad.strip(" "):
        return None, "pad-not-spaces"
    if len(plain) != ballot_length(round_no, candidates, n_grades):
        return None, "wrong-length"
    if not grades and not allow_blank:
        return None, "blank-not-allowed"
    if subset_size != 0 and len(grades) > subset_size:
        return None, "too-many-graded"
    return grades, ""


# -- the checks -----------------------------------------------------------------------------


@dataclass
class Round:
    number: int
    open_index: int
    candidates: list[str]
    public_key: str
    allow_blank: bool
    definition: dict[str, Any]
    subset_size: int = 0
    ballots: list[tuple[int, str]] = field(default_factory=list)
    credentials: dict[int, str | None] = field(default_factory=dict)  # ballot index → key
    voter: bool = False  # credentials: voter — only the last ballot of a credential counts
    close_index: int | None = None
    key_index: int | None = None
    secret: bytes | None = None
    results: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    encrypted: bool = False  # §10: `election_public_key`, encrypted ballots, trustees decrypt
    sums: tuple[int, dict[str, Any]] | None = None
    decryptions: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def counted(self) -> list[tuple[int, str]]:
        """The ballots that count: all, or under `credentials: voter` the last of each
        credential in log order (§8 "Revoting")."""
        if not self.voter:
            return self.ballots
        last = {self.credentials[i]: (i, sealed) for i, sealed in self.ballots}
        return sorted(last.values())


def verify_export(export: dict[str, Any], vkey: str) -> StrangerReport:
    report = StrangerReport()
    try:
        _verify(export, vkey, report)
    except Unusable as exc:
        report.usable = False
        report.unusable_reason = str(exc)
    return report


def _verify(export: Any, vkey: str, report: StrangerReport) -> None:
    key = parse_vkey(vkey.strip("\n") if isinstance(vkey, str) else "")
    if not isinstance(export, dict) or export.get("format") != "scrutin-export/v1":
        raise Unusable("not a scrutin-export/v1 object")
    for member, typ in (
        ("origin", str),
        ("primary", str),
        ("vkey", str),
        ("entries", list),
        ("checkpoints", list),
    ):
        if not isinstance(export.get(member), typ):
            raise Unusable(f"export member {member!r} is missing or of the wrong type")
    origin, primary = export["origin"], export["primary"]

    # §7 "Reading an export": what makes it unusable input.
    if not all(isinstance(note, str) for note in export["checkpoints"]):
        raise Unusable("a member of checkpoints is not a string")
    for i, text in enumerate(export["entries"]):
        if not isinstance(text, str) or not EXPORT_B64.fullmatch(text):
            raise Unusable(f"export entry {i} is not base64")

    # Check 1: checkpoints and the key the export names.
    try:
        named = parse_vkey(export["vkey"])
    except Unusable:
        named = None
    if named != key:
        report.fail(1, None, "the export names another key than the pinned one")
    if origin != key.name:
        report.fail(1, None, "the export's origin is not the pinned key's name")
    checkpoints: list[tuple[int, int, bytes]] = []  # (position, size, root)
    for pos, note in enumerate(export["checkpoints"]):
        try:
            _, size, root = open_checkpoint(note, key)
            checkpoints.append((pos, size, root))
        except NoteError as exc:
            report.fail(1, None, f"checkpoint {pos}: {exc}")
    if not export["checkpoints"]:
        # §7: an empty list fails checks 1 and 2.
        report.fail(1, None, "the export has no checkpoint")
        report.fail(2, None, "no checkpoint covers the entries")

    # Entries' bytes; a non-canonical spelling fails check 4 (§7), its bytes are the leaf.
    raw = [base64.b64decode(text) for text in export["entries"]]
    respelled = {
        i for i, text in enumerate(export["entries"]) if base64.b64encode(raw[i]).decode() != text
    }
    leaves = [leaf_hash(e) for e in raw]

    # Check 2: completeness.
    last_size = -1
    for pos, size, root in checkpoints:
        if size < last_size:
            report.fail(2, None, f"checkpoint {pos}: size {size} after size {last_size}")
        last_size = max(last_size, size)
        if size > len(raw):
            report.fail(2, None, f"checkpoint {pos}: size {size} > {len(raw)} entries")
        elif tree_root(leaves[:size]) != root:
            report.fail(2, None, f"checkpoint {pos}: root differs from the first {size} entries")
    if checkpoints and checkpoints[-1][0] == len(export["checkpoints"]) - 1:
        if checkpoints[-1][1] != len(raw):
            report.fail(2, None, "the latest checkpoint does not cover every entry")

    # Check 4: entries; check 5: signatures.
    entries: list[tuple[int, dict[str, Any]]] = []
    vk = VerifyKey(key.public_key)
    for i, data in enumerate(raw):
        if len(data) > 65535:
            report.fail(4, i, f"entry of {len(data)} bytes > 65,535")
            continue
        try:
            env = parse_entry(data, origin, primary)
        except (NotCanonical, Shape) as exc:
            report.fail(4, i, str(exc))
            continue
        if i in respelled:
            report.fail(4, i, "its base64 in the export is not the canonical spelling")
        else:
            entries.append((i, env))
        if env["key"] != key.key_id_hex:
            report.fail(5, i, "key is not the log key's ID")
            continue
        try:
            vk.verify(signed_message(env), base64.b64decode(env["sig"]))
        except BadSignatureError:
            report.fail(5, i, "signature does not verify")

    ceremony = _ceremony(entries, origin, report)
    _replay(entries, origin, leaves, report, ceremony)
    _timeline(entries, report)
    _witnesses(entries, export["checkpoints"], key, report)
    _credentials(entries, origin, report)


def _replay(
    entries: list[tuple[int, dict[str, Any]]],
    origin: str,
    leaves: list[bytes],
    report: StrangerReport,
    ceremony: Ceremony | None = None,
) -> None:
    """Checks 6 to 10 on the entries that passed check 4."""
    ceremony = ceremony or Ceremony()
    if not leaves:
        return  # nothing to check
    if not entries or entries[0][0] != 0 or entries[0][1]["kind"] != "definition":
        report.fail(6, 0, "entry 0 is not the definition")
        return
    slug = origin.rsplit("/", 1)[-1]  # §9 check 6: the last `/` segment of the origin
    defs: list[dict[str, Any]] = []
    cands: dict[str, dict[str, Any]] = {}
    active: set[tuple[str, str]] = set()
    per_supporter: dict[str, int] = {}
    rounds: dict[int, Round] = {}
    open_round: int | None = None
    last_opened = 0
    sealed_seen: set[str] = set()

    for i, env in entries:
        kind, body = env["kind"], env["body"]
        if kind == "definition":
            want = len(defs) + 1
            if body["revision"] != want:
                report.fail(6, i, f"definition revision {body['revision']}, expected {want}")
            if last_opened:
                report.fail(6, i, "definition revision after the first round-open")
            if body["slug"] != slug:
                report.fail(6, i, f"definition slug {body['slug']!r} is not the origin's")
            defs.append(body)
            continue
        d = defs[-1]
        if kind == "candidacy":
            c = cands.get(body["candidate"])
            if c is None:
                if body["action"] != "submitted":
                    report.fail(6, i, "a candidacy starts with 'submitted'")
                c = cands[body["candidate"]] = {"actions": [], "out": False, "qualified": False}
            elif body["action"] == "submitted":
                report.fail(6, i, "a candidate is submitted a second time")
            if c["out"]:
                # §8/§9 check 6: a closed candidacy stays closed; nothing may follow.
                report.fail(6, i, "an action after the candidacy was closed", "candidacy-closed")
                continue
            c["actions"].append(body["action"])
            c["out"] = body["action"] in OUT_ACTIONS
        elif kind in ("support", "support-withdrawal"):
            cid, who = body["candidate"], body["supporter"]
            c = cands.get(cid)
            pair = (who, cid)
            if c is None:
                report.fail(7, i, "support for an unknown candidate")
            elif c["qualified"]:
                report.fail(7, i, "support change after the candidate's qualification")
            elif last_opened:
                report.fail(7, i, "support change after round 1 opened")
            elif kind == "support":
                cap = d["support_cap"]
                if pair in active:
                    report.fail(7, i, "duplicate support")
                elif cap and per_supporter.get(who, 0) >= cap:
                    report.fail(7, i, f"more than {cap} active supports")
                else:
                    active.add(pair)
                    per_supporter[who] = per_supporter.get(who, 0) + 1
            elif pair not in active:
                report.fail(7, i, "withdrawal of a support that is not active")
            else:
                active.remove(pair)
                per_supporter[who] -= 1
        elif kind == "qualification":
            cid = body["candidate"]
            if last_opened:
                report.fail(6, i, "qualification after round 1 opened")
            c = cands.get(cid)
            n = sum(1 for _, x in active if x == cid)
            if c is None:
                report.fail(7, i, "qualification of an unknown candidate")
            elif c["qualified"]:
                report.fail(7, i, "second qualification of a candidate")
            if body["threshold"] != d["threshold"]:
                report.fail(7, i, "qualification states another threshold than the definition")
            if body["supports"] != n:
                report.fail(7, i, f"qualification states {body['supports']} supports, recount {n}")
            if n < d["threshold"]:
                report.fail(7, i, f"{n} supports is below the threshold {d['threshold']}")
            if c is not None:
                c["qualified"] = True
        elif kind == "round-open":
            r = body["round"]
            ids = [x["candidate"] for x in body["candidates"]]
            if r != last_opened + 1:
                report.fail(6, i, f"round {r} opens after round {last_opened}")
            elif r >= 2 and not rounds[r - 1].results:
                report.fail(6, i, f"round {r} opens before the result of round {r - 1}")
            if open_round is not None:
                report.fail(6, i, f"round {r} opens while round {open_round} is open")
            if len(set(ids)) != len(ids):
                report.fail(6, i, "duplicate candidate in the round")
            for cid in ids:
                c = cands.get(cid)
                if c is None or c["out"]:
                    report.fail(6, i, f"candidate {cid} is not a live candidacy")
                elif r == 1 and not c["qualified"]:
                    report.fail(6, i, f"candidate {cid} did not qualify")
                elif r == 1 and c["actions"][-1] != "confirmed":
                    report.fail(6, i, f"candidate {cid} qualified but did not confirm", UNCONFIRMED)
                elif r >= 2 and (r - 1 not in rounds or cid not in rounds[r - 1].candidates):
                    report.fail(6, i, f"candidate {cid} was not on round {r - 1}")
            if r == 1:
                # Round 1 lists exactly the confirmed qualified candidates, and the log says
                # why every other qualified candidate is absent.
                for cid, c in cands.items():
                    if not c["qualified"] or cid in ids:
                        continue
                    latest = c["actions"][-1]
                    if latest == "confirmed":
                        report.fail(6, i, f"confirmed qualified candidate {cid} left off", LEFT_OFF)
                    elif latest not in OUT_ACTIONS:
                        report.fail(6, i, f"qualified candidate {cid}: no answer", UNANSWERED)
            if body["subset_size"] != d["subset_size"]:
                report.fail(6, i, "subset_size differs from the definition's")
            if body["allow_blank"] != d["allow_blank"]:
                report.fail(6, i, "allow_blank differs from the definition's")
            encrypted = "election_public_key" in body
            if encrypted != (d.get("ballots") == "encrypted"):
                # §9 check 6: "the other member fails: `round-key-kind`" (settled AMBIGUITY).
                report.fail(6, i, "the round's key does not match the definition's `ballots`")
            if encrypted and body["election_public_key"] != ceremony.election_key:
                report.fail(6, i, "election_public_key is not the election-key's public_key")
            if r not in rounds:
                pk = body.get("tally_public_key") or body["election_public_key"]
                rounds[r] = Round(r, i, ids, pk, body["allow_blank"], d)
                rounds[r].encrypted = encrypted
                rounds[r].subset_size = body["subset_size"]
                rounds[r].voter = d.get("credentials") == "voter"
            last_opened = max(last_opened, r)
            open_round = r
        elif kind == "ballot":
            r = body["round"]
            # §9 check 8: "the same `sealed` string, nor the same `encrypted` string"
            # (settled AMBIGUITY).
            sealed = body.get("sealed") or body["encrypted"]
            if r != open_round:
                report.fail(8, i, f"ballot for round {r}, which is not open")
            elif ("encrypted" in body) != rounds[r].encrypted:
                # §9 check 8: "a ballot of the other type than its round ... fails
                # (`ballot-kind`) and is no ballot of the round" (settled AMBIGUITY).
                report.fail(8, i, "a ballot of the other kind than its round's")
            elif sealed in sealed_seen:
                report.fail(8, i, "a second ballot with the same sealed string")
            else:
                rounds[r].ballots.append((i, sealed))
                rounds[r].credentials[i] = body.get("credential")
            sealed_seen.add(sealed)
        elif kind == "round-close":
            r = body["round"]
            if r != open_round:
                report.fail(6, i, f"round-close of round {r}, which is not open")
                continue
            rd = rounds[r]
            rd.close_index = i
            open_round = None
            voters = len(rd.counted())
            if body["turnout"] != voters:
                report.fail(8, i, f"turnout {body['turnout']}, ballots {voters}")
        elif kind == "tally-key":
            r = body["round"]
            rd = rounds.get(r)
            if rd is None or rd.close_index is None:
                report.fail(6, i, f"tally key of round {r} before its closing")
                continue
            if rd.key_index is not None:
                report.fail(6, i, f"second tally key of round {r}")
                continue
            if rd.encrypted:
                report.fail(6, i, "a tally key in an encrypted round (§10: never written)")
                continue
            rd.key_index = i
            sk = base64.b64decode(body["tally_secret_key"])
            if bytes(PrivateKey(sk).public_key) != base64.b64decode(rd.public_key):
                report.fail(9, i, "the tally secret key is not the round's public key's")
            else:
                rd.secret = sk
        elif kind == "result":
            r = body["round"]
            rd = rounds.get(r)
            # §9 check 6: "the `result` follows the round's `tally-sums`, once"; not
            # required to follow k decryptions (settled AMBIGUITY).
            if rd is not None and rd.encrypted and rd.sums is None:
                report.fail(6, i, f"result of round {r} before its tally-sums")
                continue
            if rd is None or (not rd.encrypted and rd.key_index is None):
                report.fail(6, i, f"result of round {r} before its tally key")
                continue
            if rd.results:
                report.fail(6, i, f"second result of round {r}")
            rd.results.append((i, body))
        elif kind == "tally-sums":
            rd = rounds.get(body["round"])
            if rd is None or rd.close_index is None or not rd.encrypted:
                report.fail(6, i, f"tally-sums of round {body['round']} before its closing")
            elif rd.sums is not None:
                report.fail(6, i, f"second tally-sums of round {body['round']}")
            else:
                rd.sums = (i, body)
        elif kind == "trustee-decryption":
            rd = rounds.get(body["round"])
            if rd is None or rd.sums is None:
                report.fail(6, i, f"decryption of round {body['round']} before its tally-sums")
            elif rd.results:
                # §9 check 6 and §10 item 6: "a decryption after the result fails here and
                # is not combined" (settled AMBIGUITY).
                report.fail(6, i, f"decryption of round {body['round']} after its result")
            else:
                # A second decryption by one trustee fails check 9 (below), and still takes
                # its place among "the first k" entries, as scrutin-audit reads it.
                rd.decryptions.append((i, body))

    for rd in rounds.values():
        if rd.encrypted:
            _encrypted_tally(rd, ceremony, origin, leaves, report)
        else:
            _open_and_recount(rd, leaves, report)


def _open_and_recount(rd: Round, leaves: list[bytes], report: StrangerReport) -> None:
    if rd.secret is None:
        if rd.key_index is not None:  # a tally key that does not match: nothing to recount
            for i, _ in rd.results:
                report.fail(10, i, "the round's tally key does not match: nothing to recount")
        return
    d = rd.definition
    n_grades = len(d["grades"])
    box = SealedBox(PrivateKey(rd.secret))
    valid: list[dict[str, int]] = []
    blank = invalid = 0
    for i, sealed in rd.counted():
        grades, why = open_ballot(
            box, sealed, rd.number, rd.candidates, n_grades, rd.allow_blank, rd.subset_size
        )
        if grades is None:
            invalid += 1
            report.warn(9, i, f"invalid ballot ({why})", why)
        elif not grades:
            blank += 1
        else:
            valid.append(grades)
    profiles = {c: [0] * n_grades for c in rd.candidates}
    for grades in valid:
        for c, g in grades.items():
            profiles[c][g] += 1
    counts = {"valid": len(valid), "blank": blank, "invalid": invalid}
    _check_results(rd, leaves, profiles, counts, report)


def _check_results(
    rd: Round,
    leaves: list[bytes],
    profiles: dict[str, list[int]],
    counts: dict[str, int],
    report: StrangerReport,
) -> None:
    """Check 10 on each result of the round, against recounted profiles and counts."""
    d = rd.definition
    n_grades = len(d["grades"])
    for i, body in rd.results:
        for member in ("rule", "missing", "upper_median", "default_grade"):
            if body[member] != d[member]:
                report.fail(10, i, f"{member} is not the definition's")
        size = body["tree_size"]
        assert rd.close_index is not None
        if not rd.close_index < size <= i:
            report.fail(10, i, f"tree_size {size} does not cover the close and precede the result")
        elif base64.b64encode(tree_root(leaves[:size])).decode() != body["root"]:
            report.fail(10, i, "root is not the root of the first tree_size entries")
        if body["counts"] != counts:
            report.fail(10, i, f"counts {body['counts']}, recount {counts}")
        try:
            want = recount_profiles(
                profiles,
                counts["valid"],
                rd.candidates,
                n_grades,
                d["rule"],
                d["missing"],
                d["default_grade"],
                d["upper_median"],
            )
        except StrictRefused as exc:
            report.fail(10, i, f"missing=strict refuses this tally: {exc}")
            continue
        for member in ("candidates", "ranking", "tie_groups"):
            if body[member] != want[member]:
                report.fail(10, i, f"{member} differs from the recount")


# -- §10 encrypted ballots: key ceremony (check 14) and the encrypted tally (check 9) -------


@dataclass
class Ceremony:
    n: int = 0
    k: int = 0
    signing: dict[int, str] = field(default_factory=dict)  # trustee index → signing key
    election_key: str | None = None  # the election-key entry's public_key (base64)
    verification: list[bytes] = field(default_factory=list)  # h_1 … h_n


def _trustee_signed(
    cer: Ceremony, origin: str, kind: str, body: dict[str, Any], index: int
) -> bool:
    """§10 "Trustee signatures"."""
    key = cer.signing.get(index)
    if key is None:
        return False
    rest = {k: v for k, v in body.items() if k != "trustee_sig"}
    message = b"scrutin-" + kind.encode() + b"/v2\x00" + origin.encode() + b"\x00" + jcs(rest)
    return _signed(key, message, body["trustee_sig"])


def _ceremony(
    entries: list[tuple[int, dict[str, Any]]], origin: str, report: StrangerReport
) -> Ceremony:
    """§10 "Definition members" and "Key ceremony".

    §9 check 14 (settled: it was an AMBIGUITY when §9 listed thirteen checks).
    """
    cer = Ceremony()

    def fail(i: int, reason: str) -> None:
        report.fail(14, i, reason)

    encrypted = False
    trustees: dict[int, dict[str, Any]] = {}  # registered in the current attempt
    keygens: dict[int, dict[str, Any]] = {}
    acks: dict[int, dict[str, Any]] = {}
    frozen: tuple[Any, Any, Any] | None = None
    roll_1 = False
    attempt = 1  # §10 item 5: 1 until a ceremony-restart, then its `attempt`
    ever: list[dict[str, Any]] = []  # every trustee entry registered, of any attempt
    if not entries or entries[0][0] != 0 or entries[0][1]["kind"] != "definition":
        return cer  # no readable definition: check 6 fails, the ceremony has no rules
    for i, env in entries:
        kind, body = env["kind"], env["body"]
        if kind == "roll":
            roll_1 = roll_1 or body["round"] == 1
            continue
        ceremony_kinds = ("trustee", "trustee-keygen", "trustee-ack", "election-key")
        if kind in (*ceremony_kinds, "ceremony-restart") and roll_1:
            # §9 check 14: a ceremony entry after round 1's roll fails, and is replayed like
            # the others (settled: it was an AMBIGUITY, §10 said "come before" and no check).
            fail(i, "a ceremony entry after round 1's roll")
        if kind == "definition":
            encrypted = body.get("ballots") == "encrypted"
            members = (body.get("ballots"), body.get("trustees"), body.get("trustee_threshold"))
            if frozen is not None and members != frozen:
                # §9 check 14: "the ceremony keeps the original n and k".
                fail(i, "a revision changes ballots/trustees/trustee_threshold after a trustee")
                continue
            if encrypted:
                cer.n, cer.k = body["trustees"], body["trustee_threshold"]
            continue
        if kind in ("trustee-keygen", "trustee-ack", "ceremony-restart") and not encrypted:
            # §9 check 14: "fails (`trustee-not-encrypted`) and is ignored".
            fail(i, f'a {kind} without `ballots: "encrypted"`')
            continue
        if kind in ("trustee-keygen", "trustee-ack") and body.get("attempt") != (
            attempt if attempt >= 2 else None
        ):
            # §10 "The `attempt` member": fails and is ignored, nothing else checked on it.
            report.fail(
                14, i, f"{kind}: `attempt` is not the current attempt's", "attempt-mismatch"
            )
            continue
        if kind == "ceremony-restart":
            # §10 item 5 and §9 check 14.
            if len(trustees) != cer.n:
                report.fail(
                    14, i, "a restart before all n trustees are registered", "restart-early"
                )
            if cer.election_key is not None:
                report.fail(14, i, "a restart after the election-key", "restart-after-key")
            if body["attempt"] != attempt + 1:
                report.fail(14, i, "a restart's attempt is not the next", "restart-attempt")
            rep = body["replaced"]
            increasing = all(a < b for a, b in itertools.pairwise(rep))
            if not increasing or any(not 1 <= j <= cer.n for j in rep):
                report.fail(14, i, "replaced: not increasing indexes of 1 … n", "restart-replaced")
            why = body["reason"]
            if (
                not 1 <= len(why) <= 500
                or why.strip() != why
                or any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in why)
            ):
                report.fail(14, i, "a restart's reason is not as §10 item 5 says", "restart-reason")
            # "The restart takes effect even when it fails."
            attempt = body["attempt"]
            for j in rep:
                trustees.pop(j, None)
                cer.signing.pop(j, None)
            keygens.clear()
            acks.clear()
            continue
        if kind == "trustee":
            j = body["index"]
            if not encrypted:
                fail(i, 'a trustee entry without `ballots: "encrypted"`')
                continue
            if keygens:
                # §9 check 14: "a trustee registered late ... still counts as posted".
                fail(i, "a trustee registered after a trustee-keygen")
            if not 1 <= j <= cer.n or j in trustees:
                fail(i, f"trustee index {j} is not a new index of 1 … {cer.n}")
            else:
                # §9 check 14: n and k are fixed "once a trustee is registered".
                if frozen is None:
                    frozen = ("encrypted", cer.n, cer.k)
                # §9 check 14: a trustee with a bad name or a reused key fails once and
                # "still counts as posted" (no cascade).
                # §10 item 1: "no two trustees, of any attempt, share" a key.
                if any(
                    t["signing_key"] == body["signing_key"] or t["box_key"] == body["box_key"]
                    for t in ever
                ):
                    fail(i, "two trustees share a signing_key or a box_key")
                # §10 "name (string, 1 to 200 characters: check 14)"; §9 check 4 says it is
                # not a check-4 rule (settled AMBIGUITY).
                elif not 1 <= len(body["name"]) <= 200:
                    fail(i, "a trustee's name has 1 to 200 characters")
                trustees[j] = body
                ever.append(body)
                cer.signing[j] = body["signing_key"]
        elif kind == "trustee-keygen":
            j = body["index"]
            if len(trustees) != cer.n or cer.n == 0:
                # §9 check 14: fails, and "still counts as posted".
                fail(i, "a trustee-keygen before all n trustees are registered")
            if j not in trustees or j in keygens:
                fail(i, f"trustee-keygen of index {j}: not a trustee, or a second one")
                continue
            # §9 check 14 (settled AMBIGUITY): a failing entry is reported once; one that
            # "cannot be a contribution" (trustee_sig failing, commitments that are not k
            # valid points) is ignored, any other failing one "still counts as posted".
            if not _trustee_signed(cer, origin, kind, body, j):
                fail(i, "trustee_sig does not verify")
                continue
            commitments = [base64.b64decode(c) for c in body["commitments"]]
            if len(commitments) != cer.k or not all(enc.valid_point(c) for c in commitments):
                fail(i, f"commitments are not {cer.k} valid points")
                continue
            keygens[j] = {"body": body, "commitments": commitments}
            pok = base64.b64decode(body["pok"])
            c, s = enc.scalar(pok[:32]), enc.scalar(pok[32:])
            ok = c is not None and s is not None
            if ok:
                assert c is not None and s is not None
                a = enc.sub(enc.base(s), enc.mul(c, commitments[0]))
                ok = a != enc.IDENTITY and enc.H("trustee-pok", origin, j, *commitments, a) == c
            if not ok:
                fail(i, "the proof of knowledge (pok) fails")
                continue
            others = [t for t in range(1, cer.n + 1) if t != j]
            if [x["to"] for x in body["shares"]] != others:
                fail(i, "shares are not one per other trustee in increasing `to`")
                continue
            bad = False
            for x in body["shares"]:
                message = b"scrutin-trustee-share/v2\x00" + origin.encode() + b"\x00"
                message += f"{j}".encode() + b"\x00" + f"{x['to']}".encode() + b"\x00"
                if len(base64.b64decode(x["box"])) != 24 + 16 + len(message) + 32:
                    bad = True
            if bad:
                fail(i, "a share's box has not the length its message fixes")
        elif kind == "trustee-ack":
            j = body["index"]
            if len(keygens) != cer.n or cer.n == 0:
                # §9 check 14: fails, and "still counts as posted".
                fail(i, "a trustee-ack before all n trustee-keygen")
            if j not in trustees or j in acks:
                fail(i, f"trustee-ack of index {j}: not a trustee, or a second one")
                continue
            acks[j] = body
            if not _trustee_signed(cer, origin, kind, body, j):
                fail(i, "trustee_sig does not verify")
                acks[j] = {"complaints": [0]}  # unsigned: not an acknowledgement
                continue
            comp = body["complaints"]
            # §10: "the indexes of other trustees, never the trustee's own, in strictly
            # increasing order" (settled AMBIGUITY).
            if comp != sorted(set(comp)) or any(d not in trustees or d == j for d in comp):
                fail(i, "complaints are not dealer indexes in increasing order")
        elif kind == "election-key":
            if cer.election_key is not None:
                fail(i, "a second election-key")
                continue
            if len(acks) != cer.n or cer.n == 0 or any(a["complaints"] for a in acks.values()):
                fail(i, "an election-key without every trustee's ack free of complaint")
                # §9 check 14: "when the election-key came early, the published one" is the
                # key the rounds are checked against.
                cer.election_key = body["public_key"]
                cer.verification = [base64.b64decode(v) for v in body["verification_keys"]]
                continue
            pub = enc.IDENTITY
            for g in keygens.values():
                pub = enc.add(pub, g["commitments"][0])
            hs = []
            for j in range(1, cer.n + 1):
                hj = enc.IDENTITY
                for g in keygens.values():
                    for t, ct in enumerate(g["commitments"]):
                        hj = enc.add(hj, enc.mul(pow(j, t, enc.L), ct))
                hs.append(hj)
            want = {
                "public_key": base64.b64encode(pub).decode(),
                "verification_keys": [base64.b64encode(x).decode() for x in hs],
                "trustees": cer.n,
                "threshold": cer.k,
            }
            if body != want:
                fail(i, "the election key is not the one the commitments give")
            # The key the commitments give is the one the rounds must use.
            cer.election_key, cer.verification = want["public_key"], hs
    return cer


def _encrypted_tally(
    rd: Round, cer: Ceremony, origin: str, leaves: list[bytes], report: StrangerReport
) -> None:
    """§10: every ballot's layout and proofs, the sums, the decryption shares, the combined
    counts; then check 10 on the decrypted profiles.

    §9 check 9 ("An encrypted round ... instead"): the sums, the decryptions and their
    combination are check 9's (settled AMBIGUITY).
    """
    d = rd.definition
    n = len(d["grades"])
    h = base64.b64decode(rd.public_key)
    counted: dict[str | None, tuple[int, dict[str, list[enc.Cipher]], enc.Cipher | None]] = {}
    invalid_credentials: set[str | None] = set()
    for i, blob in rd.ballots:
        cred = rd.credentials[i]
        rows, blank_cell, why = enc.parse_ballot(
            base64.b64decode(blob),
            origin=origin,
            round_no=rd.number,
            credential=base64.b64decode(cred or ""),
            candidates=rd.candidates,
            n_grades=n,
            allow_blank=rd.allow_blank,
            subset_size=rd.subset_size,
            h=h,
        )
        if rows is None:
            report.warn(9, i, f"invalid ballot ({why})", why)
            invalid_credentials.add(cred)
        else:
            counted[cred] = (i, rows, blank_cell)  # the last valid ballot of each credential
    # The sums, recomputed.
    sums: dict[str, list[enc.Cipher]] = {}
    blank_sum: enc.Cipher | None = None
    for _, rows, blank_cell in sorted(counted.values(), key=lambda x: x[0]):
        for cand, cells in rows.items():
            acc = sums.setdefault(cand, [(enc.IDENTITY, enc.IDENTITY)] * n)
            sums[cand] = [
                (enc.add(a, c), enc.add(b, e)) for (a, b), (c, e) in zip(acc, cells, strict=True)
            ]
        if blank_cell is not None:
            a, b = blank_sum or (enc.IDENTITY, enc.IDENTITY)
            blank_sum = (enc.add(a, blank_cell[0]), enc.add(b, blank_cell[1]))

    def b64c(c: enc.Cipher) -> str:
        return base64.b64encode(c[0] + c[1]).decode()

    if rd.sums is None:
        for i, _ in rd.results:
            report.fail(10, i, "no tally-sums: nothing to recount")
        return
    si, sbody = rd.sums
    want = {"round": rd.number, "ballots": len(counted)}
    want["sums"] = {c: [b64c(x) for x in v] for c, v in sums.items()}  # type: ignore[assignment]
    if blank_sum is not None:
        want["blank"] = b64c(blank_sum)  # type: ignore[assignment]
    if sbody != want:
        report.fail(9, si, "tally-sums differ from the sums of the counted ballots")
        # §10 item 5: "when they differ nothing is decrypted, and the round's `result` fails
        # check 10 (`cannot-recount`)" (settled AMBIGUITY).
        for i, _ in rd.results:
            report.fail(10, i, "the tally-sums are wrong: nothing to recount")
        return
    # The published ciphertexts, by position.
    positions: dict[str, tuple[bytes, bytes]] = {}
    for cand, cells in sbody["sums"].items():
        for g, cell in enumerate(cells):
            raw = base64.b64decode(cell)
            positions[f"{cand}/{g}"] = (raw[:32], raw[32:])
    if "blank" in sbody:
        raw = base64.b64decode(sbody["blank"])
        positions["blank"] = (raw[:32], raw[32:])
    if not all(enc.valid_point(a) and enc.valid_point(b) for a, b in positions.values()):
        report.fail(9, si, "a tally-sums ciphertext is not two valid points")
        return
    good: list[tuple[int, int, dict[str, bytes]]] = []
    seen: set[int] = set()
    for i, body in rd.decryptions:
        j = body["index"]
        if j in seen:
            # §10 item 6: "a trustee's second one fails check 9, `share-twice`, and still
            # takes its place in the log order of item 7" (settled AMBIGUITY).
            report.fail(9, i, f"a second decryption by trustee {j}")
            continue
        seen.add(j)
        if not 1 <= j <= cer.n or j > len(cer.verification):
            report.fail(9, i, f"decryption by {j}, not a trustee of the election key")
            continue
        if not _trustee_signed(cer, origin, "trustee-decryption", body, j):
            report.fail(9, i, "trustee_sig does not verify")
            continue
        given: dict[str, bytes] = {}
        for cand, values in body["shares"].items():
            for g, value in enumerate(values):
                given[f"{cand}/{g}"] = base64.b64decode(value)
        if "blank" in body:
            given["blank"] = base64.b64decode(body["blank"])
        if set(given) != set(positions):
            report.fail(9, i, "the shares are not one per ciphertext of the tally-sums")
            continue
        ds: dict[str, bytes] = {}
        for pos, (alpha, _) in positions.items():
            dj = enc.share_ok(
                origin, rd.number, j, pos, h, cer.verification[j - 1], alpha, given[pos]
            )
            if dj is None:
                break
            ds[pos] = dj
        if len(ds) != len(positions):
            report.fail(9, i, f"a decryption share of trustee {j} fails its proof")
            continue
        good.append((i, j, ds))
    # §10 item 7: "the first k ... are combined, and only they ... if one of them is invalid
    # or a trustee's second, nothing decrypts (`first-shares-invalid`) even when valid
    # decryptions follow"; §9 check 9: fewer than k fails only once a result is published
    # (`shares-too-few`), and then check 10 fails (`cannot-recount`). (Settled AMBIGUITY.)
    first = {i for i, _ in rd.decryptions[: cer.k]}
    chosen = [(j, ds) for i, j, ds in good if i in first]
    if len(chosen) < len(first):
        report.fail(9, None, f"one of the first {cer.k} decryptions is not valid")
    elif len(first) < cer.k and rd.results:
        report.fail(9, None, f"fewer than {cer.k} decryptions before the result")
    if len(first) < cer.k or len(chosen) < cer.k:
        for i, _ in rd.results:
            report.fail(10, i, "the round cannot be decrypted: nothing to recount")
        return

    indexes = [j for j, _ in chosen]
    plain: dict[str, int] = {}
    bound = sbody["ballots"]
    for pos, (_, beta) in positions.items():
        xa = enc.IDENTITY
        for j, ds in chosen:
            xa = enc.add(xa, enc.mul(enc.lagrange(j, indexes), ds[pos]))
        m = enc.dlog(enc.sub(beta, xa), bound)
        if m is None:
            report.fail(9, si, f"{pos} decrypts to no count in 0 … {bound}")
            return
        plain[pos] = m
    profiles = {c: [plain.get(f"{c}/{g}", 0) for g in range(n)] for c in rd.candidates}
    blank = plain.get("blank", 0)
    # §9 "How the recount reads §8": in an encrypted round `valid + blank` is the tally-sums'
    # `ballots`, `invalid` the round's credentials none of whose ballots is valid, so
    # valid + blank + invalid = the turnout (settled AMBIGUITY).
    invalid = len(invalid_credentials - set(counted))
    counts = {"valid": bound - blank, "blank": blank, "invalid": invalid}
    _check_results(rd, leaves, profiles, counts, report)


# -- check 11: timeline (§8 "Phases", §9 check 11) ------------------------------------------

INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
TOLERANCE = 300


def _instant(text: str) -> int | None:
    if not INSTANT.fullmatch(text):
        return None
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=datetime.UTC).timestamp())


def _phases(body: dict[str, Any]) -> tuple[dict[str, tuple[int | None, int | None]], list[str]]:
    """The definition's phases by name ((start, end) in Unix seconds), and their faults."""
    phases: dict[str, tuple[int | None, int | None]] = {}
    faults = []
    for item in body["phases"]:
        start, end = _instant(item["start"]), _instant(item["end"])
        if start is None or end is None:
            faults.append(f"phase {item['name']!r}: an instant is not YYYY-MM-DDTHH:MM:SSZ")
        if item["name"] in phases:
            faults.append(f"phase {item['name']!r} named twice")
        phases[item["name"]] = (start, end)
    # (d) §8 "Phases"' rules, read in the order candidacies, supports, round-1…, results.
    order = ["candidacies", "supports"] + [f"round-{n}" for n in range(1, 100)] + ["results"]
    for name in phases:
        if name not in order:
            faults.append(f"phase {name!r} is not a name §8 allows")
    for name in ("candidacies", "supports"):
        if name not in phases:
            faults.append(f"no {name!r} phase")
    numbers = sorted(int(n[6:]) for n in phases if n in order and n.startswith("round-"))
    if numbers != list(range(1, len(numbers) + 1)):
        faults.append("round phases not numbered 1, 2, … without gaps")
    present = [n for n in order if n in phases]
    for name in present:
        start, end = phases[name]
        if start is not None and end is not None and end <= start:
            faults.append(f"phase {name!r} ends before it starts")
    for first, second in itertools.pairwise(present):
        (s1, e1), (s2, e2) = phases[first], phases[second]
        if None in (s1, e1, s2, e2):
            continue
        if (first, second) == ("candidacies", "supports"):
            if s2 < s1 or e2 < e1:
                faults.append("the supports phase starts or ends before the candidacies'")
        elif s2 < e1:
            faults.append(f"phase {second!r} starts before {first!r} ends")
    return phases, faults


def _timeline(entries: list[tuple[int, dict[str, Any]]], report: StrangerReport) -> None:
    latest: int | None = None
    phases: dict[str, tuple[int | None, int | None]] | None = None
    for i, env in entries:
        kind, body, t = env["kind"], env["body"], env["time"]
        # (a) order, with the 300 s tolerance.
        if latest is not None and t < latest - TOLERANCE:
            report.fail(11, i, f"time {t} is more than {TOLERANCE} s before an earlier {latest}")
        latest = t if latest is None else max(latest, t)
        if kind == "definition":
            new, faults = _phases(body)
            for fault in faults:
                report.fail(11, i, fault)
            if phases is not None and body["revision"] >= 2:
                _no_rewrite(i, t, phases, new, report)
            phases = new
            continue
        if phases is None:
            continue  # before the first definition: left to check 6
        # (b) phases.
        name, open_end, required = None, False, True
        if kind == "candidacy" and body["action"] == "submitted":
            name = "candidacies"
        elif kind in ("support", "support-withdrawal"):
            name = "supports"
        elif kind == "qualification":
            name, open_end = "supports", True
        elif kind in ("round-open", "ballot"):
            name, required = f"round-{body['round']}", False
        if name is None:
            continue
        if name not in phases:
            if required:
                report.fail(11, i, f"{kind} while the definition announces no {name!r} phase")
            continue
        start, end = phases[name]
        if start is not None and t < start:
            report.fail(11, i, f"{kind} dated before the {name!r} phase opened")
        elif not open_end and end is not None and t >= end:
            report.fail(11, i, f"{kind} dated after the {name!r} phase ended")


def _no_rewrite(
    i: int,
    t: int,
    old: dict[str, tuple[int | None, int | None]],
    new: dict[str, tuple[int | None, int | None]],
    report: StrangerReport,
) -> None:
    """(c) a revision made at time t does not rewrite the past."""
    for name, (start, _) in old.items():
        if name not in new and start is not None and start < t:
            report.fail(11, i, f"revision removes the begun phase {name!r}")
    for name, values in new.items():
        before = old.get(name, (None, None))
        for label, was, now in zip(("start", "end"), before, values, strict=True):
            changed = name not in old or was != now
            if not changed:
                continue
            if was is not None and was < t:
                report.fail(11, i, f"revision changes the past {label} of phase {name!r}")
            if now is not None and now < t:
                report.fail(11, i, f"revision sets the {label} of phase {name!r} in the past")


# -- check 12: witnesses (§6 "Witness cosignatures", §9 check 12) ---------------------------
# The policy grammar is §6 "Witness policy grammar": `witness <name> <vkey> [<url>]`,
# `group <name> <all|any|k> <member>…`, `quorum <name>` (once), `log <vkey> [<url>]`, lines
# whose first word starts with `#` ignored; members defined before use, one key named once.


class PolicyError(ValueError):
    pass


def parse_witness_vkey(text: str) -> LogKey:
    parts = text.split("+", 2)
    if len(parts) != 3 or not parts[0] or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise PolicyError(f"bad witness key {text!r}")
    try:
        raw = b64decode(parts[2], 33)
    except ValueError as exc:
        raise PolicyError(f"witness key: {exc}") from exc
    if raw[0] != 4:
        raise PolicyError("a witness key is of type 0x04")
    wanted = hashlib.sha256(parts[0].encode() + b"\n\x04" + raw[1:]).digest()[:4]
    if wanted.hex() != parts[1]:
        raise PolicyError("a witness key ID does not match its name and key")
    return LogKey(parts[0], wanted, raw[1:])


def parse_policy(text: str, log_key: LogKey) -> tuple[dict[str, LogKey], dict[str, Any], str]:
    """(witnesses by name, groups by name as (k, members), quorum name)."""
    witnesses: dict[str, LogKey] = {}
    groups: dict[str, tuple[int, list[str]]] = {}
    quorum: str | None = None
    logs = []
    named_keys: set[bytes] = set()  # "one key is named once"
    if any((ord(c) < 0x20 and c not in "\t\n") or ord(c) == 0x7F for c in text):
        raise PolicyError("a control character in the policy")
    for line in text.split("\n"):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        head, args = words[0], words[1:]
        if head == "log" and 1 <= len(args) <= 2:
            logs.append(args[0])
            try:
                raw_key = parse_vkey(args[0]).public_key
            except Unusable as exc:
                raise PolicyError(f"log line: {exc}") from exc
            if raw_key in named_keys:
                raise PolicyError("one key named twice")
            named_keys.add(raw_key)
        elif head == "witness" and 2 <= len(args) <= 3:
            if args[0] in witnesses or args[0] in groups or args[0] == "none":
                raise PolicyError(f"{args[0]!r} defined twice")
            witnesses[args[0]] = parse_witness_vkey(args[1])
            if witnesses[args[0]].public_key in named_keys:
                raise PolicyError("one key named twice")
            named_keys.add(witnesses[args[0]].public_key)
        elif head == "group" and len(args) >= 3:
            name, k, members = args[0], args[1], args[2:]
            if name in witnesses or name in groups or name == "none":
                raise PolicyError(f"{name!r} defined twice")
            if any(m not in witnesses and m not in groups for m in members):
                raise PolicyError(f"group {name!r} names an unknown member")
            if len(set(members)) != len(members):
                raise PolicyError(f"group {name!r} lists a member twice")
            size = len(members)
            if k == "all":
                need = size
            elif k == "any":
                need = 1
            elif re.fullmatch(r"[1-9][0-9]*", k) and int(k) <= size:
                need = int(k)
            else:
                raise PolicyError(f"group {name!r} has a bad threshold {k!r}")
            groups[name] = (need, members)
        elif head == "quorum" and len(args) == 1 and quorum is None:
            quorum = args[0]
        else:
            raise PolicyError(f"unreadable policy line {line!r}")
    # `quorum none` (tlog-policy's keyword): no cosignature is required.
    if quorum is None or (quorum not in witnesses and quorum not in groups and quorum != "none"):
        raise PolicyError("no quorum naming a witness or a group")
    if logs:
        keys = []
        for text_key in logs:
            try:
                keys.append(parse_vkey(text_key))
            except Unusable as exc:
                raise PolicyError(f"log line: {exc}") from exc
        if log_key not in keys:
            raise PolicyError("the policy's log lines do not name the pinned key")
    return witnesses, groups, quorum


def cosigned_by(note: str, witness: LogKey) -> int | None:
    """The timestamp of a valid cosignature of the note's text by `witness`, else None."""
    cut = note.rfind("\n\n")
    text, lines = note[: cut + 1], note[cut + 2 :].split("\n")
    for line in lines:
        fields = line[2:].split(" ") if line.startswith("\u2014 ") else []
        if len(fields) != 2 or fields[0] != witness.name:
            continue
        try:
            raw = b64decode(fields[1])
        except ValueError:
            continue
        if len(raw) != 76 or raw[:4] != witness.key_id:
            continue
        stamp = int.from_bytes(raw[4:12], "big")
        message = b"cosignature/v1\ntime " + str(stamp).encode() + b"\n" + text.encode()
        try:
            if stamp:
                VerifyKey(witness.public_key).verify(message, raw[12:])
                return stamp
        except BadSignatureError:
            continue
    return None


def _witnesses(
    entries: list[tuple[int, dict[str, Any]]],
    checkpoints: list[str],
    key: LogKey,
    report: StrangerReport,
) -> None:
    policy = None
    for _, env in entries:
        if env["kind"] == "definition":
            policy = env["body"].get("witness_policy")
    if policy is None or not checkpoints:
        return  # no policy: nothing shows everyone sees the same log (a note, not a failure)
    try:
        witnesses, groups, quorum = parse_policy(policy, key)
    except PolicyError as exc:
        report.fail(12, None, f"unreadable witness policy: {exc}")
        return
    latest = checkpoints[-1]
    signed = {name: cosigned_by(latest, w) is not None for name, w in witnesses.items()}

    def holds(name: str) -> bool:
        if name == "none" and name not in groups:
            return True
        if name in signed:
            return signed[name]
        need, members = groups[name]
        return sum(holds(m) for m in members) >= need

    if not holds(quorum):
        report.fail(12, None, f"the latest checkpoint lacks the quorum {quorum!r}")


# -- receipts (§7 "Receipt", §9 "Receipt") ---------------------------------------------------

RECEIPT_MEMBERS = {
    "format",
    "origin",
    "vkey",
    "index",
    "entry",
    "tracker",
    "inclusion_proof",
    "checkpoint",
}


def verify_receipt(
    receipt: Any, pinned: str | None = None, log: dict[str, Any] | None = None
) -> StrangerReport:
    """§9 "Receipt" checks 1-4 of a JSON receipt (5, the witnesses, is not run), optionally
    against the pinned key and a log export."""
    report = StrangerReport()
    try:
        _verify_receipt(receipt, pinned, log, report)
    except Unusable as exc:
        report.usable = False
        report.unusable_reason = str(exc)
    return report


def _verify_receipt(
    receipt: Any, pinned: str | None, log: dict[str, Any] | None, report: StrangerReport
) -> None:
    # §7: what makes a receipt unusable input.
    if not isinstance(receipt, dict) or set(receipt) != RECEIPT_MEMBERS:
        raise Unusable("a receipt is an object with exactly the eight §7 members")
    if receipt["format"] != "scrutin-receipt/v1":
        raise Unusable("not a scrutin-receipt/v1")
    for member in ("origin", "vkey", "entry", "tracker", "checkpoint"):
        if not isinstance(receipt[member], str):
            raise Unusable(f"{member} is not a string")
    if not _int(receipt["index"]) or receipt["index"] < 0:
        raise Unusable("index is not an integer ≥ 0")
    if not isinstance(receipt["inclusion_proof"], list):
        raise Unusable("inclusion_proof is not a list")
    key = parse_vkey(receipt["vkey"])
    if receipt["origin"] != key.name:
        raise Unusable("origin is not the key name of vkey")
    if not HEX64.fullmatch(receipt["tracker"]):
        raise Unusable("tracker is not 64 lowercase hex digits")
    try:
        entry = b64decode(receipt["entry"])
        proof = [b64decode(h, 32) for h in receipt["inclusion_proof"]]
    except ValueError as exc:
        raise Unusable(f"receipt: {exc}") from exc
    if pinned is not None and parse_vkey(pinned.strip("\n")) != key:
        report.fail(1, None, "the receipt's key is not the pinned key")
    # (1) the checkpoint; (2) tracker, entry, inclusion.
    try:
        _, size, root = open_checkpoint(receipt["checkpoint"], key)
    except NoteError as exc:
        report.fail(1, None, f"checkpoint: {exc}")
        return
    if leaf_hash(entry).hex() != receipt["tracker"]:
        report.fail(2, receipt["index"], "tracker is not the entry's leaf hash")
    env = None
    try:
        env = parse_canonical(entry)
        if not isinstance(env, dict) or set(env) != ENVELOPE or env.get("key") != key.key_id_hex:
            raise Shape("not an entry of this log's key")
        VerifyKey(key.public_key).verify(signed_message(env), b64decode(env["sig"], 64))
    except (NotCanonical, Shape, ValueError, KeyError, TypeError, BadSignatureError):
        report.fail(2, receipt["index"], "the entry does not verify")
        env = None
    if not verify_inclusion(receipt["index"], size, leaf_hash(entry), proof, root):
        report.fail(2, receipt["index"], "the inclusion proof does not hold")
    # (3) against the log.
    if log is not None:
        logged = verify_export(log, receipt["vkey"] if pinned is None else pinned)
        entries = [base64.b64decode(e) for e in log.get("entries", [])]
        if not logged.usable or 1 in logged.failed_checks or 2 in logged.failed_checks:
            report.fail(3, None, "the log's latest checkpoint does not verify")
        elif receipt["index"] >= len(entries) or entries[receipt["index"]] != entry:
            report.fail(3, receipt["index"], "the log has another entry at that index")
        elif size > len(entries) or tree_root([leaf_hash(e) for e in entries[:size]]) != root:
            report.fail(3, None, "the receipt's tree is not a prefix of the log's")
    # (4) a ballot.
    if env is not None and env.get("kind") != "ballot":
        report.fail(4, receipt["index"], "the receipt's entry is not a ballot")


# -- check 13: voter-held credentials (§8 "Voter-held credentials", §9 check 13) ------------


def _credentials(
    entries: list[tuple[int, dict[str, Any]]], origin: str, report: StrangerReport
) -> None:
    def fail(i: int, code: str, reason: str) -> None:
        report.fail(13, i, reason, code)

    registered: set[str] = set()
    in_force: dict[str, str] = {}  # citizen → key
    owner: dict[str, str] = {}  # key → citizen
    assisted: set[str] = set()
    revoked: set[str] = set()
    rolls: dict[int, set[str]] = {}
    frozen: int | None = None  # the round whose roll is written and not yet closed
    last_roll: int | None = None
    pseudonyms: dict[str, str] = {}  # citizen → supporter
    citizens: dict[str, str] = {}  # supporter → citizen
    voter = False
    for i, env in entries:
        kind, body = env["kind"], env["body"]
        if kind == "definition":
            voter = body.get("credentials") == "voter"
            continue
        if kind in ("support", "ballot") and not voter and "credential" in body:
            fail(i, "credential-member", f"a {kind} carries a credential under `server`")
            continue
        if kind in ("credential", "roll") and not voter:
            fail(i, "credential-member", f"a {kind} entry under `server`")
            continue
        if kind == "credential":
            cred, citizen, old = body["credential"], body["citizen"], body.get("replaces")
            if frozen is not None:
                fail(i, "credential-after-roll", "a credential between a roll and its close")
            if cred in registered:
                fail(i, "credential-reused", "a key registered a second time")
            elif old is not None and (old not in owner or in_force.get(citizen) != old):
                fail(i, "replaces-unknown", "replaces is not a key in force of this citizen")
            elif old is None and citizen in in_force:
                fail(i, "credential-second", "a second key without `replaces`")
            registered.add(cred)
            if old is not None and in_force.get(citizen) == old:
                revoked.add(old)
            in_force[citizen], owner[cred] = cred, citizen
            if body["assisted"]:
                assisted.add(cred)
        elif kind == "roll":
            keys = set(in_force.values())
            listed = jcs(sorted(keys))
            if (body["count"], body["assisted"], body["digest"]) != (
                len(keys),
                len(keys & assisted),
                hashlib.sha256(listed).hexdigest(),
            ):
                fail(i, "roll-differs", "the roll is not the keys in force")
            rolls[body["round"]] = keys
            frozen = last_roll = body["round"]
        elif kind == "round-open":
            if voter and last_roll != body["round"]:
                fail(i, "roll-missing", f"round {body['round']} opens without its roll")
        elif kind == "round-close":
            if frozen == body["round"]:
                frozen = None
        elif kind == "support" and voter:
            cred, sig = body.get("credential"), body.get("credential_sig")
            message = b"scrutin-support/v1\x00" + origin.encode() + b"\x00"
            message += body["candidate"].encode()
            if cred is None or sig is None:
                fail(i, "support-unsigned", "a support without a credential signature")
            elif cred in revoked:
                fail(i, "support-revoked-credential", "a support signed by a revoked key")
            elif cred not in owner:
                fail(i, "support-unknown-credential", "a support signed by an unknown key")
            elif not _signed(cred, message, sig):
                fail(i, "support-bad-signature", "a support's credential signature fails")
            else:
                # One citizen, one `supporter` pseudonym, used by nobody else.
                citizen, pseudonym = owner[cred], body["supporter"]
                if pseudonyms.setdefault(citizen, pseudonym) != pseudonym or (
                    citizens.setdefault(pseudonym, citizen) != citizen
                ):
                    fail(i, "support-pseudonym", "a citizen's supports under two pseudonyms")
        elif kind == "ballot" and voter:
            cred, sig, r = body.get("credential"), body.get("credential_sig"), body["round"]
            # §10: an encrypted ballot signs its blob under the v2 prefix.
            version, blob = (
                (b"v2", body["encrypted"]) if "encrypted" in body else (b"v1", body["sealed"])
            )
            message = b"scrutin-ballot/" + version + b"\x00" + origin.encode() + b"\x00"
            message += str(r).encode() + b"\x00" + base64.b64decode(blob)
            if cred is None or sig is None:
                fail(i, "ballot-unsigned", "a ballot without a credential signature")
            elif cred not in rolls.get(r, set()):
                fail(i, "ballot-not-on-roll", "a ballot signed by a key not on the roll")
            elif cred in revoked:
                fail(i, "ballot-revoked-credential", "a ballot signed by a revoked key")
            elif not _signed(cred, message, sig):
                fail(i, "ballot-bad-signature", "a ballot's credential signature fails")


def _signed(key: str, message: bytes, sig: str) -> bool:
    try:
        VerifyKey(base64.b64decode(key)).verify(message, base64.b64decode(sig))
    except (BadSignatureError, ValueError):
        return False
    return True
