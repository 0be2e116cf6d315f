"""The runtime a model's single-image latency is measured through: the fastest that agrees with it."""

import time

import numpy as np

from bench.evaluation.runtime_choice import fastest_runtime

X = np.zeros((50, 28, 28), np.float32)
DIGITS = np.arange(50) % 10


def answers(digits, delay=0.0):
    """A predict function giving one-hot probabilities of `digits` (cycled over the calls' images)."""
    state = {"i": 0}

    def predict(x):
        if delay:
            time.sleep(delay)
        out = np.eye(10)[digits[np.arange(state["i"], state["i"] + len(x)) % len(digits)]]
        state["i"] = (state["i"] + len(x)) % len(digits)
        return out

    return predict


def test_a_faster_runtime_that_agrees_everywhere_is_chosen():
    runtime = fastest_runtime(
        answers(DIGITS, delay=0.004), {"onnxruntime": lambda: answers(DIGITS)}, X, DIGITS, pilot_calls=10
    )
    assert runtime.name == "onnxruntime" and runtime.record["latency_runtime"] == "onnxruntime"
    native, onnx = runtime.record["candidates"]
    assert native["pilot_p50_ms"] > onnx["pilot_p50_ms"] and onnx["same_predictions"] == 1.0
    assert runtime.record["n_checked"] == 50


def test_a_runtime_that_disagrees_on_one_image_is_left_out_however_fast():
    wrong = DIGITS.copy()
    wrong[7] = (wrong[7] + 1) % 10
    runtime = fastest_runtime(
        answers(DIGITS, delay=0.004), {"onnxruntime": lambda: answers(wrong)}, X, DIGITS, pilot_calls=10
    )
    assert runtime.name == "native"
    onnx = runtime.record["candidates"][1]
    assert onnx["same_predictions"] == 0.98 and "pilot_p50_ms" not in onnx


def test_a_runtime_that_cannot_be_made_is_recorded_and_the_native_path_kept():
    def no_export():
        raise NotImplementedError("KNN has no ONNX export")

    runtime = fastest_runtime(answers(DIGITS), {"onnxruntime": no_export}, X, DIGITS, pilot_calls=10)
    assert runtime.name == "native"
    assert runtime.record["candidates"][1] == {
        "runtime": "onnxruntime",
        "error": "NotImplementedError: KNN has no ONNX export",
    }


def test_a_parallel_pipeline_is_offered_on_one_thread_and_keeps_its_setting():
    from bench.registry import MODELS

    rng = np.random.default_rng(0)
    forest = MODELS["random-forest"].build("ci", 0, threads=2)
    forest.fit(rng.integers(0, 255, (100, 28, 28)), np.tile(np.arange(10), 10))
    candidates = forest.runtime_candidates(threads=1)
    assert list(candidates) == ["onnxruntime", "one-thread"]
    one_thread = candidates["one-thread"]()
    np.testing.assert_array_equal(one_thread(X), forest.predict_proba(X))
    assert forest.pipeline_[-1].n_jobs == 2  # set back after the call
    single = MODELS["random-forest"].build("ci", 0, threads=1)
    single.fit(rng.integers(0, 255, (100, 28, 28)), np.tile(np.arange(10), 10))
    assert list(single.runtime_candidates()) == ["onnxruntime"]  # already on one thread: nothing to offer
