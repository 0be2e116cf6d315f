"""Hyperparameter search: `benchmark.py tune --model NAME [--search grid|random|halving]`.

Candidates come from the model's declared search space (`ModelSpec.search_space` in the
registry, or a JSON file given with --space) and scikit-learn's search classes run them on
the common estimator interface: GridSearchCV, RandomizedSearchCV, HalvingRandomSearchCV. A
trial fits on the profile's training split and is scored (accuracy) on its validation split,
through a PredefinedSplit; the test split is never looked at.

The search classes are made to evaluate one candidate at a time (`_TrialByTrial`), so each
trial is written to the results file the moment it ends, the budget is checked between
trials, and a resumed grid or random search skips the trials it already has. The results
file holds the run (its sessions say what stopped each: finished, budget) and a `tuning`
dict: model, search, space, one flat dict per trial and the best; `benchmark.py --params
RESULTS.json` trains with the best settings. Space and params files are read in bench.tune_files.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np

from . import environment
from .data import DataError, Splits, load_dataset
from .executors import InProcess, run_jobs
from .jobs import DataSpec, Job, share_loaded
from .registry import MODELS, PROFILES
from .results import RESULTS_NAME, now, read_results, write_results
from .schema import OK, SCHEMA, Results, Run
from .tune_files import TuneError, grid_size, parse_space, read_space_file

SEARCHES = ("grid", "random", "halving")
HALVING_FACTOR = 3  # each round keeps the best third of the candidates on three times the images


class _BudgetSpent(Exception):
    """Raised between trials when the next trial would end after the budget."""


class _NothingLeft(Exception):
    """Raised when every candidate of a resumed search already has its trial."""


def _plain(value):
    """NumPy scalars (from a sampled distribution) as plain Python values, for JSON and set_params."""
    return value.item() if isinstance(value, np.generic) else value


def _key(params: dict) -> str:
    return json.dumps({k: _plain(v) for k, v in params.items()}, sort_keys=True)


class _TrialLog:
    """Written by the search between trials: saves each trial, enforces the budget, skips done trials."""

    def __init__(self, tuning: dict, save, budget_seconds, on_trial, skip_done: bool):
        self.tuning, self.save, self.on_trial = tuning, save, on_trial
        self.budget_seconds, self.start, self.ran = budget_seconds, time.perf_counter(), 0
        self.done = {_key(t["params"]) for t in tuning["trials"] if t["status"] == OK} if skip_done else set()
        self.longest = max(
            (t["fit_seconds"] + t["score_seconds"] for t in tuning["trials"] if t["status"] == OK), default=0.0
        )

    def before_trial(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.budget_seconds is not None and self.ran and elapsed + self.longest > self.budget_seconds:
            raise _BudgetSpent

    def record(self, results: dict, caught: list) -> None:
        """The trial scikit-learn just scored: the last entry of its results so far."""
        failure = next((str(w.message) for w in caught if "fits failed" in str(w.message)), None)
        score = float(results["mean_test_score"][-1])
        self.add(
            {
                "params": results["params"][-1],
                "score": score if np.isfinite(score) else None,
                "fit_seconds": float(results["mean_fit_time"][-1]),
                "score_seconds": float(results["mean_score_time"][-1]),
                **{k: int(results[k][-1]) for k in ("iter", "n_resources") if k in results},
            },
            failure,
        )

    def record_failure(self, params: dict, extra: dict | None, message: str, seconds: float) -> None:
        """A trial whose fit raised: scikit-learn raises instead of scoring when all of a call's fits fail."""
        self.add(
            {
                "params": params,
                "score": None,
                "fit_seconds": seconds,
                "score_seconds": 0.0,
                **{k: int(v[0]) for k, v in (extra or {}).items()},
            },
            message,
        )

    def add(self, trial: dict, failure: str | None) -> None:
        """One finished trial: params, score (None: failed), fit_seconds, score_seconds; failure: why it failed."""
        trial = {
            "trial": len(self.tuning["trials"]) + 1,
            **trial,
            "params": {k: _plain(v) for k, v in trial["params"].items()},
            "status": OK if failure is None and trial["score"] is not None else "failed",
            "finished_at": now(),
        }
        if trial["status"] != OK:
            # the summary scikit-learn writes ends with the exception's own line
            lines = [line for line in (failure or "scored NaN").strip().splitlines() if line.strip()]
            trial["error"] = lines[-1][:500]
        self.tuning["trials"].append(trial)
        self.ran += 1
        self.longest = max(self.longest, trial["fit_seconds"] + trial["score_seconds"])
        self.tuning["best"] = best_trial(self.tuning)
        self.save()
        self.on_trial(trial)


