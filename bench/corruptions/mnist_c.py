"""The released MNIST-C test sets, read from their .npy files (never unpickled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import DataError
from ._common import CLEAN_NAME, SIDE

# --------------------------------------------------------------------------- released MNIST-C


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file: {_one_line(e)}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under an .npy name
        array.close()
        raise DataError(f"{path}: holds an .npz archive, expected a single .npy array")
    return array


def _read_corruption(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """One MNIST-C sub-folder -> (images (N, 28, 28) uint8, labels (N,) int64)."""
    images_path, labels_path = folder / "test_images.npy", folder / "test_labels.npy"
    images = _read_npy(images_path)
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or len(images) == 0:
        raise DataError(f"{images_path}: shape {images.shape}, expected (N, 28, 28, 1) or (N, 28, 28)")
    if not np.issubdtype(images.dtype, np.integer):
        raise DataError(f"{images_path}: dtype {images.dtype}, expected uint8 pixel values 0-255")
    if images.min() < 0 or images.max() > 255:
        raise DataError(f"{images_path}: pixel values span {images.min()}..{images.max()}, expected 0..255")

    labels = _read_npy(labels_path)
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: shape {labels.shape}, expected ({len(images)},)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{labels_path}: dtype {labels.dtype}, expected integer labels 0-9")
    if len(labels) != len(images):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{labels_path}: labels span {labels.min()}..{labels.max()}, expected 0..9")
    return images.astype(np.uint8), labels.astype(np.int64)


def load_mnist_c(folder, names=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the released MNIST-C test sets: name -> (images (N, 28, 28) uint8, labels (N,) int64).

    `folder` holds one sub-folder per corruption (shot_noise/, rotate/, ...), each with
    test_images.npy ((N, 28, 28, 1) uint8 as released, or (N, 28, 28)) and test_labels.npy.
    `names` (a list or a comma-separated string) picks corruptions, "identity" being the clean
    set; by default every sub-folder with a known name is read, in `CORRUPTIONS` order after
    "identity". Files are never unpickled. Problems raise `DataError` naming the file.
    """
    from . import CORRUPTIONS, _unknown  # the package imports this module, so look them up when called

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: MNIST-C folder not found")
    known = [CLEAN_NAME, *CORRUPTIONS]
    if names is None:
        wanted = [name for name in known if (folder / name).is_dir()]
        if not wanted:
            raise DataError(f"{folder}: no MNIST-C corruption sub-folders (expected e.g. shot_noise/test_images.npy)")
    else:
        parts = names.split(",") if isinstance(names, str) else names
        wanted = list(dict.fromkeys(str(part).strip() for part in parts if str(part).strip()))
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise _unknown(unknown, known)
    out = {}
    for name in wanted:
        if not (folder / name).is_dir():
            raise DataError(f"{folder / name}: corruption folder not found")
        out[name] = _read_corruption(folder / name)
    return out
