"""Entry envelope (spec §3) and per-kind body shapes (spec §8)."""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from audit.canonical import CanonicalError, parse
from audit.note import b64decode_strict

ENTRY_DOMAIN = b"scrutin-entry/v1\x00"
ENVELOPE_MEMBERS = frozenset({"v", "origin", "primary", "kind", "time", "body", "key", "sig"})
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
KEY_ID_RE = re.compile(r"[0-9a-f]{8}\Z")
LANGUAGE_RE = re.compile(r"[a-z]{2,3}\Z")  # a definition's grade_labels names (§8)
MAX_ENTRY_BYTES = 0xFFFF  # a tile bundle stores each entry's length in 2 bytes (§7)

RULES = ("majority-value", "majority-gauge", "mieux-voter", "typical", "central", "usual")
MISSING = ("normalize", "worst-grade", "median", "strict")
ACTIONS = (
    "submitted",
    "published",
    "rejected",
    "revised",
    "confirmed",
    "declined",
    "withdrawn",
    "excluded",
    "lapsed",
)

# Shape language: "int" (non-negative), "str", "bool", "uuid", "hex64", "b64key" (32 bytes),
# "b64", a tuple of allowed strings, ["list", shape], {"obj": {member: shape}},
# {"map": shape} (string keys), ["nonempty-list", shape], {"optional": shape} (an object
# member that may be absent).
Shape: TypeAlias = "str | tuple[str, ...] | list[Shape] | dict[str, Shape]"
STRING_SHAPES = ("str", "uuid", "hex64", "b64", "b64key", "b64hash", "b64-64", "b64-96")
_PHASE: Shape = {"obj": {"name": "str", "start": "str", "end": "str"}}
_ROUND_CANDIDATE: Shape = {"obj": {"candidate": "uuid", "name": "str", "declaration": "hex64"}}
BODY_SHAPES: dict[str, dict[str, Shape]] = {
    "definition": {
        "revision": "int",
        "title": "str",
        "slug": "str",
        "description": "str",
        "threshold": "int",
        "support_cap": "int",
        "qualification": ("threshold", "phase-end"),
        "grades": ["nonempty-list", "str"],
        "rule": RULES,
        "missing": MISSING,
        "default_grade": "int",
        "upper_median": "bool",
        "subset_size": "int",
        "allow_blank": "bool",
        "eligibility": ("email", "allow-list", "approval"),
        "refuse_disposable": {"optional": "bool"},
        "phases": ["list", _PHASE],
        "witness_policy": {"optional": "str"},
        "credentials": {"optional": ("server", "voter")},
        "ballots": {"optional": ("sealed", "encrypted")},  # §10
        "trustees": {"optional": "int"},
        "trustee_threshold": {"optional": "int"},
        "grade_labels": {"optional": {"map": ["list", "str"]}},
    },
    "candidacy": {
        "candidate": "uuid",
        "action": ACTIONS,
        "name": "str",
        "declaration": "hex64",
        "reason": "str",
    },
    "support": {
        "candidate": "uuid",
        "supporter": "hex64",
        "credential": {"optional": "b64key"},
        "credential_sig": {"optional": "b64"},
    },
    "support-withdrawal": {"candidate": "uuid", "supporter": "hex64"},
    "qualification": {"candidate": "uuid", "supports": "int", "threshold": "int"},
    "allow-list": {
        "emails": "int",
        "numbers": "int",
        "added": "int",
        "removed": "int",
        "digest": "hex64",
    },
    "approval": {
        "citizen": "hex64",
        "decision": ("approved", "refused", "removed"),
        "approved": "int",
    },
    "round-open": {
        "round": "int",
        "candidates": ["nonempty-list", _ROUND_CANDIDATE],
        "tally_public_key": {"optional": "b64key"},
        "election_public_key": {"optional": "b64key"},  # §10: exactly one of the two
        "subset_size": "int",
        "allow_blank": "bool",
    },
    "ballot": {
        "round": "int",
        "sealed": {"optional": "b64"},
        "encrypted": {"optional": "b64"},  # §10: exactly one of sealed, encrypted
        "credential": {"optional": "b64key"},
        "credential_sig": {"optional": "b64"},
    },
    "credential": {
        "credential": "b64key",
        "citizen": "hex64",
        "assisted": "bool",
        "replaces": {"optional": "b64key"},
    },
    "roll": {"round": "int", "count": "int", "assisted": "int", "digest": "hex64"},
    "round-close": {"round": "int", "turnout": "int"},
    "tally-key": {"round": "int", "tally_secret_key": "b64key"},
    "result": {
        "round": "int",
        "tree_size": "int",
        "root": "b64hash",
        "rule": RULES,
        "missing": MISSING,
        "upper_median": "bool",
        "default_grade": "int",
        "counts": {"obj": {"valid": "int", "blank": "int", "invalid": "int"}},
        "candidates": {
            "map": {"obj": {"profile": ["list", "int"], "majority_grade": "int", "rank": "int"}},
            "keys": "uuid",
        },
        "ranking": ["list", "uuid"],
        "tie_groups": ["list", ["list", "uuid"]],
    },
    # §10 "Key ceremony" and "Encrypted tally"
    "trustee": {"index": "int", "name": "str", "signing_key": "b64key", "box_key": "b64key"},
    "ceremony-restart": {"attempt": "int", "replaced": ["list", "int"], "reason": "str"},
    "trustee-keygen": {
        "index": "int",
        "commitments": ["nonempty-list", "b64key"],
        "pok": "b64-64",
        "shares": ["list", {"obj": {"box": "b64", "to": "int"}}],
        "attempt": {"optional": "int"},  # present exactly from attempt 2 on (check 14)
        "trustee_sig": "b64-64",
    },
    "trustee-ack": {
        "index": "int",
        "complaints": ["list", "int"],
        "attempt": {"optional": "int"},
        "trustee_sig": "b64-64",
    },
    "election-key": {
        "public_key": "b64key",
        "verification_keys": ["nonempty-list", "b64key"],
        "trustees": "int",
        "threshold": "int",
    },
    "tally-sums": {
        "round": "int",
        "ballots": "int",
        "sums": {"map": ["list", "b64-64"], "keys": "uuid"},
        "blank": {"optional": "b64-64"},
    },
    "trustee-decryption": {
        "round": "int",
        "index": "int",
        "shares": {"map": ["list", "b64-96"], "keys": "uuid"},
        "blank": {"optional": "b64-96"},
        "trustee_sig": "b64-64",
    },
}
KINDS = tuple(BODY_SHAPES)


