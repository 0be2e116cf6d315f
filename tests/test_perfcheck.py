"""The CI regression check: rules on hand-built rows, planted regressions on real models, CLI exit codes."""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench import metrics, regression
from bench.estimators import RandomForest
from bench.results import write_results

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT = "sha256:c2701db539e88b19ccb28bf689d499e9886f0ff3c966840a1cadac493c4d1de5"
TIME_KEYS = ("train_seconds", "latency_ms_p50", "latency_ms_p90", "latency_ms_p95", "latency_ms_mean")

# Metrics of a real ci-profile run (full MNIST, seed 0) for two models, in the runner's row layout:
# quality as measured; lenet5's times as measured, kNN's latency set to a quiet machine's ~1 ms (it
# measured 11-100 ms under load) and a round reference_ms: plain numbers for the rule tests below.
REAL_METRICS = {
    "knn": {"train_seconds": 0.0735, "accuracy": 0.958, "error_count": 42, "log_loss": 0.638112,
            "precision_macro": 0.958705, "recall_macro": 0.957366, "f1_macro": 0.95766,
            "roc_auc_macro": 0.990807, "throughput_img_s": 2603.98, "throughput_batch_size": 1000,
            "latency_ms_p50": 1.2004, "latency_ms_p90": 1.412, "latency_ms_p95": 1.5121,
            "latency_ms_mean": 1.254, "latency_calls": 200, "params": None, "size_bytes": 15745522,
            "reference_ms": 24.0},
    "lenet5": {"train_seconds": 3.190207, "accuracy": 0.958, "error_count": 42, "log_loss": 0.151794,
               "precision_macro": 0.958319, "recall_macro": 0.957294, "f1_macro": 0.957206,
               "roc_auc_macro": 0.998217, "throughput_img_s": 42919.44, "throughput_batch_size": 1000,
               "latency_ms_p50": 0.484979, "latency_ms_p90": 0.542128, "latency_ms_p95": 0.569045,
               "latency_ms_mean": 0.495876, "latency_calls": 200, "params": 61706, "size_bytes": 786974,
               "reference_ms": 24.0},
}


def row(name: str, measured: dict, reference_repeats=None) -> dict:
    """A result row exactly as bench.runner.run_model writes it (keys copied from a real ci run)."""
    m = dict(measured)
    repeats = reference_repeats or [m["reference_ms"] * f for f in (1.02, 0.99, 1.0, 1.01, 0.98, 1.03, 1.0)]
    return {
        "name": name, "family": "classical" if name == "knn" else "deep",
        "description": "", "status": "ok", "seed": 0, "estimator": "KNN" if name == "knn" else "KerasClassifier",
        "settings": {}, "n_train": 5000, "n_test": 1000, "metrics": m,
        "reference_ms_repeats": repeats,
        "per_class": {k: [0.9] * 10 for k in ("precision", "recall", "f1", "roc_auc")} | {"support": [100] * 10},
        "confusion_matrix": np.eye(10, dtype=int).tolist(), "history": None, "inference": None,
        "model_path": f"models/{name}.skops", "predictions_path": f"predictions/{name}.npz",
        "finished_at": "2026-11-25T04:07:07+00:00",
    }


def results(rows: dict, profile="ci", seed=0, fingerprint=FINGERPRINT) -> dict:
    """A results dict in the runner's layout (schema digit-bench/results/1)."""
    return {
        "schema": "digit-bench/results/1",
        "run": {"command": "python benchmark.py --profile ci", "profile": profile, "seed": seed, "seeds": 1,
                "dataset": {"name": "mnist", "fingerprint": fingerprint, "is_sample": False,
                            "n_train": 4500, "n_val": 500, "n_test": 1000},
                "environment": {"cpu": "test", "cpu_count": 2, "digit_bench": {"git_commit": None}},
                "started_at": "2026-11-25T04:06:27+00:00", "finished_at": None, "sessions": [],
                "total_wall_seconds": 1.0},
        "models": rows,
    }


def real_results(**kw) -> dict:
    return results({n: row(n, m) for n, m in REAL_METRICS.items()}, **kw)


def slower(res: dict, factor: float, reference_too: bool, models=None) -> dict:
    """Every time `factor` x longer (throughput `factor` x lower); the reference too when the machine is slower."""
    res = copy.deepcopy(res)
    for name, r in res["models"].items():
        if models and name not in models:
            continue
        m = r["metrics"]
        for k in TIME_KEYS:
            m[k] *= factor
        m["throughput_img_s"] /= factor
        if reference_too:
            m["reference_ms"] *= factor
            r["reference_ms_repeats"] = [t * factor for t in r["reference_ms_repeats"]]
    return res


