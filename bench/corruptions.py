"""Corrupted digits: a seeded, vectorised re-implementation of MNIST-C, plus three extras.

MNIST-C (Mu & Gilmer 2019, "MNIST-C: A Robustness Benchmark for Computer Vision",
arXiv:1906.02337) is the MNIST test set passed through 15 corruptions that leave a digit
readable to a person -- noise, blur, affine warps, fog, spatter, drawn lines, an edge map --
and released as one fixed set of 10,000 images per corruption. A model that has only seen
clean MNIST loses accuracy on them, which makes them a cheap out-of-distribution benchmark.
The original generator (github.com/google-research/mnist-c, corruptions.py) works on one PIL
image at a time and no longer runs on numpy 2; this module redoes each corruption with numpy,
SciPy and OpenCV over a whole batch (matching scikit-image's output where MNIST-C used it),
and adds stroke thickening (`dilate`),
thinning (`erode`) and colour inversion (`invert`).

Images are uint8 arrays shaped (N, 28, 28), a white digit (high values) on black (0).

Severity runs from 1 (mild) to 5 (harsh). MNIST-C released a single level per corruption:
the default argument of each function in its generator, which this module takes as the
level of its data set. Severity 3, the default here, is that level, so results at severity 3
are comparable to published MNIST-C numbers; 1-2 are milder and 4-5 harsher, reusing
MNIST-C's own ladder where it has one. The comment above each corruption says which
parameter severity sets. `canny_edges` and `invert` have no natural strength and ignore it.

Randomness: `corrupt` seeds a fresh generator from (seed, the corruption's name), so a
corruption's output never depends on which other corruptions ran or in what order, and each
image gets its own draw (its own angle, noise, fog patch, line position ...).

    >>> from bench.corruptions import corrupt
    >>> rotated = corrupt(x_test, "rotate", severity=3, seed=0)   # (N, 28, 28) uint8
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import scipy.ndimage as ndi

from .data import DataError

__all__ = ["CORRUPTIONS", "MNIST_C_NAMES", "DEFAULT_SEVERITY", "SEVERITIES", "corrupt", "load_mnist_c", "parse_corruption_names"]

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
    """float 0-1 -> uint8 0-255, rounded (MNIST-C truncated; rounding avoids a darkening bias)."""
    return np.rint(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _level(table, severity: int):
    return table[severity - 1]


def _random_sign(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


def _gaussian_blur(unit: np.ndarray, sigma: float, mode: str = "nearest") -> np.ndarray:
    """skimage.filters.gaussian (mode 'nearest', truncate 4) on every image, never across images."""
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
    corner = (np.arange(len(images))[:, None, None] * side * side
              + (y0.astype(np.intp) + 1) * side + (x0.astype(np.intp) + 1))
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


def _jitter(rng: np.random.Generator, level: float, n: int, spread: float = 0.1) -> np.ndarray:
    """A per-image magnitude within +-spread (a fraction) of the severity's level.

    MNIST-C used the level itself for every image; a little spread keeps one severity
    from being a single point, while the ranges of neighbouring severities do not overlap.
    """
    return level * rng.uniform(1 - spread, 1 + spread, n)


def _line_layer(c_start, r_start, c_end, r_end, thickness: float) -> np.ndarray:
    """MNIST-C's `line_from_points`, one line per image: (N,) end points -> (N, 28, 28) in 0-1.

    Brightness falls off with vertical distance d from the line as 1 + log(1 - d / thickness),
    so the line is about 2 * 0.63 * thickness pixels tall; only columns between the end points
    are drawn.
    """
    c_start, r_start, c_end, r_end = (np.asarray(v, dtype=np.float32)[:, None, None]
                                      for v in (c_start, r_start, c_end, r_end))
    vertical = c_end == c_start
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(vertical, 0.0, (r_end - r_start) / np.where(vertical, 1.0, c_end - c_start))
    row_on_line = slope * (_COLS - c_start) + r_start
    # float32 for speed; the clip keeps log's argument positive (MNIST-C: thickness - 1e-10)
    distance = np.minimum(np.abs(_ROWS - row_on_line), np.float32(thickness * (1 - 1e-6)))
    layer = np.clip(np.log(1 - distance / np.float32(thickness)) + 1, 0, 1)
    drawn = (_COLS >= np.floor(c_start)) & (_COLS < np.ceil(c_end)) & ~vertical
    return np.where(drawn, layer, np.float32(0))


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


# --------------------------------------------------------------------------- blur

# (gaussian sigma, largest pixel displacement, passes of pixel swapping).
# MNIST-C released (0.7, 1, 2) (its severity 1); 4 and 5 are its severities 2 and 3.
GLASS_BLUR = ((0.5, 1, 1), (0.6, 1, 2), (0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3))


def glass_blur(images, rng, severity):
    """Blur, shuffle pixels locally (frosted glass), blur again.

    MNIST-C walks every pixel of every image in Python and, with probability 1/2, swaps it
    with a neighbour up to `delta` pixels away. The walk is kept -- later swaps can carry a
    pixel further, which is part of the look -- but each step swaps that pixel in all N
    images at once, with each image's own coin and offset: the Python loop runs
    26 x 26 x passes times whatever N is, instead of N times that.
    """
    sigma, delta, passes = _level(GLASS_BLUR, severity)
    n = len(images)
    blurred = (_gaussian_blur(_unit(images, np.float64), sigma) * 255).astype(np.uint8)
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
    return _to_uint8(_gaussian_blur(_unit(blurred, np.float64), sigma))


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
    origin = (np.arange(n)[:, None, None] * side * side + (pad + _ROWS) * side + (pad + _COLS))
    flat = padded.ravel()
    out = np.zeros(images.shape, np.float32)
    for i in range(width):
        out += weights[i] * np.take(flat, origin + (dy[:, i] * side + dx[:, i])[:, None, None])
    return np.rint(np.clip(out, 0, 255)).astype(np.uint8)


# --------------------------------------------------------------------------- affine warps

def _signed_angles(rng: np.random.Generator, table, severity: int, n: int) -> np.ndarray:
    """n angles: the severity's level from `table`, +-10% per image, each with a random sign."""
    return _jitter(rng, _level(table, severity), n) * _random_sign(rng, n)


