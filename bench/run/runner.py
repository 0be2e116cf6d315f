"""The benchmark loop: load data once, turn the models (and further seeds) into jobs, write each row.

Every model and every further seed is one `bench.run.jobs.Job`; an executor (in this process by default,
or a local pool, or a Dask cluster) runs them, and this process writes each row (atomically) the
moment its job finishes, so a killed run loses at most the jobs in progress, and `resume=True`
skips every finished model and seed. What one job does (build, fit, save and measure a model) is
bench.run.model_job.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import environment, progress, threads
from ..console import esc
from ..data import Splits
from ..evaluation import significance
from ..files import as_typed
from ..registry import MODELS, PROFILES
from ..results import (
    RESULTS_NAME,
    load_predictions,
    now,
    predictions_file,
    read_results,
    save_predictions,
    save_test_set,
    write_results,
)
from ..schema import SCHEMA, Results, Row, SeedRun, identity_differences
from .executors import InProcess, run_jobs
from .jobs import DataSpec, Job, load_for_profile, new_run, share_loaded
from .model_job import settings_of


class RunError(ValueError):
    """The run cannot start as asked (for example a resume that does not match)."""


def check_resumable(results: Results, splits: Splits, profile: str, seed: int, path: Path) -> None:
    asked = {"profile": profile, "seed": seed, "dataset": {"name": splits.name, "fingerprint": splits.fingerprint}}
    mismatches = [
        f"{what} was {old!r}, now {new!r}" for what, old, new in identity_differences(results.run.identity(), asked)
    ]
    if mismatches:
        raise RunError(f"{path}: cannot resume, {'; '.join(mismatches)}")


def check_settings(model_names, profile: str, seed: int, params: dict) -> None:
    """Every model's settings (the registry's, or --params') checked as its estimator checks them, before any
    data is read or any model trained: a bad value is one line naming the model, not a failure an hour in."""
    for name in model_names:
        params_of = params.get(name)
        try:
            MODELS[name].build(profile, seed, **settings_of(params_of))._validate_params()
        except (TypeError, ValueError) as e:
            source = f" (from {params_of['source']})" if params_of and params_of.get("source") else ""
            raise RunError(f"{name}'s settings{source}: {' '.join(str(e).split())}") from None


def run(model_names, *, profile="full", **options) -> Path:
    """Run the benchmark; returns the results path. Rows are written as each model finishes.

    The profile's thread count (if any) holds for the whole run, the environment record included.
    """
    with threads.limited(PROFILES[profile].threads):
        return _run(model_names, profile=profile, **options)


def _run(
    model_names,
    *,
    profile,
    dataset="mnist",
    data_path=None,
    seed=0,
    seeds=None,
    out_dir,
    models_dir="models",
    resume=False,
    download=True,
    command="",
    console=None,
    on_data=None,
    params=None,
    executor=None,
    retries=0,
) -> Path:
    """seeds > 1: every model is also trained with seed+1, ..., seed+seeds-1 on the same split; those runs
    go into the row's "seed_runs" (quality and training time), so the row's own metrics stay those of
    `seed`. seeds=None: 1, or on resume the number the run was started with (a resumed run finishes its
    further seeds too). params: {model: {"settings": {...}, "source": path}} replacing the registry's
    settings of those models (--params). executor: where the jobs run (bench.run.executors; default: one
    after another in this process); a job that raises is tried 1 + `retries` times."""
    import statsmodels  # noqa: F401  (the intervals and tests need it: fail before training, not after)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.perf_counter()  # the session's wall time includes loading data
    console = console or Console()
    executor = executor or InProcess()
    prof = PROFILES[profile]
    out_dir, models_dir = Path(out_dir), Path(models_dir)
    results_path = out_dir / RESULTS_NAME
    for folder, option in ((out_dir, "--out"), (models_dir, "--models-dir")):
        if folder.exists() and not folder.is_dir():
            raise RunError(f"{folder}: is a file, not a folder ({option} names the folder a run writes into)")
    if results_path.exists() and not resume:  # before reading any data: the answer does not depend on it
        raise RunError(f"{results_path}: already holds results; pass --resume to continue it or pick another --out")
    check_settings(model_names, profile, seed, params or {})

    splits = load_for_profile(dataset, profile, seed, data_path, download)
    if on_data:
        on_data(splits)

    if results_path.exists():
        results = read_results(results_path)
        check_resumable(results, splits, profile, seed, results_path)
        results.schema = SCHEMA  # rows this code adds carry schema 2's numbers
    else:
        results = new_run(splits, profile, seed, model_names, command, seeds or 1)
        save_test_set(out_dir / "test_set.npz", splits.x_test, splits.y_test)
    seeds = seeds or results.run.seeds
    if seeds > 1:
        results.run.seeds = max(results.run.seeds, seeds)
    write_results(results_path, results)

    data = DataSpec.of(splits, seed, profile)
    share_loaded(data, splits)  # in-process jobs use these splits; workers load their own and check them
    job_threads = executor.threads_per_job(prof.threads)
    time_limit = executor.time_limit(prof.job_timeout)
    session = {
        "started_at": now(),
        "command": command,
        "code": environment.code_version(),
        "models_run": [],
        "execution": {
            **executor.describe(),
            "threads_per_job": job_threads,
            "retries": retries,
            "job_timeout": time_limit,
        },
    }
    results.run.sessions.append(session)
    for n in model_names:
        if results.is_ok(n):
            console.print(f"[dim]{n}: already measured in {esc(results_path)}, skipped (--resume)[/dim]")
    jobs = _jobs(results, model_names, profile, seed, seeds, data, job_threads, out_dir, models_dir, params or {})
    matrix = _Matrix(results, results_path, out_dir, splits, session, start, console)

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as display, progress.showing(display):
        matrix.bars = {
            kind: display.add_task(title, total=sum(j.kind == kind for j in jobs))
            for kind, title in (("model", "models"), ("seed", "further seeds"))
            if any(j.kind == kind for j in jobs)
        }
        matrix.display = display
        matrix.models_left = sum(j.kind == "model" for j in jobs)
        run_jobs(
            executor,
            jobs,
            matrix.finished,
            retries=retries,
            timeout=time_limit,
            on_retry=matrix.retrying,
            on_running=matrix.running,
        )
    session.setdefault("first_seed_wall_seconds", time.perf_counter() - start)
    _close_session(results, session, start)
    write_results(results_path, results)
    return results_path


def _jobs(results, model_names, profile, seed, seeds, data, threads, out_dir, models_dir, params) -> list[Job]:
    """Every job the run still needs: first each unmeasured model, then each unfinished further seed."""
    common = {
        "profile": profile,
        "data": data,
        "threads": threads,
        "out_dir": str(out_dir.resolve()),
        "models_dir": str(models_dir.resolve()),
    }
    jobs = [
        Job("model", "bench.run.model_job:model_task", n, seed, params=params.get(n), **common)
        for n in model_names
        if not results.is_ok(n)
    ]
    for s in range(seed + 1, seed + seeds):
        for n in model_names:
            done = n in results.models and any(r.seed == s and r.ok for r in results.models[n].seed_runs)
            if not done:
                jobs.append(Job("seed", "bench.run.model_job:seed_task", n, s, params=params.get(n), **common))
    return jobs


class _Matrix:
    """The client's side of a run's jobs: writes each row (or further seed) the moment it arrives."""

    def __init__(self, results, results_path, out_dir, splits, session, start, console):
        self.results, self.results_path, self.out_dir, self.splits = results, results_path, out_dir, splits
        self.session, self.start, self.console = session, start, console
        self.early_seed_runs: dict[str, list[SeedRun]] = {}  # further seeds that finished before their model
        self.display, self.bars, self.models_left = None, {}, 0

    def finished(self, job: Job, result: dict | None, error: str | None, trace: str | None) -> None:
        if job.kind == "model":
            self._model_finished(job, result, error, trace)
        else:
            self._seed_finished(job, result, error)
        self.display.advance(self.bars[job.kind])

    def _model_finished(self, job, result, error, trace):
        name, results = job.model, self.results
        if result is None:  # one broken model must not lose the others' results
            row = Row.failed(name, MODELS[name].family, error, trace, now())
            self.console.print(f"[red]{name} failed: {esc(row.error)}[/red]")
        else:
            row = Row.from_json(result["row"])
            row.worker = result["worker"]
            row.model_path = as_typed(row.model_path)
            save_predictions(self.out_dir / row.predictions_path, self.splits.y_test, result["proba"])
            m = row.metrics
            self.console.print(f"{name}: accuracy {m['accuracy']:.4f}, trained in {m['train_seconds']:.1f} s")
            earlier = results.models[name].seed_runs if name in results.models else []
            row.seed_runs = _merge_seed_runs(earlier, self.early_seed_runs.pop(name, []))
        results.models[name] = row
        self.session["models_run"].append(name)
        self.models_left -= 1
        if self.models_left == 0:  # what one run of the first seed took (the "whole run" time)
            self.session["first_seed_wall_seconds"] = time.perf_counter() - self.start
        self._write()
        try:  # the pairs are recomputed from the saved predictions; the row above is already safe
            results.significance = pairwise_significance(results, self.out_dir)
            write_results(self.results_path, results)
        except Exception as e:
            self.console.print(
                f"[red]significance not updated ({type(e).__name__}: {esc(e)}); the report rebuilds without it[/red]"
            )

    def _seed_finished(self, job, result, error):
        name, s = job.model, job.seed
        if result is None:  # the model's first measurement and the other seeds stay
            entry = SeedRun(s, "failed", now(), error=error)
            self.console.print(f"[red]{name} seed {s} failed: {esc(entry.error)}[/red]")
        else:
            entry = SeedRun.from_json(result["seed_run"])
            entry.worker = result["worker"]
            self.console.print(
                f"{name} seed {s}: accuracy {entry.accuracy:.4f}, trained in {entry.train_seconds:.1f} s"
            )
        row = self.results.models.get(name)
        if row is None:  # its model is still running: the seed joins its row when that arrives
            self.early_seed_runs.setdefault(name, []).append(entry)
            return
        if not row.ok:
            self.console.print(f"[dim]{name} seed {s} is not kept: {name} itself failed[/dim]")
            return
        row.seed_runs = _merge_seed_runs(row.seed_runs, [entry])
        self.session["models_run"].append(f"{name}@seed{s}")
        self._write()

    def retrying(self, job: Job, error: str, attempt: int) -> None:
        self.console.print(f"[yellow]{job.label} failed on attempt {attempt} ({esc(error)}); trying again[/yellow]")

    def running(self, jobs: list[Job]) -> None:
        for kind, bar in self.bars.items():
            labels = [j.model if kind == "model" else j.label for j in jobs if j.kind == kind]
            title = "models" if kind == "model" else "further seeds"
            self.display.update(bar, description=f"{title}: training {', '.join(labels)}" if labels else title)

    def _write(self):
        _close_session(self.results, self.session, self.start)
        write_results(self.results_path, self.results)


def _merge_seed_runs(old: list[SeedRun], new: list[SeedRun]) -> list[SeedRun]:
    """old with each of new's seeds replaced or added, by seed."""
    replaced = {r.seed for r in new}
    return sorted([r for r in old if r.seed not in replaced] + new, key=lambda r: r.seed)


MCNEMAR_METHOD = (
    "exact McNemar test (binomial, two-sided) on the test images where exactly one of the two "
    "models is right, Holm-corrected over all pairs"
)


def pairwise_significance(results: Results, out_dir: Path) -> dict | None:
    """The McNemar comparison of every pair of ok models whose predictions the run saved; None for fewer than 2."""
    predictions, y_true = {}, None
    for row in results.ok_rows():
        path = predictions_file(out_dir, row)
        if path is not None and path.is_file():
            arrays = load_predictions(path)
            y_true, predictions[row.name] = arrays["y_true"], arrays["y_pred"]
    if len(predictions) < 2:
        return None
    return {
        "method": MCNEMAR_METHOD,
        "alpha": significance.ALPHA,
        "n_test": int(len(y_true)),
        "pairs": significance.mcnemar_pairs(y_true, predictions),
    }


def _close_session(results, session, start):
    session["finished_at"] = now()
    session["wall_seconds"] = time.perf_counter() - start
    run = results.run
    run.finished_at = session["finished_at"]
    run.total_wall_seconds = sum(s.get("wall_seconds", 0.0) for s in run.sessions)
