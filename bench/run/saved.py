"""A run's saved models: loaded safely and checked to be the models the run measured.

Used by the commands that work on a finished run without retraining (`robustness`, `optimise`).
Loading goes through each estimator class's own `load` (skops allow-list, Keras safe mode).
"""

from __future__ import annotations

from pathlib import Path

from ..files import UnsafePathError, inside
from ..registry import MODELS
from ..results import RESULTS_NAME, ResultsError, load_predictions, load_test_set, predictions_file, read_results
from ..schema import Results, Row

# A saved model must predict the run's test images as the run recorded (its predictions file) on at
# least this share of them; otherwise another run has overwritten it and the numbers would be about
# a different model. Without a predictions file its accuracy must match to one image.
SAME_MODEL_AGREEMENT = 0.999


class SavedModelError(ValueError):
    """A saved model is missing, unknown, unreadable or not the one the run measured."""


def model_file(row: Row, run_dir, models_dir="models") -> Path:
    """The saved model a row's model_path names: <name><suffix> inside the run folder or the models folder
    (a results file from elsewhere must not lead a load anywhere else); SavedModelError naming it otherwise."""
    if row.name not in MODELS:
        raise SavedModelError(f"{row.model_path}: {row.name!r} is not a model this version of digit-bench knows")
    if not row.model_path:
        raise SavedModelError(
            f"{Path(run_dir) / RESULTS_NAME}: records no saved {row.name} model "
            f"(rerun: python benchmark.py --models {row.name})"
        )
    expected = f"{row.name}{MODELS[row.name].estimator_class.file_suffix}"
    where = f"{Path(run_dir) / RESULTS_NAME}: {row.name}'s model_path"
    if Path(row.model_path).name != expected:
        raise SavedModelError(f"{where}: {row.model_path!r} is not a file named {expected}")
    # A relative model_path is relative to the folder the run was started in, like the command the results file
    # records; a run folder moved with its models inside holds them relative to itself.
    recorded = Path(row.model_path)
    candidates = [recorded] if recorded.is_absolute() else [Path.cwd() / recorded, Path(run_dir) / recorded]
    allowed, refused = [], None
    for candidate in candidates:
        try:
            allowed.append(inside(candidate, [run_dir, models_dir], where))
        except UnsafePathError as e:
            refused = e
    if not allowed:
        raise SavedModelError(f"{refused} (give the folder that holds it with --models-dir if you trust it)")
    return next((path for path in allowed if path.is_file()), allowed[0])


def load_saved_model(row: Row, run_dir, models_dir="models"):
    """The fitted estimator a row's model_path holds (see `model_file`); SavedModelError naming the file otherwise."""
    path = model_file(row, run_dir, models_dir)
    if not path.is_file():
        raise SavedModelError(
            f"{path}: the saved {row.name} model is missing (rerun: python benchmark.py --models {row.name})"
        )
    try:
        return MODELS[row.name].estimator_class.load(path)
    except Exception as e:  # a damaged file or a refused type: name the file, never a traceback
        raise SavedModelError(load_error(path, row.name, e)) from None


def load_error(path, name: str, e: Exception) -> str:
    """One line for a saved model that cannot be loaded: the file, the model, the loader's reason."""
    reason = str(e).removeprefix(f"{path}: ")  # the estimators' loaders name the file themselves
    return f"{path}: cannot load the saved {name} model: {type(e).__name__}: {reason}"


def check_same_model(est, row: Row, x, run_dir: Path) -> float:
    """The model's clean accuracy, after checking it predicts as the run recorded (see SAME_MODEL_AGREEMENT)."""
    try:
        predictions = predictions_file(run_dir, row)
    except ResultsError as e:
        raise SavedModelError(str(e)) from None
    y_pred = est.predict(x)
    if predictions is not None and predictions.is_file():
        recorded = load_predictions(predictions)
        agreement = float((recorded["y_pred"] == y_pred).mean()) if len(recorded["y_pred"]) == len(y_pred) else 0.0
        clean = float((recorded["y_true"] == y_pred).mean())
        if agreement < SAME_MODEL_AGREEMENT:
            raise SavedModelError(
                f"{row.model_path}: predicts {agreement:.2%} of the run's test images as the run recorded; "
                "the file was overwritten by another run (use one --models-dir per run)"
            )
        return clean
    raise SavedModelError(
        f"{predictions or 'predictions'}: missing; without the run's predictions the saved {row.name} model "
        "cannot be checked to be the one the run measured"
    )


def open_run(run_dir, models=None, models_dir="models") -> tuple[Path, Results, list[Row]]:
    """A finished run's results path, results and the ok rows of `models` (None: all); SavedModelError
    naming the folder when it is not a run or lacks a model asked for, or naming the file when a row's
    saved model lies outside the run folder and `models_dir`."""
    run_dir = Path(run_dir)
    results_path = run_dir / RESULTS_NAME
    if not run_dir.is_dir():
        raise SavedModelError(f"{run_dir}: no such run directory")
    if not results_path.is_file():
        raise SavedModelError(f"{run_dir}: holds no {RESULTS_NAME}; give the folder a run wrote (its --out)")
    try:
        results = read_results(results_path)
    except ResultsError as e:
        raise SavedModelError(str(e)) from None
    rows = [r for r in results.ok_rows() if models is None or r.name in models]
    if models is not None and (missing := sorted(set(models) - {r.name for r in rows})):
        raise SavedModelError(f"{run_dir}: has no measured model {', '.join(missing)}")
    if not rows:
        raise SavedModelError(f"{run_dir}: has no measured models to test (run python benchmark.py first)")
    for row in rows:
        model_file(row, run_dir, models_dir)
    return results_path, results, rows


def run_test_set(run_dir) -> tuple:
    """The run's test images (N, 28, 28) and labels (N,); SavedModelError when the run left none."""
    test_set = load_test_set(Path(run_dir) / "test_set.npz")
    if test_set is None:
        raise SavedModelError(f"{Path(run_dir) / 'test_set.npz'}: missing; the run's test images are needed")
    return test_set
