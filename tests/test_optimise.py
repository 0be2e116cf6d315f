"""`benchmark.py optimise RUN_DIR`: a run's saved models through ONNX Runtime, numbers into the run's rows."""

import pytest

from bench.results import read_results
from conftest import bench
from test_robustness import copy_run


@pytest.fixture(scope="module")
def optimised(ci_run, tmp_path_factory):
    run = copy_run(ci_run, tmp_path_factory.mktemp("optimise") / "run")
    # a classical model, a network and the kNN that cannot be exported keep this quick
    proc = bench("optimise", str(run), "--models", "random-forest,lenet5,knn")
    return run, proc


def test_each_model_gets_an_onnx_runtime_variant_measured_like_the_native_one(optimised):
    run, proc = optimised
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = read_results(run / "results.json").models
    for name in ("random-forest", "lenet5"):
        (variant,) = rows[name].variants
        assert variant["variant"] == "onnxruntime" and variant["status"] == "ok"
        assert variant["same_predictions_as_native"] >= 0.999 and variant["max_abs_proba_difference"] < 1e-3
        assert variant["accuracy"] == pytest.approx(rows[name].metrics["accuracy"], abs=0.002)
        assert variant["size_bytes"] > 0 and variant["throughput_img_s"] > 0 and variant["latency_ms_p50"] > 0
        assert variant["latency_calls"] == rows[name].metrics["latency_calls"] and variant["threads"] == 1
    assert rows["mlp"].variants is None  # not asked for


def test_a_model_that_cannot_be_exported_says_why(optimised):
    run, proc = optimised
    (variant,) = read_results(run / "results.json").models["knn"].variants
    assert variant["status"] == "unsupported" and "weights='distance'" in variant["reason"]
    assert "knn: no ONNX Runtime variant" in proc.stdout


def test_the_report_shows_native_and_onnx_runtime_side_by_side(optimised):
    run, _ = optimised
    report = (run / "report.md").read_text()
    assert "## Optimisation: the same models through ONNX Runtime" in report
    assert "| lenet5 | native |" in report and "| lenet5 | onnxruntime |" in report
    assert "Not exported: knn (onnxruntime)" in report


def test_a_folder_without_a_run_or_an_unknown_model_is_one_line_and_exit_2(optimised, tmp_path):
    proc = bench("optimise", str(tmp_path))
    assert proc.returncode == 2 and "holds no results.json" in proc.stdout and "Traceback" not in proc.stderr
    proc = bench("optimise", str(optimised[0]), "--models", "svm")
    assert proc.returncode == 2 and "has no measured model svm" in proc.stdout
