"""Calibration against values worked out by hand on tiny examples."""

import numpy as np
import pytest
import sklearn
from sklearn.metrics import brier_score_loss

from bench.evaluation import calibration
from bench.evaluation.calibration import brier_score, expected_calibration_error, reliability_bins


def rows(confidence, labels, right):
    """Probability rows with `confidence` on the predicted digit and the rest spread evenly.

    The prediction is the label where `right` is true, the next digit otherwise.
    """
    labels = np.asarray(labels)
    pred = np.where(right, labels, (labels + 1) % 10)
    p = np.full((len(labels), 10), (1 - confidence) / 9)
    p[np.arange(len(labels)), pred] = confidence
    return p


def group(confidence, n, n_right, start=0):
    """(y_true, proba) of n images at one confidence, the first n_right predicted right."""
    y = (np.arange(n) + start) % 10
    return y, rows(confidence, y, np.arange(n) < n_right)


def joined(*groups):
    return np.concatenate([g[0] for g in groups]), np.vstack([g[1] for g in groups])


def test_perfectly_calibrated_construction_has_zero_ece():
    # 0.8 confident and right 8 of 10 times, 0.6 confident and right 3 of 5 times
    y, p = joined(group(0.8, 10, 8), group(0.6, 5, 3, start=3))
    assert expected_calibration_error(y, p) == pytest.approx(0, abs=1e-12)


def test_overconfident_ece_by_hand():
    # 10 images at 0.95 with 7 right (gap 0.25), 10 at 0.55 with 5 right (gap 0.05): 0.5*0.25 + 0.5*0.05
    y, p = joined(group(0.95, 10, 7), group(0.55, 10, 5))
    assert expected_calibration_error(y, p) == pytest.approx(0.15)


def test_over_and_underconfidence_do_not_cancel():
    # overall accuracy 15/20 equals overall confidence 0.75, but each bin is off by 0.25
    y, p = joined(group(0.95, 10, 7), group(0.55, 10, 8))
    assert expected_calibration_error(y, p) == pytest.approx(0.25)


def test_ece_weights_bins_by_count():
    # 15 images at 0.95, 15 right (gap 0.05) and 5 at 0.55, 5 right (gap 0.45): 0.75*0.05 + 0.25*0.45
    y, p = joined(group(0.95, 15, 15), group(0.55, 5, 5))
    assert expected_calibration_error(y, p) == pytest.approx(0.15)


def test_confidence_one_goes_in_the_last_bin():
    y = np.array([3, 4])
    p = np.eye(10)[[3, 5]]  # certain: one right, one wrong
    bins = reliability_bins(y, p, n_bins=4)
    assert bins["count"] == [0, 0, 0, 2]
    assert bins["accuracy"] == [None, None, None, 0.5]
    assert bins["confidence"] == [None, None, None, 1.0]
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.5)


def test_confidence_on_an_edge_goes_in_the_bin_starting_there():
    p = np.zeros((3, 10))
    p[0, :4] = 0.25  # confidence 0.25 exactly
    p[1, :2] = 0.5  # 0.5 exactly
    p[2, :] = 0.1  # 0.1: the lowest possible top probability, first bin
    assert reliability_bins([0, 0, 0], p, n_bins=4)["count"] == [1, 1, 1, 0]


def test_decimal_edges_are_exact():
    # with 10 bins np.linspace puts the 0.3 and 0.7 edges a hair above 0.3 and 0.7
    p = np.zeros((2, 10))
    p[0, :3], p[0, 3] = 0.3, 0.1
    p[1] = rows(0.7, [0], [True])[0]
    count = reliability_bins([0, 0], p, n_bins=10)["count"]
    assert count[3] == 1 and count[7] == 1 and sum(count) == 2


def test_ties_take_the_lower_digit_as_prediction():
    p = np.zeros((1, 10))
    p[0, [2, 7]] = 0.5
    assert reliability_bins([2], p, n_bins=2)["accuracy"] == [None, 1.0]
    assert reliability_bins([7], p, n_bins=2)["accuracy"] == [None, 0.0]


