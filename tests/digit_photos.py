"""Real-looking images of MNIST digits for the preprocessing tests: pasted large and off-centre
on paper or a screen, in both polarities, with transparency, noise, blur, a ruled line or a
grey paper gradient. Each maker is (digit (28, 28) uint8, numpy Generator) -> encoded image bytes."""

from __future__ import annotations

import cv2
import numpy as np


def _paste(digit: np.ndarray, rng, canvas=(360, 480), scale_range=(6, 10)) -> tuple[np.ndarray, tuple]:
    """The digit (white on black, floats 0..1) enlarged and placed off-centre on a black canvas."""
    h, w = canvas
    s = rng.uniform(*scale_range)
    big = cv2.resize(digit.astype(np.float32) / 255, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC).clip(0, 1)
    y = int(rng.integers(0, h - big.shape[0]))
    x = int(rng.integers(0, w - big.shape[1]))
    out = np.zeros(canvas, np.float32)
    out[y : y + big.shape[0], x : x + big.shape[1]] = big
    return out, (y, x, big.shape)


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _jpeg(image: np.ndarray, quality=85) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _u8(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)


def dark_on_paper(digit, rng):
    """Blue-black ink on off-white paper, JPEG, as a phone photo of a page."""
    ink, _ = _paste(digit, rng)
    paper = np.array([0.93, 0.95, 0.96], np.float32)  # BGR
    pen = np.array([0.35, 0.15, 0.1], np.float32)
    bgr = paper * (1 - ink[..., None]) + pen * ink[..., None]
    return _jpeg(_u8(bgr + rng.normal(0, 0.01, bgr.shape)))


def light_on_dark(digit, rng):
    """White chalk on a dark board: the MNIST polarity, but large and off-centre."""
    ink, _ = _paste(digit, rng)
    return _png(_u8(0.15 + 0.75 * ink))


def transparent_drawing(digit, rng):
    """A black drawing on a transparent canvas (RGBA; colour under transparent pixels is black too)."""
    ink, _ = _paste(digit, rng)
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[..., 3] = _u8(ink)
    return _png(rgba)


def noisy(digit, rng):
    """Dark ink on paper with Gaussian noise and salt-and-pepper specks."""
    ink, _ = _paste(digit, rng)
    grey = 0.9 - 0.75 * ink + rng.normal(0, 0.06, ink.shape)
    specks = rng.random(ink.shape)
    grey[specks < 0.004] = 0.0
    grey[specks > 0.996] = 1.0
    return _png(_u8(grey))


def blurred(digit, rng):
    """Out of focus: a Gaussian blur of a few pixels."""
    ink, _ = _paste(digit, rng)
    return _png(_u8(cv2.GaussianBlur(0.92 - 0.8 * ink, (0, 0), rng.uniform(2, 4))))


def ruled_line(digit, rng):
    """Ruled paper: thin grey-blue lines across the whole page, one of them through the digit."""
    ink, (y, x, shape) = _paste(digit, rng)
    grey = np.full(ink.shape, 0.95, np.float32)
    lines = np.zeros_like(grey)
    through = y + int(rng.uniform(0.3, 0.7) * shape[0])
    for row in range(through % 40, grey.shape[0], 40):
        lines[row : row + 2] = 0.45
    grey = grey - lines
    grey = np.minimum(grey, 0.95 - 0.85 * ink)
    return _png(_u8(grey))


def paper_gradient(digit, rng):
    """Grey paper lit from one side: light to dark across the page, the ink darker still."""
    ink, _ = _paste(digit, rng)
    ramp = np.linspace(0.95, 0.45, ink.shape[1], dtype=np.float32)[None, :]
    if rng.random() < 0.5:
        ramp = ramp[:, ::-1]
    return _png(_u8(ramp * (1 - 0.8 * ink)))


def fine_pen(digit, rng):
    """A fine pen: the digit's skeleton drawn 3 pixels wide, about 2% of its height (MNIST strokes are ~10%)."""
    from skimage.morphology import skeletonize

    ink, _ = _paste(digit, rng)
    thin = cv2.dilate(skeletonize(ink > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    return _png(_u8(0.93 - 0.8 * thin))


MAKERS = (dark_on_paper, light_on_dark, transparent_drawing, noisy, blurred, ruled_line, paper_gradient, fine_pen)
