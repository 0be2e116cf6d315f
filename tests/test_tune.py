"""`benchmark.py tune`: scikit-learn's searches on the validation split, one trial at a time, resumable."""

import json

import numpy as np
import pytest
from conftest import bench, bench_here

from bench.optimise.tune import run_tune
from bench.optimise.tune_files import TuneError, parse_space, read_params_file
from bench.results import read_results

SMALL = {"dataset": "mnist-sample", "profile": "ci"}
KNN_SPACE = {"n_neighbors": [1, 3], "n_components": [20, 30]}


def space_file(tmp_path, space, name="space.json"):
    path = tmp_path / name
    path.write_text(json.dumps(space))
    return path


def test_search_space_errors_name_the_source_and_parameter():
    with pytest.raises(TuneError, match="src: the search space is empty"):
        parse_space({}, "knn", "src", "grid")
    with pytest.raises(TuneError, match="src: knn has no parameter 'C'"):
        parse_space({"C": [1]}, "knn", "src", "grid")
    with pytest.raises(TuneError, match="n_neighbors has an empty list"):
        parse_space({"n_neighbors": []}, "knn", "src", "grid")
    with pytest.raises(TuneError, match="grid search needs a list of values for C"):
        parse_space({"C": {"loguniform": [1, 100]}}, "hog-svm", "src", "grid")
    with pytest.raises(TuneError, match="loguniform needs 0 < low < high"):
        parse_space({"C": {"loguniform": [0, 100]}}, "hog-svm", "src", "random")
    with pytest.raises(TuneError, match="must be a list of values or one of"):
        parse_space({"C": {"normal": [1, 2]}}, "hog-svm", "src", "random")
    dist = parse_space({"C": {"loguniform": [1, 100]}}, "hog-svm", "src", "random")["C"]
    assert 1 <= dist.rvs(random_state=0) <= 100


def test_every_registered_model_declares_a_valid_search_space():
    from bench.registry import MODELS

    for name, spec in MODELS.items():
        assert parse_space(spec.search_space, name, "registry", "grid"), name


def test_grid_search_writes_every_trial_and_the_best(tmp_path):
    path = run_tune(
        "knn", search="grid", space_path=space_file(tmp_path, KNN_SPACE), out_dir=tmp_path / "grid", **SMALL
    )
    tuning = read_results(path).tuning
    trials = tuning["trials"]
    assert [t["trial"] for t in trials] == [1, 2, 3, 4]
    assert {json.dumps(t["params"], sort_keys=True) for t in trials} == {
        json.dumps({"n_components": c, "n_neighbors": k}, sort_keys=True) for k in (1, 3) for c in (20, 30)
    }
    assert all(t["status"] == "ok" and 0.5 < t["score"] <= 1 and t["fit_seconds"] > 0 for t in trials)
    assert tuning["best"]["score"] == max(t["score"] for t in trials)
    assert read_results(path).run.sessions[-1]["stopped_by"] == "finished"
    from bench.report.build import build_reports

    markdown, _ = build_reports(path)
    assert "Hyperparameter search: knn" in markdown.read_text()


def test_the_score_is_accuracy_on_the_validation_split(tmp_path):
    from bench.data import load_dataset
    from bench.registry import MODELS, PROFILES

    path = run_tune(
        "knn", search="grid", space_path=space_file(tmp_path, {"n_neighbors": [3]}), out_dir=tmp_path / "v", **SMALL
    )
    trial = read_results(path).tuning["trials"][0]
    s = load_dataset(
        "mnist-sample",
        seed=0,
        val_fraction=PROFILES["ci"].val_fraction,
        train_size=PROFILES["ci"].train_size,
        test_size=PROFILES["ci"].test_size,
        download=False,
    )
    est = MODELS["knn"].build("ci", 0).set_params(n_neighbors=3).fit(s.x_train, s.y_train)
    assert trial["score"] == pytest.approx(float(np.mean(est.predict(s.x_val) == s.y_val)))


