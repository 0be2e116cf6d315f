"""What every digit classifier shares: input validation, the sklearn contract, save/load.

Every model is a scikit-learn classifier over images: ``fit(X, y)`` with X shaped
(N, 28, 28) or (N, 784), values 0-255; ``predict_proba(X)`` returns (N, 10) rows that sum
to 1; ``classes_`` is always the ten digits 0-9.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from ..files import atomic_write
from ..schema import N_CLASSES

DIGITS = np.arange(N_CLASSES)


# Building blocks of the estimators' `_parameter_constraints` (scikit-learn's own parameter validation,
# run by `fit` before it looks at any data).
def counts(low: int) -> list:
    """An integer of at least `low`."""
    return [Interval(Integral, low, None, closed="left")]


def positive() -> list:
    """A number above zero."""
    return [Interval(Real, 0, None, closed="neither")]


def fractions() -> list:
    """A number strictly between 0 and 1."""
    return [Interval(Real, 0, 1, closed="neither")]


SEEDS = [Interval(Integral, 0, None, closed="left")]
THREADS = [None, Interval(Integral, -1, None, closed="left")]  # -1: every core; None: the library's default


def _as_array(X, *, min_samples=1, estimator=None) -> np.ndarray:
    """scikit-learn's own input checks, before any shape check so that their errors win: sparse input,
    complex or non-numeric values, NaN or infinity, fewer than `min_samples` rows, 1-D input -> float32.

    A plain numeric ndarray already shaped as images, finite once float32, passes without `check_array`:
    it costs ~0.1 ms a call, more than a small network's single-image prediction (the latency measured).
    Anything else goes through `check_array`, so every refusal is sklearn's own, with its message.
    """
    if (
        type(X) is np.ndarray
        and X.dtype.kind in "biuf"
        and X.ndim >= 2
        and len(X) >= max(min_samples, 1)
        and (X.shape[1:] == (784,) or X.shape[1:] == (28, 28))
    ):
        X32 = X.astype(np.float32, copy=False)
        if X.dtype.kind != "f" or np.isfinite(X32.sum()):
            return X32
    return check_array(
        X,
        accept_sparse=False,
        dtype=np.float32,
        ensure_all_finite=True,
        allow_nd=True,
        ensure_min_samples=min_samples,
        estimator=estimator,
        input_name="X",
    )


def _as_images(X: np.ndarray) -> np.ndarray:
    """The shape check: (N, 28, 28) images or (N, 784) pixel rows -> (N, 28, 28)."""
    if X.ndim == 2 and X.shape[1] == 784:
        X = X.reshape(-1, 28, 28)
    if X.ndim != 3 or X.shape[1:] != (28, 28):
        raise ValueError(f"expected images shaped (N, 28, 28) or (N, 784), got {X.shape}")
    return X


def check_images(X, *, min_samples=1, estimator=None) -> np.ndarray:
    """The one input check: any dense, finite (N, 28, 28) or (N, 784) array of 0-255 -> (N, 28, 28) float32.

    sklearn's `check_array` first (sparse, complex, NaN/inf, too few samples: its own messages), then the shape.
    """
    return _as_images(_as_array(X, min_samples=min_samples, estimator=estimator))


def check_labels(y, n: int, *, estimator=None) -> np.ndarray:
    """Labels for n images: integers 0-9 in a (n,) array -> int64.

    sklearn's `check_classification_targets` refuses a continuous or object target ("Unknown label type") and
    NaN/inf ("Input y contains NaN"); anything else that is not the digits 0-9 (strings, -1, 1000), our message.
    """
    if y is None:
        name = type(estimator).__name__ if estimator is not None else "This estimator"
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"expected labels shaped ({n},), got {y.shape}")
    check_classification_targets(y)
    if y.dtype.kind not in "biuf" or y.min() < 0 or y.max() >= N_CLASSES or (y != np.round(y)).any():
        raise ValueError("labels must be integers 0-9")
    return y.astype(np.int64)


def _check_two_classes(y: np.ndarray, estimator) -> None:
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs at least 2 classes to train; y holds only one class ({present[0]})"
        )


class DigitClassifier(ClassifierMixin, BaseEstimator):
    """Base class. Subclasses implement `_fit(X, y, X_val, y_val)` and `_predict_proba(X)`.

    `uses_validation` says whether the model needs held-out data while training (early
    stopping, calibration). Such models take ``validation_data=(X_val, y_val)`` in `fit`,
    or carve `validation_fraction` out of X when none is given (as in GridSearchCV).
    """

    family = "classical"
    uses_validation = False
    file_suffix = ".skops"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # (N, 784) pixel rows are the 2-D form, (N, 28, 28) images the 3-D one; dense and finite only.
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        # positive_only stays False: pixels are 0-255, but negative values are not refused
        # one label per image, one of ten digits (classes_ is always 0-9)
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    _parameter_constraints: dict = {}

    def fit(self, X, y, validation_data=None):
        self._validate_params()  # every hyperparameter, before any data is looked at
        # Order matters: sklearn's checks of X (sparse, NaN/inf, empty, one sample), then the labels
        # (missing, continuous, not 0-9, one class), and only then the image shape.
        X = _as_array(X, min_samples=2, estimator=self)
        y = check_labels(y, len(X), estimator=self)
        _check_two_classes(y, self)
        X = _as_images(X)
        X_val = y_val = None
        if validation_data is not None:
            X_val = check_images(validation_data[0], estimator=self)
            y_val = check_labels(validation_data[1], len(X_val), estimator=self)
        if self.uses_validation and X_val is None:
            X, X_val, y, y_val = train_test_split(
                X,
                y,
                test_size=self.validation_fraction,
                stratify=y,
                random_state=getattr(self, "random_state", 0),
            )
        elif not self.uses_validation and X_val is not None:
            # A model with no use for held-out data learns from all labelled images.
            X, y = np.concatenate([X, X_val]), np.concatenate([y, y_val])
            X_val = y_val = None
        self.n_train_ = int(len(y))
        self.trained_digits_ = np.unique(y)
        self._fit(X, y, X_val, y_val)
        self.classes_ = DIGITS  # set once fitted: a fit that failed leaves no fitted-looking model
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(N, 28, 28) images -> (N, 10) class probabilities."""
        check_is_fitted(self, "classes_")
        return self._all_digits(self._predict_proba(check_images(X, estimator=self)))

    def _all_digits(self, proba: np.ndarray) -> np.ndarray:
        """(N, K) probabilities over the digits trained on -> (N, 10), zeros for digits never seen."""
        if proba.shape[1] == N_CLASSES:
            return proba
        # trained on some digits only: a scikit-learn model has a column per digit seen
        full = np.zeros((len(proba), N_CLASSES), dtype=proba.dtype)
        full[:, self.trained_digits_] = proba
        return full

    def predict(self, X) -> np.ndarray:
        """(N, 28, 28) images -> (N,) predicted digits."""
        proba = self.predict_proba(X)  # first: an unfitted model raises NotFittedError, not AttributeError
        return self.classes_[np.argmax(proba, axis=1)]

    def import_libraries(self) -> None:
        """Import what `fit` needs that is not imported yet, so that timing a fit does not time an import."""

    def n_params(self) -> int | None:
        """Learned parameter count where the model has one (Keras); None otherwise."""
        return None

    def forward_flops(self) -> int | None:
        """FLOPs of one image through the fitted model where counted (Keras networks); None otherwise."""
        return None

    # ---- hooks the runner calls on every model (so it never sniffs for a model's features) ----
    def set_artifact_path(self, path) -> None:
        """Where the runner will `save` this model once fitted. A model that writes files while it
        trains (Keras: best-epoch checkpoints, ensemble members) writes them there; others need nothing."""

    def reuse_trained_in(self, folder) -> None:
        """A folder where trained parts may be kept and reused by other models of the run (Keras: networks
        trained with the same settings, seed and data; see keras/network_cache.py); others ignore it."""

    def training_history(self) -> list[dict] | None:
        """Per-epoch curves, one dict of lists per trained network; None for models fitted in one step."""
        return None

    def inference_check(self, X, proba) -> dict | None:
        """A model predicting through its own inference path (TensorFlow Lite) says how it agrees with
        the model it was converted from on images X (N, 28, 28), given its `predict_proba(X)`; None otherwise."""
        return None

    # ---- ONNX Runtime: the same fitted model through a compiled runtime ----
    def onnx_export(self):
        """This fitted model as an `onnx.OnnxExport`: the ONNX graph and the numpy code around it."""
        raise NotImplementedError(f"{type(self).__name__} has no ONNX export")

    def onnx_predictor(self, threads: int | None = None, export=None):
        """A function (N, 28, 28) images -> (N, 10) probabilities running this model in ONNX Runtime
        on `threads` threads (default: this process's cores); export: an `onnx_export()` already made."""
        from .onnx import OnnxRunner

        check_is_fitted(self, "classes_")
        runner = OnnxRunner(export or self.onnx_export(), threads)
        return lambda X: self._all_digits(runner.predict_proba(check_images(X, estimator=self)))

    def runtime_candidates(self, threads: int | None = None) -> dict:
        """Runtimes besides `predict_proba` this fitted model can predict through, for the run to time single
        images with the fastest that agrees with it: name -> a function making a predict (N, 28, 28) -> (N, 10).
        ONNX Runtime here (a model without an export raises, and keeps its own path), and, for a pipeline
        whose steps run on several joblib workers, the same pipeline on one (a forest started threads for
        every single image)."""
        candidates = {"onnxruntime": lambda: self.onnx_predictor(threads)}
        if self.parallel_steps():
            candidates["one-thread"] = self._one_thread_predictor
        return candidates

    def parallel_steps(self) -> list:
        """The fitted pipeline's steps set to run on more than one joblib worker (none for a network)."""
        pipeline = getattr(self, "pipeline_", None)
        return [
            step
            for _, step in getattr(pipeline, "steps", [])
            if step.get_params(deep=False).get("n_jobs") not in (None, 1)
        ]

    def _one_thread_predictor(self):
        """predict_proba with every step's n_jobs at 1 for the call (set back after it)."""
        steps = self.parallel_steps()

        def predict(X):
            saved = [step.n_jobs for step in steps]
            for step in steps:
                step.n_jobs = 1
            try:
                return self.predict_proba(X)
            finally:
                for step, n in zip(steps, saved):
                    step.n_jobs = n

        return predict

    # ---- variants: quantised, pruned, smaller (`benchmark.py optimise`) ----
    def variants(self, data, kinds, threads: int | None = None):
        """Yield `variants.Variant`s of this fitted model of the given kinds (see variants.KINDS);
        data: a `variants.VariantData` (training split for fine-tuning, calibration or retraining)."""
        return iter(())

    # ---- persistence: skops for sklearn models, overridden for Keras ----
    def save(self, path) -> Path:
        import skops.io as sio

        return atomic_write(path, lambda tmp: sio.dump(self, tmp))

    @classmethod
    def load(cls, path):
        """Load a .skops file holding only the loaders and types the project's own models are saved with
        (`trusted_types.SKOPS_NODES`): anything else is refused, naming the file and the types, before skops
        imports or calls anything. The loaded object must be an instance of this class, and its decision
        trees (if any) well formed (`trusted_types.check_trees`)."""
        import skops.io as sio

        from .trusted_types import TRUSTED_TYPES, check_trees, read_skops_file

        path = Path(path)
        data = read_skops_file(path)
        try:
            obj = sio.loads(data, trusted=TRUSTED_TYPES)
        except Exception as e:  # a damaged file: one line naming it
            raise ValueError(f"{path}: cannot be loaded: {type(e).__name__}: {' '.join(str(e).split())}") from None
        if not isinstance(obj, cls):
            raise ValueError(f"{path}: holds a {type(obj).__name__}, not a {cls.__name__}")
        check_trees(obj, path)
        return obj
