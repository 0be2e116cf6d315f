"""Digits from outside MNIST, made the MNIST way, to see how models trained on MNIST generalise.

Every loader returns an `OffMnist`: images (N, 28, 28) uint8 0-255, white ink on black, the digit's box
scaled into 20x20 keeping its aspect ratio and its centre of mass at the centre; labels (N,) int64 0-9.

- ``uci-digits``: scikit-learn's 1,797 8x8 digits (always there), split once into a stratified
  "validation" half (for choosing the preprocessing) and a "test" half (the one reported);
- ``qmnist``: QMNIST's test50k, the 50,000 lost MNIST test digits (the rows after the first 10,000 of
  QMNIST's test files, which reconstruct MNIST's own test set); already MNIST-style;
- ``usps``: USPS, 16x16, from ``usps.h5`` or the libsvm files ``usps.t.bz2`` / ``usps.bz2``;
- ``emnist-digits``: EMNIST's digits test set (images stored transposed, turned upright here);
- ``folder:PATH``: your own images, one subfolder per digit or the digit after the name's last underscore
  (``scan_7.png``), each through the photo preprocessing (`mnist_style.to_mnist`).

Files are found at the path given, or else at the dataset's environment variable (a file, or the folder
holding the files); nothing is downloaded and nothing is unpickled. Missing files raise `DatasetMissing`;
a malformed file raises `DataError`, each with one line naming the dataset or file.
"""

from __future__ import annotations

import bz2
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..schema import N_CLASSES
from .mnist_style import DigitImageError, from_low_res, read_digit_file
from .splits import DataError, _short, fingerprint, validate

