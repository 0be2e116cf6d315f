"""Faster and smaller forms of a run's saved models: `benchmark.py optimise RUN_DIR`.

Every saved model is measured in other forms ("variants", of the kinds in estimators.variants.KINDS):
  runtime    ONNX Runtime (each estimator's `onnx_export`); for Keras also the float32 LiteRT file
  quantised  LiteRT dynamic-range, float16 and int8 files, ONNX Runtime static int8 (Keras models)
  pruned     magnitude-pruned copies fine-tuned on the training split (Keras models)
  smaller    fewer trees, fewer reference images or PCA dimensions, an SVM trained on a subset
Each variant's numbers land in the model's row (`Row.variants`) as one flat dict beside the native
measurement, measured as the run measured the native model: file size, accuracy on the run's test
set, agreement with the native model's recorded predictions (same argmax) and the largest
probability difference, throughput (batches of 1,000) and single-image latency. A model that has no
such form gets a variant with status "unsupported" and the reason. The originals are never
retrained; results are written as each variant finishes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ..data import DataError, load_dataset
from ..estimators.variants import KINDS, Variant, VariantData
from ..evaluation import metrics
from ..files import atomic_write_bytes
from ..results import load_predictions, now, predictions_file, write_results
from ..run.saved import SavedModelError, check_same_model, load_saved_model, open_run, run_test_set
from ..schema import OK, SCHEMA
from ..threads import available_cores

ONNX_RUNTIME = "onnxruntime"
UNSUPPORTED = "unsupported"
FAILED = "failed"


class OptimiseError(ValueError):
    """The run directory, its saved models or the options cannot be used."""


def measure(predict, x, y, recorded: dict, threads: int | None, latency_calls: int) -> dict:
    """Quality, agreement with the native model's recorded predictions, throughput and latency of
    `predict` ((N, 28, 28) images -> (N, 10) probabilities) on test images x with labels y."""
    proba = np.concatenate([predict(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    quality = metrics.quality(y, proba)
    return {
        "accuracy": quality["accuracy"],
        "log_loss": quality["log_loss"],
        "same_predictions_as_native": float(np.mean(proba.argmax(1) == recorded["y_pred"])),
        "max_abs_proba_difference": float(np.abs(proba - recorded["proba"]).max()),
        **metrics.throughput(predict, x),
        **metrics.latency(predict, x, calls=latency_calls),
        "threads": threads or available_cores(),
    }


def onnx_variant(est, x, y, recorded: dict, threads: int | None, latency_calls: int) -> dict:
    """The model through ONNX Runtime, measured on test images x (N, 28, 28) with labels y."""
    import onnxruntime

    start = time.perf_counter()
    try:
        export = est.onnx_export()
    except NotImplementedError as e:
        return {
            "variant": ONNX_RUNTIME,
            "kind": "runtime",
            "status": UNSUPPORTED,
            "reason": str(e),
            "finished_at": now(),
        }
    export_seconds = time.perf_counter() - start
    return {
        "variant": ONNX_RUNTIME,
        "kind": "runtime",
        "status": OK,
        "runtime": f"onnxruntime {onnxruntime.__version__}",
        "note": export.note,
        "size_bytes": len(export.model),
        "export_seconds": export_seconds,
        **measure(est.onnx_predictor(threads, export), x, y, recorded, threads, latency_calls),
        "finished_at": now(),
    }


def variant_result(v: Variant, seconds: float, x, y, recorded, threads, latency_calls, save_dir=None) -> dict:
    """One made variant, measured: a flat dict for Row.variants. save_dir: write its file there
    (<save_dir>/<variant><suffix>) and record the path."""
    saved = {}
    if save_dir is not None and v.content is not None:
        path = Path(save_dir) / f"{v.name}{v.suffix}"
        atomic_write_bytes(path, v.content)
        saved = {"path": str(path)}
    return {
        "variant": v.name,
        "kind": v.kind,
        "status": OK,
        "runtime": v.runtime,
        "note": v.note,
        "size_bytes": v.size_bytes,
        **v.extra,
        **saved,
        "make_seconds": seconds,
        **measure(v.predict_proba, x, y, recorded, threads, latency_calls),
        "finished_at": now(),
    }


def _variants(est, data, kinds, threads):
    """(seconds to make it, variant) pairs; a failure ends the model's list with (seconds, exception)."""
    made = iter(est.variants(data, kinds, threads))
    while True:
        start = time.perf_counter()
        try:
            v = next(made)
        except StopIteration:
            return
        except Exception as e:  # one model's failure must not lose the others' numbers
            yield time.perf_counter() - start, e
            return
        yield time.perf_counter() - start, v