def check(baseline_runs, current_runs) -> list[dict]:
    """Findings of comparing current runs with a baseline built from baseline runs (in memory)."""
    for i, r in enumerate(baseline_runs + current_runs):
        r.setdefault("_path", f"run{i}.json")
    baseline = regression.make_baseline(baseline_runs)
    current, _ = regression.current_summary(baseline, current_runs)
    return regression.compare(baseline, current)


def regressions(findings) -> set[tuple[str, str]]:
    return {(f["model"], f["metric"]) for f in regression.regressed(findings)}


# --------------------------------------------------------------------------- rules


def test_unchanged_run_passes():
    findings = check([real_results()], [real_results()])
    assert findings and all(f["verdict"] == "ok" for f in findings)
    # every baseline model gets every quality and time metric
    assert len(findings) == len(REAL_METRICS) * (len(regression.QUALITY_RULES) + len(regression.TIME_RULES))


def test_three_times_slower_machine_passes():
    # Same code on a machine 3x slower: times and the reference scale together, the ratios do not move.
    findings = check([real_results()], [slower(real_results(), 3.0, reference_too=True)])
    assert regressions(findings) == set()
    assert all(f["verdict"] == "ok" for f in findings)


def test_two_times_slower_code_fails_on_every_time_metric():
    # Same machine (reference unchanged), code 2x slower: every margin must catch it.
    findings = check([real_results()], [slower(real_results(), 2.0, reference_too=False, models={"knn"})])
    assert regressions(findings) == {("knn", m) for m in regression.TIME_RULES}


def test_noise_within_margins_passes():
    # 1.3x is inside every margin: the run-to-run noise measured on a busy 2-core machine
    # (medians of runs) stays under it, see TIME_RULES.
    findings = check([real_results()], [slower(real_results(), 1.3, reference_too=False)])
    assert regressions(findings) == set()


def test_one_row_with_a_wild_reference_does_not_move_the_ratios():
    # A busy moment makes one row's reference 20x slower; the run's pooled reference shrugs it off.
    current = real_results()
    current["models"]["knn"]["metrics"]["reference_ms"] *= 20
    current["models"]["knn"]["reference_ms_repeats"] = [t * 20 for t in current["models"]["knn"]["reference_ms_repeats"]]
    assert regressions(check([real_results()], [current])) == set()


def test_accuracy_drop_beyond_tolerance_fails_naming_model_and_metric():
    current = real_results()
    current["models"]["lenet5"]["metrics"]["accuracy"] -= 0.004  # 4 of 1,000 test images
    findings = check([real_results()], [current])
    assert regressions(findings) == {("lenet5", "accuracy")}
    bad = regression.regressed(findings)[0]
    assert bad["change"] == "-0.0040" and bad["baseline"] == pytest.approx(0.958)


def test_quality_within_tolerance_passes_and_directions_are_right():
    current = real_results()
    m = current["models"]["knn"]["metrics"]
    m["accuracy"] -= 0.002  # exactly at the tolerance: 2 images, still ok
    m["log_loss"] -= 0.05  # lower log-loss is better
    m["roc_auc_macro"] += 0.002
    findings = {(f["model"], f["metric"]): f["verdict"] for f in check([real_results()], [current])}
    assert findings[("knn", "accuracy")] == "ok"
    assert findings[("knn", "log_loss")] == "improved"
    assert findings[("knn", "roc_auc_macro")] == "improved"
    current["models"]["knn"]["metrics"]["log_loss"] += 0.1  # now 0.05 worse than the baseline
    assert regressions(check([real_results()], [current])) == {("knn", "log_loss")}


def test_medians_over_runs_ignore_one_slow_run():
    base = [real_results(), real_results(), real_results()]
    current = [real_results(), slower(real_results(), 4.0, reference_too=False), real_results()]
    assert regressions(check(base, current)) == set()
    baseline = regression.make_baseline(base)
    assert len(baseline["models"]["knn"]["ratio_runs"]["latency_ms_p50"]) == 3


def test_failed_model_is_a_regression():
    current = real_results()
    current["models"]["knn"] = {"name": "knn", "family": "classical", "status": "failed", "error": "boom"}
    assert regressions(check([real_results()], [current])) == {("knn", "status")}


@pytest.mark.parametrize("change, message", [
    (dict(profile="quick"), "profile is 'quick'"),
    (dict(fingerprint="sha256:0000"), "data fingerprint"),
    (dict(seed=1), "seed is 1"),
])
def test_another_setup_is_bad_input(change, message):
    with pytest.raises(regression.BadInput, match=message):
        check([real_results()], [real_results(**change)])


def test_model_missing_from_results_is_bad_input():
    current = real_results()
    del current["models"]["lenet5"]
    with pytest.raises(regression.BadInput, match="no row for baseline model.*lenet5"):
        check([real_results()], [current])


# --------------------------------------------------------------------------- planted regressions, real models


