"""Layers laid over the digit: fog, spatter, dotted and zigzag lines."""

from __future__ import annotations

import numpy as np

from ._common import SIDE, _gaussian_blur, _level, _line_layer, _to_uint8, _unit

# --------------------------------------------------------------------------- fog, spatter


def _plasma_fractal(
    rng: np.random.Generator, n_maps: int, decay: float, size: int = 256, keep: int = SIDE
) -> np.ndarray:
    """MNIST-C's diamond-square height maps (from ImageNet-C): n_maps at once, (n_maps, keep, keep).

    Each map is size x size, scaled to 0-1 over the whole map, of which the top-left keep x keep
    corner is returned, as MNIST-C does. `decay` divides the random displacement's scale at
    every halving of the step, so a smaller decay keeps more fine-grained, patchier fog.
    float32 halves the time; the maps' spread (about 1e4) loses nothing a uint8 image shows.
    """
    maps = np.zeros((n_maps, size, size), np.float32)
    step, wibble = size, 100.0

    def wibbled_mean(total):
        # total / 4 + wibble * uniform(-wibble, wibble), without uniform()'s extra passes
        out = rng.random(total.shape, dtype=np.float32)
        out *= np.float32(2 * wibble * wibble)
        out -= np.float32(wibble * wibble)
        out += total / 4
        return out

    while step >= 2:
        half = step // 2
        corners = maps[:, 0::step, 0::step]
        square = corners + np.roll(corners, -1, axis=1)
        square += np.roll(square, -1, axis=2)
        maps[:, half::step, half::step] = wibbled_mean(square)

        centres = maps[:, half::step, half::step]
        corners = maps[:, 0::step, 0::step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, 0::step, half::step] = wibbled_mean(left)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half::step, 0::step] = wibbled_mean(top)
        step //= 2
        wibble /= decay
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    return ((maps[:, :keep, :keep] - low) / (high - low)).astype(np.float64)


# (fog strength, fractal decay). MNIST-C released (3.0, 1.4) (its severity 5)
FOG = ((2.0, 2.0), (2.5, 1.7), (3.0, 1.4), (3.5, 1.3), (4.0, 1.2))
FOG_CHUNK = 128  # 256 x 256 maps made at once (32 MB); any fixed number gives the same statistics


def fog(images, rng, severity):
    """Add a fractal cloud layer and rescale, which also lowers the digit's contrast.

    As in MNIST-C, every image gets its own 256 x 256 map, of which the top-left 28 x 28
    corner is used; the maps are made FOG_CHUNK at a time (about 0.5 ms each).
    """
    strength, decay = _level(FOG, severity)
    n = len(images)
    cloud = np.empty(images.shape)
    for start in range(0, n, FOG_CHUNK):
        cloud[start : start + FOG_CHUNK] = _plasma_fractal(rng, min(FOG_CHUNK, n - start), decay)
    x = _unit(images, np.float64)
    brightest = x.max(axis=(1, 2), keepdims=True)
    return _to_uint8((x + strength * cloud) * brightest / (brightest + strength))


# (noise mean, noise sd, noise blur sigma, threshold, blot blur sigma) of the liquid layer.
# MNIST-C released (0.65, 0.3, 1, 0.65, 1.5) (its severity 4); 4 is its severity 5. Its
# severities 1-3 blur the noise more, giving a few big blots that can cover more than its
# severity 4, so 1 and 2 here raise the threshold instead: fewer blots of the same kind.
SPATTER = (
    (0.65, 0.3, 1, 0.69, 1.5),
    (0.65, 0.3, 1, 0.67, 1.5),
    (0.65, 0.3, 1, 0.65, 1.5),
    (0.67, 0.4, 1, 0.65, 1.5),
    (0.68, 0.45, 1, 0.63, 1.5),
)


def spatter(images, rng, severity):
    """Grey mud blots: smoothed, thresholded noise painted over the image in grey 63."""
    mean, sd, sigma, threshold, mask_sigma = _level(SPATTER, severity)
    liquid = _gaussian_blur(rng.normal(mean, sd, images.shape), sigma)
    mask = _gaussian_blur((liquid > threshold).astype(np.float64), mask_sigma)
    mask[mask < 0.8] = 0  # only the blots' solid cores, with soft edges
    x = _unit(images, np.float64)
    return _to_uint8(x * (1 - mask) + 63 / 255 * mask)


# --------------------------------------------------------------------------- drawn lines

# (lines drawn, line thickness). MNIST-C released one line of thickness 2.3 (its only level)
LINES = ((1, 1.5), (1, 1.9), (1, 2.3), (2, 2.3), (3, 2.3))


def dotted_line(images, rng, severity):
    """A dashed line (2 pixels on, 2 off) across the image between random rows."""
    count, thickness = _level(LINES, severity)
    n = len(images)
    layer = np.zeros(images.shape, np.float32)
    for _ in range(count):
        r0, r1 = rng.integers(0, 27, size=(2, n))
        layer += _line_layer(np.zeros(n), r0, np.full(n, 27.0), r1, thickness)
    layer[:, :, (np.arange(SIDE) // 2) % 2 == 0] = 0  # the gaps between dashes
    return _to_uint8(_unit(images, np.float64) + layer)


def _zigzag_layer(rng: np.random.Generator, n: int, thickness: float) -> np.ndarray:
    """One zigzag per image, MNIST-C's: peaks 4 px apart, 4 px high, along a random, slightly tilted line."""
    a = b = 2.0
    c0, c1 = 2, 25
    r0 = rng.integers(0, 27, n)
    r1 = r0 + rng.integers(-5, 5, n)
    theta = np.arctan((r1 - r0) / (c1 - c0))
    length = (c1 - c0) / np.cos(theta)
    # With a 23-pixel span and a tilt of at most 5 rows, length is 23..23.6: always six teeth
    # and a short closing segment, so every image has the same number of vertices.
    teeth = np.arange(int((c1 - c0 - a) // (2 * a)) + 1)
    along = np.concatenate(
        [np.zeros((n, 1)), np.broadcast_to((2 * teeth + 1) * a, (n, len(teeth))), length[:, None]], axis=1
    )
    last_r = (-1.0) ** teeth[-1] * b
    closing = 2 * a * (length // (2 * a))
    across = np.concatenate(
        [
            np.zeros((n, 1)),
            np.broadcast_to((-1.0) ** teeth * b, (n, len(teeth))),
            (last_r / (2 * (length - closing)))[:, None],
        ],
        axis=1,
    )
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    cs = cos * along - sin * across + c0
    rs = sin * along + cos * across + r0[:, None]
    layer = np.zeros((n, SIDE, SIDE), np.float32)
    for i in range(1, cs.shape[1]):
        layer += _line_layer(cs[:, i - 1], rs[:, i - 1], cs[:, i], rs[:, i], thickness)
    return layer


def zigzag(images, rng, severity):
    """A zigzag line drawn across the digit; severity 4 and 5 draw two and three."""
    count, thickness = _level(LINES, severity)
    layer = sum(_zigzag_layer(rng, len(images), thickness) for _ in range(count))
    return _to_uint8(_unit(images, np.float64) + layer)
