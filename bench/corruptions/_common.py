"""Shared pieces of the corruptions: the image constants, unit conversions, blurs, warps and drawn lines."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

SIDE = 28
SEVERITIES = range(1, 6)
DEFAULT_SEVERITY = 3
CLEAN_NAME = "identity"  # MNIST-C's sub-folder holding the uncorrupted test set

_ROWS = np.arange(SIDE)[None, :, None]
_COLS = np.arange(SIDE)[None, None, :]


# --------------------------------------------------------------------------- helpers


def _unit(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 0-255 -> float 0-1."""
    return images.astype(dtype) / 255.0


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """float 0-1 -> uint8 0-255, rounded, as MNIST-C's own notebook turns its float output into images.

    (The script that wrote the released files is not published; the generator returns floats.)
    """
    return np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _level(table, severity: int):
    return table[severity - 1]


def _random_sign(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def _gaussian_blur(unit: np.ndarray, sigma: float, mode: str = "nearest") -> np.ndarray:
    """skimage.filters.gaussian (mode 'nearest', truncate 4) along both axes of every image, never across images."""
    return ndi.gaussian_filter(unit, sigma=(0, sigma, sigma), mode=mode, truncate=4.0)


def _bilinear(images: np.ndarray, src_x: np.ndarray, src_y: np.ndarray) -> np.ndarray:
    """Sample each image at (src_x, src_y), both (N, 28, 28); black outside the image.

    The same as skimage.transform.warp(order=1, mode='constant', cval=0) in MNIST-C.
    """
    # A black frame, 1 pixel before and 2 after, so that both neighbours of any coordinate
    # clipped to -1 .. 28 exist; flat indices make the four gathers plain np.take calls.
    padded = np.pad(images.astype(np.float32), ((0, 0), (1, 2), (1, 2)))
    side = padded.shape[1]
    src_x = np.clip(src_x, -1, SIDE)
    src_y = np.clip(src_y, -1, SIDE)
    x0, y0 = np.floor(src_x), np.floor(src_y)
    fx, fy = (src_x - x0).astype(np.float32), (src_y - y0).astype(np.float32)
    corner = (
        np.arange(len(images))[:, None, None] * side * side + (y0.astype(np.intp) + 1) * side + (x0.astype(np.intp) + 1)
    )
    flat = padded.ravel()
    top = np.take(flat, corner) * (1 - fx) + np.take(flat, corner + 1) * fx
    bottom = np.take(flat, corner + side) * (1 - fx) + np.take(flat, corner + side + 1) * fx
    return top * (1 - fy) + bottom * fy


def _warp_about_centre(images: np.ndarray, linear: np.ndarray, shift=None) -> np.ndarray:
    """Resample every image through its own 2x2 map, (N, 2, 2), from output to input pixel.

    Like MNIST-C's `transform.warp(x, inverse_map=aff)`, with the translation chosen so that
    the image centre (13.5, 13.5) stays put; `shift`, (N, 2) as (x, y), is added after.
    """
    centre = (SIDE - 1) / 2
    xs = _COLS - centre
    ys = _ROWS - centre
    src_x = linear[:, 0, 0, None, None] * xs + linear[:, 0, 1, None, None] * ys + centre
    src_y = linear[:, 1, 0, None, None] * xs + linear[:, 1, 1, None, None] * ys + centre
    if shift is not None:
        src_x = src_x + shift[:, 0, None, None]
        src_y = src_y + shift[:, 1, None, None]
    return np.rint(np.clip(_bilinear(images, src_x, src_y), 0, 255)).astype(np.uint8)


def _line_layer(c_start, r_start, c_end, r_end, thickness: float) -> np.ndarray:
    """MNIST-C's `line_from_points`, one line per image: (N,) end points -> (N, 28, 28) in 0-1.

    Brightness falls off with vertical distance d from the line as 1 + log(1 - d / thickness),
    so the line is about 2 * 0.63 * thickness pixels tall; only columns between the end points
    are drawn.
    """
    c_start, r_start, c_end, r_end = (
        np.asarray(v, dtype=np.float32)[:, None, None] for v in (c_start, r_start, c_end, r_end)
    )
    vertical = c_end == c_start
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(vertical, 0.0, (r_end - r_start) / np.where(vertical, 1.0, c_end - c_start))
    row_on_line = slope * (_COLS - c_start) + r_start
    # float32 for speed; the clip keeps log's argument positive (MNIST-C: thickness - 1e-10)
    distance = np.minimum(np.abs(_ROWS - row_on_line), np.float32(thickness * (1 - 1e-6)))
    layer = np.clip(np.log(1 - distance / np.float32(thickness)) + 1, 0, 1)
    drawn = (_COLS >= np.floor(c_start)) & (_COLS < np.ceil(c_end)) & ~vertical
    return np.where(drawn, layer, np.float32(0))
