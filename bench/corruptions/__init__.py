"""Corrupted digits: a seeded, vectorised re-implementation of MNIST-C, plus three extras.

MNIST-C (Mu & Gilmer 2019, "MNIST-C: A Robustness Benchmark for Computer Vision",
arXiv:1906.02337) is the MNIST test set passed through 15 corruptions that leave a digit
readable to a person -- noise, blur, affine warps, fog, spatter, drawn lines, an edge map --
and released as one fixed set of 10,000 images per corruption. A model that has only seen
clean MNIST loses accuracy on them, which makes them a cheap out-of-distribution benchmark.
The original generator (github.com/google-research/mnist-c, corruptions.py) works on one PIL
image at a time and no longer runs on numpy 2; this package redoes each corruption with numpy,
SciPy and OpenCV over a whole batch (matching scikit-image's output where MNIST-C used it),
and adds stroke thickening (`dilate`),
thinning (`erode`) and colour inversion (`invert`).

Images are uint8 arrays shaped (N, 28, 28), a white digit (high values) on black (0).

Severity runs from 1 (mild) to 5 (harsh). MNIST-C released a single level per corruption:
the default argument of each function in its generator, which this package takes as the
level of its data set. Severity 3, the default here, is that level, so results at severity 3
are comparable to published MNIST-C numbers; 1-2 are milder and 4-5 harsher, reusing
MNIST-C's own ladder where it has one. The comment above each corruption says which
parameter severity sets. `canny_edges` and `invert` have no natural strength and ignore it.

Randomness: `corrupt` seeds a fresh generator from (seed, the corruption's name), so a
corruption's output never depends on which other corruptions ran or in what order, and each
image gets its own draw (its own noise, fog map, line position, blur direction ...). As in
MNIST-C, shear, rotate and scale use one fixed amount per severity for every image; only the
sign of a shear or rotation is drawn per image.

This module holds the registry and `corrupt`; the corruptions live in `noise` (shot and
impulse noise, brightness, stripe, invert), `blur` (glass, motion), `geometry` (shear, scale,
rotate, translate), `overlays` (fog, spatter, dotted and zigzag lines) and `strokes` (Canny
edges, dilate, erode), on helpers in `_common`; `mnist_c` reads the released data set.

    >>> from bench.corruptions import corrupt
    >>> rotated = corrupt(x_test, "rotate", severity=3, seed=0)   # (N, 28, 28) uint8
"""

from __future__ import annotations

import zlib

import numpy as np

from ._common import CLEAN_NAME as CLEAN_NAME  # re-exported: bench.run.robustness reads it
from ._common import DEFAULT_SEVERITY, SEVERITIES, SIDE
from .blur import glass_blur, motion_blur
from .geometry import rotate, scale, shear, translate
from .mnist_c import load_mnist_c
from .noise import brightness, impulse_noise, invert, shot_noise, stripe
from .overlays import dotted_line, fog, spatter, zigzag
from .strokes import canny_edges, dilate, erode

__all__ = [
    "CORRUPTIONS",
    "MNIST_C_NAMES",
    "DEFAULT_SEVERITY",
    "SEVERITIES",
    "corrupt",
    "load_mnist_c",
    "parse_corruption_names",
]


# --------------------------------------------------------------------------- public API

CORRUPTIONS = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotate": rotate,
    "brightness": brightness,
    "translate": translate,
    "stripe": stripe,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "canny_edges": canny_edges,
    "dilate": dilate,
    "erode": erode,
    "invert": invert,
}
"""name -> function(images (N, 28, 28) uint8, rng, severity 1-5) -> (N, 28, 28) uint8."""


MNIST_C_NAMES = list(CORRUPTIONS)[:15]  # the ones the released MNIST-C has; dilate, erode, invert are ours


def _unknown(names, choices) -> ValueError:
    return ValueError(f"unknown corruption(s) {', '.join(names)}; choose from {', '.join(choices)}")


def parse_corruption_names(text: str | None) -> list[str]:
    """ "rotate,shear" -> ["rotate", "shear"]; None, "" or "all" -> every name, in `CORRUPTIONS` order.

    Duplicates are dropped (first one kept); unknown names raise one ValueError naming them.
    """
    if text is None or text.strip().lower() in ("", "all"):
        return list(CORRUPTIONS)
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in CORRUPTIONS]
    if unknown:
        raise _unknown(unknown, CORRUPTIONS)
    return names


def _check_images(images) -> np.ndarray:
    if (
        not isinstance(images, np.ndarray)
        or images.ndim != 3
        or images.shape[1:] != (SIDE, SIDE)
        or images.dtype != np.uint8
    ):
        got = f"shape {images.shape} dtype {images.dtype}" if isinstance(images, np.ndarray) else type(images).__name__
        raise ValueError(f"images must be a (N, 28, 28) uint8 array; got {got}")
    return images


def _check_severity(severity) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)):
        # ValueError like every other bad severity, so callers (the CLI) catch one type
        raise ValueError(f"severity {severity!r} is not an integer; choose 1 to 5")  # noqa: TRY004
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity} is out of range; choose 1 to 5")
    return int(severity)


def _rng_for(name: str, seed: int) -> np.random.Generator:
    """The generator `corrupt` uses: seeded by (seed, crc32 of the name).

    crc32 rather than Python's hash(), which is salted per process; the name rather than its
    position, so adding a corruption to the table leaves every other one's output unchanged.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed {seed!r} must be a non-negative integer")
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def corrupt(images: np.ndarray, name: str, severity: int = DEFAULT_SEVERITY, seed: int = 0) -> np.ndarray:
    """Apply one corruption: images (N, 28, 28) uint8 -> new array (N, 28, 28) uint8.

    The same images, name, severity and seed always give the same output, whatever else ran
    before. Raises ValueError for an unknown name, a severity outside 1-5 or malformed images.
    """
    if name not in CORRUPTIONS:
        raise _unknown([str(name)], CORRUPTIONS)
    severity = _check_severity(severity)
    images = _check_images(images)
    rng = _rng_for(name, seed)
    if len(images) == 0:
        return images.copy()
    return CORRUPTIONS[name](images, rng, severity)