def test_budget_stops_between_trials_and_resume_runs_only_the_rest(tmp_path):
    space, out = space_file(tmp_path, KNN_SPACE), tmp_path / "budget"
    run_tune("knn", search="grid", space_path=space, out_dir=out, budget_minutes=1e-6, **SMALL)
    first, first_sessions = read_results(out / "results.json").tuning, read_results(out / "results.json").run.sessions
    assert len(first["trials"]) == 1 and first_sessions[-1]["stopped_by"] == "budget"
    with pytest.raises(TuneError, match="already holds results; pass --resume"):
        run_tune("knn", search="grid", space_path=space, out_dir=out, **SMALL)
    run_tune("knn", search="grid", space_path=space, out_dir=out, resume=True, **SMALL)
    tuning = read_results(out / "results.json").tuning
    keys = [json.dumps(t["params"], sort_keys=True) for t in tuning["trials"]]
    assert len(keys) == 4 and len(set(keys)) == 4 and tuning["trials"][0] == first["trials"][0]
    with pytest.raises(TuneError, match="holds a search of other settings"):
        run_tune("knn", search="random", space_path=space, out_dir=out, resume=True, **SMALL)


def test_a_trial_that_fails_is_recorded_and_the_search_goes_on(tmp_path):
    """PCA cannot keep 5,000 components of 784 pixels: that trial fails, the other is scored."""
    path = run_tune(
        "knn",
        search="grid",
        space_path=space_file(tmp_path, {"n_components": [5000, 20]}),
        out_dir=tmp_path / "fail",
        **SMALL,
    )
    tuning = read_results(path).tuning
    failed, ok = tuning["trials"]
    assert failed["status"] == "failed" and failed["score"] is None and "n_components" in failed["error"]
    assert ok["status"] == "ok" and tuning["best"]["params"] == {"n_components": 20}


def test_random_search_samples_distinct_candidates_at_most_the_grid(tmp_path):
    path = run_tune(
        "knn",
        search="random",
        n_iter=50,
        space_path=space_file(tmp_path, KNN_SPACE),
        out_dir=tmp_path / "random",
        **SMALL,
    )
    trials = read_results(path).tuning["trials"]
    assert len(trials) == 4 and len({json.dumps(t["params"], sort_keys=True) for t in trials}) == 4


def test_halving_keeps_the_best_third_on_more_images(tmp_path):
    space = {"n_neighbors": [1, 3, 5], "n_components": [10, 20, 30]}
    path = run_tune(
        "knn", search="halving", n_iter=9, space_path=space_file(tmp_path, space), out_dir=tmp_path / "halving", **SMALL
    )
    tuning = read_results(path).tuning
    rounds = [t["iter"] for t in tuning["trials"]]
    assert rounds.count(0) == 9 and rounds.count(1) == 3 and rounds.count(2) == 1
    first = [t for t in tuning["trials"] if t["iter"] == 0]
    second = [t for t in tuning["trials"] if t["iter"] == 1]
    assert second[0]["n_resources"] == 3 * first[0]["n_resources"]
    best_first = sorted(first, key=lambda t: -t["score"])[:3]
    assert min(t["score"] for t in best_first) >= max(t["score"] for t in first if t not in best_first)
    assert tuning["best"]["iter"] == 2


def test_params_file_gives_the_best_trial_and_refuses_unknown_settings(tmp_path):
    path = run_tune(
        "knn", search="grid", space_path=space_file(tmp_path, {"n_neighbors": [1, 5]}), out_dir=tmp_path / "p", **SMALL
    )
    best = read_results(path).tuning["best"]["params"]
    assert read_params_file(path) == {"knn": best}
    with pytest.raises(TuneError, match="knn has no parameter 'n_neighbours'"):
        read_params_file(space_file(tmp_path, {"knn": {"n_neighbours": 3}}, "p.json"))
    with pytest.raises(TuneError, match="unknown model 'svm'"):
        read_params_file(space_file(tmp_path, {"svm": {"C": 3}}, "q.json"))


def test_tuned_settings_train_and_the_row_says_where_they_came_from(tmp_path):
    params = space_file(tmp_path, {"knn": {"n_neighbors": 1, "n_components": 20}}, "tuned.json")
    proc = bench(
        "--models", "knn", "--profile", "ci", "--dataset", "mnist-sample", "--params", str(params), out=tmp_path / "run"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = read_results(tmp_path / "run" / "results.json").models["knn"]
    assert row.settings["n_neighbors"] == 1 and row.settings["n_components"] == 20
    assert row.settings_source == {"settings": {"n_neighbors": 1, "n_components": 20}, "source": str(params)}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model", "knn", "--budget", "0"], "--budget: must be more than 0 minutes"),
        (["--model", "knn", "--space", "missing.json"], "missing.json: no such search-space file"),
        (["--model", "knn", "--resume"], "--resume: give --out DIR"),
    ],
)
def test_bad_tune_input_is_one_line_and_exit_2(args, message):
    proc = bench_here("tune", *args, "--dataset", "mnist-sample", "--profile", "ci")
    assert proc.returncode == 2
    assert message in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