class EntryError(ValueError):
    """An entry that is not canonical or whose envelope or body is malformed."""


def _check(value: object, shape: Shape, path: str) -> None:
    if shape == "int":
        if type(value) is not int or value < 0:
            raise EntryError(f"{path}: expected a non-negative integer")
    elif shape == "bool":
        if type(value) is not bool:
            raise EntryError(f"{path}: expected true or false")
    elif isinstance(shape, str) and shape in STRING_SHAPES:
        if type(value) is not str:
            raise EntryError(f"{path}: expected a string")
        if shape == "uuid" and not UUID_RE.match(value):
            raise EntryError(f"{path}: not a lowercase UUID")
        if shape == "hex64" and not HEX64_RE.match(value):
            raise EntryError(f"{path}: not 64 lowercase hex digits")
        if shape.startswith("b64"):
            try:
                raw = b64decode_strict(value)
            except ValueError as exc:
                raise EntryError(f"{path}: {exc}") from exc
            if shape in ("b64key", "b64hash") and len(raw) != 32:
                raise EntryError(f"{path}: expected 32 bytes")
            if shape in ("b64-64", "b64-96") and len(raw) != int(shape[4:]):
                raise EntryError(f"{path}: expected {shape[4:]} bytes")
    elif isinstance(shape, tuple):
        if value not in shape or type(value) is not str:
            raise EntryError(f"{path}: {value!r} is not one of {', '.join(shape)}")
    elif isinstance(shape, list):
        if type(value) is not list:
            raise EntryError(f"{path}: expected a list")
        if shape[0] == "nonempty-list" and not value:
            raise EntryError(f"{path}: must not be empty")
        for i, item in enumerate(value):
            _check(item, shape[1], f"{path}[{i}]")
    elif isinstance(shape, dict) and "obj" in shape:
        if type(value) is not dict:
            raise EntryError(f"{path}: expected an object")
        members = shape["obj"]
        assert isinstance(members, dict)  # {"obj": {member: shape}}
        required = {
            k for k, sub in members.items() if not (type(sub) is dict and "optional" in sub)
        }
        missing = sorted(required - set(value))
        extra = sorted(set(value) - set(members))
        if missing:
            raise EntryError(f"{path}: missing member(s) {', '.join(missing)}")
        if extra:
            raise EntryError(f"{path}: unexpected member(s) {', '.join(extra)}")
        for key, sub in members.items():
            if key in value:
                _check(
                    value[key],
                    sub.get("optional", sub) if type(sub) is dict else sub,
                    f"{path}.{key}",
                )
    elif isinstance(shape, dict) and "map" in shape:
        if type(value) is not dict:
            raise EntryError(f"{path}: expected an object")
        for key, item in value.items():
            if shape.get("keys") == "uuid" and not UUID_RE.match(key):
                raise EntryError(f"{path}: member name {key[:40]!r} is not a lowercase UUID")
            _check(item, shape["map"], f"{path}.{key}")
    else:  # pragma: no cover - programming error
        raise AssertionError(shape)


