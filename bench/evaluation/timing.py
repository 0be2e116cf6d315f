"""Seconds per named phase of a piece of work, so a row can say where its time went."""

from __future__ import annotations

import time
from contextlib import contextmanager


class PhaseClock:
    """`with clock("validation"): ...` adds the block's wall time to clock.seconds["validation"]."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


def reference_gflop_s(reference_ms: float, size: int = 384, inner: int = 10) -> float:
    """The rate of metrics.reference_workload: `inner` float64 products of two size x size matrices on one
    thread in `reference_ms`."""
    return 2 * size**3 * inner / (reference_ms / 1000) / 1e9
