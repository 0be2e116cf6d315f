"""scikit-learn's own estimator checks (`parametrize_with_checks`) over every model.

Two deviations from a general-purpose sklearn classifier are deliberate, and every check that fails
only because of them is listed in `expected_failed_checks` with its reason:

- the input is images: (N, 28, 28) or (N, 784) pixel rows of 0-255, so every check that fits on
  arbitrary feature counts (sklearn's checks use 1 to 10 features) is refused by the shape check;
- the classes are always the ten digits: `classes_` is 0-9 whatever y holds, and labels must be
  integers 0-9 (string labels, -1 or 1000 are refused).

Such a listed check may fail only with one of those two errors: any other failure (or an unexpected
pass) fails the test. Every other check must pass. Where sklearn's check cannot reach the part it
tests because of the shape (NaN/inf in predict, for instance), `test_fit_refuses` and
`test_predict_refuses` test the same refusal on image-shaped input.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from bench.estimators import KNN, HogSVM, KerasClassifier, RandomForest

# Small, fast settings, one thread each: the tests below fit each model once, on 100 images. HogSVM calibrates
# with a 5-fold cross_val_predict on its validation split: half of 100 images gives each digit 5 of them.
ESTIMATORS = [
    HogSVM(validation_fraction=0.5),
    RandomForest(n_estimators=5, n_jobs=1),
    KNN(n_jobs=1),
    KerasClassifier("mlp", epochs=1, batch_size=16),
]

IMAGES = "deliberate: input must be images (N, 28, 28) or (N, 784) pixel rows 0-255"
DIGITS = "deliberate: classes are always the ten digits 0-9 (classes_ fixed; labels must be integers 0-9)"

# check -> what it feeds that the shape check refuses
_SHAPE = {
    "check_fit_score_takes_y": "it fits on X shaped (30, 3)",
    "check_estimators_overwrite_params": "it fits on X shaped (21, 2)",
    "check_dont_overwrite_parameters": "it fits on X shaped (20, 3)",
    "check_estimators_fit_returns_self": "it fits on X shaped (21, 2)",
    "check_readonly_memmap_input": "it fits on X shaped (21, 2)",
    "check_n_features_in_after_fitting": "it fits on X shaped (15, 4)",
    "check_positive_only_tag_during_fit": "it fits on iris, X shaped (150, 4), centred to negative values",
    "check_estimators_dtypes": "it fits on X shaped (20, 5)",
    "check_dtype_object": "it fits on object X shaped (56, 10)",
    "check_pipeline_consistency": "it fits on X shaped (30, 3)",
    "check_estimators_nan_inf": (
        "NaN/inf are refused in fit with sklearn's own message (that part passes), "
        "but the check then fits on finite X shaped (10, 3) to test predict"
    ),
    "check_estimators_pickle": "it fits on X shaped (30, 3)",
    "check_f_contiguous_array_estimator": "it fits on X shaped (20, 3)",
    "check_classifier_data_not_an_array": "it fits on X shaped (12, 2)",
    "check_classifiers_train": "it fits on X shaped (200, 2)",
    "check_supervised_y_2d": "it fits on X shaped (30, 3)",
    "check_methods_sample_order_invariance": "it fits on X shaped (20, 3)",
    "check_methods_subset_invariance": "it fits on X shaped (20, 3)",
    "check_fit2d_1feature": (
        "it fits on X shaped (10, 1) and wants the error to name '1 feature(s)'; ours names the expected image shape"
    ),
    "check_dict_unchanged": "it fits on X shaped (20, 3)",
    "check_fit_idempotent": "it fits on X shaped (80, 2)",
    "check_fit_check_is_fitted": "it fits on X shaped (100, 2)",
    "check_n_features_in": "it fits on X shaped (100, 2)",
    "check_fit2d_predict1d": "it fits on X shaped (20, 3) before predicting on one 1-D row",
}
_LABELS = {
    "check_classifiers_classes": (
        f"{DIGITS}; it fits with labels 'one'/'two'/'three' and -1/1 and wants "
        "classes_ to be those labels (and on X shaped (n, 2): images only)"
    ),
}


def expected_failed_checks(estimator) -> dict[str, str]:
    """The same deviations for every model: all of them validate their input in DigitClassifier.fit."""
    return {**{check: f"{IMAGES}; {why}" for check, why in _SHAPE.items()}, **_LABELS}


class Deviation(Exception):
    """A check failed on one of the deliberate deviations (image shape, digit labels), not on anything else."""


DEVIATION_MESSAGES = ("expected images shaped (N, 28, 28) or (N, 784)", "labels must be integers 0-9")


def _deviation(exc: BaseException | None) -> str | None:
    """The deviation error the failure comes from (sklearn's checks often re-raise it as an AssertionError
    'from' it): its type and message, or None when the failure is not one of the deviations."""
    found = None
    while exc is not None:
        if any(m in str(exc) for m in DEVIATION_MESSAGES):
            found = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        exc = exc.__cause__ or exc.__context__
    return found


def _xfail_only_on_deviations(parametrize):
    """`parametrize_with_checks` marks each listed check xfail whatever it raises. Narrow each mark to
    `Deviation` (pytest's xfail(raises=...)), so that a listed check failing for another reason fails."""
    argnames, params = parametrize.mark.args
    narrowed = []
    for p in params:
        marks = getattr(p, "marks", ())
        if marks:
            marks = [
                pytest.mark.xfail(reason=m.kwargs["reason"], strict=True, raises=Deviation) if m.name == "xfail" else m
                for m in marks
            ]
            p = pytest.param(*p.values, marks=marks, id=p.id)
        narrowed.append(p)
    return pytest.mark.parametrize(argnames, narrowed, **parametrize.mark.kwargs)


@_xfail_only_on_deviations(
    parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True)
)
def test_sklearn_check(estimator, check):
    try:
        check(estimator)
    except Exception as e:
        deviation = _deviation(e)
        if deviation:
            # from None: pytest would format the chained traceback through sklearn's checks for each xfail
            # report, and formatting ~100 of them takes several times longer than running every check
            raise Deviation(deviation) from None
        raise


