"""Accuracy of a run's saved models on corrupted test images (MNIST-C style): `benchmark.py robustness RUN_DIR`.

Each model the run saved is loaded (safely: skops allow-list, Keras safe mode), checked to
be the model the run measured (it must predict the test images as the run's predictions file
recorded), and scored on the
test set under every corruption. The result goes into the model's row (`Row.robustness`),
written atomically as each model finishes, and the run's report is rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import corruptions
from .registry import MODELS
from .results import (RESULTS_NAME, ROBUSTNESS_SAMPLES_NAME, atomic_write_bytes, load_predictions, load_test_set, now, read_results,
                      write_results)
from .schema import SCHEMA, Row

# A saved model must predict the run's test images as the run recorded (its predictions file) on at
# least this share of them; otherwise another run has overwritten it and the numbers would be about
# a different model. Without a predictions file its accuracy must match to one image.
SAME_MODEL_AGREEMENT = 0.999


class RobustnessError(ValueError):
    """The run directory, its saved models or the corruption options cannot be used."""


def corrupted_test_sets(x, y, names, severity, seed, mnist_c=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (images (N, 28, 28) uint8, labels (N,)): generated from x, y or taken from a loaded MNIST-C folder."""
    if mnist_c is not None:
        return {n: mnist_c[n] for n in names}
    return {n: (corruptions.corrupt(x, n, severity, seed), y) for n in names}


def load_saved_model(row: Row):
    path = Path(row.model_path or "")
    if not row.model_path or not path.is_file():
        raise RobustnessError(f"{path}: the saved {row.name} model is missing (rerun: python benchmark.py --models {row.name})")
    if row.name not in MODELS:
        raise RobustnessError(f"{path}: {row.name!r} is not a model this version of digit-bench knows")
    try:
        return MODELS[row.name].estimator_class.load(path)
    except Exception as e:  # a damaged file or a refused type: name the file, never a traceback
        raise RobustnessError(f"{path}: cannot load the saved {row.name} model: {type(e).__name__}: {e}") from None


def check_same_model(est, row: Row, x, run_dir: Path) -> float:
    """The model's clean accuracy, after checking it predicts as the run recorded (see SAME_MODEL_AGREEMENT)."""
    predictions = run_dir / (row.predictions_path or "missing")
    y_pred = est.predict(x)
    if predictions.is_file():
        recorded = load_predictions(predictions)
        agreement = float((recorded["y_pred"] == y_pred).mean()) if len(recorded["y_pred"]) == len(y_pred) else 0.0
        clean = float((recorded["y_true"] == y_pred).mean())
        if agreement < SAME_MODEL_AGREEMENT:
            raise RobustnessError(f"{row.model_path}: predicts {agreement:.2%} of the run's test images as the run recorded; "
                                  "the file was overwritten by another run (use one --models-dir per run)")
        return clean
    raise RobustnessError(f"{predictions}: missing; without the run's predictions the saved {row.name} model "
                          "cannot be checked to be the one the run measured")


def measure_model(est, clean_accuracy: float, sets: dict) -> dict:
    """The row's robustness numbers: accuracy per corruption, their mean and the relative drop from clean."""
    return _summary({name: float((est.predict(x) == y).mean()) for name, (x, y) in sets.items()}, clean_accuracy)


def _summary(accuracy: dict, clean_accuracy: float) -> dict:
    mean = float(np.mean(list(accuracy.values())))
    return {"clean_accuracy": clean_accuracy, "accuracy": accuracy, "mean_accuracy": mean,
            "relative_drop": 1 - mean / clean_accuracy if clean_accuracy else None}


def _merged(old: dict | None, new: dict) -> dict:
    """A new measurement joins an earlier one made the same way (source, severity, seed), else replaces it."""
    same_way = old and all(old.get(k) == new.get(k) for k in ("source", "severity", "seed", "n_test"))
    if not same_way:
        return new
    return {**new, **_summary({**old["accuracy"], **new["accuracy"]}, new["clean_accuracy"])}


