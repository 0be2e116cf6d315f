"""Readers of the published MNIST file formats (npz, IDX, Kaggle CSV); each refuses a bad file in one line."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np

from .splits import IMAGE_SHAPE, DataError, _short


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
