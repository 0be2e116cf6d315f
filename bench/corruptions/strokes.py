"""Corruptions of the strokes themselves: the Canny edge map, dilation and erosion."""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi

from ._common import SIDE, _level, _unit

# --------------------------------------------------------------------------- edges


# Canny's four gradient sectors, as in skimage's _canny_cy.pyx: for each, the two neighbours
# (row, col offsets) interpolated ahead of the pixel along the gradient, then the two behind.
# di and dj are the gradients along rows and along columns.
_NMS_NEIGHBOURS = np.array(
    [
        [(1, 0), (1, 1), (-1, 0), (-1, -1)],  # gradients of the same sign, |di| > |dj|
        [(0, 1), (1, 1), (0, -1), (-1, -1)],  # same sign, |di| <= |dj|
        [(0, 1), (-1, 1), (0, -1), (1, -1)],  # opposite signs, |di| < |dj|
        [(-1, 0), (-1, 1), (1, 0), (1, -1)],  # opposite signs, |di| >= |dj|
    ]
)


def _nonmaximum_suppression(isobel, jsobel, magnitude, low):
    """skimage's Canny non-maximum suppression, for a batch; returns the surviving magnitudes.

    A pixel survives when its magnitude is >= low and >= the magnitude interpolated at both
    neighbours along the gradient. Only pixels above `low` are examined (a small fraction),
    and the 1-pixel border never survives, as in skimage.
    """
    interior = np.zeros(magnitude.shape, bool)
    interior[:, 1:-1, 1:-1] = True
    where = np.flatnonzero(interior & (magnitude >= low))
    flat = magnitude.ravel()
    m, gi, gj = flat[where], isobel.ravel()[where], jsobel.ravel()[where]
    ai, aj = np.abs(gi), np.abs(gj)
    same_sign = (gi > 0) == (gj > 0)
    sector = np.where(same_sign, np.where(ai > aj, 0, 1), np.where(ai < aj, 2, 3))
    # the smaller gradient over the larger (never 0 / 0: magnitude >= low > 0) is how far
    # the interpolation leans from the axis neighbour to the diagonal one
    w = np.minimum(ai, aj) / np.maximum(ai, aj)
    steps = _NMS_NEIGHBOURS[..., 0] * SIDE + _NMS_NEIGHBOURS[..., 1]  # flat index offsets
    near = flat[where[:, None] + steps[sector]]  # (candidates, 4)
    ahead = near[:, 1] * w + near[:, 0] * (1 - w) <= m
    behind = near[:, 3] * w + near[:, 2] * (1 - w) <= m
    out = np.zeros(magnitude.shape)
    out.ravel()[where[ahead & behind]] = m[ahead & behind]
    return out


def _canny(unit: np.ndarray, sigma=1.0, low=0.1, high=0.2) -> np.ndarray:
    """skimage.feature.canny with its defaults, for a batch (N, 28, 28) of 0-1 floats.

    Gives the same edges as calling skimage once per image (checked on the 10,000 MNIST test
    digits), many times faster: every filter runs along the image axes only, and hysteresis
    labels 8-connected edges within each image.
    """
    smoothed = ndi.gaussian_filter(unit, (0, sigma, sigma), mode="constant", truncate=4.0)
    # skimage divides by the blurred all-ones mask, which undoes the darkening at the border
    smoothed /= (
        ndi.gaussian_filter(np.ones((SIDE, SIDE)), sigma, mode="constant", truncate=4.0) + np.finfo(np.float64).eps
    )
    # Sobel as scipy.ndimage.sobel does it (mode 'reflect'), per image
    padded = np.pad(smoothed, ((0, 0), (1, 1), (1, 1)), mode="symmetric")
    d_col = padded[:, :, 2:] - padded[:, :, :-2]
    jsobel = d_col[:, :-2] + 2 * d_col[:, 1:-1] + d_col[:, 2:]
    d_row = padded[:, 2:, :] - padded[:, :-2, :]
    isobel = d_row[:, :, :-2] + 2 * d_row[:, :, 1:-1] + d_row[:, :, 2:]
    magnitude = np.hypot(isobel, jsobel)
    candidates = _nonmaximum_suppression(isobel, jsobel, magnitude, low)
    within_image = np.zeros((3, 3, 3), bool)
    within_image[1] = True
    labels, count = ndi.label(candidates > 0, within_image)
    strong = np.zeros(count + 1, bool)
    strong[labels[candidates >= high]] = True
    strong[0] = False
    return strong[labels]


def canny_edges(images, rng, severity):
    """Replace the digit by its Canny edge map (white edges on black); severity is ignored.

    MNIST-C's edge map has one setting (skimage's defaults: sigma 1, thresholds 0.1 and 0.2);
    there is no sense in which its edges are "more" corrupted.
    """
    return np.where(_canny(_unit(images, np.float64)), 255, 0).astype(np.uint8)


# --------------------------------------------------------------------------- stroke width


def _upsample2(x: np.ndarray) -> np.ndarray:
    """Bilinear 2x enlargement along axes 1 and 2 (OpenCV's INTER_LINEAR weights 1/4, 3/4)."""
    for axis in (1, 2):
        edge = np.pad(x, [(1, 1) if a == axis else (0, 0) for a in range(3)], mode="edge")
        before = np.take(edge, range(x.shape[axis]), axis=axis)
        after = np.take(edge, range(2, x.shape[axis] + 2), axis=axis)
        even, odd = 0.25 * before + 0.75 * x, 0.75 * x + 0.25 * after
        x = np.stack([even, odd], axis=axis + 1).reshape(*[2 * s if a == axis else s for a, s in enumerate(x.shape)])
    return x


def _morphology(images: np.ndarray, operation, radius: float) -> np.ndarray:
    """Dilate or erode with a disk of `radius` pixels, in half-pixel steps.

    Working at twice the resolution gives radii 0.5, 1, 1.5 ... instead of 1, 2, 3: one whole
    pixel of erosion already wipes out the thinner MNIST strokes. All images go through OpenCV
    in one call, stacked vertically with a band of the operation's neutral value between them.
    """
    big = np.rint(_upsample2(images.astype(np.float32))).astype(np.uint8)
    r2 = 2 * radius
    reach = int(np.floor(r2))
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disk = (yy**2 + xx**2 <= r2**2).astype(np.uint8)
    neutral = 0 if operation is cv2.dilate else 255
    n, h, w = big.shape
    stacked = np.pad(big, ((0, 0), (reach, reach), (0, 0)), constant_values=neutral)
    done = operation(stacked.reshape(-1, w), disk).reshape(n, h + 2 * reach, w)[:, reach : reach + h]
    small = done.reshape(n, SIDE, 2, SIDE, 2).astype(np.float32).mean(axis=(2, 4))
    return np.rint(small).astype(np.uint8)


# disk radius in pixels (thicker strokes). Not in MNIST-C.
DILATE_RADIUS = (0.5, 1.0, 1.5, 2.0, 2.5)


def dilate(images, rng, severity):
    """Thicken strokes: greyscale dilation with a disk; no randomness."""
    return _morphology(images, cv2.dilate, _level(DILATE_RADIUS, severity))


# disk radius in pixels (thinner strokes). Not in MNIST-C; finer steps than dilation because
# strokes are only 2-4 pixels wide and vanish past a radius of about 1.5.
ERODE_RADIUS = (0.5, 0.75, 1.0, 1.25, 1.5)


def erode(images, rng, severity):
    """Thin strokes: greyscale erosion with a disk; no randomness."""
    return _morphology(images, cv2.erode, _level(ERODE_RADIUS, severity))
