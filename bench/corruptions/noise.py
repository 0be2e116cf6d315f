"""Per-pixel corruptions: shot and impulse noise, brightness, stripe, inversion."""

from __future__ import annotations

import numpy as np

from ._common import SIDE, _level, _to_uint8, _unit

# --------------------------------------------------------------------------- noise

# photons per unit brightness; fewer photons, noisier. MNIST-C released 3 (its severity 5)
SHOT_PHOTONS = (12, 6, 3, 2, 1.5)


def shot_noise(images, rng, severity):
    """Poisson (photon-counting) noise: each pixel becomes Poisson(c * x) / c."""
    c = _level(SHOT_PHOTONS, severity)
    return _to_uint8(rng.poisson(_unit(images, np.float64) * c) / c)


# fraction of pixels set to black or white. MNIST-C released 0.17 (its severity 4)
IMPULSE_AMOUNT = (0.06, 0.09, 0.17, 0.27, 0.40)


def impulse_noise(images, rng, severity):
    """Salt-and-pepper noise: a fraction of pixels, half white and half black."""
    amount = _level(IMPULSE_AMOUNT, severity)
    out = images.copy()
    flipped = rng.random(images.shape) < amount
    salt = rng.random(images.shape) < 0.5
    out[flipped & salt] = 255
    out[flipped & ~salt] = 0
    return out


# --------------------------------------------------------------------------- brightness, stripe

# added to HSV value (0-1). MNIST-C released 0.5 (its severity 5)
BRIGHTNESS_SHIFT = (0.3, 0.4, 0.5, 0.6, 0.7)


def brightness(images, rng, severity):
    """Brighten: raise the background and saturate the strokes; no randomness.

    MNIST-C goes grey -> RGB -> HSV, adds to V, and back; for a grey image V is the grey
    level and the round trip is the identity, so this is simply x + shift, clipped.
    """
    return _to_uint8(_unit(images) + _level(BRIGHTNESS_SHIFT, severity))


# columns inverted at each side. MNIST-C released 7 (its only level)
STRIPE_WIDTH = (3, 5, 7, 9, 11)


def stripe(images, rng, severity):
    """Invert a band of columns at the left and right edges; no randomness."""
    width = _level(STRIPE_WIDTH, severity)
    out = images.copy()
    out[:, :, :width] = 255 - out[:, :, :width]
    out[:, :, SIDE - width :] = 255 - out[:, :, SIDE - width :]
    return out


# --------------------------------------------------------------------------- inversion


def invert(images, rng, severity):
    """Black digit on white, 255 - x; deterministic, and severity is ignored (it has no degree)."""
    return 255 - images
