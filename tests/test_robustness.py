"""`benchmark.py robustness RUN_DIR`: saved models scored on corrupted test images, numbers into the run's rows."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import bench, bench_here

from bench.results import read_results
from bench.run.robustness import run_robustness


def copy_run(ci_run, dest):
    """The suite's ci run (results, test images, predictions, figures, models) in a folder of its own, its
    rows' model_path pointing into it, as a run made with --models-dir RUN/models. The figures come along as
    in a user's run folder: a rebuilt report redraws only those whose inputs changed."""
    out, proc = ci_run
    assert proc.returncode == 0, proc.stdout[-2000:]
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / "test_set.npz", dest / "test_set.npz")
    for folder in ("predictions", "figures", "models"):
        shutil.copytree(out / folder, dest / folder)
    raw = json.loads((out / "results.json").read_text())
    for row in raw["models"].values():
        if row.get("model_path"):
            row["model_path"] = str(dest / "models" / Path(row["model_path"]).name)
    (dest / "results.json").write_text(json.dumps(raw))
    return dest


@pytest.fixture(scope="module")
def scored(ci_run, tmp_path_factory):
    run = copy_run(ci_run, tmp_path_factory.mktemp("robust") / "run")
    # four models, classical and deep, keep this quick; the command runs every model the same way
    proc = bench(
        "robustness", str(run), "--corruptions", "rotate,invert,dilate", "--seed", "1", "--models", "knn,mlp,lenet5,cnn"
    )
    return run, proc


def test_every_saved_model_gets_accuracy_per_corruption(scored):
    run, proc = scored
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = read_results(run / "results.json")
    assert {r.name for r in results.ok_rows() if r.robustness} == {"knn", "mlp", "lenet5", "cnn"}
    for row in (r for r in results.ok_rows() if r.robustness):
        r = row.robustness
        assert list(r["accuracy"]) == ["rotate", "invert", "dilate"]
        assert r["clean_accuracy"] == pytest.approx(row.metrics["accuracy"], abs=0.002)
        assert r["mean_accuracy"] == pytest.approx(np.mean(list(r["accuracy"].values())))
        assert r["relative_drop"] == pytest.approx(1 - r["mean_accuracy"] / r["clean_accuracy"])
        assert (r["severity"], r["seed"], r["n_test"]) == (3, 1, row.n_test)
        # nothing here was trained on white-background digits: inversion must cost most of the accuracy
        assert r["accuracy"]["invert"] < r["clean_accuracy"] - 0.3, row.name
    assert "## Robustness: accuracy under corruptions" in (run / "report.md").read_text()
    assert (run / "figures" / "robustness.png").is_file() and (run / "figures" / "corruption_samples.png").is_file()


def test_released_mnist_c_folder_is_used_instead_of_generating(ci_run, tmp_path):
    run = copy_run(ci_run, tmp_path / "run")
    with np.load(run / "test_set.npz") as f:
        x, y = f["x_test"], f["y_test"]
    for name, images in [("identity", x), ("rotate", x[..., None])]:  # the released files are (N, 28, 28, 1)
        (tmp_path / "mnist_c" / name).mkdir(parents=True)
        np.save(tmp_path / "mnist_c" / name / "test_images.npy", images)
        np.save(tmp_path / "mnist_c" / name / "test_labels.npy", y)
    # no --corruptions: every MNIST-C folder present (here only rotate; identity is the clean set)
    proc = bench("robustness", str(run), "--data", str(tmp_path / "mnist_c"), "--models", "random-forest,mlp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = read_results(run / "results.json").models
    for name in ("random-forest", "mlp"):  # "rotate" here holds the clean images: same accuracy as clean
        assert list(rows[name].robustness["accuracy"]) == ["rotate"]
        assert rows[name].robustness["accuracy"]["rotate"] == rows[name].robustness["clean_accuracy"]
        assert "MNIST-C files from" in rows[name].robustness["source"]
    assert rows["knn"].robustness is None


def test_measuring_more_corruptions_the_same_way_adds_to_a_row(scored):
    run, _ = scored
    before = read_results(run / "results.json").models["knn"].robustness
    run_robustness(run, ["erode"], seed=1, models=["knn"])
    after = read_results(run / "results.json").models["knn"].robustness
    assert list(after["accuracy"]) == ["rotate", "invert", "dilate", "erode"]
    assert {k: after["accuracy"][k] for k in before["accuracy"]} == before["accuracy"]
    assert after["mean_accuracy"] == pytest.approx(np.mean(list(after["accuracy"].values())))
    run_robustness(run, ["erode"], seed=2, models=["knn"])  # another seed: a new measurement replaces it
    assert list(read_results(run / "results.json").models["knn"].robustness["accuracy"]) == ["erode"]


def test_robustness_option_scores_the_models_a_run_just_trained(tmp_path):
    proc = bench("--profile", "ci", "--dataset", "mnist-sample", "--models", "knn", "--robustness", out=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = read_results(tmp_path / "results.json").models["knn"].robustness
    assert len(r["accuracy"]) == 18 and r["command"].endswith("(--robustness)")
    assert "## Robustness" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"severity": 6}, "severity 6 is out of range; choose 1 to 5"),
        ({"names": "rotate,blurry"}, "unknown corruption(s) blurry"),
        ({"models": ["resnet"]}, "has no measured model resnet"),
        ({"mnist_c_path": "no-such-folder"}, "no-such-folder"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(scored, kwargs, message):
    run, _ = scored
    before = (run / "results.json").read_bytes()
    with pytest.raises(ValueError, match=re.escape(message)):  # RobustnessError and DataError are ValueErrors
        run_robustness(run, **kwargs)
    assert (run / "results.json").read_bytes() == before


def test_bad_option_on_the_command_line_is_one_line_and_exit_2(scored):
    run, _ = scored
    proc = bench_here("robustness", str(run), "--severity", "0")
    assert proc.returncode == 2
    assert proc.stdout.strip() == "error: severity 0 is out of range; choose 1 to 5"


def test_a_folder_without_a_run_is_refused(tmp_path):
    proc = bench_here("robustness", str(tmp_path))
    assert proc.returncode == 2 and "holds no results.json" in proc.stdout


def test_an_overwritten_model_is_refused_and_earlier_numbers_are_kept(ci_run, tmp_path):
    run = copy_run(ci_run, tmp_path / "run")
    knn = run / "predictions" / "knn.npz"
    with np.load(knn) as f:
        arrays = dict(f)
    arrays["y_pred"] = (arrays["y_pred"] + 1) % 10  # as if the run had recorded another model's predictions
    np.savez(knn, **arrays)
    proc = bench_here("robustness", str(run), "--corruptions", "invert", "--models", "random-forest,knn")
    assert proc.returncode == 2
    assert "knn" in proc.stdout and "overwritten by another run" in proc.stdout
    rows = read_results(run / "results.json").models  # random-forest comes first in the run and was written
    assert rows["random-forest"].robustness is not None and rows["knn"].robustness is None
