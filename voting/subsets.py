"""Balanced random subsets of candidates, one per voter (pure, no I/O).

When a round has many candidates, each voter grades only ``k`` of them. To give every
candidate about the same number of judgments, the draw favours candidates shown less often
so far, as LaPrimaire.org's design did: each candidate is drawn (without replacement) with a
weight of ``1 / (times shown so far + 1)`` (the ``+ 1`` keeps a never-shown candidate finite).

Weighting alone keeps exposures close on average but gives no hard bound, so the draw also
keeps a **balance window**: only candidates shown fewer than ``min + window`` times may be
drawn, where ``min`` is the least exposure; when those are fewer than ``k``, all of them are
taken and the rest is drawn from the next tier the same way. That keeps the invariant
``max exposure - min exposure <= window`` after every draw, whatever the random choices
(proof sketch in :func:`draw_subset`), while leaving the choice random.

The random source is a parameter: the service passes a ``random.SystemRandom``; tests pass a
seeded ``random.Random`` and get the same subsets every time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from fractions import Fraction

__all__ = ["DEFAULT_WINDOW", "draw_subset", "shuffled", "simulate_exposure"]

DEFAULT_WINDOW = 2


def _weighted_pick(pool: list[str], exposure: Mapping[str, int], rng: random.Random) -> str:
    """One candidate of ``pool`` with probability proportional to 1 / (shown + 1)."""
    weights = [Fraction(1, exposure.get(c, 0) + 1) for c in pool]
    total = sum(weights)
    # An exact draw: a uniform integer over the common denominator, no float rounding.
    denominator = 1
    for w in weights:
        denominator = denominator * w.denominator // _gcd(denominator, w.denominator)
    ticket = rng.randrange(int(total * denominator))
    for candidate, weight in zip(pool, weights, strict=True):
        share = int(weight * denominator)
        if ticket < share:
            return candidate
        ticket -= share
    return pool[-1]  # unreachable: the tickets add up to the total


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def draw_subset(
    candidates: Sequence[str],
    exposure: Mapping[str, int],
    k: int,
    rng: random.Random,
    *,
    window: int = DEFAULT_WINDOW,
) -> list[str]:
    """Draw ``k`` distinct candidates for one voter, favouring the least shown.

    ``exposure`` maps a candidate to the number of voters it was shown to so far (absent =
    0). With ``k <= 0`` or ``k >= len(candidates)`` every candidate is returned. The result
    is in the order of ``candidates`` (display order is shuffled separately).

    Why the window bound holds: let ``m`` be the least exposure and suppose every exposure
    is in ``[m, m + window]``. If at least ``k`` candidates are below ``m + window`` the draw
    takes only those, which end at most at ``m + window``. Otherwise it takes all of them
    (so every candidate at ``m`` moves up and the new minimum is ``m + 1``) and the rest from
    candidates at ``m + window``, which end at ``m + 1 + window``. Either way the invariant
    holds again.
    """
    if window < 1:
        raise ValueError("the balance window must be at least 1")
    ids = list(dict.fromkeys(candidates))
    if len(ids) != len(candidates):
        raise ValueError("candidates must be distinct")
    if k <= 0 or k >= len(ids):
        return ids
    chosen: set[str] = set()
    remaining = sorted(ids, key=lambda c: exposure.get(c, 0))
    while len(chosen) < k:
        low = exposure.get(remaining[0], 0)
        tier = [c for c in remaining if exposure.get(c, 0) < low + window]
        need = k - len(chosen)
        if len(tier) <= need:
            chosen.update(tier)
            remaining = [c for c in remaining if c not in chosen]
            continue
        pool = list(tier)
        for _ in range(need):
            pick = _weighted_pick(pool, exposure, rng)
            pool.remove(pick)
            chosen.add(pick)
    return [c for c in ids if c in chosen]


def shuffled(candidates: Sequence[str], seed: bytes | str | int) -> list[str]:
    """A display order of ``candidates``, the same every time for the same seed."""
    order = list(candidates)
    random.Random(seed).shuffle(order)
    return order


def simulate_exposure(
    candidates: Sequence[str], k: int, voters: int, rng: random.Random
) -> dict[str, int]:
    """Exposure counts after ``voters`` successive draws (for tests and the benchmark)."""
    exposure = dict.fromkeys(candidates, 0)
    for _ in range(voters):
        for c in draw_subset(candidates, exposure, k, rng):
            exposure[c] += 1
    return exposure
