"""Calibration: do a model's probabilities mean what they say?

A model that says 0.9 should be right nine times in ten. Two numbers summarise it, flat like the
rest of a result row: `ece` (top-label expected calibration error over `ece_bins` equal-width
confidence bins) and `brier` (multi-class Brier score, 0 = perfect, 2 = worst). `reliability_bins`
gives the per-bin lists a reliability diagram draws.

Inputs everywhere: y_true (N,) digits 0-9, proba (N, 10) rows summing to 1.
"""

from __future__ import annotations

import numpy as np

from ..schema import N_CLASSES

ECE_BINS = 15  # Guo et al. (2017), "On Calibration of Modern Neural Networks", use 15
ROW_SUM_TOLERANCE = 1e-3  # float32 softmax rows are off by ~1e-7; logits or scores are off by far more


def _checked(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    """(y_true (N,) int, proba (N, 10) float64), or a ValueError saying what is wrong."""
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must have shape (N,), got {y_true.shape}")
    if proba.ndim != 2 or proba.shape[1] != N_CLASSES:
        raise ValueError(f"proba must have shape (N, {N_CLASSES}), got {proba.shape}")
    if len(y_true) != len(proba):
        raise ValueError(f"y_true has {len(y_true)} labels but proba has {len(proba)} rows")
    if len(y_true) == 0:
        raise ValueError("no images: y_true and proba are empty")
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or y_true.max() >= N_CLASSES:
        raise ValueError(f"y_true must hold integer digits 0-{N_CLASSES - 1}")
    sums = proba.sum(axis=1)
    bad = ~np.isclose(sums, 1.0, rtol=0, atol=ROW_SUM_TOLERANCE)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"proba rows must sum to 1 (probabilities, not scores): row {i} sums to {sums[i]:.6g}")
    return y_true.astype(np.int64), proba


def _bin_edges(n_bins: int) -> np.ndarray:
    """(n_bins + 1,) equal-width edges over [0, 1].

    i / n rounds once, so an edge such as 0.3 equals the literal 0.3 and a confidence of exactly
    0.3 lands in the bin that starts there; np.linspace gives 0.30000000000000004 for 10 bins.
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return np.arange(n_bins + 1) / n_bins


def _binned(y_true, proba, n_bins):
    """Per-bin (edges (B+1,), count (B,), correct (B,), confidence sum (B,)) of the top label.

    Bins are [lower, upper), the last one [lower, 1] so that a confidence of exactly 1.0 counts.
    """
    y_true, proba = _checked(y_true, proba)
    edges = _bin_edges(n_bins)
    confidence = proba.max(axis=1)
    correct = np.argmax(proba, axis=1) == y_true  # argmax, as in metrics.quality: ties go to the lower digit
    # digitize against the inner edges: below edges[1] -> 0, at or above edges[-2] -> last bin (1.0 included)
    which = np.digitize(confidence, edges[1:-1], right=False)
    count = np.bincount(which, minlength=n_bins)
    n_correct = np.bincount(which, weights=correct, minlength=n_bins)
    confidence_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    return edges, count, n_correct, confidence_sum


def expected_calibration_error(y_true, proba, n_bins=ECE_BINS) -> float:
    """Top-label ECE: sum over bins of (bin count / N) * |accuracy in bin - mean confidence in bin|.

    y_true (N,) digits, proba (N, 10) -> float in [0, 1]. Confidence is the largest probability,
    correct means argmax == label; bins are `n_bins` equal-width intervals over [0, 1].
    """
    _, count, n_correct, confidence_sum = _binned(y_true, proba, n_bins)
    # (count / N) * |correct / count - conf_sum / count| = |correct - conf_sum| / N, and empty bins add 0
    return float(np.abs(n_correct - confidence_sum).sum() / count.sum())


def brier_score(y_true, proba) -> float:
    """Multi-class Brier score: mean over images of sum over the 10 digits of (p_k - onehot_k)^2.

    y_true (N,) digits, proba (N, 10) -> float in [0, 2]; 0 for certain and right, 0.9 for the
    uniform 0.1 guess, 2 for certain and wrong. Not sklearn's binary `brier_score_loss`; sklearn
    >= 1.7 computes this same quantity with `brier_score_loss(y, proba, labels=range(10),
    scale_by_half=False)`, but the project supports scikit-learn 1.6, which has neither keyword.
    """
    y_true, proba = _checked(y_true, proba)
    onehot = np.eye(N_CLASSES)[y_true]
    return float(((proba - onehot) ** 2).sum(axis=1).mean())


def reliability_bins(y_true, proba, n_bins=ECE_BINS) -> dict:
    """Per-bin lists (length n_bins) for a reliability diagram.

    `bin_lower`, `bin_upper` edges; `count` images per bin; `accuracy` fraction correct and
    `confidence` mean top probability in the bin, None where the bin is empty.
    """
    edges, count, n_correct, confidence_sum = _binned(y_true, proba, n_bins)
    return {
        "bin_lower": edges[:-1].tolist(),
        "bin_upper": edges[1:].tolist(),
        "count": count.tolist(),
        "accuracy": [float(c / n) if n else None for c, n in zip(n_correct, count)],
        "confidence": [float(s / n) if n else None for s, n in zip(confidence_sum, count)],
    }


def calibration(y_true, proba, n_bins=ECE_BINS) -> dict:
    """y_true (N,) digits, proba (N, 10) -> the flat calibration keys of a result row."""
    return {
        "ece": expected_calibration_error(y_true, proba, n_bins),
        "brier": brier_score(y_true, proba),
        "ece_bins": int(n_bins),
    }
