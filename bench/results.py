"""Files a run writes and reports read: results.json, predictions and test images; nothing else.

The layout of results.json is typed in `bench.schema` (Results, Run, Row). Every write
replaces its file atomically, so a killed run never leaves half a file. Arrays are .npz
files of plain arrays, always loaded without pickle.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .files import UnsafePathError, atomic_write_bytes, check_model_name, inside
from .schema import READABLE_SCHEMAS, Results

RESULTS_NAME = "results.json"
ROBUSTNESS_SAMPLES_NAME = "robustness_samples.npz"  # one test image per corruption, for the report
MODEL_RUN_SUFFIX = ".run.json"  # beside each saved model: the run that trained it and its test accuracy


def model_run_path(model_path) -> Path:
    """models/cnn.keras -> models/cnn.run.json"""
    return Path(model_path).with_suffix(MODEL_RUN_SUFFIX)


class ResultsError(ValueError):
    """A results file is missing, unreadable or of another schema."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_results(path: Path, results: Results) -> None:
    atomic_write_bytes(path, json.dumps(results.to_json(), indent=1, default=_plain).encode())


def read_versioned_json(path, schema: str | tuple, kind: str, error=ValueError, hint: str = "") -> dict:
    """Read a JSON object whose "schema" field is `schema` (or one of them); one-line `error` otherwise."""
    accepted = (schema,) if isinstance(schema, str) else tuple(schema)
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file{hint}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise error(f"{path}: not a readable {kind} file: {e}") from None
    if not isinstance(data, dict) or data.get("schema") not in accepted:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise error(f"{path}: schema is {found!r}, expected {' or '.join(map(repr, accepted))}")
    return data


def read_results(path) -> Results:
    """The results file at `path`; ResultsError (one line naming the file) when it is missing, unreadable,
    of another schema, malformed, or names a model with anything but letters, digits, '-' and '_'."""
    data = read_versioned_json(path, READABLE_SCHEMAS, "results", ResultsError)
    try:
        results = Results.from_json(data)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ResultsError(f"{path}: malformed results file: {type(e).__name__}: {e}") from None
    try:
        _check_names(results)
    except UnsafePathError as e:
        raise ResultsError(f"{path}: {e}") from None
    return results


def results_frame(results):
    """A results file (a path or Results) as a pandas DataFrame for notebooks: one row per model and seed, in
    the file's model order and each model's seeds in order. Columns: model, family, seed, status, error, the
    run's profile, dataset and machine_kind, then every metric recorded for that seed under its results.json
    key (a further seed of a --seeds N run records its quality and train_seconds; its other cells are NaN)."""
    import pandas as pd

    if not isinstance(results, Results):
        results = read_results(results)
    run = {
        "profile": results.run.profile,
        "dataset": results.run.dataset.get("name"),
        "machine_kind": results.run.environment.get("machine_kind"),
    }
    records = []
    for row in results.models.values():
        own = {"seed": row.seed, "status": row.status, "error": row.error, **row.metrics}
        further = [
            {"seed": r.seed, "status": r.status, "error": r.error, "train_seconds": r.train_seconds, **r.metrics}
            for r in row.seed_runs
        ]
        for entry in sorted([own, *further], key=lambda e: e["seed"]):
            records.append({"model": row.name, "family": row.family, **entry, **run})
    leading = ["model", "family", "seed", "status", "error", *run]
    frame = pd.DataFrame.from_records(records)
    return frame[leading + [c for c in frame.columns if c not in leading]] if records else pd.DataFrame(columns=leading)


def _check_names(results: Results) -> None:
    """Model names become parts of file names (figures/cm_<name>.png): registry-style names only."""
    for key, row in results.models.items():
        check_model_name(key, "models")
        if row.name != key:
            raise UnsafePathError(f"models: the row under {key!r} is named {row.name!r}")
    for point in results.curves:
        check_model_name(point.get("model"), "curves")
    if results.tuning is not None:
        check_model_name(results.tuning.get("model"), "tuning")
    for pair in (results.significance or {}).get("pairs", []):
        check_model_name(pair.get("model_a"), "significance")
        check_model_name(pair.get("model_b"), "significance")


def predictions_file(run_dir, row) -> Path | None:
    """The predictions file a row names, inside the run folder (None when it names none); ResultsError
    naming the row when the path leads outside it. Whether the file exists is the caller's to check."""
    if not row.predictions_path:
        return None
    try:
        return inside(row.predictions_path, [run_dir], f"{Path(run_dir) / RESULTS_NAME}: {row.name}'s predictions_path")
    except UnsafePathError as e:
        raise ResultsError(str(e)) from None


def save_arrays(path, **arrays) -> None:
    """Plain arrays as one compressed .npz, written atomically (read back without pickle)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def save_predictions(path: Path, y_true, proba) -> None:
    """Per-model predictions for error analysis; .npz of plain arrays (loaded without pickle)."""
    save_arrays(
        path,
        y_true=np.asarray(y_true, np.int64),
        y_pred=np.argmax(proba, axis=1).astype(np.int64),
        proba=np.asarray(proba, np.float32),
    )


def load_predictions(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _plain(obj):
    """json.dumps fallback for numpy scalars and arrays."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_test_set(path: Path, x_test, y_test) -> None:
    """The test images and labels beside the results, for error galleries in reports."""
    save_arrays(path, x_test=x_test, y_test=y_test)


def load_test_set(path) -> tuple[np.ndarray, np.ndarray] | None:
    """(x_test, y_test) where the run left them, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        return f["x_test"], f["y_test"]
