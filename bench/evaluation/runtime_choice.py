"""Which runtime a model's single-image latency is measured through: the fastest that gives the native
model's digit on every test image.

A model may run through more than its own `predict_proba` (estimators' `runtime_candidates`: ONNX
Runtime for the classical models). Each candidate predicts the whole test set; one that disagrees
with the native digit on any image, or fails, is left out. The rest, native included, get a short
single-image pilot, and the lowest median wins. The choice, each candidate's pilot median and
agreement go into the row's `runtime`, so the table's latency always names what produced it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import metrics

NATIVE = "native"
PILOT_CALLS = 200  # single-image calls per candidate (after warm-up) to rank them


@dataclass
class Runtime:
    name: str
    predict: object  # (N, 28, 28) -> (N, 10) probabilities
    record: dict  # what the row keeps: chosen runtime, agreement, candidates


def fastest_runtime(
    native_predict, candidates: dict, X: np.ndarray, native_digits: np.ndarray, pilot_calls: int = PILOT_CALLS
) -> Runtime:
    """native_predict and candidates (name -> a function that makes the runtime's predict function) ->
    the fastest runtime predicting `native_digits` (N,) on every image of X (N, 28, 28)."""
    tried = [{"runtime": NATIVE, "same_predictions": 1.0, "pilot_p50_ms": _pilot(native_predict, X, pilot_calls)}]
    usable = {NATIVE: native_predict}
    for name, make in candidates.items():
        entry = {"runtime": name}
        try:
            predict = make()
            digits = np.argmax(_batched(predict, X), axis=1)
        except Exception as e:  # a model with no export, or a runtime that cannot run it, keeps its native path
            tried.append({**entry, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
            continue
        entry["same_predictions"] = float(np.mean(digits == native_digits))
        if entry["same_predictions"] == 1.0:
            entry["pilot_p50_ms"] = _pilot(predict, X, pilot_calls)
            usable[name] = predict
        tried.append(entry)
    best = min((t for t in tried if t["runtime"] in usable), key=lambda t: t["pilot_p50_ms"])
    record = {"latency_runtime": best["runtime"], "n_checked": int(len(X)), "candidates": tried}
    return Runtime(best["runtime"], usable[best["runtime"]], record)


def _pilot(predict, X, calls: int) -> float:
    return metrics.latency(predict, X, calls=calls, warmup=min(20, calls))["latency_ms_p50"]


def _batched(predict, X, batch_size: int = 1000) -> np.ndarray:
    return np.concatenate([np.asarray(predict(X[i : i + batch_size])) for i in range(0, len(X), batch_size)])
