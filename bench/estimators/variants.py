"""Variants of a fitted model: the same model in another runtime, quantised, pruned or made smaller.

An estimator's `variants(...)` yields `Variant`s; `benchmark.py optimise` measures each one exactly
as the run measured the native model and stores the numbers beside it. A variant is plain data plus
one prediction function, so the measuring code needs no knowledge of how it was made.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..schema import VARIANT_KINDS as KINDS  # noqa: F401  (re-exported: the kinds a Variant has)

SPARSITIES = (0.5, 0.75, 0.9)


@dataclass
class Variant:
    name: str  # e.g. "litert-int8", "pruned-75", "trees-30"
    kind: str  # one of KINDS
    runtime: str  # what predicts: "ai-edge-litert 2.3.0", "onnxruntime 1.23.2", "scikit-learn 1.8.0"
    note: str  # how it was made, in a few words
    predict_proba: Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) float32 images -> (N, 10)
    size_bytes: int  # the file a user would deploy
    extra: dict = field(default_factory=dict)  # e.g. sparsity, size_gzip_bytes, n_support_vectors
    content: bytes | None = None  # that file's bytes, for `optimise --save`
    suffix: str = ""  # its extension: ".tflite", ".onnx", ".skops"


@dataclass
class VariantData:
    """What making variants may need: training images (N, 28, 28) and labels for fine-tuning, int8
    calibration and retraining on a subset; the validation split for calibrating a retrained model
    (None when only runtime variants are asked for); names of variants already measured (`done`),
    which are not made again."""

    x_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    seed: int = 0
    prune_epochs: int = 1
    done: frozenset = frozenset()

    def wanted(self, name: str) -> bool:
        return name not in self.done


def gzip_size(content: bytes) -> int:
    """Bytes after gzip: what a pruned model's zeros save on disk or over the wire."""
    return len(gzip.compress(content, compresslevel=9))


def saved_file(est) -> bytes:
    """The file `est.save` writes (skops): what a user would deploy."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        return Path(est.save(Path(tmp) / f"model{est.file_suffix}")).read_bytes()


def sklearn_variant(name: str, note: str, est, extra=None) -> Variant:
    """A smaller fitted scikit-learn estimator, predicting natively."""
    import sklearn

    content = saved_file(est)
    return Variant(
        name,
        "smaller",
        f"scikit-learn {sklearn.__version__}",
        note,
        est.predict_proba,
        len(content),
        extra or {},
        content,
        est.file_suffix,
    )
