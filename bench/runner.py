"""The benchmark loop: load data once, then for each model fit -> measure -> write its row.

Each model's row is written (atomically) the moment the model is measured, so a killed
run loses at most the model in progress, and `resume=True` skips every finished model.
"""

from __future__ import annotations

import io
import time
import traceback
from pathlib import Path

import numpy as np

from . import metrics, progress, threads
from .data import Splits, load_dataset
from .registry import MODELS, PROFILES
from .results import (RESULTS_NAME, SCHEMA, atomic_write_bytes, environment, now, read_results,
                      save_predictions, write_results)


class RunError(ValueError):
    """The run cannot start as asked (for example a resume that does not match)."""


def new_run(splits: Splits, profile: str, seed: int, model_names: list[str], command: str, seeds: int = 1) -> dict:
    return {
        "schema": SCHEMA,
        "run": {
            "command": command,
            "profile": profile,
            "profile_settings": vars(PROFILES[profile]),
            "seed": seed,
            "seeds": seeds,
            "models_requested": model_names,
            "dataset": splits.describe(),
            "environment": environment(),
            "started_at": now(),
            "finished_at": None,
            "sessions": [],
            "total_wall_seconds": 0.0,
        },
        "models": {},
    }


def check_resumable(results: dict, splits: Splits, profile: str, seed: int, path: Path) -> None:
    run = results["run"]
    mismatches = [
        f"{what} was {old!r}, now {new!r}"
        for what, old, new in [
            ("profile", run["profile"], profile),
            ("seed", run["seed"], seed),
            ("dataset", run["dataset"]["name"], splits.name),
            ("data fingerprint", run["dataset"]["fingerprint"], splits.fingerprint),
        ]
        if old != new
    ]
    if mismatches:
        raise RunError(f"{path}: cannot resume, {'; '.join(mismatches)}")


def measure(est, splits: Splits, latency_calls: int) -> dict:
    """Quality on the test split, then batch throughput and single-image latency."""
    proba = est.predict_proba(splits.x_test)
    row = metrics.quality(splits.y_test, proba)
    row.update(metrics.throughput(est.predict_proba, splits.x_test))
    row.update(metrics.latency(est.predict_proba, splits.x_test, calls=latency_calls))
    return row, proba


def run_model(name: str, splits: Splits, profile: str, seed: int, models_dir: Path, out_dir: Path) -> dict:
    """Train and measure one model; returns its result row (plain data)."""
    spec = MODELS[name]
    est = spec.build(profile, seed)
    model_path = models_dir / f"{name}{est.file_suffix}"
    if "checkpoint_path" in est.get_params():
        est.set_params(checkpoint_path=str(model_path))
    train_seconds = fit_timed(est, splits)
    est.save(model_path)
    reference = metrics.reference_workload()  # machine speed right now, for machine-independent time ratios
    measured, proba = measure(est, splits, PROFILES[profile].latency_calls)
    # A model with its own inference path (TensorFlow Lite) shows it predicts as the model it was converted from.
    inference = est.inference_check(splits.x_test, proba) if hasattr(est, "inference_check") else None
    predictions = out_dir / "predictions" / f"{name}.npz"
    save_predictions(predictions, splits.y_test, proba)
    quality_keys = ("per_class", "confusion_matrix")
    return {
        "name": name,
        "family": spec.family,
        "description": spec.description,
        "status": "ok",
        "seed": seed,
        "estimator": type(est).__name__,
        "settings": est.get_params(),
        "n_train": est.n_train_,
        "n_test": int(len(splits.y_test)),
        "metrics": {
            "train_seconds": train_seconds,
            **{k: v for k, v in measured.items() if k not in quality_keys},
            "params": est.n_params(),
            "size_bytes": _size_on_disk(model_path),
            "reference_ms": reference["reference_ms"],
        },
        "reference_ms_repeats": reference["reference_ms_repeats"],
        "per_class": measured["per_class"],
        "confusion_matrix": measured["confusion_matrix"],
        "history": getattr(est, "history_", None),
        "inference": inference,
        "model_path": str(model_path),
        "predictions_path": str(predictions.relative_to(out_dir)),
        "finished_at": now(),
    }


# What a run with --seeds N records for every further seed: the test quality and the training time
# (throughput and latency do not depend on the seed, so they are measured once).
SEED_METRICS = ("accuracy", "log_loss", "f1_macro", "roc_auc_macro", "error_count")


def fit_timed(est, splits: Splits) -> float:
    """Fit on the training split (validation split for early stopping/calibration); returns seconds."""
    start = time.perf_counter()
    est.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val))
    return time.perf_counter() - start


def seed_run(name: str, splits: Splits, profile: str, seed: int) -> dict:
    """Train `name` again with another seed (same data split) and measure its test quality."""
    est = MODELS[name].build(profile, seed)
    train_seconds = fit_timed(est, splits)
    quality = metrics.quality(splits.y_test, est.predict_proba(splits.x_test))
    return {"seed": seed, "status": "ok", "train_seconds": train_seconds,
            **{k: quality[k] for k in SEED_METRICS}, "finished_at": now()}


def _size_on_disk(path: Path) -> int:
    """Bytes of the saved model, its JSON sidecar included."""
    return sum(p.stat().st_size for p in [path, path.with_suffix(".json")] if p.is_file())


