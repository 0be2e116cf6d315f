"""Kaggle Digit Recognizer: train on its train.csv, label its test.csv (`benchmark.py kaggle`, whose face is
bench.cli.kaggle).

test.csv is read and checked before any training (`read_kaggle`). The model trains with a profile's recipe
on train.csv less a stratified sixth (`train`), which is held out to show the accuracy to expect; the
submission (`ImageId,Label`, one row per test image, ImageId 1..N, labels 0-9) is checked before it is
returned as bytes (`label`, `submission_csv`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..data import Splits, load_dataset, read_kaggle_test_csv
from ..registry import MODELS, PROFILES


class SubmissionError(ValueError):
    """The predictions do not make a valid submission (a bug, never written)."""


def read_kaggle(train: Path, test: Path, profile: str, seed: int) -> tuple[np.ndarray, Splits]:
    """(test.csv's images, train.csv split the profile's way); test.csv first, so a bad one stops before
    anything else. DataError if either file is unusable."""
    x_submit = read_kaggle_test_csv(test)
    prof = PROFILES[profile]
    splits = load_dataset(
        "kaggle",
        path=train,
        seed=seed,
        val_fraction=prof.val_fraction,
        train_size=prof.train_size,
        test_size=prof.test_size,
    )
    return x_submit, splits


def train(model: str, profile: str, seed: int, splits: Splits):
    """The model built with the profile's recipe and fitted on the training split (validation split alongside)."""
    est = MODELS[model].build(profile, seed)
    est.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val))
    return est


def label(est, splits: Splits, x_submit: np.ndarray) -> tuple[bytes, float]:
    """(the checked submission CSV for x_submit, the accuracy on the held-out part of train.csv)."""
    held_out = float((est.predict(splits.x_test) == splits.y_test).mean())
    return submission_csv(est.predict(x_submit), len(x_submit)), held_out


def submission_csv(labels: np.ndarray, n_test: int) -> bytes:
    """ImageId,Label rows for 1..n_test, checked first."""
    labels = np.asarray(labels)
    if labels.shape != (n_test,):
        raise SubmissionError(f"{labels.shape[0] if labels.ndim else 0} predictions for {n_test} test images")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise SubmissionError(f"labels outside 0-9 (dtype {labels.dtype})")
    out = io.StringIO()
    out.write("ImageId,Label\n")
    out.writelines(f"{i},{int(d)}\n" for i, d in enumerate(labels, start=1))
    return out.getvalue().encode()
