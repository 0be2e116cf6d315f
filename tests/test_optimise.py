"""`benchmark.py optimise RUN_DIR`: a run's saved models through ONNX Runtime, quantised, pruned and made
smaller, measured as the run measured them; numbers into the run's rows and report."""

import pytest
from conftest import bench, bench_here
from test_robustness import copy_run

from bench.results import read_results


@pytest.fixture(scope="module")
def optimised(ci_run, tmp_path_factory):
    run = copy_run(ci_run, tmp_path_factory.mktemp("optimise") / "run")
    # a classical model, a network and the kNN that cannot be exported keep this quick
    proc = bench("optimise", str(run), "--models", "random-forest,lenet5,knn")
    return run, proc


def by_name(row) -> dict:
    return {v["variant"]: v for v in row.variants}


def test_each_model_gets_an_onnx_runtime_variant_measured_like_the_native_one(optimised):
    run, proc = optimised
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = read_results(run / "results.json").models
    for name in ("random-forest", "lenet5"):
        variant = by_name(rows[name])["onnxruntime"]
        assert variant["kind"] == "runtime" and variant["status"] == "ok"
        assert variant["same_predictions_as_native"] >= 0.999 and variant["max_abs_proba_difference"] < 1e-3
        assert variant["accuracy"] == pytest.approx(rows[name].metrics["accuracy"], abs=0.002)
        assert variant["size_bytes"] > 0 and variant["throughput_img_s"] > 0 and variant["latency_ms_p50"] > 0
        assert variant["latency_calls"] == rows[name].metrics["latency_calls"] and variant["threads"] == 1
    assert rows["mlp"].variants is None  # not asked for


def test_a_model_that_cannot_be_exported_says_why(optimised):
    run, proc = optimised
    variant = by_name(read_results(run / "results.json").models["knn"])["onnxruntime"]
    assert variant["status"] == "unsupported" and "weights='distance'" in variant["reason"]
    assert "knn onnxruntime: unsupported: skl2onnx" in proc.stdout


def test_a_network_gets_litert_quantised_onnx_int8_and_pruned_variants(optimised):
    run, _ = optimised
    row = read_results(run / "results.json").models["lenet5"]
    variants = by_name(row)
    assert [n for n in variants if n != "onnxruntime"] == [
        "litert-float32",
        "litert-dynamic",
        "litert-float16",
        "litert-int8",
        "onnx-int8",
        "pruned-50",
        "pruned-75",
        "pruned-90",
    ]
    size = {n: v["size_bytes"] for n, v in variants.items()}
    assert size["litert-int8"] * 3 < size["litert-float32"] and size["litert-float16"] * 1.8 < size["litert-float32"]
    assert size["onnx-int8"] * 3 < size["onnxruntime"]
    for name in ("litert-float32", "litert-float16"):  # the same arithmetic: the native model's predictions
        assert variants[name]["same_predictions_as_native"] >= 0.999
    for name in ("litert-dynamic", "litert-int8", "onnx-int8"):
        assert variants[name]["kind"] == "quantised" and variants[name]["same_predictions_as_native"] >= 0.97
    for target in (50, 75, 90):
        pruned = variants[f"pruned-{target}"]
        assert pruned["sparsity"] == pytest.approx(target / 100, abs=0.01) and pruned["kind"] == "pruned"
    gzip = [variants[f"pruned-{t}"]["size_gzip_bytes"] for t in (50, 75, 90)]
    assert gzip[0] > gzip[1] > gzip[2]  # more zeros compress smaller
    assert variants["pruned-50"]["accuracy"] > row.metrics["accuracy"] - 0.02