# shear angle in radians, random sign, +-10% per image. MNIST-C released 0.4 (its severity 2)
SHEAR_ANGLE = (0.2, 0.3, 0.4, 0.6, 0.8)


def shear(images, rng, severity):
    """Shear about the centre; the old skimage AffineTransform(shear=s) MNIST-C used."""
    n = len(images)
    s = _signed_angles(rng, SHEAR_ANGLE, severity, n)
    linear = np.zeros((n, 2, 2))
    linear[:, 0, 0] = 1
    linear[:, 0, 1] = -np.sin(s)
    linear[:, 1, 1] = np.cos(s)
    return _warp_about_centre(images, linear)


# zoom factor (the digit shrinks to this fraction), +-5% per image. MNIST-C released 0.7
# (its severity 3; its ladder is this one)
SCALE_FACTOR = (0.9, 0.8, 0.7, 0.6, 0.5)


def scale(images, rng, severity):
    """Shrink the digit about the image centre."""
    n = len(images)
    zoom = _jitter(rng, _level(SCALE_FACTOR, severity), n, spread=0.05)
    linear = np.zeros((n, 2, 2))
    linear[:, 0, 0] = linear[:, 1, 1] = 1 / zoom
    return _warp_about_centre(images, linear)


# rotation in radians, random sign, +-10% per image. MNIST-C released 0.4 (23 degrees, its severity 2)
ROTATE_ANGLE = (0.2, 0.3, 0.4, 0.6, 0.8)


def rotate(images, rng, severity):
    """Rotate about the image centre."""
    n = len(images)
    a = _signed_angles(rng, ROTATE_ANGLE, severity, n)
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
    out[:, :, SIDE - width:] = 255 - out[:, :, SIDE - width:]
    return out


# --------------------------------------------------------------------------- fog, spatter


def _plasma_fractal(rng: np.random.Generator, n_maps: int, decay: float, size: int = 256) -> np.ndarray:
    """MNIST-C's diamond-square height maps (from ImageNet-C), n_maps at once, each scaled to 0-1.

    `decay` divides the random displacement's scale at every halving of the step, so a
    smaller decay keeps more fine-grained, patchier fog.
    """
    maps = np.zeros((n_maps, size, size))
    step, wibble = size, 100.0

    def wibbled_mean(total):
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

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
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


# (fog strength, fractal decay). MNIST-C released (3.0, 1.4) (its severity 5)
FOG = ((2.0, 2.0), (2.5, 1.7), (3.0, 1.4), (3.5, 1.3), (4.0, 1.2))
FOG_MAPS = 16  # 256 x 256 maps per call; each image reads its own random 28 x 28 window


