"""Benchmark: `scrutin-audit` on an encrypted round (docs/audit-log.md §10).

    PYTHONPATH=. python bench/audit_encrypted.py [--ballots 20000] [--shards 2] [--cache DIR]

Builds (once, cached in DIR) an encrypted primary of N voters each casting one ballot on a
random subset of 5 of 12 candidates, 7 grades, blank allowed, 3 trustees (k = 2), closed,
summed, decrypted and published, with the producer's crypto. Then times, on this machine:

1. `scrutin-audit verify` in one process on every core, phase by phase, and its
   extrapolation to 1,000,000 ballots (every phase grows with the number of ballots; the
   ceremony and the decryption do not, and are small);
2. one ballot's proofs checked on one core, against the raw cost of the group operations
   they are made of, measured in the same run (ratio = bound / measured);
3. `--shard i/n` in n processes at once (one worker each) plus `combine`, against the
   single-core estimate (phases other than the proofs, + N × one ballot's proofs): the
   speed-up from cutting the audit across processes (or machines: each part is independent).

Goal: the audit of 1,000,000 ballots on this machine's two cores ≤ 3.5 h.

Wall-clock times depend on what else the machine runs; the CPU seconds (this process and its
workers) do much less, so the estimate for two free cores is also given: CPU seconds / 2.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from audit import group  # noqa: E402
from audit.encrypted import RoundContext, check_ballot  # noqa: E402
from audit.note import parse_verifier_key  # noqa: E402
from audit.parallel import cpu_count  # noqa: E402
from audit.sources import load_export  # noqa: E402
from audit.verify import verify  # noqa: E402
from crypto import encrypted_ballots as eb  # noqa: E402
from tests.audit.builder import write_json  # noqa: E402
from tests.audit.encrypted_builder import EncryptedPrimary  # noqa: E402

CANDIDATES = 12
SUBSET = 5
TARGET = 1_000_000
GOAL_HOURS = 3.5


def _ballot(args: tuple[eb.RoundParams, int, bytes, int]) -> dict[str, Any]:
    from nacl.signing import SigningKey

    params, voter, seed, blank_every = args
    rng = random.Random(voter)
    cands = rng.sample(list(params.candidates), SUBSET)
    grades = None if voter % blank_every == 0 else {c: rng.randrange(7) for c in cands}
    return eb.build_ballot(params, cands, grades, SigningKey(seed))


def build(ballots: int, path: str) -> tuple[str, str]:
    """Export and vkey files of an honest encrypted primary of `ballots` voters."""
    p = EncryptedPrimary(voters=ballots, definition={"subset_size": SUBSET}, candidates=CANDIDATES)
    p.ceremony()
    p.open()
    params = p.params()
    work = [(params, v, bytes(p.keys[v]), 23) for v in range(1, ballots + 1)]
    start = time.perf_counter()
    with ProcessPoolExecutor(cpu_count()) as pool:
        bodies = list(pool.map(_ballot, work, chunksize=64))
    print(f"built {ballots} ballots in {time.perf_counter() - start:.0f} s", flush=True)
    for v, body in enumerate(bodies, 1):
        index = p.b.add("ballot", body)
        p.ballots.append((index, p.keys[v], {}, body))
    p.close()
    sums = p.honest_sums()
    p.publish_sums(sums)
    p.publish_decryptions(sums)
    profiles, valid, blank = decrypt_for_result(p, sums)
    p.publish_result(p.result_body(profiles, valid, blank))
    export = write_json(path, p.export())
    with open(path + ".vkey", "w", encoding="utf-8") as fh:
        fh.write(p.b.vkey)
    return export, path + ".vkey"


def decrypt_for_result(p: EncryptedPrimary, sums: dict[str, Any]) -> tuple[dict, int, int]:
    """The profiles the trustees' shares give (the builder's ballots carry no plaintext)."""
    from crypto import trustees as tm

    k = p.k
    chosen = p.trustees[:k]
    table = tm.DiscreteLog(sums["ballots"])

    def count(value: str) -> int:
        raw = base64.b64decode(value)
        alpha, beta = raw[:32], raw[32:]
        shares = {t.index: tm.mul(t.secret, alpha) for t in chosen}
        return tm.decrypt(beta, tm.combine(shares), table)

    profiles = {c: [0] * 7 for c in p.ids.values()}
    for c, cells in sums["sums"].items():
        profiles[c] = [count(v) for v in cells]
    blank = count(sums["blank"]) if "blank" in sums else 0
    return profiles, sums["ballots"] - blank, blank


def raw_costs(samples: int = 400) -> dict[str, float]:
    """Seconds per raw group operation, as audit/group.py calls them."""
    p = group.base(group.s(987654321))
    k = group.s(2**251 + 12345)
    out = {}
    for name, fn in (  # CPU time, as one_ballot's
        ("mul", lambda: group.mul_valid(k, p)),
        ("base", lambda: group.base(k)),
        ("add", lambda: group.add(p, p)),
        ("hash", lambda: group.hash_parts("ballot-weight", [b"x" * 40] * 6 + [b"y" * 384])),
    ):
        start = time.process_time()
        for _ in range(samples):
            fn()
        out[name] = (time.process_time() - start) / samples
    return out


def cpu() -> float:
    """CPU seconds of this process and of its finished children (workers, shard processes)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def one_ballot(export: str, samples: int = 200) -> tuple[float, float]:
    """(measured, bound) CPU seconds to check one ballot's proofs on one core; the bound
    counts the group operations §10 requires per row (n grades, a blank cell): 2·n weight
    multiplications, per branch one by G and three variable ones, n targets z·G, the
    additions, and n + 1 hashes, at the raw costs measured now."""
    with open(export, encoding="utf-8") as fh:
        doc = json.load(fh)
    entries = [base64.b64decode(e) for e in doc["entries"]]
    ballots, ctx = [], None
    for raw in entries:
        entry = json.loads(raw)
        if entry["kind"] == "round-open":
            body = entry["body"]
            ctx = RoundContext(
                doc["origin"], 1, tuple(c["candidate"] for c in body["candidates"]), 7,
                body["subset_size"], body["allow_blank"], True,
                base64.b64decode(body["election_public_key"]),
            )  # fmt: skip
        elif entry["kind"] == "ballot" and len(ballots) < samples:
            ballots.append(entry["body"])
    assert ctx is not None
    start = time.process_time()
    for body in ballots:
        check_ballot(ctx, body)
    measured = (time.process_time() - start) / len(ballots)
    c = raw_costs()
    n, branches = 7, 8
    per_row = (
        2 * n * c["mul"]  # folding: z_p·α_p, z_p·β_p over 6 cells + blank
        + branches * (c["base"] + 3 * c["mul"])  # X_k, Y_k
        + n * c["base"]  # targets z_k·G
        + (2 * (n - 1) + 3 * branches - 1) * c["add"]  # folding, X/Y and target subs
        + (n + 1) * c["hash"]
    )
    return measured, SUBSET * per_row