def measured_row(name, est, splits, train_seconds, predict=None, reference=None) -> dict:
    """Measure a fitted estimator as the runner does (quality, reference, throughput, latency); return its row."""
    predict = predict or est.predict_proba
    m = metrics.quality(splits.y_test, est.predict_proba(splits.x_test))
    m.pop("per_class"), m.pop("confusion_matrix")
    reference = reference or metrics.reference_workload()
    m.update(metrics.throughput(predict, splits.x_test, batch_size=100))
    m.update(metrics.latency(predict, splits.x_test, calls=20, warmup=3))
    m.update(train_seconds=train_seconds, params=None, size_bytes=0, reference_ms=reference["reference_ms"])
    return row(name, m, reference["reference_ms_repeats"])


def fitted_forest(splits, y_train=None):
    """A small real random forest. n_jobs=1: no thread pool to fight a busy machine, so one image
    takes ~0.5 ms steadily (kNN's OpenMP distance search swings to 100+ ms on a loaded 2-core box)."""
    start = time.perf_counter()
    est = RandomForest(n_estimators=10, n_jobs=1)
    est.fit(splits.x_train, splits.y_train if y_train is None else y_train)
    return est, time.perf_counter() - start


def test_planted_accuracy_regression_is_caught(sample_splits):
    # A real broken model: the forest trained on shuffled labels (as a data-loading bug would do).
    good, t = fitted_forest(sample_splits)
    shuffled = np.random.default_rng(0).permutation(sample_splits.y_train)
    broken, _ = fitted_forest(sample_splits, shuffled)
    base = results({"random-forest": measured_row("random-forest", good, sample_splits, t)})
    current = results({"random-forest": measured_row("random-forest", broken, sample_splits, t)})
    accuracy = lambda r: r["models"]["random-forest"]["metrics"]["accuracy"]  # noqa: E731
    assert accuracy(current) < 0.3 < 0.6 < accuracy(base)
    found = regressions(check([base], [current]))
    assert {("random-forest", m) for m in ("accuracy", "f1_macro", "roc_auc_macro", "log_loss")} <= found


def test_planted_slow_predict_is_caught_on_latency(sample_splits):
    # The same real model, its predict made to sleep 50 ms a call: one image takes ~0.5 ms otherwise
    # (p95 up to ~20 ms when the busy machine preempts a call), so both p50 and p95 are far past their margins.
    # One reference serves both rows: the machine is the same seconds apart, and on a loaded 2-core box
    # two reference measurements alone can differ 3x (the noise run_reference_ms pools away in real runs).
    est, t = fitted_forest(sample_splits)

    def sleepy_predict(X):
        time.sleep(0.05)
        return est.predict_proba(X)

    reference = metrics.reference_workload()
    base = results({"random-forest": measured_row("random-forest", est, sample_splits, t, reference=reference)})
    current = results({"random-forest": measured_row("random-forest", est, sample_splits, t, predict=sleepy_predict,
                                                     reference=reference)})
    found = regressions(check([base], [current]))
    assert {("random-forest", "latency_ms_p50"), ("random-forest", "latency_ms_p95")} <= found
    assert not {m for _, m in found} & set(regression.QUALITY_RULES)  # the same model: quality unchanged


# --------------------------------------------------------------------------- command line


def bench(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "benchmark.py", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory):
    """A baseline written by `benchmark.py baseline` from two real-layout results files."""
    tmp = tmp_path_factory.mktemp("baseline")
    runs = [tmp / "r1.json", tmp / "r2.json"]
    for p in runs:
        write_results(p, real_results())
    baseline = tmp / "baseline.json"
    proc = bench("baseline", "--results", *runs, "--out", baseline)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return baseline


def test_baseline_file_states_its_rules(baseline_file):
    b = json.loads(baseline_file.read_text())
    assert b["schema"] == regression.BASELINE_SCHEMA and b["profile"] == "ci" and b["seed"] == 0
    assert b["dataset"] == {"name": "mnist", "fingerprint": FINGERPRINT}
    assert b["rules"]["quality"]["accuracy"] == {"higher_is_better": True, "tolerance": 0.002}
    assert all(0 < r["margin"] < 1 for r in b["rules"]["time"].values())  # so a 2x slowdown always fails
    assert set(b["models"]) == {"knn", "lenet5"} and len(b["sources"]) == 2


