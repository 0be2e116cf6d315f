"""Hyperparameter search: `benchmark.py tune --model NAME [--search grid|random|halving]`.

Candidates come from the model's declared search space (`ModelSpec.search_space` in the
registry, or a JSON file given with --space) and scikit-learn's search classes run them on
the common estimator interface: GridSearchCV, RandomizedSearchCV, HalvingRandomSearchCV. A
trial fits on the profile's training split and is scored (accuracy) on its validation split,
through a PredefinedSplit; the test split is never looked at.

The search classes are made to evaluate one candidate at a time (bench.optimise.search), so each
trial is written to the results file the moment it ends, the budget is checked between
trials, and a resumed grid or random search skips the trials it already has. The results
file holds the run (its sessions say what stopped each: finished, budget) and a `tuning`
dict: model, search, space, one flat dict per trial and the best; `benchmark.py --params
RESULTS.json` trains with the best settings. Space and params files are read in bench.optimise.tune_files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import environment
from ..data import Splits
from ..registry import MODELS, PROFILES
from ..results import RESULTS_NAME, now, read_results, write_results
from ..run.executors import InProcess, run_jobs
from ..run.jobs import DataSpec, Job, load_for_profile, new_run, share_loaded
from ..schema import SCHEMA
from .search import (
    HALVING_FACTOR,  # noqa: F401  (re-exported: the tune command states it)
    BudgetSpent,
    NothingLeft,
    TrialLog,
    candidates,
    make_search,
    trial_key,
)
from .tune_files import TuneError, grid_size, parse_space, read_space_file

SEARCHES = ("grid", "random", "halving")


def trial_task(job: Job, splits: Splits) -> dict:
    """A "trial" job: fit one candidate (job.options["params"]) on the training split and score its accuracy on
    the validation split, as scikit-learn's search does with the PredefinedSplit; {"score", "fit_seconds",
    "score_seconds"}."""
    est = MODELS[job.model].build(job.profile, job.seed, threads=job.threads).set_params(**job.options["params"])
    start = time.perf_counter()
    est.fit(splits.x_train, splits.y_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    score = float(est.score(splits.x_val, splits.y_val))
    return {"score": score, "fit_seconds": fit_seconds, "score_seconds": time.perf_counter() - start}


def _trials_as_jobs(
    executor,
    retries,
    on_retry,
    log: TrialLog,
    model,
    profile,
    seed,
    search,
    space,
    n_iter,
    data: DataSpec,
    time_limit: float | None,
) -> None:
    """A grid or random search's trials as jobs on `executor`, each recorded the moment it returns."""
    todo = [p for p in candidates(search, space, n_iter, seed) if trial_key(p) not in log.done]
    if not todo:
        raise NothingLeft
    threads = executor.threads_per_job(PROFILES[profile].threads)
    jobs = [
        Job(
            "trial",
            "bench.optimise.tune:trial_task",
            model,
            seed,
            profile,
            data,
            threads,
            index=i,
            options={"params": p},
        )
        for i, p in enumerate(todo, 1)
    ]

    def finished(job, result, error, trace):
        params = job.options["params"]
        if result is None:
            log.record_failure(params, None, error, 0.0)
        else:
            log.add({"params": params, **result}, None)
        log.before_trial()  # the budget: no trial after one that would end too late (the others are cancelled)

    run_jobs(executor, jobs, finished, retries=retries, timeout=time_limit, on_retry=on_retry)


