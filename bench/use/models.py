"""The models a run saved (`models/`), loaded safely, and one digit's prediction by each.

A run saves `models/<name>.keras` (Keras, loaded in safe mode) or `models/<name>.skops`
(scikit-learn, loaded with an allow-list), and beside it `<name>.run.json`: the run that
trained it and its test accuracy there (models saved before that file existed show none).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..registry import MODELS
from ..results import model_run_path
from ..run.saved import load_error

TOP_K = 3


class ModelsError(ValueError):
    """No saved model where one was asked for, or a saved model that cannot be loaded."""


@dataclass
class SavedModel:
    name: str
    family: str  # "classical" or "deep"
    description: str
    path: Path
    estimator: object = field(repr=False)
    run: dict  # the run that trained it ({} when unknown)
    # held while it predicts: a TensorFlow Lite interpreter must not be called from two threads at once
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def describe(self) -> dict:
        """What GET /models and --json show: plain data."""
        keys = ("accuracy", "dataset", "profile", "seed", "n_train", "finished_at", "results")
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "path": str(self.path),
            **{k: self.run.get(k) for k in keys},
        }


def train_hint(names) -> str:
    return "python benchmark.py" + ("" if names is None else " --models " + ",".join(names))


def saved_paths(models_dir: Path) -> dict[str, Path]:
    """Model name -> its saved file, for every registered model saved in models_dir (registry order)."""
    found = {}
    for name, spec in MODELS.items():
        path = models_dir / f"{name}{spec.estimator_class.file_suffix}"
        if path.is_file():
            found[name] = path
    return found


def load_models(models_dir, names=None) -> list[SavedModel]:
    """Load `names` (all saved models when None) from models_dir; ModelsError names what is missing."""
    models_dir = Path(models_dir)
    unknown = [n for n in names or [] if n not in MODELS]
    if unknown:
        raise ModelsError(f"unknown model {', '.join(map(repr, unknown))}; known: {', '.join(MODELS)}")
    found = saved_paths(models_dir) if models_dir.is_dir() else {}
    missing = [n for n in names or [] if n not in found]
    if missing or not found:
        what = f"no saved {', '.join(missing)} model" if missing else "no saved models"
        raise ModelsError(
            f"{models_dir}: {what} (train {'it' if len(missing) == 1 else 'them'} with: {train_hint(missing or None)})"
        )
    return [_load(name, found[name]) for name in (names or found)]


def _load(name: str, path: Path) -> SavedModel:
    spec = MODELS[name]
    try:
        estimator = spec.estimator_class.load(path)
    except Exception as e:  # damaged file or refused type: one line naming the file
        raise ModelsError(load_error(path, name, e)) from None
    _one_thread(estimator)
    run_path = model_run_path(path)
    try:
        run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    except (OSError, ValueError):
        run = {}
    return SavedModel(name, spec.family, spec.description, path, estimator, run if isinstance(run, dict) else {})


def _one_thread(estimator) -> None:
    """Predict one image on the calling thread: joblib's worker threads cost more than they save on one
    image (random forest: tens of ms), and the web server predicts one image per model at a time."""
    for step in estimator.parallel_steps():
        step.n_jobs = 1


def predict_digit(model: SavedModel, image: np.ndarray) -> dict:
    """One (28, 28) uint8 digit -> {"model", "family", "digit", "confidence", "top": [(digit, p), ...], "latency_ms"}.

    Safe to call from several threads: each model predicts for one caller at a time (latency_ms does not
    count the wait for it)."""
    with model.lock:
        start = time.perf_counter()
        proba = np.asarray(model.estimator.predict_proba(image[None]))[0]
        latency_ms = 1000 * (time.perf_counter() - start)
    order = np.argsort(-proba, kind="stable")[:TOP_K]
    return {
        "model": model.name,
        "family": model.family,
        "digit": int(order[0]),
        "confidence": float(proba[order[0]]),
        "top": [[int(d), float(proba[d])] for d in order],
        "latency_ms": latency_ms,
    }


def warm_up(models: list[SavedModel]) -> None:
    """One prediction each, so the first real one is not charged for building interpreters and traces."""
    blank = np.zeros((28, 28), np.uint8)
    for m in models:
        predict_digit(m, blank)
