"""`benchmark.py robustness RUN_DIR`: saved models scored on corrupted test images, numbers into the run's rows."""

import json
import shutil

import numpy as np
import pytest

from bench.results import read_results
from conftest import bench


def copy_run(ci_run, dest):
    """The suite's ci run (results, test images, predictions) in a folder of its own; models stay where they are."""
    out, proc = ci_run
    assert proc.returncode == 0, proc.stdout[-2000:]
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "test_set.npz"):
        shutil.copy(out / name, dest / name)
    shutil.copytree(out / "predictions", dest / "predictions")
    return dest


@pytest.fixture(scope="module")
def scored(ci_run, tmp_path_factory):
    run = copy_run(ci_run, tmp_path_factory.mktemp("robust") / "run")
    proc = bench("robustness", str(run), "--corruptions", "rotate,invert,dilate", "--seed", "1")
    return run, proc


def test_every_saved_model_gets_accuracy_per_corruption(scored):
    run, proc = scored
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = read_results(run / "results.json")
    for row in results.ok_rows():
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
    proc = bench("robustness", str(run), "--data", str(tmp_path / "mnist_c"), "--corruptions", "rotate",
                 "--models", "hog-svm,mlp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = read_results(run / "results.json").models
    for name in ("hog-svm", "mlp"):  # "rotate" here holds the clean images: same accuracy as clean
        assert rows[name].robustness["accuracy"]["rotate"] == rows[name].robustness["clean_accuracy"]
        assert "MNIST-C files from" in rows[name].robustness["source"]
    assert rows["knn"].robustness is None


@pytest.mark.parametrize("args, message", [
    (["--severity", "6"], "severity 6 is out of range; choose 1 to 5"),
    (["--corruptions", "rotate,blurry"], "unknown corruption(s) blurry"),
    (["--models", "resnet"], "has no measured model resnet"),
    (["--data", "no-such-folder"], "no-such-folder"),
])
def test_bad_options_are_one_line_errors(scored, args, message):
    run, _ = scored
    before = (run / "results.json").read_bytes()
    proc = bench("robustness", str(run), *args)
    assert proc.returncode == 2
    assert message in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert (run / "results.json").read_bytes() == before


def test_a_folder_without_a_run_is_refused(tmp_path):
    proc = bench("robustness", str(tmp_path))
    assert proc.returncode == 2 and "holds no results.json" in proc.stdout


def test_an_overwritten_model_is_refused_and_earlier_numbers_are_kept(ci_run, tmp_path):
    run = copy_run(ci_run, tmp_path / "run")
    data = json.loads((run / "results.json").read_text())
    data["models"]["knn"]["metrics"]["accuracy"] -= 0.05  # as if knn's file now held another run's model
    (run / "results.json").write_text(json.dumps(data))
    proc = bench("robustness", str(run), "--corruptions", "invert", "--models", "hog-svm,knn")
    assert proc.returncode == 2
    assert "knn" in proc.stdout and "overwritten by another run" in proc.stdout
    rows = read_results(run / "results.json").models
    assert rows["hog-svm"].robustness is not None and rows["knn"].robustness is None