def run_robustness(run_dir, names=None, severity=corruptions.DEFAULT_SEVERITY, seed=0, mnist_c_path=None,
                   models=None, command="", on_model=None) -> Path:
    """Measure every saved model of the run in run_dir under the corruptions `names`; returns the results path.

    names: None or 'all' means all 18 generated, or with mnist_c_path every MNIST-C folder present.
    models: which of the run's models (None: every ok row). on_model(name, entry) is called after each.
    A model measured again the same way (source, severity, seed) keeps its other corruptions.
    """
    run_dir = Path(run_dir)
    results_path = run_dir / RESULTS_NAME
    if not run_dir.is_dir():
        raise RobustnessError(f"{run_dir}: no such run directory")
    if not results_path.is_file():
        raise RobustnessError(f"{run_dir}: holds no {RESULTS_NAME}; give the folder a run wrote (its --out)")
    results = read_results(results_path)
    rows = [r for r in results.ok_rows() if models is None or r.name in models]
    if models is not None and (missing := sorted(set(models) - {r.name for r in rows})):
        raise RobustnessError(f"{run_dir}: has no measured model {', '.join(missing)}")
    if not rows:
        raise RobustnessError(f"{run_dir}: has no measured models to test (run python benchmark.py first)")
    if severity not in corruptions.SEVERITIES:
        raise RobustnessError(f"severity {severity} is out of range; choose 1 to 5")
    everything = names is None or names == "all" or list(names) == list(corruptions.CORRUPTIONS)
    if isinstance(names, (list, tuple)):
        names = ",".join(names)
    names = corruptions.parse_corruption_names(names)
    test_set = load_test_set(run_dir / "test_set.npz")
    if test_set is None:
        raise RobustnessError(f"{run_dir / 'test_set.npz'}: missing; the run's test images are needed")
    x, y = test_set
    mnist_c = None
    if mnist_c_path:
        mnist_c = corruptions.load_mnist_c(mnist_c_path, None if everything else names)
        mnist_c.pop(corruptions.CLEAN_NAME, None)
        names = list(mnist_c)
        if (n := len(next(iter(mnist_c.values()))[1])) != len(y):
            raise RobustnessError(f"{mnist_c_path}: holds {n:,} test images per corruption, the run tested on "
                                  f"{len(y):,}; MNIST-C goes with a run on the whole MNIST test set (profile full)")
    sets = corrupted_test_sets(x, y, names, severity, seed, mnist_c)
    source = f"MNIST-C files from {mnist_c_path}" if mnist_c_path else "generated by bench.corruptions (MNIST-C style)"
    results.schema = SCHEMA  # robustness is a schema 2 field
    for i, row in enumerate(rows):
        est = load_saved_model(row)
        entry = measure_model(est, check_same_model(est, row, x, run_dir), sets)
        entry.update({"severity": None if mnist_c_path else severity, "seed": None if mnist_c_path else seed,
                      "source": source, "n_test": int(len(y)), "command": command, "finished_at": now()})
        row.robustness = _merged(row.robustness, entry)
        write_results(results_path, results)  # each model's numbers are safe as soon as they exist
        if i == 0:
            _save_samples(run_dir / ROBUSTNESS_SAMPLES_NAME, x, sets)
        if on_model:
            on_model(row.name, row.robustness)
    return results_path


def _save_samples(path: Path, x, sets: dict) -> None:
    import io

    images = np.stack([x[0], *[imgs[0] for imgs, _ in sets.values()]])
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, names=np.array(["clean", *sets]))
    atomic_write_bytes(path, buf.getvalue())


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="benchmark.py robustness",
        description="Score the models a run saved on its test images under MNIST-C style corruptions; the numbers go "
                    "into the run's results.json and report.",
        epilog="corruptions: " + ", ".join(corruptions.CORRUPTIONS) + "\nexit codes: 0 done; 2 bad input.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder a run wrote (its --out), with results.json")
    p.add_argument("--corruptions", default="all", metavar="A,B", help="comma-separated corruptions, or 'all' (default)")
    p.add_argument("--severity", type=int, default=corruptions.DEFAULT_SEVERITY,
                   help=f"1 (mild) to 5 (harsh); {corruptions.DEFAULT_SEVERITY} is MNIST-C's level (default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruptions' randomness (default: 0)")
    p.add_argument("--models", metavar="A,B", help="which of the run's models (default: every measured one)")
    p.add_argument("--data", metavar="MNIST_C_DIR",
                   help="use the released MNIST-C (a folder of <corruption>/test_images.npy and test_labels.npy) "
                        "instead of generating the corruptions")
    return p


def main(argv) -> int:
    import shlex
    import time

    from .console import fail, make_console
    from .data import DataError
    from .results import ResultsError

    args = build_parser().parse_args(argv)
    console = make_console()
    command = "python benchmark.py robustness " + " ".join(shlex.quote(a) for a in argv)
    start = time.perf_counter()

    def show(name, entry):
        drop = "-" if entry["relative_drop"] is None else f"{100 * entry['relative_drop']:.1f}%"
        console.print(f"{name}: clean {entry['clean_accuracy']:.4f}, mean over corruptions {entry['mean_accuracy']:.4f} "
                      f"({drop} lower), {time.perf_counter() - start:.0f} s so far")

    try:
        names = args.corruptions
        models = args.models.split(",") if args.models else None
        results_path = run_robustness(args.run_dir, names, args.severity, args.seed, args.data, models,
                                      command=command, on_model=show)
    except (RobustnessError, DataError, ResultsError, ValueError) as e:
        return fail(console, str(e))
    console.print(f"robustness of every model measured in {time.perf_counter() - start:.0f} s; results: {results_path}")
    from .report.cli import write_reports

    write_reports(console, results_path)
    return 0
