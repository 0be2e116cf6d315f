"""One model's job in a run: build it with its settings, fit it (timed), save it and measure it into a row.

A "model" job (`model_task`) trains, saves and measures one model and returns its row and test probabilities;
a "seed" job (`seed_task`) trains it again with a further seed and returns that seed's quality. Both run
wherever an executor puts them (bench.run.executors) and return plain data; bench.run.runner writes it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..data import Splits
from ..evaluation import calibration, metrics
from ..evaluation.runtime_choice import PILOT_CALLS, fastest_runtime
from ..evaluation.timing import PhaseClock
from ..files import atomic_write_bytes
from ..registry import MODELS, PROFILES
from ..results import RESULTS_NAME, model_run_path, now
from ..schema import SEED_METRICS, Row, SeedRun
from .jobs import Job

TRAINED_NETWORKS = "networks"  # the models folder's subfolder where trained networks are kept for reuse


def measure(
    est, splits: Splits, latency_calls: int, threads: int | None = None, clock: PhaseClock | None = None
) -> tuple[dict, np.ndarray, dict]:
    """Quality on the test split, then batch throughput, then single-image latency through the fastest
    runtime that gives the model's own digit on every test image (bench.evaluation.runtime_choice). clock: where
    the seconds of each step are added (predict_test includes a network's conversion to LiteRT).

    Returns (measurements: metrics.quality's keys plus throughput and latency, test probabilities (N, 10),
    the runtime record).
    """
    clock = clock or PhaseClock()
    with clock("predict_test"):
        proba = est.predict_proba(splits.x_test)
    measured = metrics.quality(splits.y_test, proba)
    with clock("throughput"):
        measured.update(metrics.throughput(est.predict_proba, splits.x_test))
    with clock("runtime_choice"):
        runtime = fastest_runtime(
            est.predict_proba,
            est.runtime_candidates(threads),
            splits.x_test,
            proba.argmax(axis=1),
            min(PILOT_CALLS, latency_calls),
        )
    with clock("latency"):
        measured.update(metrics.latency(runtime.predict, splits.x_test, calls=latency_calls))
    return measured, proba, runtime.record


def model_task(job: Job, splits: Splits) -> dict:
    """A "model" job: train, save and measure one model. Returns {"row": Row JSON, "proba": (N, 10) test
    probabilities}; the caller writes the predictions beside its results file."""
    name, profile, seed = job.model, job.profile, job.seed
    spec = MODELS[name]
    est = spec.build(profile, seed, threads=job.threads, **settings_of(job.params))
    models_dir = Path(job.models_dir)
    model_path = models_dir / f"{name}{est.file_suffix}"
    est.set_artifact_path(model_path)
    est.reuse_trained_in(models_dir / TRAINED_NETWORKS)
    train_seconds = fit_timed(est, splits)
    clock = PhaseClock()
    with clock("save"):
        est.save(model_path)
    reference = metrics.reference_workload()  # machine speed right now, for machine-independent time ratios
    measured, proba, runtime = measure(est, splits, PROFILES[profile].latency_calls, job.threads, clock)
    with clock("inference_check"):
        inference = est.inference_check(splits.x_test, proba)
    history = est.training_history()
    per_class, confusion_matrix = measured.pop("per_class"), measured.pop("confusion_matrix")
    measured.pop("ece_bins")  # stated in the report's method line
    # `predict` and `serve` show which run a saved model came from and how it scored there
    run_info = {
        "model": name,
        "results": str((Path(job.out_dir) / RESULTS_NAME).resolve()),
        "dataset": splits.name,
        "data_fingerprint": splits.fingerprint,
        "profile": profile,
        "seed": seed,
        "n_train": est.n_train_,
        "accuracy": measured["accuracy"],
        "finished_at": now(),
    }
    atomic_write_bytes(model_run_path(model_path), json.dumps(run_info, indent=1).encode())
    row = Row(
        name=name,
        family=spec.family,
        status="ok",
        description=spec.description,
        seed=seed,
        estimator=type(est).__name__,
        settings=est.get_params(),
        n_train=est.n_train_,
        n_test=int(len(splits.y_test)),
        metrics={
            "train_seconds": train_seconds,
            **measured,
            "params": est.n_params(),
            "size_bytes": _size_on_disk(model_path),
            "reference_ms": reference["reference_ms"],
        },
        reference_ms_repeats=reference["reference_ms_repeats"],
        per_class=per_class,
        confusion_matrix=confusion_matrix,
        history=history,
        reliability=calibration.reliability_bins(splits.y_test, proba),
        # a model with its own inference path (TensorFlow Lite) shows it predicts as the model it came from
        inference=inference,
        runtime=runtime,
        time_breakdown=metrics.time_breakdown(train_seconds, history, est.forward_flops(), clock.seconds),
        model_path=str(model_path),
        predictions_path=f"predictions/{name}.npz",
        finished_at=now(),
        settings_source=job.params,
    )
    return {"row": row.to_json(), "proba": proba.astype(np.float32)}


def fit_timed(est, splits: Splits) -> float:
    """Fit on the training split (validation split for early stopping/calibration); returns seconds, not counting
    the import of the model's libraries (a pool's or Dask worker's first job would pay it, an in-process one not)."""
    est.import_libraries()
    start = time.perf_counter()
    est.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val))
    return time.perf_counter() - start


def seed_task(job: Job, splits: Splits) -> dict:
    """A "seed" job: train the model again with a further seed (same data split); {"seed_run": SeedRun JSON}."""
    est = MODELS[job.model].build(job.profile, job.seed, threads=job.threads, **settings_of(job.params))
    est.reuse_trained_in(Path(job.models_dir) / TRAINED_NETWORKS)
    train_seconds = fit_timed(est, splits)
    quality = metrics.quality(splits.y_test, est.predict_proba(splits.x_test))
    run = SeedRun(job.seed, "ok", now(), train_seconds, {k: quality[k] for k in SEED_METRICS})
    return {"seed_run": run.to_json()}


def settings_of(params: dict | None) -> dict:
    """A model's settings from --params ({"settings": {...}, "source": path}); {} for the registry's own."""
    return params["settings"] if params else {}


def _size_on_disk(path: Path) -> int:
    """Bytes of the saved model, its JSON sidecar included."""
    return sum(p.stat().st_size for p in [path, path.with_suffix(".json")] if p.is_file())
