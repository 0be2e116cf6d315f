"""Metrics against values worked out by hand on tiny examples."""

import math

import numpy as np
import pytest

from bench.evaluation import metrics


def one_hot_proba(pred, confidence=0.91):
    """Rows giving `confidence` to the predicted digit and the rest spread evenly."""
    p = np.full((len(pred), 10), (1 - confidence) / 9)
    p[np.arange(len(pred)), pred] = confidence
    return p


def test_quality_by_hand():
    y_true = np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 3, 4, 5, 6, 7, 8, 9, 4])
    m = metrics.quality(y_true, one_hot_proba(y_pred))
    assert m["accuracy"] == pytest.approx(11 / 14)
    assert m["error_count"] == 3
    # every row gives 0.91 to its prediction: correct rows cost -ln 0.91, wrong rows -ln 0.01
    assert m["log_loss"] == pytest.approx((11 * -math.log(0.91) + 3 * -math.log(0.01)) / 14)
    pc = m["per_class"]
    # digit 0: predicted 0 for rows 0 and 5 (one right) -> precision 1/2; true 0s: 2, one found -> recall 1/2
    assert pc["precision"][0] == pytest.approx(0.5) and pc["recall"][0] == pytest.approx(0.5)
    # digit 1: predicted at rows 1, 2, 3 (two right) -> 2/3; both true 1s found -> 1
    assert pc["precision"][1] == pytest.approx(2 / 3) and pc["recall"][1] == pytest.approx(1.0)
    # digit 4: predicted at rows 7 and 13 (one right) -> 1/2; recall 1
    assert pc["precision"][4] == pytest.approx(0.5) and pc["f1"][4] == pytest.approx(2 / 3)
    assert pc["support"] == [2, 2, 2, 1, 1, 1, 1, 1, 1, 2]
    precision = [0.5, 2 / 3, 1, 1, 0.5, 1, 1, 1, 1, 1]
    assert m["precision_macro"] == pytest.approx(np.mean(precision))
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == 14 and np.trace(cm) == 11
    assert cm[0, 1] == 1 and cm[2, 0] == 1 and cm[9, 4] == 1


def test_roc_auc_by_hand():
    # digit 0 scores: positives 0.9, 0.4; negatives 0.3, 0.5 -> pairs won: (0.9>0.3, 0.9>0.5, 0.4>0.3) = 3 of 4
    y_true = np.array([0, 0, 1, 1])
    p0 = np.array([0.9, 0.4, 0.3, 0.5])
    proba = np.zeros((4, 10))
    proba[:, 0] = p0
    proba[:, 1] = 1 - p0
    m = metrics.quality(y_true, proba)
    assert m["per_class"]["roc_auc"][0] == pytest.approx(0.75)
    assert m["per_class"]["roc_auc"][1] == pytest.approx(0.75)
    assert m["per_class"]["roc_auc"][2] is None  # digit absent from the test labels: undefined
    assert m["roc_auc_macro"] == pytest.approx(0.75)


def test_perfect_predictions():
    y = np.arange(10).repeat(3)
    m = metrics.quality(y, one_hot_proba(y, 1.0))
    assert m["accuracy"] == 1.0 and m["f1_macro"] == 1.0 and m["roc_auc_macro"] == 1.0
    assert m["log_loss"] == pytest.approx(0.0, abs=1e-12)


class CountingPredict:
    def __init__(self):
        self.calls, self.rows = 0, 0

    def __call__(self, x):
        self.calls += 1
        self.rows += len(x)
        return np.zeros((len(x), 10))


def test_latency_times_single_images_after_warmup():
    f = CountingPredict()
    out = metrics.latency(f, np.zeros((7, 28, 28)), calls=100, warmup=10)
    assert f.calls == 110 and f.rows == 110  # one image per call
    assert out["latency_calls"] == 100
    assert 0 <= out["latency_ms_p50"] <= out["latency_ms_p90"] <= out["latency_ms_p95"]


def test_throughput_covers_whole_set_in_batches():
    f = CountingPredict()
    out = metrics.throughput(f, np.zeros((2500, 28, 28)), batch_size=1000)
    assert f.rows == 1000 + 2500  # one warm-up batch, then every image once
    assert out["throughput_img_s"] > 0 and out["throughput_batch_size"] == 1000


def test_time_breakdown_sums_an_ensembles_members_and_rates_its_epochs():
    from bench.evaluation.metrics import time_breakdown

    member = {
        "seconds": {
            "fit": 10.0,
            "epochs": 8.0,
            "validation": 1.0,
            "batch_norm": 0.5,
            "checkpoint": 0.5,
            "input_pipeline_alone": 0.2,
            "images": 1000,
        }
    }
    t = time_breakdown(31.0, [member, member], forward_flops=2 * 1_000_000, phases={"save": 0.1})
    assert t["train"] == 31.0 and t["save"] == 0.1 and t["epochs"] == 16.0 and t["training_images"] == 2000
    assert t["training_img_s"] == 2000 / 16.0
    assert t["training_gflop_s"] == 3 * 1_000_000 * 2000 / 16.0 / 1e9  # FLOPs per member, not per ensemble
    assert time_breakdown(2.0, None, None, {"save": 0.1}) == {"train": 2.0, "save": 0.1}  # a classical model