def save_test_set(out_dir: Path, splits: Splits) -> None:
    """The test images and labels beside the results, for error galleries in reports."""
    buf = io.BytesIO()
    np.savez_compressed(buf, x_test=splits.x_test, y_test=splits.y_test)
    atomic_write_bytes(out_dir / "test_set.npz", buf.getvalue())


def run(model_names, *, profile="full", **options) -> Path:
    """Run the benchmark; returns the results path. Rows are written as each model finishes.

    The profile's thread count (if any) holds for the whole run, the environment record included.
    """
    with threads.limited(PROFILES[profile].threads):
        return _run(model_names, profile=profile, **options)


def _run(model_names, *, profile, dataset="mnist", data_path=None, seed=0, seeds=None, out_dir,
         models_dir="models", resume=False, download=True, command="", console=None, on_data=None) -> Path:
    """seeds > 1: after every model is measured with `seed`, each is trained again with seed+1, ...,
    seed+seeds-1 on the same split; those runs go into the row's "seed_runs" (quality and training
    time), so the row's own metrics stay those of `seed`. seeds=None: 1, or on resume the number
    the run was started with (a resumed run finishes its further seeds too)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    start = time.perf_counter()  # the session's wall time includes loading data
    console = console or Console()
    prof = PROFILES[profile]
    out_dir, models_dir = Path(out_dir), Path(models_dir)
    results_path = out_dir / RESULTS_NAME

    splits = load_dataset(dataset, seed=seed, val_fraction=prof.val_fraction, train_size=prof.train_size,
                          test_size=prof.test_size, path=data_path, download=download)
    if on_data:
        on_data(splits)

    if results_path.exists():
        if not resume:
            raise RunError(f"{results_path}: already holds results; pass --resume to continue it or pick another --out")
        results = read_results(results_path)
        check_resumable(results, splits, profile, seed, results_path)
    else:
        results = new_run(splits, profile, seed, model_names, command, seeds or 1)
        save_test_set(out_dir, splits)
    seeds = seeds or results["run"].get("seeds", 1)
    write_results(results_path, results)

    session = {"started_at": now(), "command": command, "code": environment()["digit_bench"], "models_run": []}
    results["run"]["sessions"].append(session)
    todo = [n for n in model_names if results["models"].get(n, {}).get("status") != "ok"]
    for n in model_names:
        if n not in todo:
            console.print(f"[dim]{n}: already measured in {results_path}, skipped (--resume)[/dim]")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as display, progress.showing(display):
        overall = display.add_task("models", total=len(todo))
        for name in todo:
            display.update(overall, description=f"models: training {name}")
            try:
                row = run_model(name, splits, profile, seed, models_dir, out_dir)
            except Exception as e:  # one broken model must not lose the others' results
                row = {"name": name, "family": MODELS[name].family, "status": "failed",
                       "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                       "finished_at": now()}
                console.print(f"[red]{name} failed: {row['error']}[/red]")
            else:
                m = row["metrics"]
                console.print(f"{name}: accuracy {m['accuracy']:.4f}, trained in {m['train_seconds']:.1f} s")
            results["models"][name] = row
            session["models_run"].append(name)
            _close_session(results, session, start)
            write_results(results_path, results)
            display.advance(overall)
        # what one run of the first seed took (the "whole run" time), before any further seed
        session["first_seed_wall_seconds"] = time.perf_counter() - start
        _run_further_seeds(results, results_path, model_names, splits, profile, range(seed + 1, seed + seeds),
                           session, start, display, console)
    _close_session(results, session, start)
    write_results(results_path, results)
    return results_path


def _run_further_seeds(results, results_path, model_names, splits, profile, further, session, start, display,
                       console):
    """Train every measured model again with each further seed; a finished (model, seed) is never redone."""
    todo = [(s, n) for s in further for n in model_names
            if results["models"].get(n, {}).get("status") == "ok"
            and not any(r["seed"] == s and r["status"] == "ok" for r in results["models"][n].get("seed_runs", []))]
    if not todo:
        return
    results["run"]["seeds"] = max(results["run"].get("seeds", 1), len(further) + 1)
    task = display.add_task("further seeds", total=len(todo))
    for s, name in todo:
        display.update(task, description=f"further seeds: training {name} with seed {s}")
        try:
            entry = seed_run(name, splits, profile, s)
        except Exception as e:  # the model's first measurement and the other seeds stay
            entry = {"seed": s, "status": "failed", "error": f"{type(e).__name__}: {e}", "finished_at": now()}
            console.print(f"[red]{name} seed {s} failed: {entry['error']}[/red]")
        else:
            console.print(f"{name} seed {s}: accuracy {entry['accuracy']:.4f}, trained in {entry['train_seconds']:.1f} s")
        runs = results["models"][name].setdefault("seed_runs", [])
        runs[:] = sorted([r for r in runs if r["seed"] != s] + [entry], key=lambda r: r["seed"])
        session["models_run"].append(f"{name}@seed{s}")
        _close_session(results, session, start)
        write_results(results_path, results)
        display.advance(task)


def _close_session(results, session, start):
    session["finished_at"] = now()
    session["wall_seconds"] = time.perf_counter() - start
    run = results["run"]
    run["finished_at"] = session["finished_at"]
    run["total_wall_seconds"] = sum(s.get("wall_seconds", 0.0) for s in run["sessions"])
