"""One job per saved model of a finished run, as `robustness` and `generalise` run them: the jobs built (each
with its row and its model file, resolved where the results file was checked), run on an executor with the
run's profile's time limit, and on the worker the model loaded and checked to be the one the run measured."""

from __future__ import annotations

import functools
from pathlib import Path

from ..data import DataError
from ..registry import PROFILES
from ..schema import Row
from .executors import run_jobs
from .jobs import Job
from .saved import SavedModelError, check_same_model, load_saved_model, model_file, run_test_set


@functools.lru_cache(maxsize=1)
def cached_test_set(run_dir: str) -> tuple:
    """The run's test images and labels, read once per process: every model of the matrix is checked on them."""
    return run_test_set(run_dir)


def checked_model(job: Job) -> tuple:
    """On the worker: (the job's saved model, its clean accuracy, the run's test images (N, 28, 28))."""
    row = Row.from_json(job.options["row"])
    est = load_saved_model(row, job.out_dir, job.options["models_dir"])
    x, _ = cached_test_set(job.out_dir)
    return est, check_same_model(est, row, x, Path(job.out_dir)), x


def saved_model_jobs(kind: str, task: str, rows, profile: str, run_dir, models_dir, executor, options: dict) -> list:
    """One `kind` job per row, running `task` ("module:function") with `options`, the row and models_dir."""
    threads = executor.threads_per_job(None)
    options = {**options, "models_dir": str(Path(models_dir).resolve())}
    return [
        Job(
            kind,
            task,
            row.name,
            row.seed,
            profile,
            None,
            threads,
            out_dir=str(Path(run_dir).resolve()),
            options={**options, "row": {**row.to_json(), "model_path": str(model_file(row, run_dir, models_dir))}},
        )
        for row in rows
    ]


def run_saved_model_jobs(executor, jobs, finished, profile: str, retries=0, on_retry=None) -> None:
    """Run the jobs on `executor`; a missing or foreign saved model, or unreadable data,
    stops the matrix (SavedModelError, DataError), anything else is retried as `retries` says."""
    run_jobs(
        executor,
        jobs,
        finished,
        retries=retries,
        on_retry=on_retry,
        fatal=(DataError, SavedModelError),
        timeout=executor.time_limit(PROFILES.get(profile, PROFILES["full"]).job_timeout),
    )
