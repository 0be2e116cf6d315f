"""Compiled runtimes for a run's saved models: `benchmark.py optimise RUN_DIR`.

Every saved model is exported to ONNX (each estimator's `onnx_export`) and run by ONNX Runtime on
the run's thread count; its numbers land in the model's row as a variant (`Row.variants`), one
flat dict beside the native measurement: runtime, what runs where, ONNX file size, accuracy on
the run's test set, agreement with the native model's recorded predictions (same argmax) and the
largest probability difference, throughput (batches of 1,000) and single-image latency, measured
as the run measured the native model. A model that cannot be exported gets a variant with status
"unsupported" and the reason. Nothing is retrained; rows are written as each model finishes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import metrics
from .results import load_predictions, now, write_results
from .saved import SavedModelError, check_same_model, load_saved_model, open_run, run_test_set
from .schema import OK, SCHEMA
from .threads import available_cores

ONNX_RUNTIME = "onnxruntime"
UNSUPPORTED = "unsupported"


class OptimiseError(ValueError):
    """The run directory or its saved models cannot be used."""


def onnx_variant(est, x, y, recorded: dict, threads: int | None, latency_calls: int) -> dict:
    """The model through ONNX Runtime, measured on test images x (N, 28, 28) with labels y."""
    import onnxruntime

    start = time.perf_counter()
    try:
        export = est.onnx_export()
    except NotImplementedError as e:
        return {"variant": ONNX_RUNTIME, "status": UNSUPPORTED, "reason": str(e), "finished_at": now()}
    export_seconds = time.perf_counter() - start
    predict = est.onnx_predictor(threads, export)

    proba = np.concatenate([predict(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    quality = metrics.quality(y, proba)
    return {
        "variant": ONNX_RUNTIME, "status": OK, "runtime": f"onnxruntime {onnxruntime.__version__}",
        "note": export.note, "size_bytes": len(export.model), "export_seconds": export_seconds,
        "accuracy": quality["accuracy"], "log_loss": quality["log_loss"],
        "same_predictions_as_native": float(np.mean(proba.argmax(1) == recorded["y_pred"])),
        "max_abs_proba_difference": float(np.abs(proba - recorded["proba"]).max()),
        **metrics.throughput(predict, x), **metrics.latency(predict, x, calls=latency_calls),
        "threads": threads or available_cores(), "finished_at": now(),
    }


def run_optimise(run_dir, models=None, command="", on_model=None) -> Path:
    """Measure every saved model of the run in run_dir through ONNX Runtime; returns the results path."""
    from . import threads as thread_limits

    run_dir = Path(run_dir)
    try:
        results_path, results, rows = open_run(run_dir, models)
        test_set = run_test_set(run_dir)
    except SavedModelError as e:
        raise OptimiseError(str(e)) from None
    x, y = test_set
    settings = results.run.profile_settings
    threads, latency_calls = settings.get("threads"), int(settings.get("latency_calls", 1000))
    results.schema = SCHEMA
    with thread_limits.limited(threads):
        for row in rows:
            try:
                est = load_saved_model(row)
                check_same_model(est, row, x, run_dir)
            except SavedModelError as e:
                raise OptimiseError(str(e)) from None
            recorded = load_predictions(run_dir / row.predictions_path)
            variant = {**onnx_variant(est, x, y, recorded, threads, latency_calls), "command": command}
            row.variants = [v for v in (row.variants or []) if v["variant"] != variant["variant"]] + [variant]
            write_results(results_path, results)  # each model's numbers are safe as soon as they exist
            if on_model:
                on_model(row.name, variant)
    return results_path


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="benchmark.py optimise",
        description="Run the models a run saved through ONNX Runtime and measure them as the run measured the "
                    "native ones (accuracy, agreement, throughput, latency, file size); the numbers go into the "
                    "run's results.json and report.",
        epilog="exit codes: 0 done (models that cannot be exported are listed with the reason); 2 bad input.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder a run wrote (its --out), with results.json")
    p.add_argument("--models", metavar="A,B", help="which of the run's models (default: every measured one)")
    return p


def main(argv) -> int:
    import shlex

    from .console import fail, make_console
    from .results import ResultsError

    args = build_parser().parse_args(argv)
    console = make_console()
    command = "python benchmark.py optimise " + " ".join(shlex.quote(a) for a in argv)
    start = time.perf_counter()

    def show(name, v):
        if v["status"] != OK:
            console.print(f"{name}: no ONNX Runtime variant: {v['reason']}")
            return
        console.print(f"{name}: ONNX Runtime accuracy {v['accuracy']:.4f}, same predictions "
                      f"{v['same_predictions_as_native']:.2%}, latency p50 {v['latency_ms_p50']:.3f} ms, "
                      f"{v['size_bytes'] / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s so far")

    try:
        models = args.models.split(",") if args.models else None
        results_path = run_optimise(args.run_dir, models, command=command, on_model=show)
    except (OptimiseError, ResultsError) as e:
        return fail(console, str(e))
    console.print(f"every model measured in {time.perf_counter() - start:.0f} s; results: {results_path}")
    from .report.cli import write_reports

    write_reports(console, results_path)
    return 0
