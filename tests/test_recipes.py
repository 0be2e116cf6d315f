"""The full-profile recipes give sane networks on small data: slow, run with `pytest -m slow`.

About six minutes on 2 cores, so CI does not run it; the fast guards are in test_estimators
(exact batch-norm statistics, accuracy after two epochs on 540 images) and the ci-profile
quality the performance check compares with its baseline.
"""

import os

import numpy as np
import pytest

from bench.data import load_dataset
from bench.registry import MODELS

pytestmark = pytest.mark.slow
MARGIN = 0.01  # 10 of the sample's 1,000 test images


@pytest.fixture(scope="module")
def full_recipes_on_the_sample():
    """lenet5, cnn, cnn-aug and ensemble trained with the full profile's settings on 3,600 sample images."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    s = load_dataset("mnist-sample", seed=0)
    fitted = {
        name: MODELS[name].build("full", seed=0).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
        for name in ["lenet5", "cnn", "cnn-aug", "ensemble"]
    }
    return s, fitted


@pytest.mark.parametrize("name", ["cnn", "cnn-aug", "ensemble"])
def test_convolutional_recipes_are_at_least_as_accurate_as_lenet5(full_recipes_on_the_sample, name):
    s, fitted = full_recipes_on_the_sample
    accuracy = {n: est.score(s.x_test, s.y_test) for n, est in fitted.items()}
    assert accuracy[name] >= accuracy["lenet5"] - MARGIN, accuracy


def test_ensemble_is_at_least_as_accurate_as_its_weakest_member(full_recipes_on_the_sample):
    s, fitted = full_recipes_on_the_sample
    ensemble = fitted["ensemble"]
    members = [layer for layer in ensemble.model_.layers if hasattr(layer, "layers")]
    assert len(members) == 3
    member_accuracy = [
        float((np.argmax(m.predict(s.x_test[..., None], verbose=0), axis=1) == s.y_test).mean()) for m in members
    ]
    assert ensemble.score(s.x_test, s.y_test) >= min(member_accuracy) - MARGIN, member_accuracy
