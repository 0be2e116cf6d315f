"""`benchmark.py curves`: one point per model and training-set size, written as each finishes, resumable."""

import pytest
from conftest import bench, bench_here

from bench.results import read_results
from bench.run.curves import CurvesError, parse_sizes, scaled_settings

SAMPLE = ["--dataset", "mnist-sample"]


def test_sizes_are_parsed_sorted_and_checked():
    assert parse_sizes("1000, 500,1000", 4000) == [500, 1000]
    for text, message in [
        ("50", "below 10 images per class"),
        ("5000", r"larger than the training set \(4,000"),
        ("500,x", "'x' is not a whole number"),
        ("", "at least one size"),
    ]:
        with pytest.raises(CurvesError, match=message):
            parse_sizes(text, 4000)


def test_networks_get_at_least_a_thousand_steps_and_classical_models_nothing():
    # the full profile's mlp: batch 256, 20 epochs; 450 images: batch 112 (a quarter), 5 steps per epoch
    assert scaled_settings("mlp", 0, 450) == {"epochs": 200, "batch_size": 112}
    assert scaled_settings("mlp", 0, 54_000) == {"epochs": 20}  # 211 steps per epoch: the recipe's own epochs
    assert scaled_settings("lenet5", 0, 5_000) == {"epochs": 25}  # batch 128: 40 steps per epoch
    assert scaled_settings("knn", 0, 450) == {}


@pytest.fixture(scope="module")
def curves_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("curves")
    proc = bench("curves", *SAMPLE, "--models", "knn,mlp", "--sizes", "200,500", "--out", str(out))
    return out, proc


def test_every_point_is_a_row_in_the_results_file(curves_run):
    out, proc = curves_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = read_results(out / "results.json")
    points = {(p["model"], p["size"]): p for p in results.curves}
    assert set(points) == {(m, s) for m in ("knn", "mlp") for s in (200, 500)}
    for (_model, size), p in points.items():
        assert p["status"] == "ok" and p["n_train"] + p["n_val"] == size and 0.5 < p["accuracy"] <= 1
    assert points[("mlp", 200)]["settings"]["epochs"] == 250  # 180 images, batch 45: 4 steps per epoch
    assert points[("mlp", 200)]["settings"]["batch_size"] == 45
    assert 1 <= points[("mlp", 200)]["settings"]["epochs_run"][0] <= 250
    assert results.models == {}
    report = (out / "report.md").read_text()
    assert "## Learning curves" in report and (out / "figures" / "learning_curves.png").is_file()


def test_resume_trains_only_the_missing_points(curves_run):
    out, _ = curves_run
    before = {(p["model"], p["size"]): p["finished_at"] for p in read_results(out / "results.json").curves}
    # a new size for a measured model and a new model; mlp's points are kept though not asked for again
    proc = bench(
        "curves", *SAMPLE, "--models", "knn,random-forest", "--sizes", "200,500,1000", "--out", str(out), "--resume"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = {(p["model"], p["size"]): p["finished_at"] for p in read_results(out / "results.json").curves}
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {
        ("knn", 1000),
        ("random-forest", 200),
        ("random-forest", 500),
        ("random-forest", 1000),
    }


def test_an_existing_folder_needs_resume(curves_run):
    out, _ = curves_run
    before = (out / "results.json").read_bytes()
    proc = bench_here("curves", *SAMPLE, "--models", "knn", "--sizes", "200", "--out", str(out))
    assert proc.returncode == 2 and "pass --resume" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert (out / "results.json").read_bytes() == before


def test_a_bad_size_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    proc = bench_here("curves", *SAMPLE, "--models", "knn", "--sizes", "20", "--out", str(tmp_path / "c"))
    assert proc.returncode == 2
    assert proc.stdout.strip() == "error: --sizes: 20 is below 10 images per class (100)"
    assert not (tmp_path / "c").exists()


def test_curves_never_resume_into_a_benchmark_run(ci_run):
    out, _ = ci_run
    before = (out / "results.json").read_bytes()
    proc = bench_here("curves", "--models", "knn", "--sizes", "500", "--out", str(out), "--resume")
    assert proc.returncode == 2 and "holds a benchmark run, not learning curves" in proc.stdout
    assert (out / "results.json").read_bytes() == before