def test_reliability_bins_layout():
    y, p = joined(group(0.95, 10, 7), group(0.55, 10, 5))
    bins = reliability_bins(y, p)
    assert all(len(v) == 15 for v in bins.values())
    assert bins["bin_lower"][0] == 0 and bins["bin_upper"][-1] == 1
    assert bins["bin_lower"][1:] == bins["bin_upper"][:-1]
    assert bins["bin_lower"][8] == pytest.approx(8 / 15)
    assert bins["count"][8] == 10 and bins["count"][14] == 10 and sum(bins["count"]) == 20
    assert bins["accuracy"][14] == pytest.approx(0.7) and bins["confidence"][14] == pytest.approx(0.95)
    assert bins["accuracy"][8] == pytest.approx(0.5) and bins["confidence"][8] == pytest.approx(0.55)
    assert bins["accuracy"][0] is None and bins["confidence"][0] is None


def test_brier_of_perfect_prediction_is_zero():
    y = np.arange(10)
    assert brier_score(y, np.eye(10)) == 0


def test_brier_of_uniform_guess():
    # the label's column costs 0.9^2, the other nine 0.1^2 each: 0.81 + 0.09
    assert brier_score(np.arange(10), np.full((10, 10), 0.1)) == pytest.approx(0.9)


def test_brier_by_hand():
    # right at 0.91: 0.09^2 + 9 * 0.01^2 = 0.009; certain and wrong: 1 + 1 = 2
    y = np.array([0, 1])
    p = np.vstack([rows(0.91, [0], [True]), np.eye(10)[[2]]])
    assert brier_score(y, p) == pytest.approx((0.009 + 2) / 2)


@pytest.mark.skipif(
    tuple(int(x) for x in sklearn.__version__.split(".")[:2]) < (1, 7),
    reason="multi-class brier_score_loss arrived in scikit-learn 1.7",
)
def test_brier_agrees_with_sklearn_multiclass():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 200)
    y[:10] = np.arange(10)
    p = rng.dirichlet(np.ones(10), size=200)
    expected = brier_score_loss(y, p, labels=np.arange(10), scale_by_half=False)
    assert brier_score(y, p) == pytest.approx(expected)


def test_calibration_row_keys():
    y, p = joined(group(0.95, 10, 7), group(0.55, 10, 5))
    row = calibration.calibration(y, p)
    assert row == {"ece": pytest.approx(0.15), "brier": pytest.approx(brier_score(y, p)), "ece_bins": 15}
    assert type(row["ece"]) is float and type(row["brier"]) is float


@pytest.mark.parametrize(
    "y, p, message",
    [
        (np.arange(3), np.full((4, 10), 0.1), "3 labels but proba has 4 rows"),
        (np.arange(4), np.full((4, 9), 1 / 9), r"shape \(N, 10\)"),
        (np.arange(10), np.full(10, 0.1), r"shape \(N, 10\)"),
        (np.arange(4)[:, None], np.full((4, 10), 0.1), r"shape \(N,\)"),
        (np.array([0, 10]), np.full((2, 10), 0.1), "digits 0-9"),
        (np.array([0.0, 1.0]), np.full((2, 10), 0.1), "digits 0-9"),
        (np.arange(2), np.full((2, 10), 0.5), "row 0 sums to 5"),
        (np.arange(0), np.zeros((0, 10)), "no images"),
    ],
)
def test_bad_inputs_raise(y, p, message):
    for fn in (expected_calibration_error, brier_score, reliability_bins, calibration.calibration):
        with pytest.raises(ValueError, match=message):
            fn(y, p)


@pytest.mark.parametrize("n_bins", [0, -1, 2.5])
def test_bad_bin_count_raises(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(np.arange(10), np.full((10, 10), 0.1), n_bins=n_bins)
