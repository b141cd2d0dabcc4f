"""Checking a voter's receipt (spec §7) alone or against the published log."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, NotRequired, TypedDict, cast

from audit import merkle
from audit.ballots import classify, open_sealed, public_key_of
from audit.envelope import EntryError, parse_entry
from audit.note import (
    NoteError,
    VerifierKey,
    b64decode_strict,
    parse_checkpoint,
    parse_verifier_key,
)
from audit.report import Check, Report
from audit.signatures import verify_chunk
from audit.sources import InputError, LogData, json_document, read_input
from audit.witness import check_witnesses, definition_policy

RECEIPT_FORMAT = "scrutin-receipt/v1"


TLOG_PROOF_HEADER = b"c2sp.org/tlog-proof@v1\n"
MAX_PROOF_HASHES = 64


class Receipt(TypedDict):
    """A receipt (spec §7); one read from a tlog-proof file names no origin."""

    format: str
    origin: NotRequired[str]
    vkey: str
    index: int
    entry: str  # base64 of the entry's bytes
    tracker: str  # hex leaf hash
    inclusion_proof: list[str]  # base64 hashes
    checkpoint: str


def load_receipt(path: str, vkey: str | None = None) -> Receipt:
    """A receipt file: scrutin-receipt/v1 JSON, or a C2SP tlog-proof file (which names no
    key: `vkey`, the observer's pinned verifier key, is then required)."""
    data = read_input(path)
    if data.startswith(TLOG_PROOF_HEADER):
        if vkey is None:
            raise InputError(
                f"{path} is a C2SP tlog-proof, which names no key: give the log's key "
                "with --log-key"
            )
        return _tlog_proof(path, data, vkey)
    doc = json_document(data, path, RECEIPT_FORMAT, "not a JSON receipt nor a C2SP tlog-proof")
    return check_receipt_shape(doc, path)


RECEIPT_MEMBERS = {
    "format": str,
    "origin": str,
    "vkey": str,
    "index": int,
    "entry": str,
    "tracker": str,
    "inclusion_proof": list,
    "checkpoint": str,
}


def check_receipt_shape(doc: dict[str, Any], path: str) -> Receipt:
    """A JSON receipt has exactly the §7 members, each of its type and spelling."""
    missing = sorted(RECEIPT_MEMBERS.keys() - doc.keys())
    extra = sorted(doc.keys() - RECEIPT_MEMBERS.keys())
    if missing or extra:
        raise InputError(f"{path}: receipt members: missing {missing}, unexpected {extra}")
    for name, typ in RECEIPT_MEMBERS.items():
        if type(doc[name]) is not typ:
            raise InputError(f"{path}: receipt {name!r} is not of type {typ.__name__}")
    if doc["index"] < 0:
        raise InputError(f"{path}: receipt 'index' is negative")
    if re.search(r"\s", doc["vkey"]):
        # §7: the verifier-key string itself, "without a newline" (§5: no space anywhere).
        raise InputError(f"{path}: receipt 'vkey' holds a newline or a space")
    if doc["origin"] != doc["vkey"].split("+", 1)[0]:
        raise InputError(f"{path}: receipt 'origin' is not the key name of its 'vkey'")
    if not re.fullmatch(r"[0-9a-f]{64}", doc["tracker"]):
        raise InputError(f"{path}: receipt 'tracker' is not 64 lowercase hex digits")
    try:
        b64decode_strict(doc["entry"])
        hashes = [b64decode_strict(h) if type(h) is str else b"" for h in doc["inclusion_proof"]]
    except ValueError as exc:
        raise InputError(f"{path}: receipt {exc}") from exc
    if any(len(h) != 32 for h in hashes):
        raise InputError(f"{path}: receipt proof hashes are not 32-byte base64 strings")
    return cast(Receipt, doc)  # every member checked above


def _tlog_proof(path: str, data: bytes, vkey: str) -> Receipt:
    """The receipt held by a tlog-proof file (spec §7): header, `extra <base64 entry>`,
    `index <n>`, proof hashes one per line, an empty line, the checkpoint verbatim."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: tlog-proof is not UTF-8") from exc
    head, sep, checkpoint = text.partition("\n\n")
    lines = head.split("\n")[1:]
    if not sep or not lines or not lines[0].startswith("extra "):
        raise InputError(f"{path}: tlog-proof lacks the extra line holding the entry")
    extra = lines[0][len("extra ") :]
    if len(lines) < 2 or not lines[1].startswith("index "):
        raise InputError(f"{path}: tlog-proof lacks its index line")
    number = lines[1][len("index ") :]
    if not number.isascii() or not number.isdigit() or (number != "0" and number[0] == "0"):
        raise InputError(f"{path}: tlog-proof index {number[:20]!r} is not a decimal number")
    hashes = lines[2:]
    if len(hashes) > MAX_PROOF_HASHES:
        raise InputError(f"{path}: tlog-proof has more than {MAX_PROOF_HASHES} proof hashes")
    try:
        entry = base64.b64decode(extra, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{path}: tlog-proof extra line is not base64") from exc
    return {
        "format": RECEIPT_FORMAT,
        "vkey": vkey,
        "index": int(number),
        "entry": extra,
        "tracker": merkle.leaf_hash(entry).hex(),
        "inclusion_proof": hashes,
        "checkpoint": checkpoint,
    }


def verify_receipt(
    doc: Receipt,
    *,
    log: LogData | None = None,
    pinned: VerifierKey | None = None,
    policy: tuple[str, str] | None = None,
) -> Report:
    try:
        key = parse_verifier_key(doc["vkey"])
    except NoteError as exc:
        raise InputError(f"receipt vkey: {exc}") from exc
    report = Report(origin=key.name, kind="receipt")
    c1, c2, c3, c4 = (report.check(n) for n in (1, 2, 3, 4))
    index = doc["index"]
    # 1. checkpoint signature
    cp = None
    try:
        cp = parse_checkpoint(doc["checkpoint"])
    except NoteError as exc:
        c1.fail(None, "checkpoint-malformed", which="receipt", detail=str(exc))
    if pinned is not None and str(pinned) != str(key):
        c1.fail(None, "receipt-key-differs")
    if cp is not None:
        if cp.origin != key.name:
            c1.fail(None, "checkpoint-origin", which="receipt", origin=cp.origin)
        elif not cp.note.signed_by(key):
            c1.fail(None, "checkpoint-bad-signature", which="receipt", size=cp.size)
    # 2. inclusion (and the entry itself)
    entry: dict[str, Any] | None = None
    try:
        raw = base64.b64decode(doc["entry"], validate=True)
        proof = [base64.b64decode(h, validate=True) for h in doc["inclusion_proof"]]
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InputError("receipt: entry or proof is not base64") from exc
    leaf = merkle.leaf_hash(raw)
    if leaf.hex() != doc["tracker"]:
        c2.fail(index, "receipt-tracker")
    try:
        entry = parse_entry(raw, key.name, None)
    except EntryError as exc:
        c2.fail(index, "entry-malformed", detail=str(exc))
    if entry is not None:
        if entry["key"] != key.key_id_hex:
            c2.fail(index, "signer-not-allowed", signer=entry["key"], kind=entry["kind"])
        elif verify_chunk((key.public_key, [(index, entry["kind"], raw)])):
            c2.fail(index, "bad-signature", kind=entry["kind"])
    if cp is not None:
        if merkle.verify_inclusion(leaf, index, cp.size, proof, cp.root):
            c2.note("receipt-included", short=leaf.hex()[:12], at=index, size=cp.size)
        else:
            c2.fail(index, "receipt-not-included", at=index, size=cp.size)
    # 3. consistency with the log
    entries: list[bytes] = []
    if log is None:
        c3.note("receipt-no-log")
    else:
        entries = log.entries
        trusted = pinned or key
        latest = None
        try:
            latest = parse_checkpoint(log.checkpoints[-1])
        except NoteError:
            pass
        if latest is None or latest.origin != trusted.name or not latest.note.signed_by(trusted):
            c3.fail(None, "receipt-log-unverified")
        tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])
        if cp is not None:
            if latest is not None and (
                cp.size > latest.size
                or cp.size > tree.size
                or tree.root(cp.size) != cp.root
                or tree.root(latest.size if latest.size <= tree.size else 0) != latest.root
            ):
                c3.fail(None, "receipt-log-inconsistent")
            elif latest is not None:
                c3.note("receipt-consistent", old=cp.size, new=latest.size)
        if index >= len(entries) or entries[index] != raw:
            c3.fail(index, "receipt-entry-differs", at=index)
    # 5. the witnesses' quorum on the receipt's checkpoint (policy: --policy, else the log's)
    c5 = report.check(5)
    if policy is None and log is not None:
        policy = ("definition", definition_policy(log.entries) or "")
    if policy is None:
        c5.note("witness-receipt-unchecked")
    else:
        check_witnesses(c5, cp, pinned or key, policy[1], policy[0])
    # 4. what the ballot says
    if entry is None or entry["kind"] != "ballot":
        if entry is not None:
            c4.fail(index, "receipt-not-ballot")
        return report
    _show_ballot(report, entry, entries, index)
    return report


def _show_ballot(report: Report, entry: dict[str, Any], entries: list[bytes], index: int) -> None:
    c4 = report.check(4)
    number = entry["body"]["round"]
    round_open = secret = definition = None
    for raw in entries:
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        kind, body = e.get("kind"), e.get("body") or {}
        if kind == "definition" and round_open is None:
            definition = body
        elif kind == "round-open" and body.get("round") == number:
            round_open = body
        elif kind == "tally-key" and body.get("round") == number:
            secret = base64.b64decode(body["tally_secret_key"])
    if "encrypted" in entry["body"]:  # §10: nobody can open it; its proofs can be checked
        _show_encrypted(c4, entry, round_open, definition, index)
        return
    if round_open is None or secret is None or definition is None:
        c4.note("receipt-sealed")
        return
    if public_key_of(secret) != base64.b64decode(round_open["tally_public_key"]):
        c4.fail(None, "tally-key-mismatch", round=number)
        return
    names = {c["candidate"]: c["name"] for c in round_open["candidates"]}
    plaintext = open_sealed(secret, base64.b64decode(entry["body"]["sealed"]))
    grades, reason, detail = classify(
        plaintext,
        number,
        list(names),
        len(definition["grades"]),
        round_open["allow_blank"],
        subset_size=round_open["subset_size"],
    )
    if grades is None:
        c4.warn(index, "invalid-" + reason, detail=detail)
        return
    lines = report.summary.setdefault("ballot_lines", [])
    report.summary["ballot"] = {names[c]: definition["grades"][g] for c, g in grades.items()}
    if not grades:
        c4.note("receipt-blank")
    for cand in names:
        if cand in grades:
            lines.append(f"{names[cand]} : {definition['grades'][grades[cand]]}")


def _show_encrypted(
    c4: Check,
    entry: dict[str, Any],
    round_open: dict[str, Any] | None,
    definition: dict[str, Any] | None,
    index: int,
) -> None:
    """An encrypted ballot (§10) never opens: check its proofs and name its candidates."""
    from audit.encrypted import BallotInvalid, RoundContext, check_ballot

    if round_open is None or definition is None or "election_public_key" not in round_open:
        c4.note("receipt-encrypted-unchecked")
        return
    ids = tuple(c["candidate"] for c in round_open["candidates"])
    names = {c["candidate"]: c["name"] for c in round_open["candidates"]}
    ctx = RoundContext(
        entry["origin"], entry["body"]["round"], ids, len(definition["grades"]),
        round_open["subset_size"], round_open["allow_blank"], definition["missing"] != "strict",
        base64.b64decode(round_open["election_public_key"]),
    )  # fmt: skip
    try:
        cells = check_ballot(ctx, entry["body"])
    except BallotInvalid as exc:
        c4.warn(index, "invalid-" + exc.code, detail=exc.detail)
        return
    except (ValueError, KeyError, TypeError) as exc:
        c4.warn(index, "invalid-malformed", detail=str(exc)[:200])
        return
    rows = sorted({pos // ctx.n_grades for pos in cells if pos != ctx.blank_cell})
    c4.note("receipt-encrypted", candidates=", ".join(names[ids[r]] for r in rows))