class _TrialByTrial:
    """Mixin for scikit-learn's search classes: evaluate the candidates one at a time.

    BaseSearchCV hands `_run_search` a function that scores a list of candidates; this passes
    them on singly, so the trial log sees each trial as it ends (halving's per-candidate
    `more_results` are sliced to match).
    """

    trial_log: _TrialLog

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        from sklearn.exceptions import FitFailedWarning

        # sklearn's callback contexts number their tasks per call and refuse a second task 0 under one parent;
        # no callback is used here, so the trials go without one
        def one_at_a_time(candidate_params, cv=None, more_results=None, callback_ctx=None):
            results = None
            for i, params in enumerate(list(candidate_params)):
                if _key(params) in self.trial_log.done:
                    continue
                self.trial_log.before_trial()
                extra = {k: v[i : i + 1] for k, v in more_results.items()} if more_results else None
                started = time.perf_counter()
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", FitFailedWarning)
                        results = evaluate_candidates([params], cv, more_results=extra)
                except ValueError as e:
                    if "fits failed" not in str(e):
                        raise
                    self.trial_log.record_failure(params, extra, str(e), time.perf_counter() - started)
                    continue
                self.trial_log.record(results, caught)
            if results is None:  # nothing scored: every candidate was done before, or failed
                raise _NothingLeft
            return results

        return super()._run_search(one_at_a_time, callback_ctx=callback_ctx)


def _search_class(search: str):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV

    base = {"grid": GridSearchCV, "random": RandomizedSearchCV, "halving": HalvingRandomSearchCV}[search]
    return type(f"TrialByTrial{base.__name__}", (_TrialByTrial, base), {})


def make_search(search: str, estimator, space: dict, cv, n_iter: int, seed: int):
    """The scikit-learn search object: accuracy on the PredefinedSplit `cv`, no refit, failures scored NaN."""
    common = {"cv": cv, "refit": False, "error_score": np.nan, "n_jobs": 1}  # one trial at a time, in order
    cls = _search_class(search)
    if search == "grid":
        return cls(estimator, space, **common)
    if search == "random":
        return cls(estimator, space, n_iter=n_iter, random_state=seed, **common)
    return cls(
        estimator,
        space,
        n_candidates=n_iter,
        factor=HALVING_FACTOR,
        min_resources="exhaust",
        random_state=seed,
        return_train_score=False,
        **common,
    )


def best_trial(tuning: dict) -> dict | None:
    """The trial with the highest validation accuracy; for halving, among those of the last round reached."""
    ok = [t for t in tuning["trials"] if t["status"] == OK]
    if tuning["search"] == "halving" and ok:
        last = max(t.get("iter", 0) for t in ok)
        ok = [t for t in ok if t.get("iter", 0) == last]
    return max(ok, key=lambda t: t["score"], default=None)


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


