"""Measurements: quality from labels and probabilities, speed from a predict function.

Quality names are flat with units in the name (`accuracy`, `log_loss`, `f1_macro`,
`roc_auc_macro`); per-class values are lists indexed by digit 0-9.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn import metrics as skm

from ..schema import N_CLASSES
from . import calibration, significance

DIGITS = np.arange(N_CLASSES)


def quality(y_true, proba) -> dict:
    """y_true (N,) digits, proba (N, 10) rows summing to 1 -> quality metrics.

    Beside the usual scores: the accuracy's 95% Wilson interval and calibration (top-label
    ECE over 15 equal-width bins, multi-class Brier score).
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = np.argmax(proba, axis=1)
    p, r, f, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=DIGITS, zero_division=0)
    present = np.isin(DIGITS, y_true)
    auc_per_class = [
        float(skm.roc_auc_score(y_true == d, proba[:, d])) if present[d] and not (y_true == d).all() else None
        for d in DIGITS
    ]
    valid_auc = [a for a in auc_per_class if a is not None]
    n_correct = int((y_true == y_pred).sum())
    low, high = significance.accuracy_interval(n_correct, len(y_true))  # Wilson, 95%
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "accuracy_ci95_low": low,
        "accuracy_ci95_high": high,
        "error_count": int((y_true != y_pred).sum()),
        "log_loss": float(skm.log_loss(y_true, proba, labels=DIGITS)),
        "precision_macro": float(p[present].mean()),
        "recall_macro": float(r[present].mean()),
        "f1_macro": float(f[present].mean()),
        "roc_auc_macro": float(np.mean(valid_auc)) if valid_auc else None,
        **calibration.calibration(y_true, proba),  # ece (top-label, 15 equal-width bins), brier, ece_bins
        "per_class": {
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f1": f.tolist(),
            "support": support.tolist(),
            "roc_auc": auc_per_class,
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=DIGITS).tolist(),
    }


def throughput(predict, X, batch_size=1000, repeats=1) -> dict:
    """Images per second of `predict` over all of X in batches (best of `repeats` passes)."""
    predict(X[:batch_size])  # warm-up: traced functions, caches, thread pools
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(X), batch_size):
            predict(X[i : i + batch_size])
        best = min(best, time.perf_counter() - start)
    return {"throughput_img_s": len(X) / best, "throughput_batch_size": batch_size}


def latency(predict, X, calls=1000, warmup=50) -> dict:
    """Single-image latency in ms: one image per call, `calls` calls after `warmup` calls.

    Images cycle through X so caches do not see one input only (MLPerf single-stream style).
    """
    singles = [X[i % len(X)][None] for i in range(calls + warmup)]
    for x in singles[:warmup]:
        predict(x)
    times = np.empty(calls)
    for i, x in enumerate(singles[warmup:]):
        start = time.perf_counter()
        predict(x)
        times[i] = time.perf_counter() - start
    ms = times * 1000
    return {
        "latency_ms_p50": float(np.percentile(ms, 50)),
        "latency_ms_p90": float(np.percentile(ms, 90)),
        "latency_ms_p95": float(np.percentile(ms, 95)),
        "latency_ms_mean": float(ms.mean()),
        "latency_calls": int(calls),
    }


def reference_workload(repeats=7, size=384, inner=10) -> dict:
    """Time a fixed workload (float64 matrix products) on this machine, now.

    Model times divided by this reference compare across machines of different speed:
    a machine twice as slow doubles both. The median of `repeats` resists a busy moment.
    It runs on one BLAS thread: with two, one thread waiting on a descheduled sibling made
    it swing from 10 to 240 ms on a busy 2-core machine; on one thread it stayed at 17-24 ms.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    times = []
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(inner):
                a @ b
            times.append((time.perf_counter() - start) * 1000)
    return {"reference_ms": float(np.median(times)), "reference_ms_repeats": [float(t) for t in times]}


TRAINING_PHASES = ("epochs", "validation", "batch_norm", "checkpoint", "input_pipeline_alone")


def time_breakdown(train_seconds: float, histories: list[dict] | None, forward_flops: int | None, phases: dict) -> dict:
    """Where a model's time went: its training split into the networks' phases (summed over an ensemble's
    members; see training.training_seconds), and the runner's phases after it (save, predict_test,
    throughput, runtime_choice, latency, inference_check, in seconds). For networks also the optimiser's
    throughput: training images per second of its epochs, and GFLOP/s at 3x the forward FLOPs per image
    (forward pass plus the two gradient products). Networks reused from another model of the run are left
    out of the phases and counted in reused_networks and reused_fit_seconds (their own training's fit)."""
    out = {"train": train_seconds, **{k: float(v) for k, v in phases.items()}}
    networks = [h for h in histories or [] if "seconds" in h]
    timed = [h["seconds"] for h in networks if not h.get("reused")]
    reused = [h["seconds"] for h in networks if h.get("reused")]
    if reused:  # trained by another model of the run with the same settings, seed and data; loaded here
        out["reused_networks"] = len(reused)
        out["reused_fit_seconds"] = float(sum(t["fit"] for t in reused))
    if not timed:
        return out
    for key in TRAINING_PHASES:
        out[key] = float(sum(t[key] for t in timed))
    images = sum(t["images"] for t in timed)
    out["training_images"] = int(images)
    if out["epochs"] > 0:
        out["training_img_s"] = images / out["epochs"]
        if forward_flops:
            per_network = forward_flops / len(networks)  # an ensemble's FLOPs are its members' together
            out["training_gflop_s"] = 3 * per_network * images / out["epochs"] / 1e9
    return out
