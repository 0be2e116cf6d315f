"""Accuracy of a run's saved models on corrupted test images (MNIST-C style): `benchmark.py robustness RUN_DIR`.

Each model the run saved is loaded (safely: skops allow-list, Keras safe mode), checked to
be the model the run measured (it must predict the test images as the run's predictions file
recorded), and scored on the
test set under every corruption. The result goes into the model's row (`Row.robustness`),
written atomically as each model finishes, and the run's report is rebuilt.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .. import corruptions
from ..results import ROBUSTNESS_SAMPLES_NAME, now, save_arrays, write_results
from ..schema import SCHEMA
from .executors import InProcess
from .jobs import Job
from .saved import SavedModelError, open_run, run_test_set
from .saved_jobs import cached_test_set, checked_model, run_saved_model_jobs, saved_model_jobs


class RobustnessError(ValueError):
    """The run directory, its saved models or the corruption options cannot be used."""


def corrupted_test_sets(x, y, names, severity, seed, mnist_c=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (images (N, 28, 28) uint8, labels (N,)): generated from x, y or taken from a loaded MNIST-C folder."""
    if mnist_c is not None:
        return {n: mnist_c[n] for n in names}
    return {n: (corruptions.corrupt(x, n, severity, seed), y) for n in names}


@functools.lru_cache(maxsize=1)
def _corrupted(run_dir: str, names: tuple, severity: int, seed: int, mnist_c_path: str | None) -> dict:
    """The corrupted test sets, made (or read) once per process: every model is scored on the same images."""
    x, y = cached_test_set(run_dir)
    mnist_c = None
    if mnist_c_path:
        mnist_c = corruptions.load_mnist_c(mnist_c_path, list(names))
    return corrupted_test_sets(x, y, names, severity, seed, mnist_c)


def model_task(job: Job, splits=None) -> dict:
    """A "robustness" job: one saved model of the run in job.out_dir under every corruption.

    job.options: row (the model's Row JSON), names, severity, seed, mnist_c (a folder or None), models_dir.
    Returns {"entry": measure_model's dict, "samples": the first test image clean and under each corruption}.
    """
    o = job.options
    sets = _corrupted(job.out_dir, tuple(o["names"]), o["severity"], o["seed"], o["mnist_c"])
    est, clean_accuracy, x = checked_model(job)
    entry = measure_model(est, clean_accuracy, sets)
    return {"entry": entry, "samples": np.stack([x[0], *[imgs[0] for imgs, _ in sets.values()]])}


def measure_model(est, clean_accuracy: float, sets: dict) -> dict:
    """The row's robustness numbers: accuracy per corruption, their mean and the relative drop from clean."""
    return _summary({name: float((est.predict(x) == y).mean()) for name, (x, y) in sets.items()}, clean_accuracy)


def _summary(accuracy: dict, clean_accuracy: float) -> dict:
    mean = float(np.mean(list(accuracy.values())))
    return {
        "clean_accuracy": clean_accuracy,
        "accuracy": accuracy,
        "mean_accuracy": mean,
        "relative_drop": 1 - mean / clean_accuracy if clean_accuracy else None,
    }


def _merged(old: dict | None, new: dict) -> dict:
    """A new measurement joins an earlier one made the same way (source, severity, seed), else replaces it."""
    same_way = old and all(old.get(k) == new.get(k) for k in ("source", "severity", "seed", "n_test"))
    if not same_way:
        return new
    return {**new, **_summary({**old["accuracy"], **new["accuracy"]}, new["clean_accuracy"])}


def run_robustness(
    run_dir,
    names=None,
    severity=corruptions.DEFAULT_SEVERITY,
    seed=0,
    mnist_c_path=None,
    models=None,
    command="",
    on_model=None,
    executor=None,
    retries=0,
    on_retry=None,
    models_dir="models",
) -> Path:
    """Measure every saved model of the run in run_dir under the corruptions `names`; returns the results path.

    names: None or 'all' means all 18 generated, or with mnist_c_path every MNIST-C folder present.
    models: which of the run's models (None: every ok row). on_model(name, entry) is called after each.
    models_dir: besides run_dir, the one folder a saved model the results file names may be in.
    executor: where each model is measured (bench.run.executors; default: one after another in this process).
    A model measured again the same way (source, severity, seed) keeps its other corruptions.
    """
    run_dir = Path(run_dir)
    try:
        results_path, results, rows = open_run(run_dir, models, models_dir)
    except SavedModelError as e:
        raise RobustnessError(str(e)) from None
    if severity not in corruptions.SEVERITIES:
        raise RobustnessError(f"severity {severity} is out of range; choose 1 to 5")
    everything = names is None or names == "all" or list(names) == list(corruptions.CORRUPTIONS)
    if isinstance(names, (list, tuple)):
        names = ",".join(names)
    names = corruptions.parse_corruption_names(names)
    try:
        test_set = run_test_set(run_dir)
    except SavedModelError as e:
        raise RobustnessError(str(e)) from None
    x, y = test_set
    mnist_c = None
    if mnist_c_path:
        mnist_c = corruptions.load_mnist_c(mnist_c_path, None if everything else names)
        mnist_c.pop(corruptions.CLEAN_NAME, None)
        names = list(mnist_c)
        if (n := len(next(iter(mnist_c.values()))[1])) != len(y):
            raise RobustnessError(
                f"{mnist_c_path}: holds {n:,} test images per corruption, the run tested on "
                f"{len(y):,}; MNIST-C goes with a run on the whole MNIST test set (profile full)"
            )
    source = f"MNIST-C files from {mnist_c_path}" if mnist_c_path else "generated by bench.corruptions (MNIST-C style)"
    results.schema = SCHEMA  # robustness is a schema 2 field
    options = {
        "names": list(names),
        "severity": severity,
        "seed": seed,
        "mnist_c": str(Path(mnist_c_path).resolve()) if mnist_c_path else None,
    }
    executor = executor or InProcess()
    profile = results.run.profile
    jobs = saved_model_jobs(
        "robustness", "bench.run.robustness:model_task", rows, profile, run_dir, models_dir, executor, options
    )
    by_name = {row.name: row for row in rows}
    samples_saved = False

    def finished(job, result, error, trace):
        nonlocal samples_saved
        if result is None:
            raise RobustnessError(f"{job.model}: robustness not measured: {error}")
        entry = {
            **result["entry"],
            "severity": None if mnist_c_path else severity,
            "seed": None if mnist_c_path else seed,
            "source": source,
            "n_test": int(len(y)),
            "command": command,
            "finished_at": now(),
        }
        row = by_name[job.model]
        row.robustness = _merged(row.robustness, entry)
        write_results(results_path, results)  # each model's numbers are safe as soon as they exist
        if not samples_saved:
            # the first test image clean, then under each corruption (N + 1, 28, 28)
            save_arrays(run_dir / ROBUSTNESS_SAMPLES_NAME, images=result["samples"], names=np.array(["clean", *names]))
            samples_saved = True
        if on_model:
            on_model(row.name, row.robustness)

    try:
        run_saved_model_jobs(executor, jobs, finished, profile, retries, on_retry)
    except SavedModelError as e:
        raise RobustnessError(str(e)) from None
    return results_path
