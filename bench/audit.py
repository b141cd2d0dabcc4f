"""Benchmark: build a log of N sealed ballots (12 candidates) and time `scrutin-audit verify`.

    PYTHONPATH=. python bench/audit.py [--ballots 1000000] [--export PATH] [--workers N]

Prints seconds per verification phase and the ratio of the signature phase's throughput to
raw PyNaCl Ed25519 verification throughput × cores, both measured in the same run.
Goal at 1,000,000 ballots: verify ≤ 90 s, ratio ≥ 0.8.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

# Run as a script, this file's folder comes first on sys.path and "audit" would be this file.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from audit import merkle  # noqa: E402
from audit.canonical import encode  # noqa: E402
from audit.envelope import sign_message, signed_message  # noqa: E402
from audit.note import checkpoint_body, key_id, parse_verifier_key  # noqa: E402
from audit.parallel import cpu_count  # noqa: E402
from audit.recount import tally_profiles  # noqa: E402
from audit.sources import load_export  # noqa: E402
from audit.verify import verify  # noqa: E402

GRADES = ["À rejeter", "Insuffisant", "Passable", "Assez bien", "Bien", "Très bien", "Excellent"]
ORIGIN = "bench.scrutin.localhost/primaries/bench"
SEED = hashlib.sha256(b"scrutin bench log key").digest()
TALLY_SEED = hashlib.sha256(b"scrutin bench tally key").digest()
PRIMARY = str(uuid.UUID(int=0xBE7C4))
T0 = 1_767_225_600


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_entry(sk: SigningKey, kid: str, kind: str, body: dict[str, Any], t: int) -> bytes:
    env = {
        "v": 1,
        "origin": ORIGIN,
        "primary": PRIMARY,
        "kind": kind,
        "time": t,
        "body": body,
        "key": kid,
    }
    sig = sk.sign(sign_message(kind, encode(env))).signature
    return encode({**env, "sig": b64(sig)})


def ballot_chunk(args: tuple[int, int, list[str]]) -> tuple[list[bytes], list[list[int]], int]:
    start, count, ids = args
    sk = SigningKey(SEED)
    kid = key_id(ORIGIN, bytes(sk.verify_key)).hex()
    box = SealedBox(PublicKey(bytes(PrivateKey(TALLY_SEED).public_key)))
    rng = random.Random(start)
    profiles = [[0] * len(GRADES) for _ in ids]
    blank = 0
    out = []
    for i in range(start, start + count):
        if rng.random() < 0.01:
            grades: dict[str, int] = {}
            blank += 1
        else:
            grades = {}
            for pos, c in enumerate(ids):
                g = min(6, max(0, round(rng.gauss(3 + (pos % 4) * 0.3, 1.6))))
                grades[c] = g
                profiles[pos][g] += 1
        sealed = box.encrypt(encode({"round": 1, "grades": grades, "pad": ""}))
        out.append(
            make_entry(
                sk, kid, "ballot", {"round": 1, "sealed": b64(sealed)}, T0 + 86_400 + i // 50
            )
        )
    return out, profiles, blank


def build(n_ballots: int, path: str, workers: int) -> None:
    sk = SigningKey(SEED)
    kid = key_id(ORIGIN, bytes(sk.verify_key)).hex()
    ids = [str(uuid.UUID(int=i + 1)) for i in range(12)]
    names = {c: f"Candidat·e {i + 1}" for i, c in enumerate(ids)}
    decl = {c: hashlib.sha256(names[c].encode()).hexdigest() for c in ids}
    d = {
        "revision": 1,
        "title": "Banc d'essai",
        "slug": "bench",
        "description": "",
        "threshold": 2,
        "support_cap": 0,
        "qualification": "threshold",
        "grades": GRADES,
        "rule": "majority-value",
        "missing": "worst-grade",
        "default_grade": 0,
        "upper_median": False,
        "subset_size": 0,
        "allow_blank": True,
        "eligibility": "email",
        "phases": [],
    }
    t = T0
    entries = [make_entry(sk, kid, "definition", d, t)]
    for c in ids:
        entries.append(
            make_entry(
                sk,
                kid,
                "candidacy",
                {
                    "candidate": c,
                    "action": "submitted",
                    "name": names[c],
                    "declaration": decl[c],
                    "reason": "",
                },
                t,
            )
        )
        for k in range(2):
            who = hashlib.sha256(f"{c}-{k}".encode()).hexdigest()
            entries.append(make_entry(sk, kid, "support", {"candidate": c, "supporter": who}, t))
        entries.append(
            make_entry(sk, kid, "qualification", {"candidate": c, "supports": 2, "threshold": 2}, t)
        )
    tally_sk = PrivateKey(TALLY_SEED)
    entries.append(
        make_entry(
            sk,
            kid,
            "round-open",
            {
                "round": 1,
                "candidates": [
                    {"candidate": c, "name": names[c], "declaration": decl[c]} for c in ids
                ],
                "tally_public_key": b64(bytes(tally_sk.public_key)),
                "subset_size": 0,
                "allow_blank": True,
            },
            t + 86_400,
        )
    )
    open_size = len(entries)
    chunk = 5000
    jobs = [(s, min(chunk, n_ballots - s), ids) for s in range(0, n_ballots, chunk)]
    profiles = [[0] * len(GRADES) for _ in ids]
    blank = done = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for out, prof, b in pool.map(ballot_chunk, jobs):
            entries.extend(out)
            blank += b
            for pos, p in enumerate(prof):
                profiles[pos] = [x + y for x, y in zip(profiles[pos], p, strict=True)]
            done += len(out)
            print(f"\r  sealed and signed {done}/{n_ballots}", end="", file=sys.stderr)
    print(file=sys.stderr)
    t_close = T0 + 10 * 86_400
    entries.append(make_entry(sk, kid, "round-close", {"round": 1, "turnout": n_ballots}, t_close))
    entries.append(
        make_entry(
            sk, kid, "tally-key", {"round": 1, "tally_secret_key": b64(bytes(tally_sk))}, t_close
        )
    )
    tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])
    valid = n_ballots - blank
    res = tally_profiles(
        GRADES,
        dict(zip(ids, profiles, strict=True)),
        rule=d["rule"],
        missing=d["missing"],
        default_grade=0,
        upper_median=False,
        participants=valid,
    )
    entries.append(
        make_entry(
            sk,
            kid,
            "result",
            {
                "round": 1,
                "tree_size": len(entries),
                "root": b64(tree.root()),
                "rule": d["rule"],
                "missing": d["missing"],
                "upper_median": False,
                "default_grade": 0,
                "counts": {"valid": valid, "blank": blank, "invalid": 0},
                **res,
            },
            t_close,
        )
    )
    tree = merkle.Tree([merkle.leaf_hash(e) for e in entries])

    def note(size: int) -> str:
        body = checkpoint_body(ORIGIN, size, tree.root(size))
        sig = sk.sign(body.encode()).signature
        return f"{body}\n\u2014 {ORIGIN} {b64(bytes.fromhex(kid) + sig)}\n"

    blob = b64(b"\x01" + bytes(sk.verify_key))
    vkey = f"{ORIGIN}+{kid}+{blob}"
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "format": "scrutin-export/v1",
                "origin": ORIGIN,
                "primary": PRIMARY,
                "vkey": vkey,
                "entries": [b64(e) for e in entries],
                "checkpoints": [note(open_size), note(len(entries))],
            },
            fh,
        )
    with open(path + ".vkey", "w", encoding="utf-8") as fh:
        fh.write(vkey + "\n")


def raw_verify_rate(path: str, sample: int = 20_000) -> float:
    """Single-core raw PyNaCl verifications per second on the log's own entries."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    raws = [base64.b64decode(e) for e in doc["entries"][:sample]]
    vk = VerifyKey(parse_verifier_key(doc["vkey"]).public_key)
    pairs = [signed_message(r, json.loads(r)["kind"]) for r in raws]
    start = time.perf_counter()
    for message, sig in pairs:
        vk.verify(message, sig)
    return len(pairs) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--export", help="reuse (or write) this export file")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    workers = args.workers or cpu_count()
    tmp = None
    path = args.export
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="scrutin-bench-")
        path = os.path.join(tmp.name, "export.json")
    if not os.path.exists(path):
        print(f"building {args.ballots} ballots on {workers} cores…", file=sys.stderr)
        start = time.perf_counter()
        build(args.ballots, path, workers)
        print(f"build: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    with open(path + ".vkey", encoding="utf-8") as fh:
        key = parse_verifier_key(fh.read())
    start = time.perf_counter()
    log = load_export(path)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    report = verify(log, key, workers=workers)
    verify_s = time.perf_counter() - start
    rate = raw_verify_rate(path)
    n = len(log.entries)
    raw_s = n / (rate * workers)
    sig_s = report.timings["signatures"]
    print(
        f"entries: {n} ({args.ballots} ballots), cores: {workers}, all checks passed: {report.ok}"
    )
    print(f"{'phase':<14}{'seconds':>9}")
    print(f"{'load':<14}{load_s:>9.2f}")
    for phase, secs in report.timings.items():
        print(f"{phase:<14}{secs:>9.2f}")
    print(
        f"{'verify total':<14}{verify_s:>9.2f}   (load + verify {load_s + verify_s:.2f} s, "
        f"goal ≤ 90 s at 1,000,000)"
    )
    print(
        f"raw PyNaCl verify: {rate:,.0f}/s per core × {workers} cores → {raw_s:.2f} s "
        f"for {n} signatures"
    )
    print(f"ratio signature phase vs raw × cores: {raw_s / sig_s:.2f} (goal ≥ 0.8)")
    print(f"ratio raw signatures vs whole verification: {raw_s / (load_s + verify_s):.2f}")
    if tmp is not None:
        tmp.cleanup()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
