"""How long the trustees' decryption of a round takes (issue 14; docs/benchmarks.md).

    python bench/trustees.py [--candidates 12] [--grades 7] [--trustees 3] [--threshold 2]
                             [--ballots 1000 100000 1000000]

For a round's sums (candidates × grades ciphertexts, plus the blank sum) under a k-of-n key
made by the real ceremony code, it times each step on one core:

- a trustee computing its decryption shares with their Chaum-Pedersen proofs;
- the service checking one trustee's shares (every proof);
- combining k shares by Lagrange interpolation at 0;
- the bounded discrete logarithm (baby-step giant-step table, then every cell), for each
  number of ballots: the only step that depends on the size of the round, through √ballots.

The sums are built directly as encryptions of counts adding up to the number of ballots (the
same ciphertexts a sum of ballots gives); decryption does not depend on how they were made.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto import trustees as t

ORIGIN = "bench.localhost/primaries/trustees"


def ceremony(n: int, k: int) -> tuple[bytes, dict[int, int], list[tuple[bytes, ...]]]:
    dealings = {i: t.deal(ORIGIN, i, k) for i in range(1, n + 1)}
    secrets_ = {j: t.secret_share(d.share_for(j) for d in dealings.values()) for j in dealings}
    commitments = [d.commitments for d in dealings.values()]
    return t.election_key(commitments), secrets_, commitments


def profile(rng: random.Random, ballots: int, grades: int) -> list[int]:
    cuts = sorted(rng.randint(0, ballots) for _ in range(grades - 1))
    edges = [0, *cuts, ballots]
    return [edges[i + 1] - edges[i] for i in range(grades)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--grades", type=int, default=7)
    parser.add_argument("--trustees", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=2)
    parser.add_argument("--ballots", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    args = parser.parse_args(argv)
    n, k = args.trustees, args.threshold
    rng = random.Random(14)
    h, secrets_, commitments = ceremony(n, k)
    context = t.Context(ORIGIN, 1, h)
    cells_count = args.candidates * args.grades + 1
    print(
        f"{args.candidates} candidates × {args.grades} grades + blank = {cells_count} sums, "
        f"{k}-of-{n} trustees, one core"
    )
    for ballots in args.ballots:
        counts = [c for _ in range(args.candidates) for c in profile(rng, ballots, args.grades)]
        counts.append(rng.randint(0, ballots))
        sums = [t.encrypt(h, m) for m in counts]
        positions = [f"cell/{i}" for i in range(len(sums))]
        chosen = sorted(rng.sample(range(1, n + 1), k))

        started = time.perf_counter()
        shares = {
            j: [
                t.decryption_share(context, j, secrets_[j], p, a)
                for p, (a, _) in zip(positions, sums, strict=True)
            ]
            for j in chosen
        }
        share_time = (time.perf_counter() - started) / k

        started = time.perf_counter()
        points = {}
        for j in chosen:
            vk = t.verification_key(commitments, j)
            points[j] = [
                t.verify_decryption_share(context, j, vk, p, a, s)
                for p, (a, _), s in zip(positions, sums, shares[j], strict=True)
            ]
        verify_time = (time.perf_counter() - started) / k

        started = time.perf_counter()
        combined = [t.combine({j: points[j][i] for j in chosen}) for i in range(len(sums))]
        combine_time = time.perf_counter() - started

        started = time.perf_counter()
        dlog = t.DiscreteLog(ballots)
        table_time = time.perf_counter() - started
        started = time.perf_counter()
        found = [t.decrypt(b, c, dlog) for (_, b), c in zip(sums, combined, strict=True)]
        solve_time = time.perf_counter() - started
        assert found == counts, "decryption gave other counts"
        total = share_time * k + verify_time * k + combine_time + table_time + solve_time
        print(
            f"ballots {ballots:>9,}: trustee shares {share_time:6.2f} s each, "
            f"service check {verify_time:6.2f} s per trustee, combine {combine_time:5.2f} s, "
            f"dlog table {table_time:6.2f} s + solve {solve_time:6.2f} s; "
            f"total {total:6.2f} s"
        )
        print(
            f"RESULT ballots={ballots} cells={len(sums)} k={k} n={n} share_s={share_time:.3f} "
            f"verify_s={verify_time:.3f} combine_s={combine_time:.3f} "
            f"dlog_table_s={table_time:.3f} dlog_solve_s={solve_time:.3f} total_s={total:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
