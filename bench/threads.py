"""Fixed thread counts for a run (the ci profile uses one thread everywhere).

Why: on a shared 2-core machine a 2-thread workload stalls whenever one of its threads waits
for a descheduled sibling, so its wall time swings far more than a 1-thread reference
workload does (a ci check measured every model ~2x slower while the 1-thread reference
moved 1.3x). With every library on one thread, models and reference feel the machine alike.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def limited(n: int | None, tensorflow: bool = True):
    """Run the body with BLAS/OpenMP pools, OpenCV and TensorFlow on `n` threads; None: as they are.

    tensorflow=False leaves TensorFlow's pools alone (a worker sets them once, before its first job)."""
    if n is None:
        yield
        return
    import cv2
    from threadpoolctl import threadpool_limits

    if tensorflow:
        set_tensorflow_threads(n)
    previous = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        cv2.setNumThreads(previous)


def set_tensorflow_threads(n: int) -> None:
    """TensorFlow's intra- and inter-op pools; they can only be set before TF first runs an op."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # library use after TF already ran: the results record the real counts
        warnings.warn(f"TensorFlow is already running; its thread pools keep their size, not {n}", stacklevel=3)
