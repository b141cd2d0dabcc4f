"""The balanced random-subset draw: balanced, random, reproducible with a seed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from voting.subsets import DEFAULT_WINDOW, draw_subset, shuffled, simulate_exposure

CANDIDATES = [f"c{i:02d}" for i in range(12)]


@pytest.mark.parametrize(("n", "k"), [(12, 5), (12, 1), (12, 11), (7, 3), (30, 6)])
def test_exposure_counts_stay_within_the_window_over_many_voters(n: int, k: int) -> None:
    candidates = [f"c{i:02d}" for i in range(n)]
    rng = random.Random(1234)
    exposure = dict.fromkeys(candidates, 0)
    for _ in range(2000):
        subset = draw_subset(candidates, exposure, k, rng)
        assert len(subset) == k and len(set(subset)) == k
        for c in subset:
            exposure[c] += 1
        assert max(exposure.values()) - min(exposure.values()) <= DEFAULT_WINDOW
    assert sum(exposure.values()) == 2000 * k


def test_same_seed_same_subsets_and_different_seed_differs() -> None:
    first = simulate_exposure(CANDIDATES, 4, 50, random.Random(7))
    again = simulate_exposure(CANDIDATES, 4, 50, random.Random(7))
    assert first == again
    draws_a = [draw_subset(CANDIDATES, {}, 4, random.Random(seed)) for seed in range(20)]
    draws_b = [draw_subset(CANDIDATES, {}, 4, random.Random(seed)) for seed in range(20)]
    assert draws_a == draws_b
    assert len({tuple(d) for d in draws_a}) > 10  # it is random, not a fixed rotation


def test_least_shown_candidates_are_favoured() -> None:
    # Within the window, the weight 1/(shown + 1) favours the less shown.
    exposure = {c: 1 for c in CANDIDATES}
    exposure["c00"] = 0
    picks: Counter[str] = Counter()
    for seed in range(600):
        picks.update(draw_subset(CANDIDATES, exposure, 3, random.Random(seed)))
    others = [picks[c] for c in CANDIDATES[1:]]
    assert picks["c00"] > 1.4 * sum(others) / len(others)
    # Outside the window, a candidate shown `window` times more than the least shown waits.
    exposure = {c: 2 for c in CANDIDATES}
    exposure["c00"] = 0
    for seed in range(50):
        assert "c00" in draw_subset(CANDIDATES, exposure, 1, random.Random(seed))


def test_whole_list_when_subset_size_is_zero_or_too_large() -> None:
    assert draw_subset(CANDIDATES, {}, 0, random.Random(1)) == CANDIDATES
    assert draw_subset(CANDIDATES, {}, 40, random.Random(1)) == CANDIDATES


def test_duplicate_candidates_are_refused() -> None:
    with pytest.raises(ValueError):
        draw_subset(["a", "a", "b"], {}, 1, random.Random(1))


def test_shuffled_is_a_stable_permutation_per_seed() -> None:
    order = shuffled(CANDIDATES, "voter-1/round-1")
    assert sorted(order) == CANDIDATES
    assert shuffled(CANDIDATES, "voter-1/round-1") == order
    orders = {tuple(shuffled(CANDIDATES, f"voter-{i}/round-1")) for i in range(20)}
    assert len(orders) > 15
