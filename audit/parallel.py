"""Run per-chunk work on every core, falling back to serial work for small inputs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
A = TypeVar("A")  # what one chunk's worker is given
R = TypeVar("R")

SERIAL_BELOW = 4000


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def map_chunks(
    fn: Callable[[A], R],
    make_args: Callable[[Sequence[T]], A],
    items: Sequence[T],
    *,
    workers: int | None = None,
    chunk: int = 4000,
    progress: Callable[[int, int], None] | None = None,
    serial_below: int = SERIAL_BELOW,
) -> list[R]:
    """Apply ``fn(make_args(slice))`` to consecutive slices of ``items``; results in order."""
    total = len(items)
    workers = cpu_count() if workers is None else workers
    # Several chunks per worker balance the load; big logs keep the requested chunk size.
    chunk = max(1, min(chunk, -(-total // (max(workers, 1) * 4))))
    slices = [items[i : i + chunk] for i in range(0, total, chunk)]
    results: list[R] = []
    done = 0
    if workers <= 1 or total < serial_below or len(slices) < 2:
        for part in slices:
            results.append(fn(make_args(part)))
            done += len(part)
            if progress:
                progress(done, total)
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, make_args(part)) for part in slices]
        for part, future in zip(slices, futures, strict=True):
            results.append(future.result())
            done += len(part)
            if progress:
                progress(done, total)
    return results
