"""Training-time augmentation: one random affine warp per image."""

from __future__ import annotations

import math


def random_affine(images, seed, rotation_deg=10.0, zoom=0.1, shift=0.1, shear=0.1):
    """Randomly rotate, zoom, shift and shear a batch (B, 28, 28, 1) in one resampling.

    One combined affine warp per image (bilinear, nearest fill) instead of four layers in a
    row: each extra interpolation blurs the strokes. Parameters are drawn uniformly, as
    Keras' ImageDataGenerator does: angle within +-rotation_deg, x and y zoom within
    1 +- zoom, shift within +-shift of the size, shear factor within +-shear. `seed` is a
    pair of int32s; the same seed gives the same batch.
    """
    import tensorflow as tf

    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    u = tf.random.stateless_uniform([n, 6], seed=seed, minval=-1.0, maxval=1.0)
    theta = u[:, 0] * rotation_deg * math.pi / 180
    zx, zy, k = 1 + u[:, 1] * zoom, 1 + u[:, 2] * zoom, u[:, 3] * shear
    tx, ty = u[:, 4] * shift * w, u[:, 5] * shift * h
    c, s = tf.cos(theta), tf.sin(theta)
    # output pixel -> input pixel: rotation @ shear @ zoom about the centre, then shift
    m00, m01, m10, m11 = c * zx, (c * k - s) * zy, s * zx, (s * k + c) * zy
    cx, cy = (w - 1) / 2, (h - 1) / 2
    zeros = tf.zeros_like(theta)
    transforms = tf.stack(
        [m00, m01, cx - m00 * cx - m01 * cy + tx, m10, m11, cy - m10 * cx - m11 * cy + ty, zeros, zeros], axis=1
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[h, w],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )
