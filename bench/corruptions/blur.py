"""Blurs: glass (local pixel shuffling) and motion."""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

from ._common import _COLS, _ROWS, SIDE, _level, _to_uint8, _unit

# --------------------------------------------------------------------------- blur

# (gaussian sigma, largest pixel displacement, passes of pixel swapping).
# MNIST-C released (0.7, 1, 2) (its severity 1); 4 and 5 are its severities 2 and 3.
GLASS_BLUR = ((0.5, 1, 1), (0.6, 1, 2), (0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3))


def _glass_gaussian(unit: np.ndarray, sigma: float) -> np.ndarray:
    """The blur of MNIST-C's glass blur: Gaussian along the rows axis (vertical) only.

    MNIST-C calls `skimage.filters.gaussian(x, sigma, multichannel=True)` on a 2-D image. The
    scikit-image of the time took the last axis of such an image (its columns) for colour
    channels and left it unfiltered, so the blur is vertical only; the released images have
    it. Same sigma, mode 'nearest' and truncation at 4 sigma as skimage's gaussian.
    """
    return ndi.gaussian_filter(unit, sigma=(0, sigma, 0), mode="nearest", truncate=4.0)


def glass_blur(images, rng, severity):
    """Blur vertically, shuffle pixels locally (frosted glass), blur vertically again.

    MNIST-C walks every pixel of every image in Python and, with probability 1/2, swaps it
    with a neighbour up to `delta` pixels away. The walk is kept -- later swaps can carry a
    pixel further, which is part of the look -- but each step swaps that pixel in all N
    images at once, with each image's own coin and offset: the Python loop runs
    26 x 26 x passes times whatever N is, instead of N times that.
    """
    sigma, delta, passes = _level(GLASS_BLUR, severity)
    n = len(images)
    # truncated to uint8 between the two blurs, as MNIST-C does
    blurred = (_glass_gaussian(_unit(images, np.float64), sigma) * 255).astype(np.uint8)
    flat = blurred.reshape(n, SIDE * SIDE)
    every = np.arange(n)
    for _ in range(passes):
        for h in range(SIDE - delta, delta, -1):
            for w in range(SIDE - delta, delta, -1):
                here = h * SIDE + w
                # numpy's randint(-delta, delta) as in MNIST-C: offsets -delta .. delta-1
                dy, dx = rng.integers(-delta, delta, size=(2, n))
                there = np.where(rng.random(n) < 0.5, here + dy * SIDE + dx, here)
                mine = flat[:, here].copy()
                flat[:, here] = flat[every, there]
                flat[every, there] = mine
    return _to_uint8(_glass_gaussian(_unit(blurred, np.float64), sigma))


# ImageMagick motion-blur (radius, sigma) in pixels at a random angle in -45..45 degrees.
# MNIST-C released (10, 3) (its severity 1); 4 and 5 are its severities 2 and 3.
MOTION_BLUR = ((5, 1.5), (8, 2), (10, 3), (15, 5), (15, 8))


def motion_blur(images, rng, severity):
    """Smear along a random direction per image, as ImageMagick's MotionBlurImage does.

    The kernel is one-sided: 2 * radius + 1 taps with Gaussian weights exp(-i^2 / 2 sigma^2)
    at integer steps i along the angle, so the digit leaves a trail behind it.
    """
    radius, sigma = _level(MOTION_BLUR, severity)
    n = len(images)
    width = 2 * int(np.ceil(radius)) + 1
    taps = np.arange(width)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights = (weights / weights.sum()).astype(np.float32)
    angle = np.deg2rad(rng.uniform(-45, 45, n))[:, None]
    # ImageMagick's rounding of each tap to a whole pixel: ceil(v - 0.5)
    dx = np.ceil(taps * np.cos(angle) - 0.5).astype(np.intp)
    dy = np.ceil(taps * np.sin(angle) - 0.5).astype(np.intp)
    pad = width - 1
    # ImageMagick's default "edge" virtual pixels outside the image
    padded = np.pad(images.astype(np.float32), ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    side = padded.shape[1]
    # flat index of every output pixel in its padded image; a tap adds one offset per image
    origin = np.arange(n)[:, None, None] * side * side + (pad + _ROWS) * side + (pad + _COLS)
    flat = padded.ravel()
    out = np.zeros(images.shape, np.float32)
    for i in range(width):
        out += weights[i] * np.take(flat, origin + (dy[:, i] * side + dx[:, i])[:, None, None])
    return np.rint(np.clip(out, 0, 255)).astype(np.uint8)
