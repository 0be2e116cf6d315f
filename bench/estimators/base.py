"""What every digit classifier shares: input validation, the sklearn contract, save/load.

Every model is a scikit-learn classifier over images: ``fit(X, y)`` with X shaped
(N, 28, 28) or (N, 784), values 0-255; ``predict_proba(X)`` returns (N, 10) rows that sum
to 1; ``classes_`` is always the ten digits 0-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

N_CLASSES = 10
DIGITS = np.arange(N_CLASSES)


def check_images(X) -> np.ndarray:
    """The one input check: any (N, 28, 28) or (N, 784) array of 0-255 -> (N, 28, 28) float32."""
    X = np.asarray(X)
    if X.ndim == 2 and X.shape[1] == 784:
        X = X.reshape(-1, 28, 28)
    if X.ndim != 3 or X.shape[1:] != (28, 28):
        raise ValueError(f"expected images shaped (N, 28, 28) or (N, 784), got {X.shape}")
    return X.astype(np.float32, copy=False)


def check_labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"expected labels shaped ({n},), got {y.shape}")
    if y.min() < 0 or y.max() >= N_CLASSES or (y != np.round(y)).any():
        raise ValueError("labels must be integers 0-9")
    return y.astype(np.int64)


class DigitClassifier(ClassifierMixin, BaseEstimator):
    """Base class. Subclasses implement `_fit(X, y, X_val, y_val)` and `_predict_proba(X)`.

    `uses_validation` says whether the model needs held-out data while training (early
    stopping, calibration). Such models take ``validation_data=(X_val, y_val)`` in `fit`,
    or carve `validation_fraction` out of X when none is given (as in GridSearchCV).
    """

    family = "classical"
    uses_validation = False
    file_suffix = ".skops"

    def fit(self, X, y, validation_data=None):
        X = check_images(X)
        y = check_labels(y, len(X))
        self.classes_ = DIGITS
        X_val = y_val = None
        if self.uses_validation:
            if validation_data is None:
                X, X_val, y, y_val = train_test_split(
                    X, y, test_size=self.validation_fraction, stratify=y,
                    random_state=getattr(self, "random_state", 0),
                )
            else:
                X_val = check_images(validation_data[0])
                y_val = check_labels(validation_data[1], len(X_val))
        elif validation_data is not None:
            # A model with no use for held-out data learns from all labelled images.
            X = np.concatenate([X, check_images(validation_data[0])])
            y = np.concatenate([y, check_labels(validation_data[1], len(validation_data[1]))])
        self.n_train_ = int(len(y))
        self._fit(X, y, X_val, y_val)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(N, 28, 28) images -> (N, 10) class probabilities."""
        check_is_fitted(self, "classes_")
        return self._predict_proba(check_images(X))

    def predict(self, X) -> np.ndarray:
        """(N, 28, 28) images -> (N,) predicted digits."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def n_params(self) -> int | None:
        """Learned parameter count where the model has one (Keras); None otherwise."""
        return None

    # ---- persistence: skops for sklearn models, overridden for Keras ----
    def save(self, path) -> Path:
        import skops.io as sio

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sio.dump(self, path)
        return path

    @classmethod
    def load(cls, path):
        """Load with an allow-list: only numpy, scipy, sklearn and bench types are trusted."""
        import skops.io as sio

        path = Path(path)
        untrusted = sio.get_untrusted_types(file=path)
        allowed = ("numpy.", "scipy.", "sklearn.", "bench.", "builtins.", "collections.")
        refused = [t for t in untrusted if not t.startswith(allowed)]
        if refused:
            raise ValueError(f"{path}: refusing to load untrusted types {refused}")
        obj = sio.load(path, trusted=untrusted)
        if not isinstance(obj, cls):
            raise ValueError(f"{path}: holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2))