def run_tune(
    model: str,
    *,
    search="random",
    n_iter=10,
    budget_minutes=None,
    space_path=None,
    profile="full",
    seed=0,
    out_dir,
    dataset="mnist",
    data_path=None,
    download=True,
    resume=False,
    command="",
    on_trial=None,
    on_data=None,
    executor=None,
    retries=0,
    on_retry=None,
) -> Path:
    """Search `model`'s settings; every trial lands in out_dir/results.json as it ends. Returns that path.

    executor: None runs scikit-learn's search in this process; an executor (bench.run.executors) runs a grid or
    random search's trials as jobs on it, several at once (the same candidates, scored the same way)."""
    from sklearn.model_selection import PredefinedSplit

    from .. import threads

    if model not in MODELS:
        raise TuneError(f"--model: unknown model {model!r}; choose from {', '.join(MODELS)}")
    if search not in SEARCHES:
        raise TuneError(f"--search: {search!r} is not one of {', '.join(SEARCHES)}")
    if n_iter < 1:
        raise TuneError(f"--n-iter: must be at least 1, got {n_iter}")
    if budget_minutes is not None and not budget_minutes > 0:
        raise TuneError(f"--budget: must be more than 0 minutes, got {budget_minutes:g}")
    if executor is not None and search == "halving":
        raise TuneError(
            "--search halving runs in this process only (each round waits for the whole previous one); "
            "use --search grid or random with --workers or --scheduler"
        )
    if resume and search == "halving":
        raise TuneError(
            "--resume: a halving search cannot be resumed (each round ranks the candidates it ran "
            "itself); run it again without --resume, or resume a grid or random search"
        )
    raw_space = read_space_file(space_path) if space_path else MODELS[model].search_space
    source = str(space_path) if space_path else f"the registry's search space of {model}"
    space = parse_space(raw_space, model, source, search)
    if search == "random" and (size := grid_size(raw_space)) is not None:
        n_iter = min(n_iter, size)  # sampling lists without replacement: no more candidates than the grid has

    out_dir = Path(out_dir)
    results_path = out_dir / RESULTS_NAME
    if out_dir.exists() and not out_dir.is_dir():
        raise TuneError(f"{out_dir}: is a file, not a folder (--out names the folder the search goes into)")
    prof = PROFILES[profile]
    splits = load_for_profile(dataset, profile, seed, data_path, download)
    if on_data:
        on_data(splits)
    settings = {"model": model, "search": search, "space": raw_space, "n_iter": n_iter if search != "grid" else None}
    if results_path.exists():
        if not resume:
            raise TuneError(
                f"{results_path}: already holds results; pass --resume to continue it or pick another --out"
            )
        results = read_results(results_path)
        tuning = results.tuning
        if tuning is None:
            raise TuneError(f"{results_path}: holds no search; pick another --out")
        if {k: tuning.get(k) for k in settings} != settings or results.run.profile != profile:
            raise TuneError(
                f"{results_path}: holds a search of other settings ({tuning['model']}, {tuning['search']}, "
                f"profile {results.run.profile}); resume it with the same --model, --search, --n-iter, "
                "--space and --profile"
            )
        if results.run.dataset["fingerprint"] != splits.fingerprint or results.run.seed != seed:
            raise TuneError(f"{results_path}: cannot resume, it was made with another dataset or seed")
    else:
        results = new_run(splits, profile, seed, [model], command)
        tuning = results.tuning = {
            **settings,
            "scoring": "accuracy on the validation split",
            "trials": [],
            "best": None,
        }
    results.schema = SCHEMA
    session = {
        "started_at": now(),
        "command": command,
        "budget_minutes": budget_minutes,
        "stopped_by": None,
        "code": environment.code_version(),
    }
    results.run.sessions.append(session)
    start = last = time.perf_counter()

    def save():
        nonlocal last
        results.run.total_wall_seconds += time.perf_counter() - last
        last = time.perf_counter()
        session["wall_seconds"] = last - start
        results.run.finished_at = session["finished_at"] = now()
        write_results(results_path, results)

    x = np.concatenate([splits.x_train, splits.x_val])
    y = np.concatenate([splits.y_train, splits.y_val])
    # fit on the training split, score on the validation split: one "fold", the test split never used
    cv = PredefinedSplit(np.r_[np.full(len(splits.y_train), -1), np.zeros(len(splits.y_val), dtype=int)])
    estimator = MODELS[model].build(profile, seed)
    searcher = make_search(search, estimator, space, cv, n_iter, seed)
    searcher.trial_log = TrialLog(
        tuning,
        save,
        None if budget_minutes is None else 60 * budget_minutes,
        on_trial or (lambda t: None),
        skip_done=resume,
    )
    save()
    time_limit = (executor or InProcess()).time_limit(prof.job_timeout)
    session["execution"] = {**(executor or InProcess()).describe(), "job_timeout": time_limit}
    with threads.limited(prof.threads):
        try:
            if executor is None:
                searcher.fit(x, y)
            else:
                data = DataSpec.of(splits, seed, profile)
                share_loaded(data, splits)
                _trials_as_jobs(
                    executor,
                    retries,
                    on_retry,
                    searcher.trial_log,
                    model,
                    profile,
                    seed,
                    search,
                    space,
                    n_iter,
                    data,
                    time_limit,
                )
            session["stopped_by"] = "finished"
        except BudgetSpent:
            session["stopped_by"] = "budget"
        except NothingLeft:
            session["stopped_by"] = "finished" if searcher.trial_log.ran else "nothing left to run"
    save()
    return results_path
