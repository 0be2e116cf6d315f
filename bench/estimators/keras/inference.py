"""Prediction paths for a trained Keras model: a traced TensorFlow function or TensorFlow Lite.

Both are callables taking (B, 28, 28, 1) float32 batches and returning (B, 10) NumPy arrays;
`batched_proba` runs one over a whole image set. Neither can be copied or pickled: the
classifier rebuilds them on first use.
"""

from __future__ import annotations

import numpy as np

from ...threads import available_cores
from .architectures import INPUT_SHAPE

INFERENCE = ("keras", "tflite")


def batched_proba(fn, X, batch_size) -> np.ndarray:
    """fn over (B, 28, 28, 1) batches of X (N, 28, 28) -> (N, 10) float64 rows that sum to 1."""
    proba = np.concatenate([fn(X[i : i + batch_size, ..., None]) for i in range(0, len(X), batch_size)])
    proba = proba.astype(np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


class TracedRunner:
    """The Keras model as a TensorFlow function with a fixed input signature: no per-call retracing."""

    def __init__(self, model):
        import tensorflow as tf

        self._fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._fn(x).numpy()


def lite_interpreter_name() -> str:
    """Which interpreter runs the TensorFlow Lite models here: 'ai-edge-litert' or 'tf.lite'."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "tf.lite"
    return "ai-edge-litert"


def _lite_interpreter(**kwargs):
    try:  # LiteRT, TensorFlow Lite's successor (a dependency; where it has no wheel, TensorFlow's own stands in)
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(**kwargs)
    return Interpreter(**kwargs)


class LiteRunner:
    """A Keras model converted to TensorFlow Lite (or a LiteRT file's `content`, e.g. a quantised
    one); call it with (B, 28, 28, 1) float32 batches.

    The interpreter runs XNNPACK kernels with almost no per-call overhead, which is what a
    single image needs. An interpreter has one input shape, so one is kept per batch size.
    """

    def __init__(self, model=None, threads=None, max_shapes=4, content: bytes | None = None):
        if content is None:  # the float32 conversion of `model`
            from .quantise import litert_bytes

            content = litert_bytes(model)
        self.content = content
        self.threads = threads
        self.max_shapes = max_shapes
        self._by_size = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n not in self._by_size:
            if len(self._by_size) >= self.max_shapes:
                self._by_size.pop(next(iter(self._by_size)))
            # TensorFlow Lite's own default is one thread: the machine's cores unless told otherwise
            it = _lite_interpreter(model_content=self.content, num_threads=self.threads or available_cores())
            inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
            it.resize_tensor_input(inp, [n, *INPUT_SHAPE])
            it.allocate_tensors()
            self._by_size[n] = (it, inp, out)
        it, inp, out = self._by_size[n]
        it.set_tensor(inp, np.ascontiguousarray(x, dtype=np.float32))
        it.invoke()
        return it.get_tensor(out).copy()


def agreement(proba, keras_proba) -> dict:
    """How probabilities from one path compare with the Keras model's own on the same images."""
    return {
        "same_predictions_as_keras": float(np.mean(proba.argmax(1) == keras_proba.argmax(1))),
        "max_abs_proba_difference": float(np.abs(proba - keras_proba).max()),
    }