def check_body(kind: str, body: object) -> None:
    _check(body, {"obj": BODY_SHAPES[kind]}, "body")
    assert isinstance(body, dict)  # an object of that shape
    if kind == "definition":
        if len(body["grades"]) < 2:
            raise EntryError("body.grades: a scale has at least two grades")
        if body["default_grade"] >= len(body["grades"]):
            raise EntryError(
                f"body.default_grade: {body['default_grade']} is not a grade of the scale "
                f"(0 to {len(body['grades']) - 1})"
            )
        for lang, labels in body.get("grade_labels", {}).items():
            if not LANGUAGE_RE.match(lang):
                raise EntryError(f"body.grade_labels: {lang[:20]!r} is not a language code")
            if len(labels) != len(body["grades"]):
                raise EntryError(
                    f"body.grade_labels.{lang}: {len(labels)} labels for "
                    f"{len(body['grades'])} grades"
                )
        _check_v2_definition(body)
    elif kind == "round-open":
        if ("tally_public_key" in body) == ("election_public_key" in body):
            raise EntryError("body: exactly one of tally_public_key, election_public_key")
    elif kind == "ballot":
        if ("sealed" in body) == ("encrypted" in body):
            raise EntryError("body: exactly one of sealed, encrypted")


def _check_v2_definition(body: dict[str, Any]) -> None:
    """§10 "Definition members": trustees and threshold exactly with encrypted ballots."""
    encrypted = body.get("ballots") == "encrypted"
    for name in ("trustees", "trustee_threshold"):
        if (name in body) != encrypted:
            raise EntryError(f"body.{name}: present exactly when ballots is encrypted")
    if not encrypted:
        return
    if body.get("credentials") != "voter":
        raise EntryError('body.ballots: "encrypted" requires credentials "voter"')
    n, k = body["trustees"], body["trustee_threshold"]
    if not 1 <= n <= 20:
        raise EntryError(f"body.trustees: {n} is not in 1 … 20")
    if not 1 <= k <= n:
        raise EntryError(f"body.trustee_threshold: {k} is not in 1 … {n}")


def parse_entry(raw: bytes, origin: str | None, primary: str | None) -> dict[str, Any]:
    """Parse and validate one entry; raise EntryError with the reason."""
    if len(raw) > MAX_ENTRY_BYTES:
        raise EntryError(
            f"entry is {len(raw)} bytes, more than the {MAX_ENTRY_BYTES} a tile bundle can hold"
        )
    try:
        value = parse(raw)
    except CanonicalError as exc:
        raise EntryError(f"not canonical JSON: {exc}") from exc
    if type(value) is not dict:
        raise EntryError("entry is not a JSON object")
    if value.keys() != ENVELOPE_MEMBERS:
        missing = sorted(ENVELOPE_MEMBERS - value.keys())
        extra = sorted(value.keys() - ENVELOPE_MEMBERS)
        raise EntryError(f"envelope members: missing {missing}, unexpected {extra}")
    if value["v"] != 1 or type(value["v"]) is not int:
        raise EntryError(f"unsupported version v={value['v']!r}")
    kind = value["kind"]
    if type(kind) is not str or kind not in BODY_SHAPES:
        raise EntryError(f"unknown entry kind {kind!r}")
    if type(value["origin"]) is not str or (origin is not None and value["origin"] != origin):
        raise EntryError(f"origin {value['origin']!r} is not the log's origin {origin!r}")
    if type(value["primary"]) is not str or not UUID_RE.match(value["primary"]):
        raise EntryError("primary is not a lowercase UUID")
    if primary is not None and value["primary"] != primary:
        raise EntryError(f"primary {value['primary']} is not the log's primary {primary}")
    if type(value["time"]) is not int or value["time"] < 0:
        raise EntryError("time is not a non-negative integer")
    if type(value["key"]) is not str or not KEY_ID_RE.match(value["key"]):
        raise EntryError("key is not 8 lowercase hex digits")
    try:
        sig = b64decode_strict(value["sig"]) if type(value["sig"]) is str else b""
    except ValueError as exc:
        raise EntryError(f"sig: {exc}") from exc
    if len(sig) != 64:
        raise EntryError("sig is not a 64-byte Ed25519 signature")
    check_body(kind, value["body"])
    return value


def signed_message(raw: bytes, kind: str) -> tuple[bytes, bytes]:
    """(message, signature) of a canonical entry, without re-encoding it.

    In JCS member order "sig" is followed only by "time" and "v" (integers), so the last
    ``,"sig":"`` is the envelope's and cutting that member out yields JCS(envelope - sig).
    """
    start = raw.rfind(b',"sig":"')
    end = raw.index(b'"', start + 8)
    sig = b64decode_strict(raw[start + 8 : end].decode("ascii"))
    return ENTRY_DOMAIN + kind.encode("ascii") + b"\x00" + raw[:start] + raw[end + 1 :], sig


def sign_message(kind: str, envelope_without_sig: bytes) -> bytes:
    return ENTRY_DOMAIN + kind.encode("ascii") + b"\x00" + envelope_without_sig
