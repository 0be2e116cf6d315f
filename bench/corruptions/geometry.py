"""Affine warps about the image centre: shear, scale, rotate, translate."""

from __future__ import annotations

import numpy as np

from ._common import _level, _random_sign, _warp_about_centre

# --------------------------------------------------------------------------- affine warps

# MNIST-C warps every image by the same amount: one fixed angle (or zoom) per severity, no
# per-image spread. Shear and rotate flip its sign at random per image, scale has no randomness.


def _signed(rng: np.random.Generator, table, severity: int, n: int) -> np.ndarray:
    """n copies of the severity's level from `table`, each with its own random sign."""
    return _level(table, severity) * _random_sign(rng, n)


# shear angle in radians, random sign per image. MNIST-C released 0.4 (its severity 2)
SHEAR_ANGLE = (0.2, 0.3, 0.4, 0.6, 0.8)


def shear(images, rng, severity):
    """Shear about the centre; the old skimage AffineTransform(shear=s) MNIST-C used."""
    n = len(images)
    s = _signed(rng, SHEAR_ANGLE, severity, n)
    linear = np.zeros((n, 2, 2))
    linear[:, 0, 0] = 1
    linear[:, 0, 1] = -np.sin(s)
    linear[:, 1, 1] = np.cos(s)
    return _warp_about_centre(images, linear)


# zoom factor (the digit shrinks to this fraction). MNIST-C released 0.7 (its severity 3;
# its ladder is this one)
SCALE_FACTOR = (0.9, 0.8, 0.7, 0.6, 0.5)


def scale(images, rng, severity):
    """Shrink the digit about the image centre; no randomness."""
    n = len(images)
    linear = np.zeros((n, 2, 2))
    linear[:, 0, 0] = linear[:, 1, 1] = 1 / _level(SCALE_FACTOR, severity)
    return _warp_about_centre(images, linear)


# rotation in radians, random sign per image. MNIST-C released 0.4 (23 degrees, its severity 2)
ROTATE_ANGLE = (0.2, 0.3, 0.4, 0.6, 0.8)


def rotate(images, rng, severity):
    """Rotate about the image centre."""
    n = len(images)
    a = _signed(rng, ROTATE_ANGLE, severity, n)
    linear = np.empty((n, 2, 2))
    linear[:, 0, 0] = linear[:, 1, 1] = np.cos(a)
    linear[:, 0, 1] = -np.sin(a)
    linear[:, 1, 0] = np.sin(a)
    return _warp_about_centre(images, linear)


# shift in whole pixels along x and along y, each with a random sign. MNIST-C released 3
TRANSLATE_PIXELS = (1, 2, 3, 4, 5)


def translate(images, rng, severity):
    """Shift diagonally by the same number of pixels in x and y; whole pixels, so no blur."""
    n = len(images)
    shift = _level(TRANSLATE_PIXELS, severity) * _random_sign(rng, (n, 2))
    return _warp_about_centre(images, np.broadcast_to(np.eye(2), (n, 2, 2)), shift)