def fog(images, rng, severity):
    """Add a fractal cloud layer and rescale, which also lowers the digit's contrast.

    MNIST-C makes a fresh 256 x 256 map per image and keeps its top-left 28 x 28 corner.
    Here a few full-size maps are made per call and each image reads a random window of
    one of them: the same generator and the same statistics, at a fraction of the cost.
    """
    strength, decay = _level(FOG, severity)
    n = len(images)
    maps = _plasma_fractal(rng, FOG_MAPS, decay)
    which = rng.integers(0, FOG_MAPS, n)[:, None, None]
    top, left = (rng.integers(0, maps.shape[1] - SIDE + 1, n)[:, None, None] for _ in range(2))
    cloud = maps[which, top + _ROWS, left + _COLS]
    x = _unit(images, np.float64)
    brightest = x.max(axis=(1, 2), keepdims=True)
    return _to_uint8((x + strength * cloud) * brightest / (brightest + strength))


# (noise mean, noise sd, noise blur sigma, threshold, blot blur sigma) of the liquid layer.
# MNIST-C released (0.65, 0.3, 1, 0.65, 1.5) (its severity 4); 4 is its severity 5. Its
# severities 1-3 blur the noise more, giving a few big blots that can cover more than its
# severity 4, so 1 and 2 here raise the threshold instead: fewer blots of the same kind.
SPATTER = ((0.65, 0.3, 1, 0.69, 1.5), (0.65, 0.3, 1, 0.67, 1.5), (0.65, 0.3, 1, 0.65, 1.5),
           (0.67, 0.4, 1, 0.65, 1.5), (0.68, 0.45, 1, 0.63, 1.5))


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
    along = np.concatenate([np.zeros((n, 1)), np.broadcast_to((2 * teeth + 1) * a, (n, len(teeth))),
                            length[:, None]], axis=1)
    last_r = (-1.0) ** teeth[-1] * b
    closing = 2 * a * (length // (2 * a))
    across = np.concatenate([np.zeros((n, 1)), np.broadcast_to((-1.0) ** teeth * b, (n, len(teeth))),
                             (last_r / (2 * (length - closing)))[:, None]], axis=1)
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


# --------------------------------------------------------------------------- edges


# Canny's four gradient sectors, as in skimage's _canny_cy.pyx: for each, the two neighbours
# (row, col offsets) interpolated ahead of the pixel along the gradient, then the two behind.
# di and dj are the gradients along rows and along columns.
_NMS_NEIGHBOURS = np.array([
    [(1, 0), (1, 1), (-1, 0), (-1, -1)],  # gradients of the same sign, |di| > |dj|
    [(0, 1), (1, 1), (0, -1), (-1, -1)],  # same sign, |di| <= |dj|
    [(0, 1), (-1, 1), (0, -1), (1, -1)],  # opposite signs, |di| < |dj|
    [(-1, 0), (-1, 1), (1, 0), (1, -1)],  # opposite signs, |di| >= |dj|
])


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
    smoothed /= ndi.gaussian_filter(np.ones((SIDE, SIDE)), sigma, mode="constant", truncate=4.0) + np.finfo(
        np.float64).eps
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
        x = np.stack([even, odd], axis=axis + 1).reshape(
            *[2 * s if a == axis else s for a, s in enumerate(x.shape)])
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
    yy, xx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    disk = (yy**2 + xx**2 <= r2**2).astype(np.uint8)
    neutral = 0 if operation is cv2.dilate else 255
    n, h, w = big.shape
    stacked = np.pad(big, ((0, 0), (reach, reach), (0, 0)), constant_values=neutral)
    done = operation(stacked.reshape(-1, w), disk).reshape(n, h + 2 * reach, w)[:, reach:reach + h]
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


def invert(images, rng, severity):
    """Black digit on white, 255 - x; deterministic, and severity is ignored (it has no degree)."""
    return 255 - images


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
    """"rotate,shear" -> ["rotate", "shear"]; None, "" or "all" -> every name, in `CORRUPTIONS` order.

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
    if not isinstance(images, np.ndarray) or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) \
            or images.dtype != np.uint8:
        got = (f"shape {images.shape} dtype {images.dtype}" if isinstance(images, np.ndarray)
               else type(images).__name__)
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
