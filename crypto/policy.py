"""Witness policies in the C2SP tlog-policy format: logs, witnesses, groups, one quorum.

    witness w1 witness.example/w1+1234abcd+BA…= https://witness.example/w1
    witness w2 news.example/w+…+BA…= https://news.example/w
    group both all w1 w2
    quorum both

A checkpoint satisfies the policy when the quorum (a witness, a group, or ``none``) has
witnessed it; a witness witnesses a checkpoint by cosigning it, and a group ``k`` of its
members. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.cosignature import Cosigner, parse_cosigner_vkey
from crypto.note import NoteError, Verifier, parse_verifier_key

MAX_ITEMS = 64  # per kind: the spec recommends supporting at least 32


class PolicyError(ValueError):
    """A policy text that does not follow tlog-policy; the message names the line."""


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    cosigner: Cosigner
    url: str | None


@dataclass(frozen=True)
class Policy:
    text: str
    logs: tuple[tuple[Verifier, str | None], ...] = ()
    witnesses: dict[str, PolicyWitness] = field(default_factory=dict)
    groups: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    quorum: str = "none"

    def witnessed(self, cosigned: set[str], name: str | None = None) -> bool:
        """Does `name` (default: the quorum) witness a checkpoint cosigned by these witness
        names (policy names, not key names)?"""
        name = self.quorum if name is None else name
        if name == "none":
            return True
        if name in self.witnesses:
            return name in cosigned
        k, members = self.groups[name]
        return sum(self.witnessed(cosigned, m) for m in members) >= k


def _check_chars(text: str) -> None:
    for char in text:
        code = ord(char)
        if (code < 0x20 and char not in "\t\n") or code == 0x7F:
            raise PolicyError(f"the policy contains the control character {char!r}")


def parse_policy(text: str) -> Policy:
    """Parse a tlog-policy text; raises PolicyError naming the first wrong line."""
    if not isinstance(text, str):
        raise PolicyError("a policy is text")
    _check_chars(text)
    logs: list[tuple[Verifier, str | None]] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, tuple[int, tuple[str, ...]]] = {}
    quorum: str | None = None
    keys: set[bytes] = set()
    for number, raw in enumerate(text.split("\n"), 1):
        words = raw.replace("\t", " ").split()
        if not words or words[0].startswith("#"):
            continue
        where = f"line {number}"
        keyword, args = words[0], words[1:]
        try:
            if keyword == "log":
                if len(args) not in (1, 2):
                    raise PolicyError("'log <vkey> [<url>]'")
                verifier = parse_verifier_key(args[0])
                if verifier.public_key in keys:
                    raise PolicyError("duplicate key")
                keys.add(verifier.public_key)
                logs.append((verifier, args[1] if len(args) == 2 else None))
            elif keyword == "witness":
                if len(args) not in (2, 3):
                    raise PolicyError("'witness <name> <vkey> [<url>]'")
                name = args[0]
                if name == "none" or name in witnesses or name in groups:
                    raise PolicyError(f"the name {name!r} is already defined")
                cosigner = parse_cosigner_vkey(args[1])
                if cosigner.public_key in keys:
                    raise PolicyError("duplicate key")
                keys.add(cosigner.public_key)
                witnesses[name] = PolicyWitness(name, cosigner, args[2] if len(args) == 3 else None)
            elif keyword == "group":
                if len(args) < 3:
                    raise PolicyError("'group <name> all|any|<k> <name>...'")
                name, threshold, members = args[0], args[1], tuple(args[2:])
                if name == "none" or name in witnesses or name in groups:
                    raise PolicyError(f"the name {name!r} is already defined")
                for member in members:
                    if member not in witnesses and member not in groups:
                        raise PolicyError(f"{member!r} is not defined on a preceding line")
                if len(set(members)) != len(members):
                    raise PolicyError("a member is listed twice")
                if threshold == "all":
                    k = len(members)
                elif threshold == "any":
                    k = 1
                elif threshold.isdigit() and threshold.isascii() and threshold[0] != "0":
                    k = int(threshold)
                    if k > len(members):
                        raise PolicyError(f"threshold {k} is more than {len(members)} members")
                else:
                    raise PolicyError(f"bad threshold {threshold!r}")
                groups[name] = (k, members)
            elif keyword == "quorum":
                if len(args) != 1:
                    raise PolicyError("'quorum <name>'")
                if quorum is not None:
                    raise PolicyError("a second quorum line")
                if args[0] != "none" and args[0] not in witnesses and args[0] not in groups:
                    raise PolicyError(f"{args[0]!r} is not defined on a preceding line")
                quorum = args[0]
            else:
                raise PolicyError(f"unknown keyword {keyword!r}")
        except NoteError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        except PolicyError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        if max(len(logs), len(witnesses), len(groups)) > MAX_ITEMS:
            raise PolicyError(f"{where}: more than {MAX_ITEMS} logs, witnesses or groups")
    if quorum is None:
        raise PolicyError("the policy has no quorum line")
    return Policy(text, tuple(logs), witnesses, groups, quorum)