# ---- the refusals sklearn's checks test, on image-shaped input ----

N = 100
RNG = np.random.default_rng(0)
IMAGES_X = RNG.integers(0, 256, (N, 28, 28), dtype=np.uint8)
LABELS_Y = np.tile(np.arange(10), N // 10)


def _with(value):
    X = IMAGES_X.reshape(N, 784).astype(np.float64)
    X[0, 0] = value
    return X


FIT_REFUSALS = {
    "nan": (lambda: (_with(np.nan), LABELS_Y), ValueError, "Input X contains NaN"),
    "inf": (lambda: (_with(np.inf), LABELS_Y), ValueError, "Input X contains infinity"),
    "too-large-for-float32": (lambda: (_with(1e300), LABELS_Y), ValueError, "Input X contains infinity"),
    "sparse": (
        lambda: (sp.csr_matrix(IMAGES_X.reshape(N, 784)), LABELS_Y),
        TypeError,
        "Sparse data was passed for X, but dense data is required",
    ),
    "empty": (lambda: (IMAGES_X[:0], LABELS_Y[:0]), ValueError, r"0 sample\(s\)"),
    "one-sample": (lambda: (IMAGES_X[:1], LABELS_Y[:1]), ValueError, r"1 sample\(s\)"),
    "one-class": (lambda: (IMAGES_X, np.full(N, 7)), ValueError, "only one class"),
    "continuous-y": (lambda: (IMAGES_X, LABELS_Y + 0.5), ValueError, "Unknown label type: continuous"),
    "y-none": (lambda: (IMAGES_X, None), ValueError, "requires y to be passed, but the target y is None"),
    "string-labels": (lambda: (IMAGES_X, LABELS_Y.astype(str)), ValueError, "labels must be integers 0-9"),
    "label-minus-1": (lambda: (IMAGES_X, np.r_[LABELS_Y[:-1], -1]), ValueError, "labels must be integers 0-9"),
    "label-1000": (lambda: (IMAGES_X, np.r_[LABELS_Y[:-1], 1000]), ValueError, "labels must be integers 0-9"),
    "not-28x28": (lambda: (np.zeros((N, 32, 32)), LABELS_Y), ValueError, r"expected images shaped \(N, 28, 28\)"),
}


def _name(est):
    return type(est).__name__


@pytest.mark.parametrize("case", list(FIT_REFUSALS))
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_name)
def test_fit_refuses(estimator, case):
    make, error, message = FIT_REFUSALS[case]
    X, y = make()
    est = clone(estimator)
    with pytest.raises(error, match=message):
        est.fit(X, y)
    assert not hasattr(est, "classes_")  # a refused fit leaves no fitted-looking model


@pytest.fixture(scope="module", params=ESTIMATORS, ids=_name)
def fitted(request):
    return clone(request.param).fit(IMAGES_X, LABELS_Y)


PREDICT_REFUSALS = {
    "nan": (lambda: _with(np.nan), ValueError, "Input X contains NaN"),
    "inf": (lambda: _with(np.inf), ValueError, "Input X contains infinity"),
    "sparse": (lambda: sp.csr_matrix(IMAGES_X.reshape(N, 784)), TypeError, "Sparse data was passed"),
    "empty": (lambda: IMAGES_X[:0], ValueError, r"0 sample\(s\)"),
    "1d-row": (lambda: IMAGES_X[0].reshape(784), ValueError, "Reshape your data"),
    "not-28x28": (lambda: np.zeros((3, 32, 32)), ValueError, r"expected images shaped \(N, 28, 28\)"),
}


@pytest.mark.parametrize("case", list(PREDICT_REFUSALS))
def test_predict_refuses(fitted, case):
    make, error, message = PREDICT_REFUSALS[case]
    for method in (fitted.predict, fitted.predict_proba):
        with pytest.raises(error, match=message):
            method(make())


def test_classes_are_the_ten_digits_and_predictions_are_digits(fitted):
    proba = fitted.predict_proba(IMAGES_X[:20].reshape(20, 784))
    assert list(fitted.classes_) == list(range(10)) and proba.shape == (20, 10)
    assert set(fitted.predict(IMAGES_X[:20])) <= set(range(10))
