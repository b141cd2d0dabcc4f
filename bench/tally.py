"""Benchmark of the majority judgment tally engine (voting/majority.py).

Prints the time to build merit profiles from 1,000,000 ballots × 12 candidates (as mappings and
as tuples), the time to rank 1,000 candidates from their profiles under each rule, and the peak
memory. Goals: < 2 s for the profiles, < 0.1 s per rule for the ranking.

    PYTHONPATH=. python bench/tally.py [--ballots N] [--candidates N] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable

from voting.majority import FRENCH_7, RULES, tally


def _ballots(n: int, candidates: list[str], rng: random.Random) -> list[tuple[int, ...]]:
    grades = range(len(FRENCH_7))
    weights = [1, 2, 3, 4, 4, 3, 2]
    k = len(candidates)
    return [tuple(rng.choices(grades, weights, k=k)) for _ in range(n)]


def _time(label: str, func: Callable[[], object], goal: float, repeat: int) -> float:
    """Best of ``repeat`` runs (the machine is shared: the minimum is the engine's own cost)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    best, worst = min(times), max(times)
    verdict = "ok" if best < goal else "SLOW"
    print(
        f"{label:<50} best {best:6.3f} s  worst {worst:6.3f} s  (goal < {goal:g} s: {verdict})",
        flush=True,
    )
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--ranked", type=int, default=1_000, help="candidates to rank")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (best kept)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    candidates = [f"c{i:02d}" for i in range(args.candidates)]
    print(f"generating {args.ballots:,} ballots × {args.candidates} candidates…", flush=True)
    tuples = _ballots(args.ballots, candidates, rng)
    mappings = [dict(zip(candidates, ballot, strict=True)) for ballot in tuples]
    # Random subsets (LaPrimaire): each voter grades 5 of the candidates.
    subsets = [dict(rng.sample(list(b.items()), min(5, len(b)))) for b in mappings]

    slow = False
    for label, ballots in (
        ("profiles from ballots as tuples", tuples),
        ("profiles from ballots as dicts (full)", mappings),
        ("profiles from ballots as dicts (random 5 of 12)", subsets),
    ):
        elapsed = _time(
            label, lambda b=ballots: tally(FRENCH_7, candidates, ballots=b), 2.0, args.repeat
        )
        slow |= elapsed >= 2.0
    del tuples, mappings, subsets

    many = [f"p{i:04d}" for i in range(args.ranked)]
    profiles = {}
    for cid in many:
        total = rng.randint(900, 1100)  # unequal totals: the normalize policy works on shares
        profile = [0] * len(FRENCH_7)
        for grade in rng.choices(range(len(FRENCH_7)), [1, 2, 3, 4, 4, 3, 2], k=total):
            profile[grade] += 1
        profiles[cid] = profile
    balanced = {cid: [*p[:-1], p[-1] + 1100 - sum(p)] for cid, p in profiles.items()}
    for rule in RULES:
        for label, data in (("equal totals", balanced), ("unequal totals", profiles)):
            elapsed = _time(
                f"rank {args.ranked:,} candidates, {rule}, {label}",
                lambda r=rule, d=data: tally(FRENCH_7, many, profiles=d, rule=r),
                0.1,
                args.repeat,
            )
            slow |= elapsed >= 0.1

    tracemalloc.start()
    tally(FRENCH_7, candidates, ballots=_ballots(100_000, candidates, rng))
    for rule in RULES:
        tally(FRENCH_7, many, profiles=profiles, rule=rule)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced memory, 100,000 tuple ballots + ranking rounds: {peak / 2**20:8.1f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS of the whole run (ballot lists included): {rss / 1024:8.1f} MiB")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