def candidates(search: str, space: dict, n_iter: int, seed: int) -> list[dict]:
    """The candidates GridSearchCV / RandomizedSearchCV would evaluate, in their order, as plain values."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    found = ParameterGrid(space) if search == "grid" else ParameterSampler(space, n_iter, random_state=seed)
    return [{k: _plain(v) for k, v in p.items()} for p in found]


def _trials_as_jobs(
    executor,
    retries,
    on_retry,
    log: _TrialLog,
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
    todo = [p for p in candidates(search, space, n_iter, seed) if _key(p) not in log.done]
    if not todo:
        raise _NothingLeft
    threads = executor.threads_per_job(PROFILES[profile].threads)
    jobs = [
        Job("trial", "bench.tune:trial_task", model, seed, profile, data, threads, index=i, options={"params": p})
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

    executor: None runs scikit-learn's search in this process; an executor (bench.executors) runs a grid or
    random search's trials as jobs on it, several at once (the same candidates, scored the same way)."""
    from sklearn.model_selection import PredefinedSplit

    from . import threads

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
    splits = load_dataset(
        dataset,
        seed=seed,
        val_fraction=prof.val_fraction,
        train_size=prof.train_size,
        test_size=prof.test_size,
        path=data_path,
        download=download,
    )
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
        results = Results(
            Run(
                command=command,
                profile=profile,
                seed=seed,
                dataset=splits.describe(),
                environment=environment.describe(),
                started_at=now(),
                profile_settings=vars(prof),
                models_requested=[model],
            )
        )
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
    searcher.trial_log = _TrialLog(
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
                data = DataSpec.of(splits, seed, prof.val_fraction, prof.train_size, prof.test_size)
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
        except _BudgetSpent:
            session["stopped_by"] = "budget"
        except _NothingLeft:
            session["stopped_by"] = "finished" if searcher.trial_log.ran else "nothing left to run"
    save()
    return results_path


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="benchmark.py tune",
        description="Search one model's settings on the validation split (never the test split) with "
        "scikit-learn's GridSearchCV, RandomizedSearchCV or HalvingRandomSearchCV; every trial is "
        "written as it ends. Then train with the best: python benchmark.py --models NAME --params "
        "OUT/results.json",
        epilog="search space: each model declares one in the registry (see --help of the main command for the "
        "models); --space FILE replaces it with a JSON object such as "
        '{"C": [1, 10, 100], "gamma": {"loguniform": [0.001, 0.1]}}. '
        "exit codes: 0 searched (or stopped by the budget); 1 every trial failed; 2 bad input; "
        "130 interrupted (finished trials are kept; --resume skips them).",
    )
    p.add_argument("--model", required=True, help=f"the model to tune: {', '.join(MODELS)}")
    p.add_argument(
        "--search",
        choices=SEARCHES,
        default="random",
        help="grid: every combination; random: --n-iter samples; halving: --n-iter candidates, each "
        f"round keeping the best 1/{HALVING_FACTOR} on {HALVING_FACTOR}x the images (default: random)",
    )
    p.add_argument("--n-iter", type=int, default=10, help="candidates of a random or halving search (default: 10)")
    p.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        help="stop before a trial that would end after this many minutes of this session (judged by "
        "the longest trial so far; the first trial always runs)",
    )
    p.add_argument("--space", metavar="FILE", help="a JSON search space instead of the registry's")
    p.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="quick",
        help="the data and training of every trial (default: quick, 9,000 train / 1,000 validation)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the sampling and the training (default: 0)")
    p.add_argument(
        "--out", metavar="DIR", help="where results.json and the report go (default: reports/<time>-tune-<model>/)"
    )
    p.add_argument("--resume", action="store_true", help="continue the search in --out; finished trials are skipped")
    p.add_argument("--dataset", choices=["mnist", "mnist-sample", "kaggle"], default="mnist")
    p.add_argument("--data", metavar="PATH", help="data location as for the main command (default: $MNIST_PATH)")
    p.add_argument("--offline", action="store_true", help="never try to download MNIST")
    from .console import add_executor_options

    add_executor_options(p, PROFILES)
    return p


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def main(argv) -> int:
    from datetime import datetime

    from .console import EXIT_FAILED, command_line, esc, fail, interrupted, make_console
    from .executors import ExecutorError, open_executor
    from .results import ResultsError

    args = build_parser().parse_args(argv)
    console = make_console()
    if args.resume and not args.out:
        return fail(console, "--resume: give --out DIR, the folder of the search to continue")
    out_dir = Path(args.out or Path("reports") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-tune-{args.model}")
    command = command_line("tune", *argv)

    def announce(splits):
        console.print(
            f"dataset [bold]{esc(splits.name)}[/bold] from {esc(splits.source)}: trials fit on {len(splits.y_train):,} "
            f"images and are scored on {len(splits.y_val):,} validation images (the test split is not used)"
        )
        if splits.is_sample:
            console.print(f"[bold yellow]{esc(splits.note)}[/bold yellow]")

    def show(t):
        where = f" (round {t['iter'] + 1}, {t['n_resources']:,} images)" if "iter" in t else ""
        if t["status"] == OK:
            console.print(
                f"trial {t['trial']}{where}: {esc(_params_text(t['params']))} -> validation accuracy "
                f"{t['score']:.4f} (fit {t['fit_seconds']:.1f} s)"
            )
        else:
            console.print(
                f"[red]trial {t['trial']}{where}: {esc(_params_text(t['params']))} failed: {esc(t.get('error'))}[/red]"
            )

    def retrying(job, error, attempt):
        console.print(
            f"[yellow]trial {esc(_params_text(job.options['params']))} failed on attempt {attempt} ({esc(error)}); "
            "trying again[/yellow]"
        )

    try:
        with open_executor(args.workers, args.scheduler, args.retries, args.job_timeout) as executor:
            results_path = run_tune(
                args.model,
                search=args.search,
                n_iter=args.n_iter,
                budget_minutes=args.budget,
                space_path=args.space,
                profile=args.profile,
                seed=args.seed,
                out_dir=out_dir,
                dataset=args.dataset,
                data_path=args.data,
                download=not args.offline,
                resume=args.resume,
                command=command,
                on_trial=show,
                on_data=announce,
                executor=None if isinstance(executor, InProcess) else executor,
                retries=executor.retries,
                on_retry=retrying,
            )
    except (TuneError, DataError, ResultsError, ExecutorError) as e:
        return fail(console, str(e))
    except KeyboardInterrupt:
        return interrupted(
            console,
            f"finished trials are kept in {out_dir / RESULTS_NAME}; continue with "
            f"the same command and --resume --out {out_dir}",
        )
    results = read_results(results_path)
    tuning = results.tuning
    console.print(trials_table(tuning))
    session = results.run.sessions[-1]
    console.print(
        f"{len(tuning['trials'])} trial(s) in {session['wall_seconds']:.0f} s this session"
        + (" (stopped by the budget)" if session["stopped_by"] == "budget" else "")
        + f"; results: {esc(results_path)}"
    )
    from .report.cli import write_reports

    write_reports(console, results_path)
    if tuning["best"] is None:
        return fail(console, f"no trial succeeded (details in {results_path})", EXIT_FAILED)
    console.print(
        f"best: {esc(_params_text(tuning['best']['params']))} (validation accuracy "
        f"{tuning['best']['score']:.4f}); train with it: python benchmark.py --models {esc(args.model)} "
        f"--params {esc(results_path)}"
    )
    return 0


def trials_table(tuning: dict, limit: int = 15):
    """Terminal table: the best `limit` trials, best first."""
    from rich.table import Table

    from .console import esc

    names = list(tuning["space"])
    table = Table(
        title=f"{esc(tuning['model'])}: {esc(tuning['search'])} search, validation accuracy (best {limit} trials)"
    )
    for column in ["trial", *names, "accuracy", "fit s"]:
        table.add_column(column, justify="left" if column in names else "right")
    trials = sorted(tuning["trials"], key=lambda t: -(t["score"] if t["score"] is not None else -1))[:limit]
    for t in trials:
        table.add_row(
            str(t["trial"]),
            *[esc(t["params"].get(n, "")) for n in names],
            f"{t['score']:.4f}" if t["score"] is not None else "[red]failed[/red]",
            f"{t['fit_seconds']:.1f}",
        )
    return table
