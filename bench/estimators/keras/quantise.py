"""Post-training quantisation of a Keras network: LiteRT (TensorFlow Lite) files, as data.

Each entry of LITERT is one converter setting of Keras 3's LiteRT exporter (`model.export(...,
format="litert", **settings)`), which passes them to `tf.lite.TFLiteConverter`:
  float32  the plain conversion the benchmark already predicts with (the reference for sizes)
  dynamic  weights stored as int8, activations float: kernels quantise on the fly
  float16  weights stored as float16, computed in float32
  int8     weights and activations int8, scales from a representative set of training images;
           input and output stay float32 so the file is a drop-in replacement
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

REPRESENTATIVE_BATCH = 10


def _settings(tf, how: str, representative) -> dict:
    optimise = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if how == "float32":
        return {}
    if how == "dynamic":
        return optimise
    if how == "float16":
        return {**optimise, "target_spec": {"supported_types": [tf.float16]}}
    if how == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 quantisation needs representative images (a slice of the training split)")
        images = np.asarray(representative, dtype=np.float32)[..., None]
        batches = lambda: ([images[i : i + REPRESENTATIVE_BATCH]] for i in range(0, len(images), REPRESENTATIVE_BATCH))  # noqa: E731
        return {
            **optimise,
            "representative_dataset": batches,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        }
    raise ValueError(f"unknown LiteRT quantisation {how!r}; choose one of {', '.join(LITERT)}")


LITERT = ("float32", "dynamic", "float16", "int8")


def litert_bytes(model, how: str = "float32", representative=None) -> bytes:
    """The Keras model as a LiteRT flatbuffer quantised as `how` (one of LITERT); representative:
    (N, 28, 28) float32 training images, needed for int8 (a few hundred are enough)."""
    import tensorflow as tf

    settings = _settings(tf, how, representative)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        model.export(str(path), format="litert", verbose=False, **settings)
        return path.read_bytes()