def test_classical_models_get_smaller_variants(optimised):
    run, _ = optimised
    rows = read_results(run / "results.json").models
    trees = by_name(rows["random-forest"])
    assert trees["trees-10"]["size_bytes"] < rows["random-forest"].metrics["size_bytes"]
    assert trees["trees-10"]["accuracy"] < trees["onnxruntime"]["accuracy"] and trees["trees-10"]["kind"] == "smaller"
    knn = [n for n in by_name(rows["knn"]) if n != "onnxruntime"]
    assert knn[2:] == ["pca-15", "pca-20"]
    small, large = (int(n.removeprefix("references-")) for n in knn[:2])  # 10% and 30% of the reference images
    assert large == 3 * small and by_name(rows["knn"])[knn[0]]["size_bytes"] < rows["knn"].metrics["size_bytes"]


def test_the_report_shows_every_variant_and_the_pareto_figure(optimised):
    run, _ = optimised
    report = (run / "report.md").read_text()
    assert "## Optimisation: runtimes, quantisation, pruning and smaller models" in report
    assert "| lenet5 | native |" in report and "| lenet5 | onnxruntime |" in report
    assert "| lenet5 | litert-int8 |" in report and "| knn | pca-20 |" in report
    assert "knn (onnxruntime): unsupported" in report
    assert (run / "figures" / "optimisation_pareto.png").is_file()


def test_a_folder_without_a_run_or_an_unknown_model_is_one_line_and_exit_2(optimised, tmp_path):
    proc = bench_here("optimise", str(tmp_path))
    assert proc.returncode == 2 and "holds no results.json" in proc.stdout and "Traceback" not in proc.stderr
    proc = bench_here("optimise", str(optimised[0]), "--models", "svm")
    assert proc.returncode == 2 and "has no measured model svm" in proc.stdout


def test_bad_kinds_epochs_or_another_dataset_are_one_line_and_exit_2(optimised, tmp_path, mnist_arrays):
    import numpy as np

    run = optimised[0]
    proc = bench_here("optimise", str(run), "--kinds", "quantised,shrunk")
    assert proc.returncode == 2 and "shrunk is not a kind" in proc.stdout
    proc = bench_here("optimise", str(run), "--prune-epochs", "0")
    assert proc.returncode == 2 and "--prune-epochs 0: must be at least 1" in proc.stdout
    other = tmp_path / "other.npz"
    np.savez(other, **mnist_arrays)
    before = (run / "results.json").read_bytes()
    proc = bench_here("optimise", str(run), "--models", "lenet5", "--kinds", "quantised", "--data", str(other))
    sample = read_results(run / "results.json").run.dataset["name"] == "mnist-sample"  # no MNIST_PATH: the fallback
    expected = "takes no --data path" if sample else "is not the data the run used"
    assert proc.returncode == 2 and expected in proc.stdout and "Traceback" not in proc.stderr
    assert (run / "results.json").read_bytes() == before  # nothing measured, nothing changed


def test_resume_keeps_measured_variants_and_runtime_alone_needs_no_training_data(optimised):
    run = optimised[0]
    before = by_name(read_results(run / "results.json").models["lenet5"])
    proc = bench_here("optimise", str(run), "--models", "lenet5", "--resume")
    assert proc.returncode == 0 and "lenet5 9 variant(s): already measured" in proc.stdout, proc.stdout[-2000:]
    assert by_name(read_results(run / "results.json").models["lenet5"]) == before  # nothing made again
    proc = bench("optimise", str(run), "--models", "lenet5", "--kinds", "runtime", "--data", "/nonexistent", "--save")
    assert proc.returncode == 0, proc.stdout[-2000:]  # runtime variants never load the training split
    after = by_name(read_results(run / "results.json").models["lenet5"])
    for name in ("onnxruntime", "litert-float32"):
        assert after[name]["finished_at"] >= before[name]["finished_at"] and "--kinds runtime" in after[name]["command"]
    assert after["pruned-50"] == before["pruned-50"]
    saved = run / "variants" / "lenet5" / "litert-float32.tflite"  # --save: the file measured, where the row says
    assert (
        after["litert-float32"]["path"] == str(saved) and saved.stat().st_size == after["litert-float32"]["size_bytes"]
    )
    assert saved.read_bytes()[4:8] == b"TFL3"  # a LiteRT flatbuffer
