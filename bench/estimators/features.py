"""The feature steps of the classical models: deskew, blur, HOG descriptors, pixels, shifted copies.

Feature steps are sklearn transformers (classes, not lambdas) so that a fitted model saves with skops
and loads without unpickling arbitrary code; a saved model names each by its path in this module, and
bench.estimators.trusted_types lists those paths.
"""

from __future__ import annotations

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


def deskew(image: np.ndarray) -> np.ndarray:
    """Straighten one 28x28 digit by shearing away the skew its second moments show.

    The OpenCV recipe: skew = mu11 / mu02; shift so the shear keeps the centre fixed.
    """
    m = cv2.moments(image)
    if abs(m["mu02"]) < 1e-2:
        return image.copy()
    skew = m["mu11"] / m["mu02"]
    size = image.shape[0]
    warp = np.float32([[1, skew, -0.5 * size * skew], [0, 1, 0]])
    return cv2.warpAffine(image, warp, (size, size), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR)


class _Stateless(TransformerMixin, BaseEstimator):
    """A feature step that learns nothing: `fit` does nothing, so it never counts as unfitted
    (sklearn's requires_fit tag; a Pipeline ending in such a step checks its last step is fitted)."""

    def fit(self, X, y=None):
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


class Deskew(_Stateless):
    """(N, 28, 28) images -> (N, 28, 28) deskewed float32 images; identity when enabled=False."""

    def __init__(self, enabled=True):
        self.enabled = enabled

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32).reshape(-1, 28, 28)
        return np.stack([deskew(img) for img in X]) if self.enabled else X


class Blur(_Stateless):
    """(N, 28, 28) images -> the same images smoothed by a Gaussian of `sigma` pixels (scipy.ndimage)."""

    def __init__(self, sigma=0.5):
        self.sigma = sigma

    def transform(self, X):
        from scipy.ndimage import gaussian_filter

        X = np.asarray(X, dtype=np.float32).reshape(-1, 28, 28)
        return gaussian_filter(X, (0, self.sigma, self.sigma))


def hog_descriptors(images: np.ndarray, orientations=9, pixels_per_cell=4, cells_per_block=2) -> np.ndarray:
    """(N, H, W) images -> (N, F) float32 HOG descriptors, L2-Hys block norm, for all images at once.

    What scikit-image's `hog` computes image by image (to float rounding; a test compares them):
    central-difference gradients, unsigned orientations hard-binned into `orientations` bins, each
    cell's histogram of gradient magnitude averaged over the cell, overlapping blocks of cells
    normalised. One image at a time through skimage costs ~1.4 ms on 28x28; the whole test set's
    19 corrupted copies spent 3.6 minutes there, most of the robustness run.
    """
    img = np.asarray(images, dtype=np.float32)  # skimage computes gradients in the image's float type
    n, h, w = img.shape
    g_row = np.zeros_like(img)
    g_row[:, 1:-1, :] = img[:, 2:, :] - img[:, :-2, :]
    g_col = np.zeros_like(img)
    g_col[:, :, 1:-1] = img[:, :, 2:] - img[:, :, :-2]
    g_row, g_col = g_row.astype(np.float64), g_col.astype(np.float64)
    c = pixels_per_cell
    rows, cols = h // c, w // c  # cells cover the image from its top left; a remainder is ignored
    magnitude = np.hypot(g_col, g_row)[:, : rows * c, : cols * c]
    orientation = (np.arctan2(g_row, g_col) * (180 / np.pi) % 180)[:, : rows * c, : cols * c]
    # bin i holds [edge_i, edge_i+1) with edges as skimage rounds them (float32); 180.0 itself in no bin
    edges = (np.float32(180.0 / orientations) * np.arange(orientations + 1)).astype(np.float32).astype(np.float64)
    in_range = orientation < edges[-1]
    bins = np.searchsorted(edges[:-1], orientation, side="right") - 1
    cell_row, cell_col = np.arange(rows * c) // c, np.arange(cols * c) // c
    index = ((np.arange(n)[:, None, None] * rows + cell_row[None, :, None]) * cols + cell_col) * orientations + bins
    hist = np.bincount(index[in_range], weights=magnitude[in_range], minlength=n * rows * cols * orientations)
    hist = hist.reshape(n, rows, cols, orientations) / (c * c)
    b = cells_per_block
    blocks = np.lib.stride_tricks.sliding_window_view(hist, (b, b), axis=(1, 2))  # (n, rows', cols', o, b, b)
    blocks = blocks.transpose(0, 1, 2, 4, 5, 3).reshape(n, rows - b + 1, cols - b + 1, b * b * orientations)
    eps = 1e-5
    out = blocks / np.sqrt(np.sum(blocks**2, axis=-1, keepdims=True) + eps**2)
    out = np.minimum(out, 0.2)
    out = out / np.sqrt(np.sum(out**2, axis=-1, keepdims=True) + eps**2)
    return out.reshape(n, -1).astype(np.float32)


class HogFeatures(_Stateless):
    """(N, 28, 28) images -> (N, F) histogram-of-oriented-gradient features (see `hog_descriptors`)."""

    # images per batch: bounds the float64 intermediates (~40 MB per 1,000 images) on a 60,000-image fit
    batch_size = 2000

    def __init__(self, orientations=9, pixels_per_cell=4, cells_per_block=2):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block

    def transform(self, X):
        X = np.asarray(X).reshape(-1, 28, 28)
        return np.concatenate(
            [
                hog_descriptors(
                    X[i : i + self.batch_size], self.orientations, self.pixels_per_cell, self.cells_per_block
                )
                for i in range(0, max(len(X), 1), self.batch_size)
            ]
        )


def shifted_copies(images: np.ndarray, pixels: int) -> np.ndarray:
    """(N, 28, 28) -> (4N, 28, 28): the images moved `pixels` up, down, left and right, zeros shifted in."""
    out = np.zeros((4, *images.shape), dtype=images.dtype)
    p = pixels
    out[0, :, :-p], out[1, :, p:] = images[:, p:], images[:, :-p]
    out[2, :, :, :-p], out[3, :, :, p:] = images[:, :, p:], images[:, :, :-p]
    return out.reshape(-1, *images.shape[1:])


class Flatten(_Stateless):
    """(N, 28, 28) images -> (N, 784) pixels scaled to 0-1."""

    def transform(self, X):
        return np.asarray(X, dtype=np.float32).reshape(len(X), -1) / 255.0
