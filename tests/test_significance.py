"""Intervals and tests against textbook and hand-computed values."""

import re

import numpy as np
import pytest
from scipy.stats import binom
from statsmodels.stats.contingency_tables import mcnemar

from bench.evaluation import significance
from bench.evaluation.significance import (
    accuracy_interval,
    holm_adjusted,
    mcnemar_pairs,
    not_significantly_different_from_best,
    resolution_sentence,
    resolvable_difference,
    seed_interval,
)


def predictions_from(y, right):
    """Predicted labels: the label where `right` is true, another digit otherwise."""
    return np.where(right, y, (y + 1) % 10)


def three_models():
    """(y_true, predictions) of models a, b, c built from counts of (a, b, c) right/wrong patterns.

    a vs b: only a right 0, only b right 10 -> p = 2 * 0.5^10
    a vs c: only a right 3, only c right 10 -> p = 2 * binom.cdf(3, 13, 0.5)
    b vs c: only b right 3, only c right 0  -> p = 2 * 0.5^3
    Accuracies: a 53/68, b 63/68, c 60/68.
    """
    patterns = {(1, 1, 1): 50, (0, 1, 1): 10, (1, 1, 0): 3, (0, 0, 0): 5}
    right = np.array([pattern for pattern, n in patterns.items() for _ in range(n)], dtype=bool)
    y = np.arange(len(right)) % 10
    preds = {name: predictions_from(y, right[:, i]) for i, name in enumerate("abc")}
    # both wrong with different wrong digits is still "both wrong", not a disagreement in the table
    preds["b"][-5:] = (y[-5:] + 2) % 10
    return y, preds


def test_wilson_interval_textbook_value():
    low, high = accuracy_interval(95, 100)
    assert (round(low, 4), round(high, 4)) == (0.8882, 0.9785)


def test_wilson_interval_stays_inside_zero_one():
    low, high = accuracy_interval(100, 100)
    assert high == pytest.approx(1) and 0.96 < low < 1  # the normal interval would be [1, 1]
    assert accuracy_interval(0, 100)[0] == pytest.approx(0, abs=1e-12)


def test_wilson_interval_widens_with_confidence():
    low95, high95 = accuracy_interval(95, 100)
    low99, high99 = accuracy_interval(95, 100, confidence=0.99)
    assert low99 < low95 and high99 > high95


@pytest.mark.parametrize("n_correct, n, confidence", [(101, 100, 0.95), (-1, 100, 0.95), (0, 0, 0.95), (5, 10, 95)])
def test_wilson_interval_bad_inputs(n_correct, n, confidence):
    with pytest.raises(ValueError):
        accuracy_interval(n_correct, n, confidence)


def test_mcnemar_exact_p_value_by_hand():
    # 1 image only a gets right, 9 only b, 20 both, 5 neither
    right_a = np.array([1] * 1 + [0] * 9 + [1] * 20 + [0] * 5, dtype=bool)
    right_b = np.array([0] * 1 + [1] * 9 + [1] * 20 + [0] * 5, dtype=bool)
    y = np.arange(35) % 10
    [pair] = mcnemar_pairs(y, {"a": predictions_from(y, right_a), "b": predictions_from(y, right_b)})
    assert (pair["model_a"], pair["model_b"]) == ("a", "b")
    assert (pair["only_a_correct"], pair["only_b_correct"]) == (1, 9)
    assert pair["p_value"] == pytest.approx(2 * binom.cdf(1, 10, 0.5))
    assert pair["p_value"] == pytest.approx(0.021484375)  # 2 * (1 + 10) / 2^10
    assert pair["p_holm"] == pair["p_value"]  # one pair: nothing to correct
    assert pair["significant"] is True


