"""Witness cosignatures and policies, read independently of the producer (docs/audit-log.md
§6, C2SP tlog-cosignature v1.0.1 and tlog-policy).

A witness cosignature is a note signature line whose key ID is
SHA-256(name || "\\n" || 0x04 || key)[:4] and whose signed bytes are
``"cosignature/v1\\ntime <t>\\n"`` followed by the checkpoint body; the line's blob is the key
ID, the 8-byte big-endian time ``t`` and the Ed25519 signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from audit.note import (
    Checkpoint,
    Note,
    NoteError,
    VerifierKey,
    b64decode_strict,
    parse_verifier_key,
)

if TYPE_CHECKING:  # report imports this module
    from audit.report import Check

ALG_COSIGNATURE = 0x04


class PolicyError(ValueError):
    """A witness policy that cannot be used."""


@dataclass(frozen=True)
class Witness:
    name: str  # the name in the policy
    key_name: str  # the name on signature lines
    key_id: bytes
    public_key: bytes

    def cosignature_time(self, body: str, name: str, key_id: bytes, blob: bytes) -> int | None:
        """The time of this witness's cosignature on `body`, or None if it is not one."""
        if name != self.key_name or key_id != self.key_id or len(blob) != 72:
            return None
        t = int.from_bytes(blob[:8], "big")
        if t == 0 or t >= 2**63:
            return None
        message = b"cosignature/v1\ntime " + str(t).encode() + b"\n" + body.encode()
        try:
            VerifyKey(self.public_key).verify(message, blob[8:])
        except (BadSignatureError, ValueError):
            return None
        return t


def parse_witness_key(policy_name: str, text: str) -> Witness:
    parts = text.split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise PolicyError(f"witness {policy_name}: key must be <name>+<key id>+<base64>")
    key_name, hex_id, blob = parts
    try:
        raw = b64decode_strict(blob)
    except ValueError as exc:
        raise PolicyError(f"witness {policy_name}: {exc}") from None
    if len(raw) != 33 or raw[0] != ALG_COSIGNATURE:
        raise PolicyError(f"witness {policy_name}: not an Ed25519 cosignature key (0x04)")
    digest = hashlib.sha256(key_name.encode() + b"\n" + raw[:1] + raw[1:]).digest()
    if digest[:4].hex() != hex_id:
        raise PolicyError(f"witness {policy_name}: key ID {hex_id} does not match the key")
    return Witness(policy_name, key_name, digest[:4], raw[1:])


@dataclass
class WitnessPolicy:
    logs: list[VerifierKey] = field(default_factory=list)
    witnesses: dict[str, Witness] = field(default_factory=dict)
    # group name -> (threshold, members)
    groups: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    quorum: str = "none"

    def holds(self, cosigners: set[str], name: str | None = None) -> bool:
        name = self.quorum if name is None else name
        if name == "none":
            return True
        if name in self.witnesses:
            return name in cosigners
        threshold, members = self.groups[name]
        return sum(1 for m in members if self.holds(cosigners, m)) >= threshold

    def describe(self) -> str:
        """The quorum in words, e.g. 'both: 2 of (w1, w2)'."""
        if self.quorum == "none":
            return "none"
        if self.quorum in self.witnesses:
            return self.quorum
        threshold, members = self.groups[self.quorum]
        return f"{self.quorum}: {threshold} of ({', '.join(members)})"


def parse_policy(text: str) -> WitnessPolicy:
    """Read a tlog-policy file (log, witness, group and quorum lines)."""
    for ch in text:
        if (ord(ch) < 32 and ch not in "\t\n") or ord(ch) == 127:
            raise PolicyError("the policy has a control character")
    policy = WitnessPolicy()
    seen_keys: list[bytes] = []
    quorum_lines = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        fields = line.replace("\t", " ").split()
        if not fields or fields[0].startswith("#"):
            continue
        kind, rest = fields[0], fields[1:]

        def fail(why: str, lineno: int = lineno) -> PolicyError:
            return PolicyError(f"policy line {lineno}: {why}")

        def defined(name: str) -> bool:
            return name in policy.witnesses or name in policy.groups

        if kind == "log":
            if not 1 <= len(rest) <= 2:
                raise fail("expected 'log <vkey> [<url>]'")
            try:
                key = parse_verifier_key(rest[0])
            except NoteError as exc:
                raise fail(str(exc)) from None
            if key.public_key in seen_keys:
                raise fail("duplicate key")
            seen_keys.append(key.public_key)
            policy.logs.append(key)
        elif kind == "witness":
            if not 2 <= len(rest) <= 3:
                raise fail("expected 'witness <name> <vkey> [<url>]'")
            if rest[0] == "none" or defined(rest[0]):
                raise fail(f"name {rest[0]!r} defined twice")
            witness = parse_witness_key(rest[0], rest[1])
            if witness.public_key in seen_keys:
                raise fail("duplicate key")
            seen_keys.append(witness.public_key)
            policy.witnesses[rest[0]] = witness
        elif kind == "group":
            if len(rest) < 3:
                raise fail("expected 'group <name> <all|any|k> <member>...'")
            name, k_text, members = rest[0], rest[1], rest[2:]
            if name == "none" or defined(name):
                raise fail(f"name {name!r} defined twice")
            if any(not defined(m) for m in members):
                raise fail("a member is not defined above")
            if len(set(members)) < len(members):
                raise fail("a member is listed twice")
            if k_text == "all":
                k = len(members)
            elif k_text == "any":
                k = 1
            elif k_text.isascii() and k_text.isdigit() and not k_text.startswith("0"):
                k = int(k_text)
            else:
                raise fail(f"bad threshold {k_text!r}")
            if not 1 <= k <= len(members):
                raise fail(f"threshold {k} out of 1..{len(members)}")
            policy.groups[name] = (k, members)
        elif kind == "quorum":
            quorum_lines += 1
            if len(rest) != 1 or quorum_lines > 1:
                raise fail("expected exactly one 'quorum <name>' line")
            if rest[0] != "none" and not defined(rest[0]):
                raise fail(f"quorum {rest[0]!r} is not defined above")
            policy.quorum = rest[0]
        else:
            raise fail(f"unknown keyword {kind!r}")
    if quorum_lines != 1:
        raise PolicyError("the policy has no quorum line")
    return policy


