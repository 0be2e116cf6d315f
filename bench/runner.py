"""The benchmark loop: load data once, then for each model fit -> measure -> write its row.

Each model's row is written (atomically) the moment the model is measured, so a killed
run loses at most the model in progress, and `resume=True` skips every finished model.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import numpy as np

from . import calibration, environment, metrics, progress, significance, threads
from .data import Splits, load_dataset
from .registry import MODELS, PROFILES
from .results import (RESULTS_NAME, atomic_write_bytes, load_predictions, model_run_path, now, read_results, save_predictions,
                      save_test_set, write_results)
from .schema import SCHEMA, SEED_METRICS, Results, Row, Run, SeedRun, identity_differences


class RunError(ValueError):
    """The run cannot start as asked (for example a resume that does not match)."""


def new_run(splits: Splits, profile: str, seed: int, model_names: list[str], command: str, seeds: int = 1) -> Results:
    return Results(Run(command=command, profile=profile, seed=seed, dataset=splits.describe(),
                       environment=environment.describe(), started_at=now(),
                       profile_settings=vars(PROFILES[profile]), seeds=seeds, models_requested=model_names))


def check_resumable(results: Results, splits: Splits, profile: str, seed: int, path: Path) -> None:
    asked = {"profile": profile, "seed": seed, "dataset": {"name": splits.name, "fingerprint": splits.fingerprint}}
    mismatches = [f"{what} was {old!r}, now {new!r}"
                  for what, old, new in identity_differences(results.run.identity(), asked)]
    if mismatches:
        raise RunError(f"{path}: cannot resume, {'; '.join(mismatches)}")


def measure(est, splits: Splits, latency_calls: int) -> tuple[dict, np.ndarray]:
    """Quality on the test split, then batch throughput and single-image latency.

    Returns (measurements: metrics.quality's keys plus throughput and latency, test probabilities (N, 10)).
    """
    proba = est.predict_proba(splits.x_test)
    measured = metrics.quality(splits.y_test, proba)
    measured.update(metrics.throughput(est.predict_proba, splits.x_test))
    measured.update(metrics.latency(est.predict_proba, splits.x_test, calls=latency_calls))
    return measured, proba


def run_model(name: str, splits: Splits, profile: str, seed: int, models_dir: Path, out_dir: Path,
              params: dict | None = None) -> Row:
    """Train and measure one model; returns its result row. params: {"settings": {...}, "source": "file"},
    settings that replace the registry's (from `--params`, e.g. a tune result)."""
    spec = MODELS[name]
    est = spec.build(profile, seed, **(params["settings"] if params else {}))
    model_path = models_dir / f"{name}{est.file_suffix}"
    est.set_artifact_path(model_path)
    train_seconds = fit_timed(est, splits)
    est.save(model_path)
    reference = metrics.reference_workload()  # machine speed right now, for machine-independent time ratios
    measured, proba = measure(est, splits, PROFILES[profile].latency_calls)
    per_class, confusion_matrix = measured.pop("per_class"), measured.pop("confusion_matrix")
    measured.pop("ece_bins")  # stated in the report's method line
    predictions = out_dir / "predictions" / f"{name}.npz"
    save_predictions(predictions, splits.y_test, proba)
    # `predict` and `serve` show which run a saved model came from and how it scored there
    run_info = {"model": name, "results": str((out_dir / RESULTS_NAME).resolve()), "dataset": splits.name,
                "data_fingerprint": splits.fingerprint, "profile": profile, "seed": seed, "n_train": est.n_train_,
                "accuracy": measured["accuracy"], "finished_at": now()}
    atomic_write_bytes(model_run_path(model_path), json.dumps(run_info, indent=1).encode())
    return Row(
        name=name, family=spec.family, status="ok", description=spec.description, seed=seed,
        estimator=type(est).__name__, settings=est.get_params(), n_train=est.n_train_, n_test=int(len(splits.y_test)),
        metrics={"train_seconds": train_seconds, **measured, "params": est.n_params(),
                 "size_bytes": _size_on_disk(model_path), "reference_ms": reference["reference_ms"]},
        reference_ms_repeats=reference["reference_ms_repeats"], per_class=per_class,
        confusion_matrix=confusion_matrix, history=est.training_history(),
        reliability=calibration.reliability_bins(splits.y_test, proba),
        # a model with its own inference path (TensorFlow Lite) shows it predicts as the model it came from
        inference=est.inference_check(splits.x_test, proba),
        model_path=str(model_path), predictions_path=str(predictions.relative_to(out_dir)), finished_at=now(),
        settings_source=params,
    )


def fit_timed(est, splits: Splits) -> float:
    """Fit on the training split (validation split for early stopping/calibration); returns seconds."""
    start = time.perf_counter()
    est.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val))
    return time.perf_counter() - start