def training_data(results, data_path, prune_epochs: int) -> VariantData:
    """The run's training and validation splits, loaded again and checked against its fingerprint."""
    dataset, settings = results.run.dataset, results.run.profile_settings
    try:
        splits = load_dataset(
            dataset["name"],
            seed=results.run.seed,
            val_fraction=settings["val_fraction"],
            train_size=settings["train_size"],
            test_size=settings["test_size"],
            path=data_path,
            download=False,
        )
    except DataError as e:
        raise OptimiseError(str(e)) from None
    if splits.fingerprint != dataset["fingerprint"]:
        raise OptimiseError(
            f"{splits.source}: is not the data the run used ({dataset['name']} from {dataset['source']}); "
            "pass --data with that file (quantisation, pruning and smaller models need its training split)"
        )
    return VariantData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, results.run.seed, prune_epochs)


def parse_kinds(text: str | None) -> tuple:
    """'quantised,pruned' -> ('quantised', 'pruned'); None -> every kind."""
    if not text:
        return KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise OptimiseError(
            f"--kinds {text!r}: {', '.join(unknown) or 'empty'} is not a kind; choose from {', '.join(KINDS)}"
        )
    return kinds


def run_optimise(
    run_dir,
    models=None,
    kinds=KINDS,
    data_path=None,
    prune_epochs=1,
    resume=False,
    save=False,
    command="",
    on_variant=None,
    models_dir="models",
) -> Path:
    """Make and measure each kind of variant of every saved model of the run in run_dir; returns the
    results path. resume: keep the variants already measured (status ok) instead of making them again.
    save: keep each variant's file in run_dir/variants/<model>/. on_variant(model name, variant dict)
    is called as each one is stored. models_dir: besides run_dir, the one folder a saved model may be in."""
    from .. import threads as thread_limits

    run_dir = Path(run_dir)
    try:
        results_path, results, rows = open_run(run_dir, models, models_dir)
        test_set = run_test_set(run_dir)
    except SavedModelError as e:
        raise OptimiseError(str(e)) from None
    x, y = test_set
    settings = results.run.profile_settings
    threads, latency_calls = settings.get("threads"), int(settings.get("latency_calls", 1000))
    data = (
        training_data(results, data_path, prune_epochs)
        if set(kinds) - {"runtime"}
        else VariantData(seed=results.run.seed)
    )
    results.schema = SCHEMA

    def store(row, variant):
        variant = {**variant, "command": command}
        row.variants = [v for v in (row.variants or []) if v["variant"] != variant["variant"]] + [variant]
        write_results(results_path, results)  # each variant's numbers are safe as soon as they exist
        if on_variant:
            on_variant(row.name, variant)

    with thread_limits.limited(threads):
        for row in rows:
            try:
                est = load_saved_model(row, run_dir, models_dir)
                check_same_model(est, row, x, run_dir)  # the predictions file exists, inside run_dir
            except SavedModelError as e:
                raise OptimiseError(str(e)) from None
            recorded = load_predictions(predictions_file(run_dir, row))
            row.variants = [v for v in row.variants or [] if v["status"] != FAILED]  # tried again below
            done = frozenset(v["variant"] for v in row.variants or [] if v["status"] == OK) if resume else frozenset()
            if on_variant and done:
                on_variant(
                    row.name,
                    {
                        "variant": f"{len(done)} variant(s)",
                        "status": "already measured",
                        "reason": ", ".join(sorted(done)),
                    },
                )
            if "runtime" in kinds and ONNX_RUNTIME not in done:
                store(row, onnx_variant(est, x, y, recorded, threads, latency_calls))
            for seconds, v in _variants(est, dataclasses.replace(data, done=done), kinds, threads):
                if isinstance(v, Exception):
                    store(
                        row,
                        {
                            "variant": f"{'/'.join(kinds)} variants",
                            "status": FAILED,
                            "reason": f"{type(v).__name__}: {v}",
                            "finished_at": now(),
                        },
                    )
                else:
                    save_dir = run_dir / "variants" / row.name if save else None
                    store(row, variant_result(v, seconds, x, y, recorded, threads, latency_calls, save_dir))
    return results_path