def test_cli_exit_0_when_nothing_regressed(baseline_file, tmp_path):
    write_results(tmp_path / "r.json", real_results())
    proc = bench("check", "--baseline", baseline_file, "--results", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no regression" in proc.stdout and "latency_ms_p95" in proc.stdout and "lenet5" in proc.stdout


def test_cli_exit_1_names_each_regressed_model_and_metric(baseline_file, tmp_path):
    bad = real_results()
    bad["models"]["knn"]["metrics"]["accuracy"] -= 0.01
    bad = slower(bad, 2.5, reference_too=False, models={"lenet5"})
    write_results(tmp_path / "bad.json", bad)
    proc = bench("check", "--baseline", baseline_file, "--results", tmp_path / "bad.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("REGRESSION") and "knn accuracy" in last and "lenet5 latency_ms_p50" in last
    assert "lenet5 accuracy" not in last and "knn latency" not in last


def test_cli_exit_2_with_one_line_for_bad_input(tmp_path):
    proc = bench("check", "--baseline", tmp_path / "missing.json", "--results", tmp_path / "r.json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines() == [proc.stdout.strip()] and proc.stdout.startswith("error: ")
    assert "missing.json: no such baseline file" in proc.stdout


@pytest.mark.parametrize("case, message", [
    ("no baseline", "no such baseline file"),
    ("bad baseline", "not a readable baseline file"),
    ("no results", "no such results file"),
    ("bad results", "schema is 'something/else'"),
    ("other profile", "profile is 'quick' but the baseline has 'ci'"),
    ("other data", "data fingerprint is 'sha256:000"),
    ("missing model", "no row for baseline model(s) knn"),
])
def test_check_main_bad_input_is_one_line_and_exit_2(baseline_file, tmp_path, capsys, case, message):
    # In process (each subprocess costs seconds of imports); the exit-2 path through benchmark.py is tested above.
    baseline, results_path = baseline_file, tmp_path / "r.json"
    write_results(results_path, real_results())
    if case == "no baseline":
        baseline = tmp_path / "nope.json"
    elif case == "bad baseline":
        baseline = tmp_path / "bad-baseline.json"
        baseline.write_text("{not json")
    elif case == "no results":
        results_path = tmp_path / "nope-results.json"
    elif case == "bad results":
        results_path.write_text(json.dumps({"schema": "something/else"}))
    elif case == "other profile":
        write_results(results_path, real_results(profile="quick"))
    elif case == "other data":
        write_results(results_path, real_results(fingerprint="sha256:" + "0" * 64))
    elif case == "missing model":
        r = real_results()
        del r["models"]["knn"]
        write_results(results_path, r)
    code = regression.check_main(["--baseline", str(baseline), "--results", str(results_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 2
    assert len(out) == 1 and out[0].startswith("error: ") and message in out[0], out


def test_repeats_with_results_is_bad_input(baseline_file, tmp_path, capsys):
    write_results(tmp_path / "r.json", real_results())
    code = regression.check_main(["--baseline", str(baseline_file), "--results", str(tmp_path / "r.json"),
                                  "--repeats", "3"])
    assert code == 2 and capsys.readouterr().out.startswith("error: --repeats runs the ci profile")


def test_a_reference_that_moved_between_runs_is_called_out(baseline_file, tmp_path, capsys):
    # A load change: the reference 10x slower while the models are not. The output must say the
    # time verdicts are unreliable rather than leave a reader to trust them.
    moved = real_results()
    for r in moved["models"].values():
        r["metrics"]["reference_ms"] *= 10
        r["reference_ms_repeats"] = [t * 10 for t in r["reference_ms_repeats"]]
    write_results(tmp_path / "moved.json", moved)
    code = regression.check_main(["--baseline", str(baseline_file), "--results", str(tmp_path / "moved.json")])
    out = capsys.readouterr().out
    assert "reference itself varied 10.0x" in out and "time verdicts are unreliable" in out
    assert code == 0  # 10x the reference makes every ratio 10x *better*: improved, not regressed


# --------------------------------------------------------------------------- one real run


def test_real_ci_run_has_the_row_format_these_tests_build_and_passes_its_baseline(tmp_path, capsys):
    # The one real ci-profile run here (one quick model): the runner's rows must keep the layout the
    # hand-built rows above copy, or the tests above would test a format the runner no longer writes.
    from bench.runner import run

    path = run(["random-forest"], profile="ci", dataset="mnist-sample", seed=0, out_dir=tmp_path / "run",
               models_dir=tmp_path / "run" / "models")
    real = json.loads(path.read_text())
    built = real_results()
    assert set(real["models"]["random-forest"]) == set(built["models"]["knn"])
    assert set(real["models"]["random-forest"]["metrics"]) == set(built["models"]["knn"]["metrics"])
    assert set(real["run"]) >= set(built["run"]) and set(real["run"]["dataset"]) >= {"name", "fingerprint"}
    baseline = tmp_path / "baseline.json"
    assert regression.baseline_main(["--results", str(path), "--out", str(baseline)]) == 0
    assert regression.check_main(["--baseline", str(baseline), "--results", str(path)]) == 0
    assert "random-forest" in capsys.readouterr().out