def test_holm_known_values():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    assert holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.6 * 2 = 1.2 is capped at 1, and 0.9 * 1 is raised to 1: never below a smaller p's adjusted value
    assert holm_adjusted([0.6, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjusted([0.3, 0.9]) == pytest.approx([0.6, 0.9])
    assert holm_adjusted([]) == []


def test_three_models_by_hand():
    y, preds = three_models()
    pairs = mcnemar_pairs(y, preds)
    table = [(p["model_a"], p["model_b"], p["only_a_correct"], p["only_b_correct"]) for p in pairs]
    assert table == [("a", "b", 0, 10), ("a", "c", 3, 10), ("b", "c", 3, 0)]
    raw = [2 / 2**10, 2 * binom.cdf(3, 13, 0.5), 2 / 2**3]
    assert [p["p_value"] for p in pairs] == pytest.approx(raw)
    # Holm: smallest times 3, then times 2, then times 1 (already increasing)
    assert [p["p_holm"] for p in pairs] == pytest.approx([3 * raw[0], 2 * raw[1], raw[2]])
    assert [p["significant"] for p in pairs] == [True, False, False]
    assert set(pairs[0]) == {
        "model_a",
        "model_b",
        "only_a_correct",
        "only_b_correct",
        "p_value",
        "p_holm",
        "significant",
    }


def test_holm_can_undo_a_raw_significance():
    # a vs b alone: p = 0.0215, significant; add c identical to a and it is tested twice:
    # Holm p = 3 * 0.0215 = 0.064
    y = np.arange(35) % 10
    right_a = np.array([1] * 1 + [0] * 9 + [1] * 25, dtype=bool)
    right_b = np.array([0] * 1 + [1] * 9 + [1] * 25, dtype=bool)
    preds = {"a": predictions_from(y, right_a), "b": predictions_from(y, right_b), "c": predictions_from(y, right_a)}
    pairs = mcnemar_pairs(y, preds)
    assert pairs[0]["p_value"] < 0.05 and not pairs[0]["significant"]
    assert pairs[0]["p_holm"] == pytest.approx(3 * 0.021484375)
    # so b, the best, is not called better than a or c: "tied" is judged after Holm
    assert not_significantly_different_from_best(pairs, {"a": 26 / 35, "b": 34 / 35, "c": 26 / 35}) == {"a", "b", "c"}
    # alpha is a keyword
    assert mcnemar_pairs(y, preds, alpha=0.1)[0]["significant"]


def test_pairs_count_and_order():
    y = np.arange(40) % 10
    rng = np.random.default_rng(0)
    names = ["m1", "m2", "m3", "m4"]
    preds = {name: np.where(rng.random(40) < 0.8, y, 0) for name in names}
    pairs = mcnemar_pairs(y, preds)
    assert len(pairs) == 4 * 3 // 2
    assert [(p["model_a"], p["model_b"]) for p in pairs] == [
        ("m1", "m2"),
        ("m1", "m3"),
        ("m1", "m4"),
        ("m2", "m3"),
        ("m2", "m4"),
        ("m3", "m4"),
    ]


def test_identical_models_are_not_different():
    y = np.arange(30) % 10
    pred = predictions_from(y, np.arange(30) % 3 > 0)
    [pair] = mcnemar_pairs(y, {"a": pred, "b": pred.copy()})
    assert (pair["only_a_correct"], pair["only_b_correct"]) == (0, 0)
    assert pair["p_value"] == 1 and pair["p_holm"] == 1 and pair["significant"] is False


def test_fewer_than_two_models_give_no_pairs():
    y = np.arange(10)
    assert mcnemar_pairs(y, {}) == []
    assert mcnemar_pairs(y, {"only": y}) == []


@pytest.mark.parametrize("bad", [np.arange(9), np.arange(11), np.eye(10)])
def test_prediction_of_wrong_shape_names_the_model(bad):
    y = np.arange(10)
    with pytest.raises(ValueError, match="'broken'"):
        mcnemar_pairs(y, {"fine": y, "broken": bad})


def test_not_significantly_different_from_best():
    y, preds = three_models()
    pairs = mcnemar_pairs(y, preds)
    accuracies = {"a": 53 / 68, "b": 63 / 68, "c": 60 / 68}
    # b is best; a vs b is significant after Holm, c vs b is not
    assert not_significantly_different_from_best(pairs, accuracies) == {"b", "c"}
    # the best comes from the accuracies: make c the best and a is tied with it (p_holm 0.18)
    assert not_significantly_different_from_best(pairs, {"a": 0.5, "b": 0.6, "c": 0.9}) == {"a", "b", "c"}


def test_best_alone_and_missing_pair():
    assert not_significantly_different_from_best([], {"solo": 0.9}) == {"solo"}
    assert not_significantly_different_from_best([], {}) == set()
    with pytest.raises(ValueError, match="'x'"):
        not_significantly_different_from_best([], {"best": 0.9, "x": 0.8})


def test_resolvable_difference_without_errors_is_six_images():
    # no errors: k images all one way give p = 2 * 0.5^k; 0.0625 at k = 5, 0.03125 at k = 6
    assert resolvable_difference(10_000, 1.0) == pytest.approx(6 / 10_000)
    assert resolvable_difference(10_000, 1.0, confidence=0.99) == pytest.approx(8 / 10_000)  # 2/256 < 0.01


@pytest.mark.parametrize("n, accuracy", [(10_000, 0.992), (1_000, 0.95), (60_000, 0.98)])
def test_resolvable_difference_is_where_the_exact_test_turns_significant(n, accuracy):
    k = round(resolvable_difference(n, accuracy) * n)
    errors = round(n * (1 - accuracy))

    def p(k):  # better model errs on `errors` images, the other on `errors + k` different ones
        return mcnemar([[n - 2 * errors - k, errors + k], [errors, 0]], exact=True).pvalue

    assert p(k) < 0.05 <= p(k - 1)
    # the normal approximation z * sqrt(discordant): within a few images
    assert abs(k - 1.96 * np.sqrt(2 * errors + k)) < 3


def test_resolvable_difference_shrinks_with_more_images_and_grows_with_confidence():
    assert resolvable_difference(60_000, 0.99) < resolvable_difference(10_000, 0.99)
    assert resolvable_difference(10_000, 0.99, confidence=0.99) > resolvable_difference(10_000, 0.99)
    assert resolvable_difference(10_000, 0.95) > resolvable_difference(10_000, 0.99)


def test_resolvable_difference_too_few_images():
    assert resolvable_difference(5, 1.0) == float("inf")
    assert "no difference" in resolution_sentence(5, 1.0)


@pytest.mark.parametrize("n, accuracy", [(0, 0.9), (10.5, 0.9), (100, 1.2), (100, -0.1)])
def test_resolvable_difference_bad_inputs(n, accuracy):
    with pytest.raises(ValueError):
        resolvable_difference(n, accuracy)


def test_resolution_sentence_numbers_come_from_the_computation():
    sentence = resolution_sentence(10_000, 0.992)
    k = round(resolvable_difference(10_000, 0.992) * 10_000)
    assert sentence == (
        f"With 10,000 test images at 99.2% accuracy, differences below about "
        f"{k / 100:.2g} points ({k} images) are within chance at 95% confidence."
    )
    assert 20 <= k <= 35
    other = resolution_sentence(1_000, 0.992, confidence=0.99)
    assert "1,000 test images" in other and "99% confidence" in other
    k_other = round(resolvable_difference(1_000, 0.992, confidence=0.99) * 1_000)
    assert re.search(rf"\({k_other} images\)", other) and k_other != k


def test_seed_interval_by_hand():
    # mean 2, sd 1, se 1/sqrt(3), t(0.975, df=2) = 4.302653
    mean, low, high = seed_interval([1.0, 2.0, 3.0])
    assert mean == 2
    assert (low, high) == pytest.approx((2 - 4.302653 / 3**0.5, 2 + 4.302653 / 3**0.5), abs=1e-6)


def test_seed_interval_of_one_value_and_no_spread():
    assert seed_interval([0.991]) == (0.991, None, None)
    assert seed_interval([0.99, 0.99, 0.99]) == pytest.approx((0.99, 0.99, 0.99))


@pytest.mark.parametrize("values", [[], [0.9, None], [0.9, float("nan")], [[0.9, 0.8]]])
def test_seed_interval_bad_inputs(values):
    with pytest.raises(ValueError):
        seed_interval(values)


def test_alpha_default_is_five_percent():
    assert significance.ALPHA == 0.05