def seed_run(name: str, splits: Splits, profile: str, seed: int, params: dict | None = None) -> SeedRun:
    """Train `name` again with another seed (same data split) and measure its test quality."""
    est = MODELS[name].build(profile, seed, **(params["settings"] if params else {}))
    train_seconds = fit_timed(est, splits)
    quality = metrics.quality(splits.y_test, est.predict_proba(splits.x_test))
    return SeedRun(seed, "ok", now(), train_seconds, {k: quality[k] for k in SEED_METRICS})


def _size_on_disk(path: Path) -> int:
    """Bytes of the saved model, its JSON sidecar included."""
    return sum(p.stat().st_size for p in [path, path.with_suffix(".json")] if p.is_file())


def run(model_names, *, profile="full", **options) -> Path:
    """Run the benchmark; returns the results path. Rows are written as each model finishes.

    The profile's thread count (if any) holds for the whole run, the environment record included.
    """
    with threads.limited(PROFILES[profile].threads):
        return _run(model_names, profile=profile, **options)


def _run(model_names, *, profile, dataset="mnist", data_path=None, seed=0, seeds=None, out_dir,
         models_dir="models", resume=False, download=True, command="", console=None, on_data=None,
         params=None) -> Path:
    """seeds > 1: after every model is measured with `seed`, each is trained again with seed+1, ...,
    seed+seeds-1 on the same split; those runs go into the row's "seed_runs" (quality and training
    time), so the row's own metrics stay those of `seed`. seeds=None: 1, or on resume the number
    the run was started with (a resumed run finishes its further seeds too). params: {model: {"settings":
    {...}, "source": path}} replacing the registry's settings of those models (--params)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    import statsmodels  # noqa: F401  (the intervals and tests need it: fail before training, not after)

    start = time.perf_counter()  # the session's wall time includes loading data
    console = console or Console()
    prof = PROFILES[profile]
    out_dir, models_dir = Path(out_dir), Path(models_dir)
    results_path = out_dir / RESULTS_NAME
    for folder, option in ((out_dir, "--out"), (models_dir, "--models-dir")):
        if folder.exists() and not folder.is_dir():
            raise RunError(f"{folder}: is a file, not a folder ({option} names the folder a run writes into)")

    splits = load_dataset(dataset, seed=seed, val_fraction=prof.val_fraction, train_size=prof.train_size,
                          test_size=prof.test_size, path=data_path, download=download)
    if on_data:
        on_data(splits)

    if results_path.exists():
        if not resume:
            raise RunError(f"{results_path}: already holds results; pass --resume to continue it or pick another --out")
        results = read_results(results_path)
        check_resumable(results, splits, profile, seed, results_path)
        results.schema = SCHEMA  # rows this code adds carry schema 2's numbers
    else:
        results = new_run(splits, profile, seed, model_names, command, seeds or 1)
        save_test_set(out_dir / "test_set.npz", splits.x_test, splits.y_test)
    seeds = seeds or results.run.seeds
    write_results(results_path, results)

    session = {"started_at": now(), "command": command, "code": environment.code_version(), "models_run": []}
    results.run.sessions.append(session)
    todo = [n for n in model_names if not results.is_ok(n)]
    for n in model_names:
        if n not in todo:
            console.print(f"[dim]{n}: already measured in {results_path}, skipped (--resume)[/dim]")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as display, progress.showing(display):
        overall = display.add_task("models", total=len(todo))
        for name in todo:
            display.update(overall, description=f"models: training {name}")
            try:
                row = run_model(name, splits, profile, seed, models_dir, out_dir, (params or {}).get(name))
            except Exception as e:  # one broken model must not lose the others' results
                row = Row.failed(name, MODELS[name].family, f"{type(e).__name__}: {e}", traceback.format_exc(), now())
                console.print(f"[red]{name} failed: {row.error}[/red]")
            else:
                m = row.metrics
                console.print(f"{name}: accuracy {m['accuracy']:.4f}, trained in {m['train_seconds']:.1f} s")
            results.models[name] = row
            session["models_run"].append(name)
            _close_session(results, session, start)
            write_results(results_path, results)
            try:  # the pairs are recomputed from the saved predictions; the row above is already safe
                results.significance = pairwise_significance(results, out_dir)
                write_results(results_path, results)
            except Exception as e:
                console.print(f"[red]significance not updated ({type(e).__name__}: {e}); the report rebuilds "
                              f"without it[/red]")
            display.advance(overall)
        # what one run of the first seed took (the "whole run" time), before any further seed
        session["first_seed_wall_seconds"] = time.perf_counter() - start
        _run_further_seeds(results, results_path, model_names, splits, profile, range(seed + 1, seed + seeds),
                           session, start, display, console, params or {})
    _close_session(results, session, start)
    write_results(results_path, results)
    return results_path


def _run_further_seeds(results, results_path, model_names, splits, profile, further, session, start, display,
                       console, params):
    """Train every measured model again with each further seed; a finished (model, seed) is never redone."""
    todo = [(s, n) for s in further for n in model_names
            if results.is_ok(n) and not any(r.seed == s and r.ok for r in results.models[n].seed_runs)]
    if not todo:
        return
    results.run.seeds = max(results.run.seeds, len(further) + 1)
    task = display.add_task("further seeds", total=len(todo))
    for s, name in todo:
        display.update(task, description=f"further seeds: training {name} with seed {s}")
        try:
            entry = seed_run(name, splits, profile, s, params.get(name))
        except Exception as e:  # the model's first measurement and the other seeds stay
            entry = SeedRun(s, "failed", now(), error=f"{type(e).__name__}: {e}")
            console.print(f"[red]{name} seed {s} failed: {entry.error}[/red]")
        else:
            console.print(f"{name} seed {s}: accuracy {entry.accuracy:.4f}, trained in {entry.train_seconds:.1f} s")
        row = results.models[name]
        row.seed_runs = sorted([r for r in row.seed_runs if r.seed != s] + [entry], key=lambda r: r.seed)
        session["models_run"].append(f"{name}@seed{s}")
        _close_session(results, session, start)
        write_results(results_path, results)
        display.advance(task)


MCNEMAR_METHOD = ("exact McNemar test (binomial, two-sided) on the test images where exactly one of the two "
                  "models is right, Holm-corrected over all pairs")


def pairwise_significance(results: Results, out_dir: Path) -> dict | None:
    """The McNemar comparison of every pair of ok models whose predictions the run saved; None for fewer than 2."""
    predictions, y_true = {}, None
    for row in results.ok_rows():
        path = out_dir / (row.predictions_path or "missing")
        if path.is_file():
            arrays = load_predictions(path)
            y_true, predictions[row.name] = arrays["y_true"], arrays["y_pred"]
    if len(predictions) < 2:
        return None
    return {"method": MCNEMAR_METHOD, "alpha": significance.ALPHA, "n_test": int(len(y_true)),
            "pairs": significance.mcnemar_pairs(y_true, predictions)}


def _close_session(results, session, start):
    session["finished_at"] = now()
    session["wall_seconds"] = time.perf_counter() - start
    run = results.run
    run.finished_at = session["finished_at"]
    run.total_wall_seconds = sum(s.get("wall_seconds", 0.0) for s in run.sessions)
