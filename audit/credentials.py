"""Check 13: voter-held credentials (docs/audit-log.md §8 "Voter-held credentials", §9).

Under `credentials: voter` every ballot and support is signed by the citizen's own Ed25519
key, registered in a `credential` entry and frozen on the round's `roll`: an operator holding
only the log key cannot add a ballot for a citizen. This module replays the registrations,
checks every roll and every credential signature, and decides which ballots count (the last
one of each credential in its round).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from audit.canonical import encode

if TYPE_CHECKING:  # report imports this module
    from audit.report import Check

BALLOT_DOMAIN = b"scrutin-ballot/v1\x00"
BALLOT_DOMAIN_V2 = b"scrutin-ballot/v2\x00"  # §10: over the encrypted blob
SUPPORT_DOMAIN = b"scrutin-support/v1\x00"
KINDS = ("definition", "credential", "roll", "ballot", "support", "round-close")

NAMES = {13: ("identifiants des électeurs et liste figée", "voter credentials and frozen roll")}

MESSAGES: dict[str, tuple[str, str]] = {
    "credential-reused": (
        "la clé {key} a déjà été enregistrée (entrée {first})",
        "key {key} was already registered (entry {first})",
    ),
    "credential-second": (
        "ce citoyen a déjà une clé en vigueur ({key}) et la nouvelle ne la remplace pas",
        "this citizen already holds a key in force ({key}) and the new one does not replace it",
    ),
    "replaces-unknown": (
        "« replaces » nomme {key}, qui n'est pas une clé en vigueur de ce citoyen",
        "'replaces' names {key}, which is not a key in force of this citizen",
    ),
    "credential-after-roll": (
        "clé ajoutée alors que la liste du tour {round} est figée (entrée {roll})",
        "key added while round {round}'s roll is frozen (entry {roll})",
    ),
    "roll-missing": (
        "le tour {round} s'ouvre sans sa liste figée (« roll »)",
        "round {round} opens without its frozen roll",
    ),
    "roll-differs": (
        "liste du tour {round} : {name} publié {stated}, recompté {recount}",
        "roll of round {round}: {name} stated {stated}, recounted {recount}",
    ),
    "ballot-unsigned": (
        "bulletin sans signature d'électeur (credential, credential_sig)",
        "ballot without a voter's signature (credential, credential_sig)",
    ),
    "ballot-not-on-roll": (
        "bulletin signé par {key}, absente de la liste figée du tour {round}",
        "ballot signed by {key}, not on round {round}'s frozen roll",
    ),
    "ballot-revoked-credential": (
        "bulletin signé par {key}, clé révoquée",
        "ballot signed by {key}, a revoked key",
    ),
    "ballot-bad-signature": (
        "la signature d'électeur du bulletin ne vérifie pas ({key})",
        "the ballot's voter signature does not verify ({key})",
    ),
    "support-unsigned": (
        "soutien sans signature d'électeur (credential, credential_sig)",
        "support without a voter's signature (credential, credential_sig)",
    ),
    "support-unknown-credential": (
        "soutien signé par {key}, clé jamais enregistrée",
        "support signed by {key}, a key never registered",
    ),
    "support-revoked-credential": (
        "soutien signé par {key}, clé révoquée",
        "support signed by {key}, a revoked key",
    ),
    "support-pseudonym": (
        "le pseudonyme de ce soutien n'est pas celui du citoyen de la clé (entrée {first}) : "
        "un citoyen, un pseudonyme",
        "this support's pseudonym is not the one of the key's citizen (entry {first}): one "
        "citizen, one pseudonym",
    ),
    "support-bad-signature": (
        "la signature d'électeur du soutien ne vérifie pas ({key})",
        "the support's voter signature does not verify ({key})",
    ),
    "credential-member": (
        "{kind} avec identifiant d'électeur alors que la définition dit « credentials: server »",
        "{kind} with a voter credential while the definition says 'credentials: server'",
    ),
    "server-signed": (
        "{supports} soutien(s) et {ballots} bulletin(s) signés par la seule clé du journal "
        "(« credentials: server ») : qu'ils viennent de citoyens inscrits, un chacun, repose "
        "sur la confiance en l'opérateur",
        "{supports} support(s) and {ballots} ballot(s) signed by the log key alone "
        "('credentials: server'): that they come from eligible citizens, one each, rests on "
        "trust in the operator",
    ),
    "credentials-summary": (
        "{registered} clés enregistrées ({assisted} assistées), {replacements} remplacement(s) ; "
        "{counted} bulletins comptés, {revotes} revote(s), {assisted_ballots} sous clé assistée",
        "{registered} keys registered ({assisted} assisted), {replacements} replacement(s); "
        "{counted} ballots counted, {revotes} revote(s), {assisted_ballots} under an assisted key",
    ),
    "roll-size": ("liste du tour {round} : {count} clés", "roll of round {round}: {count} keys"),
    "mine-unknown": (
        "votre clé {key} n'est pas enregistrée dans ce journal",
        "your key {key} is not registered in this log",
    ),
    "mine-registered": (
        "votre clé {key} : enregistrée à l'entrée {index} ({kind}), sur la liste des tours "
        "{rolls}, révoquée : {revoked}",
        "your key {key}: registered at entry {index} ({kind}), on the roll of rounds {rolls}, "
        "revoked: {revoked}",
    ),
    "mine-no-ballot": (
        "aucun bulletin ne porte votre clé",
        "no ballot carries your key",
    ),
    "mine-ballots": (
        "tour {round} : bulletins sous votre clé aux entrées {indexes} ; celui qui compte : "
        "{counted}",
        "round {round}: ballots under your key at entries {indexes}; the one counted: {counted}",
    ),
}


def roll_digest(keys: Sequence[str]) -> str:
    """SHA-256 hex of the JCS list of base64 keys in code-point order (§8)."""
    return hashlib.sha256(encode(sorted(keys))).hexdigest()


def ballot_message(origin: str, round_number: int, sealed: bytes, v2: bool = False) -> bytes:
    return (
        (BALLOT_DOMAIN_V2 if v2 else BALLOT_DOMAIN)
        + origin.encode("ascii")
        + b"\x00"
        + str(round_number).encode("ascii")
        + b"\x00"
        + sealed
    )


def support_message(origin: str, candidate: str) -> bytes:
    return SUPPORT_DOMAIN + origin.encode("ascii") + b"\x00" + candidate.encode("ascii")


def _short(key: str) -> str:
    return key[:12] + "…"


def _verifies(key: str, message: bytes, sig: str) -> bool:
    try:
        raw_sig = base64.b64decode(sig, validate=True)
        if len(raw_sig) != 64:
            return False
        VerifyKey(base64.b64decode(key, validate=True)).verify(message, raw_sig)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


class CredentialSummary(TypedDict):
    """Check 13 in figures (the report's summary under voter-held credentials)."""

    registered: int
    assisted: int
    replacements: int
    rolls: dict[str, int]  # round number -> keys on its roll
    counted: int
    revotes: int
    assisted_ballots: int


@dataclass
class CredentialResult:
    """What checks 8–10 need: ballots that do not count (earlier ballots of a credential)."""

    superseded: set[int] = field(default_factory=set)
    voter_mode: bool = False


def check_credentials(
    entries: Sequence[bytes],
    parsed: Sequence[tuple[Any, ...]],
    origin: str,
    check: Check,
    mine: str | None = None,
) -> tuple[CredentialResult, CredentialSummary]:
    """Run check 13 over entries that passed check 4; return the counting rule's result and
    the report's summary. `mine` (a voter's public key, base64) adds what the log holds
    under that key: registration, rolls, ballots, the one that counts."""
    result = CredentialResult()
    mode = "server"
    ever: dict[str, int] = {}  # key -> entry registering it
    in_force: dict[str, str] = {}  # citizen -> key
    citizen_of: dict[str, str] = {}  # key -> citizen
    supporter_of: dict[str, tuple[str, int]] = {}  # citizen -> (pseudonym, first support)
    citizen_behind: dict[str, str] = {}  # pseudonym -> citizen
    revoked: set[str] = set()
    assisted: set[str] = set()
    rolls: dict[int, set[str]] = {}
    frozen: tuple[int, int] | None = None  # (round, roll index) until that round closes
    last_ballot: dict[tuple[int, str], int] = {}
    signed_ballots: list[tuple[int, int, str]] = []
    replacements = 0
    operator_signed = {"support": 0, "ballot": 0}  # under "server": only the log key signs
    for index, item in enumerate(parsed):
        kind = item[0]
        if mode == "server" and kind in operator_signed:
            operator_signed[kind] += 1
        if kind not in KINDS:
            continue
        body = json.loads(entries[index])["body"]
        if kind == "definition":
            mode = body.get("credentials", "server")
            result.voter_mode = result.voter_mode or mode == "voter"
        elif kind in ("credential", "roll") and mode != "voter":
            check.fail(index, "credential-member", kind=kind)
        elif kind == "credential":
            key, citizen = body["credential"], body["citizen"]
            if frozen is not None:
                check.fail(index, "credential-after-roll", round=frozen[0], roll=frozen[1])
            if key in ever:
                check.fail(index, "credential-reused", key=_short(key), first=ever[key])
                continue
            ever[key] = index
            current = in_force.get(citizen)
            replaces = body.get("replaces")
            if replaces is not None:
                if current != replaces:
                    check.fail(index, "replaces-unknown", key=_short(replaces))
                else:
                    revoked.add(replaces)
                    replacements += 1
            elif current is not None:
                check.fail(index, "credential-second", key=_short(current))
                revoked.add(current)
            in_force[citizen] = key
            citizen_of[key] = citizen
            if body["assisted"]:
                assisted.add(key)
        elif kind == "roll":
            keys = set(in_force.values())
            stated = {
                "count": body["count"],
                "assisted": body["assisted"],
                "digest": body["digest"],
            }
            recount = {
                "count": len(keys),
                "assisted": len(keys & assisted),
                "digest": roll_digest(list(keys)),
            }
            for name, value in stated.items():
                if value != recount[name]:
                    check.fail(
                        index,
                        "roll-differs",
                        round=body["round"],
                        name=name,
                        stated=value,
                        recount=recount[name],
                    )
            rolls[body["round"]] = keys
            frozen = (body["round"], index)
            check.note("roll-size", round=body["round"], count=len(keys))
        elif kind == "round-close":
            if frozen is not None and frozen[0] == body["round"]:
                frozen = None
        elif kind in ("ballot", "support"):
            key, sig = body.get("credential"), body.get("credential_sig")
            if mode != "voter":
                if key is not None or sig is not None:
                    check.fail(index, "credential-member", kind=kind)
                continue
            if key is None or sig is None:
                check.fail(index, f"{kind}-unsigned")
                continue
            if kind == "support":
                if key not in ever:
                    check.fail(index, "support-unknown-credential", key=_short(key))
                elif key in revoked:
                    check.fail(index, "support-revoked-credential", key=_short(key))
                elif not _verifies(key, support_message(origin, body["candidate"]), sig):
                    check.fail(index, "support-bad-signature", key=_short(key))
                else:
                    # One citizen, one pseudonym: check 7's duplicates and cap then hold per
                    # citizen (a signature replayed under another pseudonym is caught).
                    citizen, who = citizen_of[key], body["supporter"]
                    first = supporter_of.setdefault(citizen, (who, index))
                    if first[0] != who or citizen_behind.setdefault(who, citizen) != citizen:
                        check.fail(index, "support-pseudonym", first=first[1])
                continue
            number = body["round"]
            if key in revoked:
                check.fail(index, "ballot-revoked-credential", key=_short(key))
            elif key not in rolls.get(number, ()):
                check.fail(index, "ballot-not-on-roll", key=_short(key), round=number)
            else:
                v2 = "encrypted" in body
                try:
                    sealed = base64.b64decode(body["encrypted" if v2 else "sealed"], validate=True)
                except ValueError:
                    sealed = b""
                if not _verifies(key, ballot_message(origin, number, sealed, v2), sig):
                    check.fail(index, "ballot-bad-signature", key=_short(key))
            previous = last_ballot.get((number, key))
            if previous is not None:
                result.superseded.add(previous)
            last_ballot[(number, key)] = index
            signed_ballots.append((index, number, key))
    _check_round_opens(parsed, check)
    counted = [(i, k) for i, _, k in signed_ballots if i not in result.superseded]
    if mine is not None:
        _report_mine(check, mine, ever, revoked, assisted, rolls, signed_ballots, result)
    summary: CredentialSummary = {
        "registered": len(ever),
        "assisted": len(assisted),
        "replacements": replacements,
        "rolls": {str(n): len(keys) for n, keys in sorted(rolls.items())},
        "counted": len(counted),
        "revotes": len(result.superseded),
        "assisted_ballots": sum(1 for _, k in counted if k in assisted),
    }
    if not result.voter_mode:
        if any(operator_signed.values()):
            # The trade-off is reported, never hidden: nothing here shows these entries come
            # from eligible citizens, one each (docs/audit-log.md §9, check 13).
            check.warn(None, "server-signed", supports=operator_signed["support"],
                       ballots=operator_signed["ballot"])  # fmt: skip
        else:
            check.note("nothing")
    else:
        check.note("credentials-summary", **summary)
    return result, summary


def _report_mine(
    check: Check,
    key: str,
    ever: dict[str, int],
    revoked: set[str],
    assisted: set[str],
    rolls: dict[int, set[str]],
    signed_ballots: list[tuple[int, int, str]],
    result: CredentialResult,
) -> None:
    """The voter's own checks: is my key on the roll, and are the ballots under it mine?"""
    if key not in ever:
        check.note("mine-unknown", key=_short(key))
        return
    on = [str(n) for n, keys in sorted(rolls.items()) if key in keys]
    check.note(
        "mine-registered",
        key=_short(key),
        index=ever[key],
        kind="assisted" if key in assisted else "device",
        rolls=", ".join(on) or "-",
        revoked="yes" if key in revoked else "no",
    )
    ballots = [(i, n) for i, n, k in signed_ballots if k == key]
    if not ballots:
        check.note("mine-no-ballot")
    for number in sorted({n for _, n in ballots}):
        indexes = [i for i, n in ballots if n == number]
        counted = [i for i in indexes if i not in result.superseded]
        check.note(
            "mine-ballots",
            round=number,
            indexes=", ".join(map(str, indexes)),
            counted=counted[-1] if counted else "-",
        )


def _check_round_opens(parsed: Sequence[tuple[Any, ...]], check: Check) -> None:
    """Under `voter`, each round opens after its own roll (the last roll before it)."""
    mode = "server"
    last_roll_round: int | None = None
    for index, item in enumerate(parsed):
        kind = item[0]
        if kind == "definition":
            mode = item[3].get("credentials", "server")
        elif kind == "roll":
            last_roll_round = item[3]["round"]
        elif kind == "round-open" and mode == "voter":
            number = item[3]["round"]
            if last_roll_round != number:
                check.fail(index, "roll-missing", round=number)
