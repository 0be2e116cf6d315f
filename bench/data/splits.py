"""The arrays every loader returns, their checks and their splits: `Splits`, `DataError`, `fingerprint`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from ..schema import N_CLASSES

IMAGE_SHAPE = (28, 28)
MNIST_ENV = "MNIST_PATH"


class DataError(ValueError):
    """Input data is missing or malformed; the message is one line naming the source."""


@dataclass
class Splits:
    """Train / validation / test splits of one dataset, plus where they came from."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str
    is_sample: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """Plain-data description for the results file."""
        return {
            "name": self.name,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "is_sample": self.is_sample,
            "note": self.note,
            "n_train": int(len(self.y_train)),
            "n_val": int(len(self.y_val)),
            "n_test": int(len(self.y_test)),
            "train_class_counts": np.bincount(self.y_train, minlength=N_CLASSES).tolist(),
            "test_class_counts": np.bincount(self.y_test, minlength=N_CLASSES).tolist(),
            **self.extra,
        }


# --------------------------------------------------------------------------- validation


def validate(x, y, source: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Check one (images, labels) pair and return it as ((N, 28, 28) uint8, (N,) int64)."""
    x = np.asarray(x)
    y = np.asarray(y)
    where = f"{source}: {part}"
    if x.ndim == 2 and x.shape[1] == IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        x = x.reshape(-1, *IMAGE_SHAPE)
    if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{where} images have shape {x.shape}, expected (N, 28, 28) or (N, 784)")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{where} labels have shape {y.shape}, expected ({len(x)},) to match the images")
    if len(x) == 0:
        raise DataError(f"{where} is empty")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{where} images have non-numeric dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{where} images contain NaN or infinite pixel values")
        if (x != np.round(x)).any():
            raise DataError(f"{where} images contain non-integer pixel values; expected 0-255")
    if x.min() < 0 or x.max() > 255:
        raise DataError(f"{where} pixel values span {x.min()}..{x.max()}, expected 0..255")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise DataError(f"{where} labels contain NaN or non-integer values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where} labels have non-numeric dtype {y.dtype}")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise DataError(f"{where} labels span {y.min()}..{y.max()}, expected 0..9")
    return x.astype(np.uint8), y.astype(np.int64)


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over the arrays' bytes: the same data gives the same fingerprint whatever file held it."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.data)  # the contiguous buffer itself: no copy of a 190 MB training set
    return "sha256:" + h.hexdigest()


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__


# --------------------------------------------------------------------------- splitting


def stratified_subset(x, y, n: int | None, seed: int):
    """A class-balanced subset of n rows (all rows when n is None or not smaller)."""
    if n is None or n >= len(y):
        return x, y
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    idx = np.sort(idx)
    return x[idx], y[idx]


def make_splits(
    name, arrays, *, source, seed, val_fraction, train_size, test_size, is_sample=False, note="", extra=None
):
    """Validate raw arrays, subset them per profile and carve validation out of train."""
    x_train, y_train = validate(arrays["x_train"], arrays["y_train"], source, "train")
    x_test, y_test = validate(arrays["x_test"], arrays["y_test"], source, "test")
    fp = fingerprint(x_train, y_train, x_test, y_test)
    x_train, y_train = stratified_subset(x_train, y_train, train_size, seed)
    x_test, y_test = stratified_subset(x_test, y_test, test_size, seed)
    x_tr, x_val, y_tr, y_val = train_test_split(
        x_train, y_train, test_size=val_fraction, stratify=y_train, random_state=seed
    )
    return Splits(name, x_tr, y_tr, x_val, y_val, x_test, y_test, source, fp, is_sample, note, extra or {})