def audit(
    export: str, vkey: str, workers: int | None
) -> tuple[float, float, dict[str, float], bool]:
    with open(vkey, encoding="utf-8") as fh:
        key = parse_verifier_key(fh.read().strip())
    cpu0 = cpu()
    start = time.perf_counter()
    log = load_export(export)
    load = time.perf_counter() - start
    report = verify(log, key, workers=workers)
    total = time.perf_counter() - start
    return total, cpu() - cpu0, {"load": load, **report.timings}, report.ok


def sharded(
    export: str, vkey: str, n: int, tmp: str
) -> tuple[float, list[float], float, float, bool]:
    """Wall seconds of n `verify --shard` processes run at once, each one's CPU seconds, then
    `combine`'s wall and CPU seconds."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(_HERE)}
    cmd = [sys.executable, "-m", "audit"]
    parts = [os.path.join(tmp, f"part{i}.json") for i in range(1, n + 1)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                *cmd,
                "verify",
                export,
                "--log-key",
                vkey,
                "--workers",
                "1",
                "--shard",
                f"{i}/{n}",
                "--part",
                parts[i - 1],
                "--json",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for i in range(1, n + 1)
    ]
    each = []
    for proc in procs:
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        each.append(usage.ru_utime + usage.ru_stime)
    shards = time.perf_counter() - start
    cpu0 = cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [*cmd, "combine", *parts, "--log", export, "--log-key", vkey, "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    combine = time.perf_counter() - start
    return shards, each, combine, cpu() - cpu0, done.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ballots", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--cache", default=tempfile.gettempdir(), help="where the log is kept")
    ap.add_argument("--no-shards", action="store_true")
    args = ap.parse_args()
    n = args.ballots
    path = os.path.join(args.cache, f"scrutin-bench-audit-encrypted-{n}.json")
    if os.path.exists(path) and os.path.exists(path + ".vkey"):
        export, vkey = path, path + ".vkey"
        print(f"log: {path} (cached)")
    else:
        export, vkey = build(n, path)
        print(f"log: {path}")
    print(f"log size: {os.path.getsize(export) / 1e6:.1f} MB, {cpu_count()} cores")

    measured, bound = one_ballot(export)
    print(
        f"one ballot (5 of 12, 7 grades), one core: {measured * 1e3:.1f} ms CPU; bound from "
        f"the raw group operations it needs {bound * 1e3:.1f} ms; ratio {bound / measured:.2f}"
    )
    total, total_cpu, phases, ok = audit(export, vkey, None)
    print(
        f"audit, one process, every core: {total:.1f} s wall, {total_cpu:.1f} s CPU "
        f"({'passed' if ok else 'FAILED'})"
    )
    print("  phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items() if v >= 0.05))
    scale = TARGET / n
    free = total_cpu / cores_used()
    for label, seconds in (("as measured", total), (f"{cores_used()} free cores", free)):
        hours = seconds * scale / 3600
        print(
            f"extrapolated to {TARGET:,} ballots ({label}): {seconds * scale:,.0f} s = "
            f"{hours:.2f} h (goal ≤ {GOAL_HOURS} h: {'met' if hours <= GOAL_HOURS else 'NOT met'})"
        )
    if args.no_shards:
        return
    single = total_cpu  # what one core would spend on the whole audit
    with tempfile.TemporaryDirectory() as tmp:
        shards, each, combine, combine_cpu, ok = sharded(export, vkey, args.shards, tmp)
    print(
        f"--shard across {args.shards} processes (one worker each) at once: {shards:.1f} s wall, "
        f"CPU {' + '.join(f'{c:.1f}' for c in each)} s; then combine {combine:.1f} s wall, "
        f"{combine_cpu:.1f} s CPU ({'passed' if ok else 'FAILED'})"
    )
    free = max(each) + combine_cpu
    print(
        f"one core doing it all: {single:.1f} s CPU; {args.shards} shards on free cores or "
        f"machines, then combine: {free:.1f} s, a speed-up of {single / free:.2f}x "
        f"(wall clock on this shared machine: {single / (shards + combine):.2f}x)"
    )
    hours = (max(each) + combine_cpu) * scale / 2 / 3600
    print(
        f"1,000,000 ballots cut in {args.shards} shards, each on a machine of 2 free cores, then "
        f"combine on 2 cores: about {hours:.2f} h (CPU seconds scaled, halved for 2 cores)"
    )


def cores_used() -> int:
    return cpu_count()


if __name__ == "__main__":
    main()
