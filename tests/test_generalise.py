"""`benchmark.py generalise RUN_DIR`: saved models scored on digits from other sources, numbers into the rows."""

import json

import numpy as np
import pytest
from conftest import bench
from PIL import Image
from test_robustness import copy_run

from bench.data.offmnist import load_off_mnist
from bench.results import read_results
from bench.run.generalise import FOLDER, GeneraliseError, load_predictions, run_generalise

MODELS = "knn,lenet5,cnn"  # classical and deep, quick; every model runs the same code


@pytest.fixture(scope="module")
def scored(ci_run, tmp_path_factory):
    run = copy_run(ci_run, tmp_path_factory.mktemp("generalise") / "run")
    proc = bench("generalise", str(run), "--datasets", "uci-digits", "--models", MODELS)
    return run, proc


def test_every_saved_model_gets_its_uci_digits_scores(scored):
    run, proc = scored
    assert proc.returncode == 0, proc.stdout + proc.stderr
    uci = load_off_mnist("uci-digits")
    results = read_results(run / "results.json")
    scored_rows = [r for r in results.ok_rows() if r.generalisation]
    assert {r.name for r in scored_rows} == set(MODELS.split(","))
    for row in scored_rows:
        e = row.generalisation["uci-digits"]
        predicted = load_predictions(run / FOLDER, row.name)["uci-digits"]
        assert e["n"] == len(uci.labels) == len(predicted)
        assert e["accuracy"] == pytest.approx((predicted == uci.labels).mean())
        assert e["accuracy_ci95_low"] < e["accuracy"] < e["accuracy_ci95_high"]
        assert e["drop"] == pytest.approx(row.metrics["accuracy"] - e["accuracy"])
        assert e["fingerprint"] == uci.fingerprint and e["log_loss"] > 0 and 0 <= e["ece"] <= 1
        # a paired test against each other model scored on the same digits, counts matching the predictions
        assert set(e["mcnemar"]) == set(MODELS.split(",")) - {row.name}
        for other, t in e["mcnemar"].items():
            theirs = load_predictions(run / FOLDER, other)["uci-digits"]
            mine_right, theirs_right = predicted == uci.labels, theirs == uci.labels
            assert t["only_this_correct"] == int((mine_right & ~theirs_right).sum())
            assert t["only_other_correct"] == int((~mine_right & theirs_right).sum())
            assert 0 <= t["p_value"] <= t["p_holm"] <= 1


def test_the_report_gets_an_off_mnist_section_and_a_verdict_line(scored):
    run, _ = scored
    report = (run / "report.md").read_text()
    assert "## Off MNIST: digits from other sources" in report
    assert "For digits from elsewhere:" in report
    assert ("stays first on every dataset" in report) or ("ranking does not hold" in report)
    assert (run / "figures" / "offmnist.png").is_file() and (run / "figures" / "offmnist_samples_0.png").is_file()


def test_resume_skips_models_already_scored_on_the_same_digits(scored):
    run, _ = scored
    before = json.loads((run / "results.json").read_text())
    seen = []
    run_generalise(run, "uci-digits", models=MODELS.split(","), resume=True, on_model=lambda n, g: seen.append(n))
    assert seen == []
    after = json.loads((run / "results.json").read_text())
    assert after["models"]["cnn"]["generalisation"] == before["models"]["cnn"]["generalisation"]


def test_a_users_folder_of_labelled_images_is_scored(scored, tmp_path):
    run, _ = scored
    uci = load_off_mnist("uci-digits")
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(20):  # the first 20 UCI test digits as black-on-white PNGs, label after the underscore
        Image.fromarray(255 - uci.images[i]).resize((112, 112)).save(folder / f"s{i}_{uci.labels[i]}.png")
    run_generalise(run, f"folder:{folder}", models=["cnn"])
    cnn = next(r for r in read_results(run / "results.json").ok_rows() if r.name == "cnn")
    entry = cnn.generalisation[f"folder:{folder}"]
    assert entry["n"] == 20 and entry["accuracy"] >= 0.7


@pytest.mark.parametrize(
    "argv, said",
    [
        (["--datasets", "svhn"], "unknown dataset(s) svhn"),
        (["--datasets", "qmnist"], "qmnist"),
        (["--datasets", "uci-digits", "--data", "qmnist"], "give NAME=PATH"),
        (["--datasets", "uci-digits", "--data", "qmnist=x"], "--data names qmnist"),
    ],
)
def test_bad_datasets_are_one_line_and_exit_2(scored, argv, said, monkeypatch, capsys):
    from bench.cli import main

    run, _ = scored
    monkeypatch.delenv("QMNIST_PATH", raising=False)
    assert main(["generalise", str(run), "--models", "knn", *argv]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("error: ") and said in out and "Traceback" not in out


def test_a_missing_dataset_is_named_and_skipped_with_all(scored, monkeypatch, tmp_path):
    monkeypatch.setenv("QMNIST_PATH", str(tmp_path / "nowhere"))
    skipped = []
    names = []
    run, _ = scored
    run_generalise(run, None, models=["knn"], on_skip=skipped.append, on_model=lambda n, g: names.append(list(g)))
    assert any(line.startswith("qmnist") and "QMNIST_PATH" in line for line in skipped)
    assert "uci-digits" in names[0]


def test_not_a_run_folder_is_refused(tmp_path):
    with pytest.raises(GeneraliseError, match="no such run directory"):
        run_generalise(tmp_path / "absent", "uci-digits")


def test_predictions_file_round_trips_several_datasets(tmp_path):
    from bench.run.generalise import _save_predictions

    _save_predictions(tmp_path, "m", ["a"], {"a": np.array([1, 2, 3], dtype=np.int8)})
    _save_predictions(tmp_path, "m", ["b"], {"b": np.array([4], dtype=np.int8)})
    got = load_predictions(tmp_path, "m")
    assert list(got) == ["a", "b"] and got["a"].tolist() == [1, 2, 3] and got["b"].tolist() == [4]
