"""scrutin-audit: verify a primary's public log, or a voter's receipt.

    scrutin-audit verify SOURCE --log-key KEY [--state DIR] [--policy FILE] [--json] [--lang fr|en]
    scrutin-audit receipt RECEIPT [--log SOURCE] [--log-key KEY] [--policy FILE] [--json]
    scrutin-audit mirror URL DIR [--log-key KEY]
    scrutin-audit verify SOURCE --log-key KEY --shard I/N --part FILE
    scrutin-audit combine PART… --log SOURCE --log-key KEY

--shard I/N checks the proofs of one slice of an encrypted round's ballots (cut by voter
credential) and writes them to the --part FILE; combine adds up the parts of every slice
(refusing parts of another log, overlapping or missing slices) and finishes the audit.

mirror keeps the log's checkpoints and tiles in DIR (verify DIR reads them), checking that
each new checkpoint is consistent with the last one mirrored: exit 1 if the log was
rewritten or lost, and the mirror is left as it was.

RECEIPT: a scrutin-receipt/v1 JSON file, or a C2SP tlog-proof file (then --log-key is needed).

SOURCE: a primary's URL (http://host/primaries/slug, or its log/ or log/checkpoint URL), an
export file, or a tiles directory.
KEY: a verifier-key string or a file holding one. Exit: 0 all passed, 1 a check failed,
2 unusable input.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from audit.note import NoteError, VerifierKey, parse_verifier_key
from audit.receipt import load_receipt, verify_receipt
from audit.report import Report, resolve_lang
from audit.shard import load_part, parse_shard, write_part
from audit.sources import InputError, load, read_key_argument
from audit.verify import Progress, Verification, verify
from audit.witness import load_policy_file

PROGRESS_MIN = 20000


def _key(value: str) -> VerifierKey:
    try:
        return parse_verifier_key(read_key_argument(value))
    except NoteError as exc:
        raise InputError(f"--log-key: {exc}") from exc


def _progress(stream: TextIO) -> Progress:
    last: dict[str, int] = {}

    def report(phase: str, done: int, total: int) -> None:
        if total < PROGRESS_MIN:
            return
        pct = done * 100 // total
        if last.get(phase) == pct:
            return
        last[phase] = pct
        end = "\n" if done >= total else ""
        print(f"\r{phase}: {done}/{total} ({pct} %)", end=end, file=stream, flush=True)

    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrutin-audit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify a primary's log (checks 1–14)")
    v.add_argument(
        "source", help="primary URL (or its log/ or checkpoint URL), export file or tiles directory"
    )
    v.add_argument("--log-key", required=True, help="verifier-key string or file")
    v.add_argument("--state", help="directory of checkpoints saved by earlier runs")
    v.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    v.add_argument("--timings", action="store_true", help="print seconds per phase")
    v.add_argument(
        "--credential",
        help="your voting key (public, base64): is it on the roll, which ballots carry it",
    )
    v.add_argument("--shard", help="I/N: check the proofs of slice I of N only (needs --part)")
    v.add_argument("--part", help="file the slice's partial result is written to")
    c = sub.add_parser("combine", help="add up --shard parts and finish the audit")
    c.add_argument("parts", nargs="+", help="part files written by verify --shard I/N --part")
    c.add_argument("--log", required=True, help="the log the parts cover (URL, export, tiles)")
    c.add_argument("--log-key", required=True, help="verifier-key string or file")
    c.add_argument("--state", help="directory of checkpoints saved by earlier runs")
    c.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    c.add_argument("--timings", action="store_true", help="print seconds per phase")
    r = sub.add_parser("receipt", help="check a voter's receipt")
    r.add_argument("receipt", help="receipt file (scrutin-receipt/v1 JSON or C2SP tlog-proof)")
    r.add_argument("--log", help="primary URL, export file or tiles directory")
    r.add_argument("--log-key", help="verifier-key string or file")
    m = sub.add_parser("mirror", help="keep a copy of a log's checkpoints and tiles in DIR")
    m.add_argument("url", help="primary URL (or its log/ or checkpoint URL)")
    m.add_argument("dir", help="mirror directory (created if needed)")
    m.add_argument("--log-key", help="verifier-key string or file (default: pinned at first run)")
    for p in (v, r, c):
        p.add_argument(
            "--policy", help="witness policy file (C2SP tlog-policy) instead of the definition's"
        )
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--lang", choices=("fr", "en"), help="report language")
    return parser


def _policy(path: str | None) -> tuple[str, str] | None:
    if path is None:
        return None
    try:
        return path, load_policy_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--policy {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def _credential(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32 or base64.b64encode(raw).decode() != text.strip():
        raise InputError("--credential: not the base64 of a 32-byte Ed25519 public key")
    return text.strip()


def run(args: argparse.Namespace) -> Report:
    progress = _progress(sys.stderr) if sys.stderr.isatty() and not args.json else None
    policy = _policy(args.policy)
    if args.command == "combine":
        parts = [load_part(path) for path in args.parts]
        return verify(
            load(args.log), _key(args.log_key), state_dir=args.state, workers=args.workers,
            progress=progress, policy=policy, parts=parts,
        )  # fmt: skip
    if args.command == "verify":
        key = _key(args.log_key)
        mine = _credential(args.credential)
        shard = parse_shard(args.shard) if args.shard else None
        if (shard is None) != (args.part is None):
            raise InputError("--shard and --part go together")
        log = load(args.source)
        verification = Verification(
            log, key, state_dir=None if shard else args.state, workers=args.workers,
            progress=progress, policy=policy, credential=mine, shard=shard,
        )  # fmt: skip
        report = verification.run()
        if shard is not None:
            if verification.latest is None:
                raise InputError("the log has no readable checkpoint: no part written")
            try:
                write_part(args.part, verification.part())
            except OSError as exc:
                raise InputError(f"--part {args.part}: {exc.strerror or exc}") from exc
            report.summary["part"] = args.part
        return report
    pinned = _key(args.log_key) if args.log_key else None
    doc = load_receipt(args.receipt, str(pinned) if pinned else None)
    receipt_log = load(args.log) if args.log else None
    return verify_receipt(doc, log=receipt_log, pinned=pinned, policy=policy)


def _mirror(args: argparse.Namespace) -> int:
    from audit.mirror import MirrorConflict, mirror

    try:
        result = mirror(args.url, args.dir, args.log_key)
    except InputError as exc:
        print(f"scrutin-audit: {exc}", file=sys.stderr)
        return 2
    except MirrorConflict as exc:
        print(f"scrutin-audit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(result.render())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "mirror":
        return _mirror(args)
    lang = resolve_lang(args.lang)
    try:
        report = run(args)
    except InputError as exc:
        print(f"scrutin-audit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    try:
        if args.json:
            json.dump(report.to_json(lang), sys.stdout, ensure_ascii=False, indent=1)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(report.render(lang, timings=getattr(args, "timings", False)))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (e.g. `| head`) left early; the verdict is still the exit status.
        sys.stdout = open(os.devnull, "w")  # silence the flush at exit
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