@dataclass(frozen=True)
class QuorumReport:
    met: bool
    cosigned: dict[str, int]  # policy name -> cosignature time
    quorum: str

    def names(self) -> str:
        return ", ".join(sorted(self.cosigned)) or "-"


def check_quorum(note: Note, policy: WitnessPolicy) -> QuorumReport:
    """Which policy witnesses validly cosigned the note, and whether the quorum holds.

    Lines naming a witness key that do not verify are ignored (they count for nobody)."""
    cosigned: dict[str, int] = {}
    for sig in note.signatures:
        for witness in policy.witnesses.values():
            t = witness.cosignature_time(note.body, sig.name, sig.key_id, sig.signature)
            if t is not None:
                cosigned[witness.name] = t
    return QuorumReport(policy.holds(set(cosigned)), cosigned, policy.describe())


# -- the check (spec §9, check 12; receipt check 5) -----------------------------------------

NAMES = {
    12: ("témoins : quorum de cosignatures", "witnesses: cosignature quorum"),
    "receipt": ("témoins : quorum sur le point de contrôle du reçu", "witnesses: receipt quorum"),
}
MESSAGES: dict[str, tuple[str, str]] = {
    "witness-no-policy": (
        "la définition n'annonce aucun témoin : rien n'assure que tous voient le même journal",
        "the definition announces no witness: nothing shows everyone sees the same log",
    ),
    "witness-policy-bad": (
        "politique de témoins illisible : {detail}",
        "unusable policy: {detail}",
    ),
    "witness-policy-log": (
        "la politique donnée ne nomme pas la clé du journal {key}",
        "the policy given does not name the log key {key}",
    ),
    "witness-receipt-unchecked": (
        "sans --log ni --policy, la politique de témoins est inconnue : quorum non vérifié",
        "without --log or --policy the witness policy is unknown: quorum not checked",
    ),
    "witness-policy-source": ("politique : {source}", "policy: {source}"),
    "witness-cosigned": (
        "{name} ({key}) a cosigné la taille {size} le {time}",
        "{name} ({key}) cosigned size {size} at {time}",
    ),
    "witness-missing": (
        "{name} ({key}) n'a pas cosigné ce point de contrôle",
        "{name} ({key}) did not cosign this checkpoint",
    ),
    "witness-quorum-met": (
        "quorum atteint ({quorum}) par : {names}",
        "quorum met ({quorum}) by: {names}",
    ),
    "witness-quorum-missing": (
        "quorum non atteint ({quorum}) : cosigné seulement par {names} ; ce point de contrôle "
        "a pu être montré à vous seul",
        "quorum not met ({quorum}): cosigned only by {names}; this checkpoint may have been "
        "shown to you alone",
    ),
}


def _when(t: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_policy_file(path: str) -> str:
    """The text of a `--policy` file (raises OSError / UnicodeDecodeError)."""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def check_witnesses(
    check: Check,
    checkpoint: Checkpoint | None,
    log_key: VerifierKey,
    policy_text: str | None,
    source: str,
) -> QuorumReport | None:
    """Fill `check`: which witnesses of the policy cosigned `checkpoint` and whether the
    quorum holds. `source` says where the policy came from ("definition", or the --policy
    file name)."""
    if checkpoint is None:
        check.note("nothing")
        return None
    if not policy_text:
        check.note("witness-no-policy")
        return None
    try:
        policy = parse_policy(policy_text)
    except PolicyError as exc:
        check.fail(None, "witness-policy-bad", detail=str(exc))
        return None
    check.note("witness-policy-source", source=source)
    if policy.logs and all(k.public_key != log_key.public_key for k in policy.logs):
        check.fail(None, "witness-policy-log", key=str(log_key))
    report = check_quorum(checkpoint.note, policy)
    for name, witness in policy.witnesses.items():
        key = f"{witness.key_name}+{witness.key_id.hex()}"
        if name in report.cosigned:
            check.note(
                "witness-cosigned",
                name=name, key=key, size=checkpoint.size, time=_when(report.cosigned[name]),
            )  # fmt: skip
        else:
            check.note("witness-missing", name=name, key=key)
    if report.met:
        check.note("witness-quorum-met", quorum=report.quorum, names=report.names())
    else:
        check.fail(None, "witness-quorum-missing", quorum=report.quorum, names=report.names())
    return report


def latest_policy(definitions: list[tuple[int, dict[str, Any]]]) -> str | None:
    """The witness policy of the latest definition revision (absent: none)."""
    if not definitions:
        return None
    policy = definitions[-1][1].get("witness_policy")
    return policy if isinstance(policy, str) else None


def definition_policy(entries: list[bytes]) -> str | None:
    """The witness policy of the last `definition` entry among raw entries (the receipt
    check reads the log this way; `verify` has parsed and checked them already)."""
    import json

    found = None
    for raw in entries:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("kind") == "definition":
            body = entry.get("body")
            found = body.get("witness_policy") if isinstance(body, dict) else None
    return found if isinstance(found, str) else None
