"""`benchmark.py predict` and `benchmark.py kaggle`, run as a user would."""

import json

import numpy as np
import pytest
from conftest import bench, bench_here
from digit_photos import dark_on_paper, transparent_drawing

from bench.data import DataError, read_kaggle_test_csv
from bench.use.kaggle import SubmissionError, submission_csv

MODEL_NAMES = ("hog-svm", "random-forest", "knn", "mlp", "lenet5", "cnn", "cnn-aug", "ensemble")


@pytest.fixture(scope="module")
def photos(tmp_path_factory, sample_splits):
    """Two digit photos the ci cnn reads right as plain MNIST, one text file named .png, one missing path."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    x, y = sample_splits.x_test, sample_splits.y_test
    i, j = int(np.nonzero(y == 7)[0][0]), int(np.nonzero(y == 3)[0][0])
    (folder / "seven.jpg").write_bytes(dark_on_paper(x[i], rng))
    (folder / "three.png").write_bytes(transparent_drawing(x[j], rng))
    (folder / "notes.png").write_text("not an image")
    return folder


def test_predict_all_models_side_by_side(ci_run, photos, tmp_path):
    out, run = ci_run
    assert run.returncode == 0, run.stdout[-2000:]
    proc = bench(
        "predict",
        str(photos / "seven.jpg"),
        str(photos / "notes.png"),
        str(photos / "three.png"),
        str(photos / "missing.png"),
        "--all-models",
        "--models-dir",
        str(out / "models"),
        "--show",
        str(tmp_path / "seen"),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr  # two images failed, the others were predicted
    assert "notes.png: not an image" in proc.stdout and "missing.png: no such file" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    table = proc.stdout[proc.stdout.index("image") :]
    assert all(name in table for name in MODEL_NAMES)
    seven = next(line for line in table.splitlines() if "seven.jpg" in line)
    three = next(line for line in table.splitlines() if "three.png" in line)
    assert seven.count(" 7 (") >= 6 and three.count(" 3 (") >= 6, table  # most models agree on each
    assert sorted(p.name for p in (tmp_path / "seen").iterdir()) == [
        "seven-28x28.png",
        "seven.png",
        "three-28x28.png",
        "three.png",
    ]


def test_predict_json_for_scripts(ci_run, photos):
    out, _ = ci_run
    proc = bench(
        "predict", str(photos / "seven.jpg"), str(photos / "notes.png"), "--json", "--models-dir", str(out / "models")
    )
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    assert [m["name"] for m in data["models"]] == ["cnn"] and 0.5 < data["models"][0]["accuracy"] <= 1
    good, bad = data["images"]
    p = good["predictions"][0]
    assert p["model"] == "cnn" and p["digit"] == 7 and p["top"][0] == [7, p["confidence"]] and len(p["top"]) == 3
    assert np.array(good["digit28"]).shape == (28, 28)
    assert "not an image" in bad["error"]


def test_predict_without_saved_models_says_how_to_train_one(tmp_path, photos):
    proc = bench_here("predict", str(photos / "seven.jpg"), "--models-dir", str(tmp_path / "none"))
    assert proc.returncode == 2
    assert (
        proc.stdout.strip() == f"error: {tmp_path / 'none'}: no saved cnn model (train it with: "
        "python benchmark.py --models cnn)"
    )
    proc = bench_here("predict", str(photos / "seven.jpg"), "--model", "lenet6")
    assert proc.returncode == 2 and "unknown model 'lenet6'" in proc.stdout


def _csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


PIXELS = [f"pixel{i}" for i in range(784)]


@pytest.fixture(scope="module")
def kaggle_csvs(tmp_path_factory, sample_splits):
    """train.csv (600 rows) and test.csv (40 rows) in Kaggle's layout, from the MNIST sample."""
    folder = tmp_path_factory.mktemp("kaggle")
    x, y = sample_splits.x_train[:600].reshape(-1, 784), sample_splits.y_train[:600]
    _csv(folder / "train.csv", ["label", *PIXELS], [[int(label), *img] for label, img in zip(y, x)])
    _csv(folder / "test.csv", PIXELS, sample_splits.x_test[:40].reshape(-1, 784).tolist())
    return folder


def test_kaggle_writes_a_checked_submission(kaggle_csvs, sample_splits, tmp_path):
    out = tmp_path / "sub" / "submission.csv"
    proc = bench(
        "kaggle",
        "--train",
        str(kaggle_csvs / "train.csv"),
        "--test",
        str(kaggle_csvs / "test.csv"),
        "--model",
        "knn",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 41
    ids, labels = zip(*(map(int, line.split(",")) for line in lines[1:]))
    assert list(ids) == list(range(1, 41)) and set(labels) <= set(range(10))
    assert np.mean(np.array(labels) == sample_splits.y_test[:40]) > 0.8  # knn on 500 images reads most
    assert "wrote" in proc.stdout and "held-out" in proc.stdout


def test_kaggle_bad_test_csv_is_a_one_line_error_before_training(kaggle_csvs, tmp_path):
    bad = _csv(tmp_path / "test.csv", PIXELS, [[0] * 783 + [300]])
    proc = bench_here(
        "kaggle", "--train", str(kaggle_csvs / "train.csv"), "--test", str(bad), "--out", str(tmp_path / "s.csv")
    )
    assert proc.returncode == 2
    assert (
        proc.stdout.strip() == f"error: {bad}: row 1 (ImageId 1), column pixel783 is 300, not a whole number "
        "0-255 (1 row has bad pixels)"
    )
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize(
    "header, rows, words",
    [
        (["label", *PIXELS], [[1] + [0] * 784], "has a 'label' column"),
        (PIXELS, [[0] * 783 + [""]], "column pixel783 is missing"),
        (PIXELS, [[0] * 10 + ["x"] + [0] * 773], "column pixel10 is 'x'"),
        (PIXELS, [[0] * 5 + [-1] + [0] * 778], "column pixel5 is -1"),
        (PIXELS, [[0] * 5 + [1.5] + [0] * 778], "column pixel5 is 1.5"),
        (PIXELS[:-1], [[0] * 783], "783 columns"),
        (PIXELS, [], "has no rows"),
    ],
    ids=["label", "missing", "text", "negative", "fraction", "columns", "empty"],
)
def test_kaggle_test_csv_checks(tmp_path, header, rows, words):
    path = _csv(tmp_path / "test.csv", header, rows)
    with pytest.raises(DataError, match=words):
        read_kaggle_test_csv(path)


def test_submission_is_checked_before_writing():
    assert submission_csv(np.array([3, 1]), 2) == b"ImageId,Label\n1,3\n2,1\n"
    with pytest.raises(SubmissionError):
        submission_csv(np.array([3]), 2)
    with pytest.raises(SubmissionError):
        submission_csv(np.array([3, 10]), 2)
