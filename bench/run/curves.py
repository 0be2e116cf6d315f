"""Learning curves: `benchmark.py curves` trains each model on stratified subsets of growing size.

Every (model, size) is one point, a flat dict in the results file's `curves` list, written
atomically the moment it is measured; `--resume` skips finished points. A size is the
number of training images before the validation split (10% of it, stratified, as in a
profile), drawn from the whole MNIST training set; the test set is always the whole one.
The networks keep the full profile's recipe but train for at least MIN_STEPS optimiser steps,
so a 500-image set is not judged after 40 steps; the epochs used are in each point's settings.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .. import environment
from ..data import Splits, stratified_subset
from ..evaluation import metrics
from ..registry import MODELS, PROFILES
from ..results import RESULTS_NAME, now, read_results, write_results
from ..schema import N_CLASSES, OK, SCHEMA
from .executors import InProcess, run_jobs
from .jobs import DataSpec, Job, load_for_profile, new_run, share_loaded

DEFAULT_SIZES = (500, 1000, 2000, 5000, 10_000, 30_000, 60_000)
DEFAULT_MODELS = ("hog-svm", "random-forest", "knn", "mlp", "lenet5")  # the five fastest
PROFILE = "full"
MIN_STEPS = 1000  # optimiser steps a network gets at least, whatever the size
MIN_BATCH = 16  # the smallest batch a small training set is cut into
MIN_PER_CLASS = 10


class CurvesError(ValueError):
    """Sizes, models or the output folder cannot be used as asked."""


def parse_sizes(text: str, available: int) -> list[int]:
    """'500,1000' -> [500, 1000] (sorted, unique); one-line CurvesError naming a bad value."""
    sizes = []
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        try:
            n = int(part.replace("_", ""))
        except ValueError:
            raise CurvesError(f"--sizes: {part!r} is not a whole number") from None
        if n < MIN_PER_CLASS * N_CLASSES:
            raise CurvesError(f"--sizes: {n} is below {MIN_PER_CLASS} images per class ({MIN_PER_CLASS * N_CLASSES})")
        if n > available:
            raise CurvesError(f"--sizes: {n:,} is larger than the training set ({available:,} images)")
        sizes.append(n)
    if not sizes:
        raise CurvesError("--sizes: give at least one size, e.g. 500,1000,5000")
    return sorted(set(sizes))


def scaled_settings(name: str, seed: int, n_train: int) -> dict:
    """The full profile's settings of `name`, with a network's epochs raised to reach MIN_STEPS steps, and its
    batch lowered to a quarter of the images where it is larger: an epoch of one or two steps would spend
    more time validating than training."""
    spec = MODELS[name]
    est = spec.build(PROFILE, seed)
    params = est.get_params()
    if "epochs" not in params:
        return {}
    batch = min(params["batch_size"], max(MIN_BATCH, n_train // 4))
    steps_per_epoch = math.ceil(n_train / batch)
    scaled = {"epochs": max(params["epochs"], math.ceil(MIN_STEPS / steps_per_epoch))}
    return scaled if batch == params["batch_size"] else {**scaled, "batch_size": batch}


def subset(x, y, size: int, seed: int, val_fraction: float):
    """A stratified subset of `size` images split into train and validation: (x_tr, y_tr, x_val, y_val)."""
    x, y = stratified_subset(x, y, size, seed)
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=val_fraction, stratify=y, random_state=seed)
    return x_tr, y_tr, x_val, y_val


def point_task(job: Job, splits: Splits) -> dict:
    """A "curve" job: one point, drawn from the training and validation splits together; {"point": dict}."""
    pool = (np.concatenate([splits.x_train, splits.x_val]), np.concatenate([splits.y_train, splits.y_val]))
    return {"point": measure_point(job.model, job.size, job.seed, pool, (splits.x_test, splits.y_test), job.threads)}


def measure_point(name: str, size: int, seed: int, pool, test, threads: int | None = None) -> dict:
    """Train `name` on a subset of `size` of pool (x, y) and score it on test (x, y): one curve point."""
    x_tr, y_tr, x_val, y_val = subset(*pool, size, seed, PROFILES[PROFILE].val_fraction)
    overrides = scaled_settings(name, seed, len(y_tr))
    est = MODELS[name].build(PROFILE, seed, threads=threads).set_params(**overrides)
    est.import_libraries()  # a worker's first job is not charged for importing TensorFlow
    start = time.perf_counter()
    est.fit(x_tr, y_tr, validation_data=(x_val, y_val))
    train_seconds = time.perf_counter() - start
    proba = est.predict_proba(test[0])
    q = metrics.quality(test[1], proba)
    history = est.training_history()
    if history:  # the epochs a network actually ran (early stopping may end before the cap)
        overrides = {**overrides, "epochs_run": [len(h["loss"]) for h in history]}
    return {
        "model": name,
        "family": MODELS[name].family,
        "size": size,
        "n_train": int(len(y_tr)),
        "n_val": int(len(y_val)),
        "seed": seed,
        "status": OK,
        "accuracy": q["accuracy"],
        "log_loss": q["log_loss"],
        "ece": q["ece"],
        "train_seconds": train_seconds,
        "settings": overrides,
        "finished_at": now(),
    }


def run_curves(
    model_names,
    sizes_text,
    *,
    seed=0,
    out_dir,
    dataset="mnist",
    data_path=None,
    download=True,
    resume=False,
    command="",
    on_point=None,
    executor=None,
    retries=0,
    on_retry=None,
) -> Path:
    """Measure every (model, size) not already finished in out_dir; returns the results path. executor: where
    the points are trained (bench.run.executors; default: one after another in this process)."""
    out_dir = Path(out_dir)
    results_path = out_dir / RESULTS_NAME
    if out_dir.exists() and not out_dir.is_dir():
        raise CurvesError(f"{out_dir}: is a file, not a folder (--out names the folder the curves go into)")
    splits = load_for_profile(dataset, PROFILE, seed, data_path, download)  # the whole training set
    sizes = parse_sizes(sizes_text, len(splits.y_train) + len(splits.y_val))
    if results_path.exists():
        if not resume:
            raise CurvesError(
                f"{results_path}: already holds results; pass --resume to continue it or pick another --out"
            )
        results = read_results(results_path)
        if results.models or results.run.profile != PROFILE:
            raise CurvesError(f"{results_path}: holds a benchmark run, not learning curves; pick another --out")
        if results.run.dataset["fingerprint"] != splits.fingerprint or results.run.seed != seed:
            raise CurvesError(f"{results_path}: cannot resume, it was made with another dataset or seed")
        results.schema = SCHEMA  # curves are a schema 2 field
    else:
        results = new_run(splits, PROFILE, seed, model_names, command)
    executor = executor or InProcess()
    data = DataSpec.of(splits, seed, PROFILE)
    share_loaded(data, splits)
    job_threads = executor.threads_per_job(None)
    time_limit = executor.time_limit(PROFILES[PROFILE].job_timeout)
    session = {
        "started_at": now(),
        "command": command,
        "code": environment.code_version(),
        "points_run": [],
        "execution": {
            **executor.describe(),
            "threads_per_job": job_threads,
            "retries": retries,
            "job_timeout": time_limit,
        },
    }
    results.run.sessions.append(session)
    start = time.perf_counter()
    done = {(p["model"], p["size"]) for p in results.curves if p["status"] == OK}
    jobs = [
        Job("curve", "bench.run.curves:point_task", n, seed, PROFILE, data, job_threads, size=s)
        for s in sizes
        for n in model_names
        if (n, s) not in done
    ]
    if executor.capacity > 1:  # several at once: the biggest first, so the last to finish is a short one
        jobs.sort(key=lambda j: -j.size)

    def finished(job, result, error, trace):
        nonlocal start
        if result is None:  # one failing point must not lose the others
            point = {
                "model": job.model,
                "family": MODELS[job.model].family,
                "size": job.size,
                "seed": seed,
                "status": "failed",
                "error": error,
                "traceback": trace,
                "finished_at": now(),
            }
        else:
            point = {**result["point"], "worker": result["worker"]}
        results.curves = [p for p in results.curves if (p["model"], p["size"]) != (job.model, job.size)] + [point]
        session["points_run"].append(f"{job.model}@{job.size}")
        session["finished_at"] = results.run.finished_at = now()
        results.run.total_wall_seconds += time.perf_counter() - start
        session["wall_seconds"] = session.get("wall_seconds", 0.0) + time.perf_counter() - start
        start = time.perf_counter()
        write_results(results_path, results)
        if on_point:
            on_point(point)

    run_jobs(executor, jobs, finished, retries=retries, timeout=time_limit, on_retry=on_retry)
    return results_path