ENV = {"qmnist": "QMNIST_PATH", "usps": "USPS_PATH", "emnist-digits": "EMNIST_PATH"}
QMNIST_MNIST_ROWS = 10_000  # QMNIST's first test rows are MNIST's own test digits; test50k is what follows
UCI_PARTS = ("test", "validation", "all")
IDX_FILES = {  # the files each IDX dataset needs: key -> accepted names, each also gzipped
    "qmnist": {
        "images": ("qmnist-test-images-idx3-ubyte",),
        "labels": ("qmnist-test-labels-idx2-int", "qmnist-test-labels-idx1-ubyte"),
    },
    "emnist-digits": {
        "images": ("emnist-digits-test-images-idx3-ubyte",),
        "labels": ("emnist-digits-test-labels-idx1-ubyte",),
    },
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


class DatasetMissing(DataError):
    """A dataset's files are not where they were looked for; the message says where to put them."""


@dataclass
class OffMnist:
    """One dataset made MNIST-style, and where it came from."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    source: str
    fingerprint: str
    note: str = ""

    def describe(self) -> dict:
        """Plain data for a results file."""
        return {
            "name": self.name,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "note": self.note,
            "n": int(len(self.labels)),
            "class_counts": np.bincount(self.labels, minlength=N_CLASSES).tolist(),
        }


def _make(name: str, images, labels, source: str, note: str) -> OffMnist:
    x, y = validate(images, labels, source, name)
    return OffMnist(name, x, y, source, fingerprint(x, y), note)


# --------------------------------------------------------------------------- finding files


def _where(name: str, path) -> tuple[Path, str]:
    """The file or folder given for `name` (path=, else its environment variable) and who gave it."""
    env = ENV[name]
    given, origin = (path, f"--data {name}=PATH") if path else (os.environ.get(env), env)
    files = IDX_FILES[name]["images"][0] + ".gz and its labels" if name in IDX_FILES else "usps.t.bz2 or usps.h5"
    if not given:
        raise DatasetMissing(f"{name}: not found: give --data {name}=PATH or set {env} to {files} or their folder")
    p = Path(given).expanduser()
    if not p.exists():
        raise DatasetMissing(f"{name}: {p} does not exist (given by {origin}); put {files} there or set {env}")
    return p, origin


def _find(name: str, path) -> dict[str, Path]:
    """key -> the first existing file of its accepted names (IDX_FILES), in the folder given (or its gzip/
    subfolder, as EMNIST's archive unpacks) or beside the file given (which must be one of them)."""
    wanted = IDX_FILES[name]
    p, origin = _where(name, path)
    folder = p.parent if p.is_file() else p
    names = {key: [n + z for n in stems for z in ("", ".gz")] for key, stems in wanted.items()}
    if p.is_file() and not any(p.name in ns for ns in names.values()):
        expected = ", ".join(ns[1] for ns in names.values())
        raise DataError(f"{p}: not one of {name}'s files ({expected}); give them by these names or their folder")
    found = {}
    for key, ns in names.items():
        hits = [p] if p.is_file() and p.name in ns else []  # the file given, else the first found
        hits += [folder / sub / n for sub in ("", "gzip") for n in ns if (folder / sub / n).is_file()]
        if not hits:
            raise DatasetMissing(
                f"{name}: no {wanted[key][0]}[.gz] in {folder} (given by {origin}); "
                f"put {', '.join(s[0] + '.gz' for s in wanted.values())} there or set {ENV[name]} to their folder"
            )
        found[key] = hits[0]
    return found


def available_off_mnist() -> dict[str, str]:
    """The datasets that can be loaded now (without a path): name -> where its files are."""
    found = {"uci-digits": "sklearn.datasets.load_digits"}
    for name in ENV:
        try:
            found[name] = str(_usps_file(None, "test")[0] if name == "usps" else _find(name, None)["images"])
        except DataError:
            pass
    return found


# --------------------------------------------------------------------------- file formats

IDX_TYPES = {code: np.dtype(t) for code, t in {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4"}.items()}


def _file_bytes(path: Path) -> bytes:
    """A file's bytes, gzip or bzip2 undone when its first bytes say it is compressed."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
        return raw
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise DataError(f"{path}: cannot read it (truncated or corrupt compressed file): {_short(e)}") from None


def read_idx_typed(path: Path, ndim: int, code: int) -> np.ndarray:
    """One IDX file (gzipped or not) of `ndim` dimensions and element type `code` (0x08 bytes, 0x0C int32)."""
    raw = _file_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != code or raw[3] != ndim:
        raise DataError(f"{path}: IDX of {raw[3]} dimensions of type 0x{raw[2]:02X}, expected {ndim} of 0x{code:02X}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        what = "truncated" if len(raw) - header < expected else "has extra bytes"
        raise DataError(
            f"{path}: {what}: the IDX header says {dims} ({expected} bytes) but it holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _digit_labels(y: np.ndarray, path: Path) -> np.ndarray:
    if len(y) and (y.min() < 0 or y.max() >= N_CLASSES):
        raise DataError(f"{path}: labels span {y.min()}..{y.max()}, expected digits 0..9")
    return y.astype(np.int64)


def _check_pair(x: np.ndarray, y: np.ndarray, files: dict[str, Path]) -> None:
    if x.shape[1:] != (28, 28) or len(x) == 0:
        raise DataError(f"{files['images']}: images have shape {tuple(x.shape)}, expected (N, 28, 28) with N > 0")
    if len(x) != len(y):
        raise DataError(f"{files['labels']}: {len(y)} labels for the {len(x)} images of {files['images'].name}")


def _bright_ink(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Values in [0, 1]; inverted when the images' border is mostly ink-coloured (dark ink on light)."""
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    if np.median(border) > 0.5:
        return 1 - x, " Dark ink on light: inverted."
    return x, ""


# --------------------------------------------------------------------------- the datasets


def load_uci_digits(path=None, part: str = "test") -> OffMnist:
    """scikit-learn's 8x8 digits (values 0-16, ink high): the stratified half `part` (random_state 0)."""
    from sklearn.datasets import load_digits

    if path:
        raise DataError(f"{path}: uci-digits ships inside scikit-learn and takes no path")
    if part not in UCI_PARTS:
        raise DataError(f"uci-digits: part {part!r}; choose one of {', '.join(UCI_PARTS)}")
    digits = load_digits()
    idx = uci_digits_halves(digits.target)[part]
    x = from_low_res(digits.images[idx], ink_max=16)
    which = "all 1,797" if part == "all" else f"the {part} half ({len(idx)}; stratified 50/50, random_state 0)"
    note = f"scikit-learn's 8x8 digits, {which}, enlarged into MNIST's 20x20 box (Lanczos, centred by mass)"
    return _make("uci-digits", x, digits.target[idx], f"sklearn.datasets.load_digits ({part})", note)


def uci_digits_halves(target: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed split of the 1,797 digits: sorted row indices of "validation", "test" and "all"."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(target))
    val, test = train_test_split(rows, test_size=0.5, stratify=target, random_state=0)
    return {"validation": np.sort(val), "test": np.sort(test), "all": rows}


def load_qmnist(path=None) -> OffMnist:
    """QMNIST test50k: the test files' rows after the first QMNIST_MNIST_ROWS (MNIST's own test digits)."""
    files = _find("qmnist", path)
    x, labels = read_idx_typed(files["images"], 3, 0x08), files["labels"]
    extended = "idx2-int" in labels.name  # (N, 8) int32, column 0 the digit; else QMNIST's (N,) bytes
    y = read_idx_typed(labels, 2, 0x0C) if extended else read_idx_typed(labels, 1, 0x08)
    if extended and y.shape[1] != 8:
        raise DataError(f"{labels}: {y.shape[1]} label columns, expected QMNIST's 8")
    y = y[:, 0] if extended else y
    _check_pair(x, y, files)
    if len(x) <= QMNIST_MNIST_ROWS:
        raise DataError(f"{files['images']}: {len(x)} digits, but test50k is the rows after the first 10,000")
    note = f"QMNIST test50k: rows {QMNIST_MNIST_ROWS + 1:,}-{len(x):,} of the test files (the lost MNIST test digits)"
    if len(x) != 60_000:
        note += f"; these files hold {len(x):,} rows, QMNIST's hold 60,000"
    y = _digit_labels(y[QMNIST_MNIST_ROWS:], labels)
    return _make("qmnist", x[QMNIST_MNIST_ROWS:], y, f"{files['images']} + {labels.name}", note)


def load_emnist_digits(path=None) -> OffMnist:
    """EMNIST digits test set (40,000); its images are stored transposed and its digits fill a 24x24 box,
    so each is turned upright and rescaled into MNIST's 20x20 box."""
    files = _find("emnist-digits", path)
    x = read_idx_typed(files["images"], 3, 0x08)
    y = _digit_labels(read_idx_typed(files["labels"], 1, 0x08), files["labels"])
    _check_pair(x, y, files)
    x, inverted = _bright_ink(x.transpose(0, 2, 1).astype(np.float32) / 255)
    note = "EMNIST digits test set, transposed upright, rescaled into MNIST's 20x20 box and centred by mass." + inverted
    source = f"{files['images']} + {files['labels'].name}"
    return _make("emnist-digits", from_low_res(x, ink_max=1), y, source, note)


USPS_LIBSVM = {"test": ("usps.t.bz2", "usps.t"), "train": ("usps.bz2", "usps")}
USPS_H5 = ("usps.h5", "usps.hdf5")


def _usps_file(path, part: str) -> tuple[Path, str]:
    """The USPS file to read: the one given, or in the folder given the libsvm file of `part`, else usps.h5."""
    if part not in USPS_LIBSVM:
        raise DataError(f"usps: part {part!r}; choose test or train")
    p, origin = _where("usps", path)
    if p.is_file():
        return p, origin
    for name in (*USPS_LIBSVM[part], *USPS_H5):
        if (p / name).is_file():
            return p / name, origin
    raise DatasetMissing(
        f"usps: no {USPS_LIBSVM[part][0]} or usps.h5 in {p} (given by {origin}); "
        f"put the libsvm file or usps.h5 there or set {ENV['usps']} to the file"
    )


def load_usps(path=None, part: str = "test") -> OffMnist:
    """USPS (2,007 test digits, 7,291 train): usps.h5 (part's group) or a libsvm file (usps.t.bz2 for test)."""
    file, _ = _usps_file(path, part)
    if file.suffix in (".h5", ".hdf5"):
        x, y = read_usps_h5(file, part)
    else:
        x, y = read_usps_libsvm(file)
        part = next((k for k, names in USPS_LIBSVM.items() if file.name in names), "given")
    x, inverted = _bright_ink(x.reshape(-1, 16, 16))
    note = f"USPS {part} set, 16x16, enlarged into MNIST's 20x20 box and centred by mass." + inverted
    return _make("usps", from_low_res(x, ink_max=1), y, str(file), note)


def read_usps_libsvm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """libsvm text, bzip2 or plain: "label index:value ..." a line, label 1-10 for digits 0-9, 256
    features (1-based indices, absent ones 0) in -1..1 -> ((N, 256) float32 in [0, 1], (N,) int64)."""
    try:
        text = _file_bytes(path).decode("ascii")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a libsvm text file (it holds non-text bytes)") from None
    rows, labels = [], []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        row = np.zeros(256, np.float32)
        try:
            label = int(fields[0])
            for field in fields[1:]:
                index, value = field.split(":")
                if not 1 <= int(index) <= 256:
                    raise IndexError(index)
                row[int(index) - 1] = float(value)
        except (ValueError, IndexError):
            raise DataError(f"{path}: line {n} is not 'label index:value ...' with indices 1-256") from None
        if not 1 <= label <= 10:
            raise DataError(f"{path}: line {n}: label {label} out of range 1-10 (USPS' digits 0-9)")
        if not np.isfinite(row).all() or np.abs(row).max() > 1 + 1e-6:
            raise DataError(f"{path}: line {n}: a feature value outside -1..1")
        rows.append(row)
        labels.append(label - 1)
    if not rows:
        raise DataError(f"{path}: holds no digits")
    return (np.clip((np.stack(rows) + 1) / 2, 0, 1), np.array(labels, np.int64))


def read_usps_h5(path: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """usps.h5: groups train and test, each with data (N, 256) float 0-1 and target (N,) digits 0-9."""
    try:
        import h5py
    except ImportError:
        raise DataError(f"{path}: reading HDF5 needs the h5py package; install it or use usps.t.bz2") from None
    try:
        with h5py.File(path, "r") as f:
            group = f.get(part)
            got = [group.get(k) if isinstance(group, h5py.Group) else None for k in ("data", "target")]
            if not all(isinstance(d, h5py.Dataset) and d.dtype.kind in "fiu" for d in got):
                raise DataError(f"{path}: no numeric {part}/data and {part}/target; expected usps.h5's layout")
            x, y = (np.asarray(d[()]) for d in got)
    except OSError as e:
        raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupt): {_short(e)}") from None
    if x.ndim not in (2, 3) or x.shape[1:] not in ((256,), (16, 16)) or y.shape != (len(x),) or not len(x):
        raise DataError(f"{path}: {part} has data {x.shape} and target {y.shape}, expected (N, 256) and (N,)")
    x = x.reshape(len(x), 256).astype(np.float32)
    if not np.isfinite(x).all() or x.min() < -1e-6 or x.max() > 1 + 1e-6:
        raise DataError(f"{path}: {part}/data has values outside 0..1")
    if (y != np.round(y)).any():
        raise DataError(f"{path}: {part}/target has non-integer labels")
    return np.clip(x, 0, 1), _digit_labels(y.astype(np.int64), path)


def folder_label(file: Path, root: Path) -> int:
    """The digit a file is labelled with: its folder's name (0-9), else the name's part after the last underscore."""
    if file.parent != root and file.parent.name in {str(d) for d in range(10)}:
        return int(file.parent.name)
    tail = file.stem.rsplit("_", 1)[-1] if "_" in file.stem else ""
    if len(tail) == 1 and tail.isdigit():
        return int(tail)
    raise DataError(f"{file}: no digit label: put it in a folder 0-9 or end its name with _<digit> (scan_7.png)")


def load_folder(path=None) -> OffMnist:
    """Your own labelled images under `path`: subfolders 0-9, or names ending _<digit>; each through the
    photo preprocessing. A subfolder's digit wins over the name's."""
    if not path:
        raise DatasetMissing("folder: give the folder as folder:PATH")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetMissing(
            f"folder: {root} is not a folder; give one holding subfolders 0-9 or files like scan_7.png"
        )
    images = (f for f in root.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
    files = sorted(f for f in images if f.is_file())
    if not files:
        raise DatasetMissing(f"folder: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    labels = [folder_label(f, root) for f in files]
    images = np.stack([_read_photo(f) for f in files])
    note = f"{len(files)} images under {root}, each through the photo preprocessing"
    return _make("folder", images, np.array(labels, np.int64), str(root), note)


def _read_photo(file: Path) -> np.ndarray:
    try:
        return read_digit_file(file)
    except DigitImageError as e:
        raise DataError(_short(e)) from None


OFF_MNIST = {
    "uci-digits": load_uci_digits,
    "qmnist": load_qmnist,
    "usps": load_usps,
    "emnist-digits": load_emnist_digits,
    "folder": load_folder,
}


def load_off_mnist(name: str, path=None, **options) -> OffMnist:
    """Load a registered dataset by name (``folder:PATH`` for a folder); options: part (uci-digits, usps)."""
    if name.startswith("folder:"):
        name, path = "folder", name.split(":", 1)[1]
    if name not in OFF_MNIST:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(OFF_MNIST)} (folder:PATH)")
    return OFF_MNIST[name](path=path, **options)
