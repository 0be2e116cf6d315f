"""The CI performance check: rules on hand-built rows, margins from measured noise, planted regressions on
real models, CLI exit codes. Rows are built as dicts in the runner's layout and read through
bench.schema.Results (in memory) or written with bench.results.write_results (files), as real runs are."""

import copy
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench import perfcheck
from bench.cli import check as check_cli
from bench.estimators import RandomForest
from bench.evaluation import metrics
from bench.perfcheck import noise, rules
from bench.perfcheck.baseline import (
    add_calibration,
    baseline_problem,
    choose_baseline,
    cross_kind_baseline,
    make_baseline,
    read_baseline,
)
from bench.perfcheck.compare import ADVISORY, RunFile, advisories, compare, current_summary, regressed
from bench.results import write_results
from bench.schema import METRICS, Results

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT = "sha256:c2701db539e88b19ccb28bf689d499e9886f0ff3c966840a1cadac493c4d1de5"
TIME_KEYS = ("train_seconds", "latency_ms_p50", "latency_ms_p90", "latency_ms_p95", "latency_ms_mean")

# Metrics of a real ci-profile run (full MNIST, seed 0) for two models, in the runner's row layout:
# quality as measured; lenet5's times as measured, kNN's latency set to a quiet machine's ~1 ms (it
# measured 11-100 ms under load) and a round reference_ms: plain numbers for the rule tests below.
REAL_METRICS = {
    "knn": {
        "train_seconds": 0.0735,
        "accuracy": 0.958,
        "error_count": 42,
        "log_loss": 0.638112,
        "precision_macro": 0.958705,
        "recall_macro": 0.957366,
        "f1_macro": 0.95766,
        "roc_auc_macro": 0.990807,
        "throughput_img_s": 2603.98,
        "throughput_batch_size": 1000,
        "latency_ms_p50": 1.2004,
        "latency_ms_p90": 1.412,
        "latency_ms_p95": 1.5121,
        "latency_ms_mean": 1.254,
        "latency_calls": 200,
        "params": None,
        "size_bytes": 15745522,
        "reference_ms": 24.0,
        "accuracy_ci95_low": 0.9436,
        "accuracy_ci95_high": 0.9689,
        "ece": 0.0316,
        "brier": 0.0702,
    },
    "lenet5": {
        "train_seconds": 3.190207,
        "accuracy": 0.958,
        "error_count": 42,
        "log_loss": 0.151794,
        "precision_macro": 0.958319,
        "recall_macro": 0.957294,
        "f1_macro": 0.957206,
        "roc_auc_macro": 0.998217,
        "throughput_img_s": 42919.44,
        "throughput_batch_size": 1000,
        "latency_ms_p50": 0.484979,
        "latency_ms_p90": 0.542128,
        "latency_ms_p95": 0.569045,
        "latency_ms_mean": 0.495876,
        "latency_calls": 200,
        "params": 61706,
        "size_bytes": 786974,
        "reference_ms": 24.0,
        "accuracy_ci95_low": 0.9436,
        "accuracy_ci95_high": 0.9689,
        "ece": 0.0112,
        "brier": 0.0651,
    },
}


def row(name: str, measured: dict, reference_repeats=None) -> dict:
    """A result row exactly as bench.run.runner.model_task writes it (keys copied from a real ci run)."""
    m = dict(measured)
    repeats = reference_repeats or [m["reference_ms"] * f for f in (1.02, 0.99, 1.0, 1.01, 0.98, 1.03, 1.0)]
    return {
        "name": name,
        "family": "classical" if name == "knn" else "deep",
        "description": "",
        "status": "ok",
        "seed": 0,
        "estimator": "KNN" if name == "knn" else "KerasClassifier",
        "settings": {},
        "n_train": 5000,
        "n_test": 1000,
        "metrics": m,
        "reference_ms_repeats": repeats,
        "per_class": {k: [0.9] * 10 for k in ("precision", "recall", "f1", "roc_auc")} | {"support": [100] * 10},
        "confusion_matrix": np.eye(10, dtype=int).tolist(),
        "history": None,
        "inference": None,
        "model_path": f"models/{name}.skops",
        "predictions_path": f"predictions/{name}.npz",
        "reliability": {
            "bin_lower": [i / 15 for i in range(15)],
            "bin_upper": [(i + 1) / 15 for i in range(15)],
            "count": [0] * 14 + [1000],
            "accuracy": [None] * 14 + [0.958],
            "confidence": [None] * 14 + [0.97],
        },
        "worker": {"worker": "vm:1234", "host": "vm", "pid": 1234, "threads": None, "thread_counts": {}},
        "runtime": {
            "latency_runtime": "native",
            "n_checked": 1000,
            "candidates": [{"runtime": "native", "same_predictions": 1.0, "pilot_p50_ms": m["latency_ms_p50"]}],
        },
        "time_breakdown": {
            "train": m["train_seconds"],
            "save": 0.1,
            "predict_test": 0.1,
            "throughput": 0.1,
            "runtime_choice": 0.1,
            "latency": 0.5,
        },
        "finished_at": "2026-11-25T04:07:07+00:00",
    }


def results(rows: dict, profile="ci", seed=0, fingerprint=FINGERPRINT) -> dict:
    """A results dict in the runner's layout (schema digit-bench/results/2)."""
    return {
        "schema": "digit-bench/results/2",
        "run": {
            "command": "python benchmark.py --profile ci",
            "profile": profile,
            "seed": seed,
            "seeds": 1,
            "dataset": {
                "name": "mnist",
                "fingerprint": fingerprint,
                "is_sample": False,
                "n_train": 4500,
                "n_val": 500,
                "n_test": 1000,
            },
            "environment": {"cpu": "test", "cpu_count": 2, "digit_bench": {"git_commit": None}},
            "started_at": "2026-11-25T04:06:27+00:00",
            "finished_at": None,
            "sessions": [],
            "total_wall_seconds": 1.0,
        },
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


def run_files(dicts, first=0) -> list[RunFile]:
    """Results dicts -> RunFiles, read as read_results reads a file (bench.schema.Results.from_json)."""
    return [RunFile(f"run{i}.json", Results.from_json(d)) for i, d in enumerate(dicts, first)]


def write(path: Path, res: dict) -> Path:
    """Write a results dict as the runner does (typed, then bench.results.write_results)."""
    write_results(path, Results.from_json(res))
    return path


def check(baseline_runs, current_runs, calibrate=False) -> list[dict]:
    """Findings of comparing current runs with a baseline built from baseline runs (in memory)."""
    baseline = make_baseline(run_files(baseline_runs))
    if calibrate:
        add_calibration(baseline, noise.calibrate(baseline))
    current, _ = current_summary(baseline, run_files(current_runs, len(baseline_runs)))
    return compare(baseline, current)


def regressions(findings) -> set[tuple[str, str]]:
    return {(f["model"], f["metric"]) for f in regressed(findings)}


# --------------------------------------------------------------------------- rules


def test_unchanged_run_passes():
    findings = check([real_results()], [real_results()])
    assert findings and all(f["verdict"] == "ok" for f in findings)
    # every baseline model gets every quality and time metric
    assert len(findings) == len(REAL_METRICS) * (len(rules.QUALITY_TOLERANCES) + len(rules.TIME_MARGINS))


def test_three_times_slower_machine_passes():
    # Same code on a machine 3x slower: times and the reference scale together, the ratios do not move.
    findings = check([real_results()], [slower(real_results(), 3.0, reference_too=True)])
    assert regressions(findings) == set()
    assert all(f["verdict"] == "ok" for f in findings)


def test_two_times_slower_code_fails_on_every_time_metric():
    # Same machine (reference unchanged), code 2x slower: every margin must catch it.
    findings = check([real_results()], [slower(real_results(), 2.0, reference_too=False, models={"knn"})])
    assert regressions(findings) == {("knn", m) for m in rules.TIME_MARGINS}


def test_noise_within_margins_passes():
    # 1.3x is inside every margin: the run-to-run noise measured on a busy 2-core machine
    # (medians of runs) stays under it, see rules.TIME_MARGINS.
    findings = check([real_results()], [slower(real_results(), 1.3, reference_too=False)])
    assert regressions(findings) == set()


def test_one_row_with_a_wild_reference_does_not_move_the_ratios():
    # A busy moment makes one row's reference 20x slower; the run's pooled reference shrugs it off.
    current = real_results()
    current["models"]["knn"]["metrics"]["reference_ms"] *= 20
    current["models"]["knn"]["reference_ms_repeats"] = [
        t * 20 for t in current["models"]["knn"]["reference_ms_repeats"]
    ]
    assert regressions(check([real_results()], [current])) == set()


def test_accuracy_drop_beyond_tolerance_fails_naming_model_and_metric():
    current = real_results()
    current["models"]["lenet5"]["metrics"]["accuracy"] -= 0.004  # 4 of 1,000 test images
    findings = check([real_results()], [current])
    assert regressions(findings) == {("lenet5", "accuracy")}
    bad = regressed(findings)[0]
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
    baseline = make_baseline(run_files(base))
    assert len(baseline["models"]["knn"]["ratio_runs"]["latency_ms_p50"]) == 3


def test_failed_model_is_a_regression():
    current = real_results()
    current["models"]["knn"] = {"name": "knn", "family": "classical", "status": "failed", "error": "boom"}
    assert regressions(check([real_results()], [current])) == {("knn", "status")}


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(profile="quick"), "profile is 'quick'"),
        (dict(fingerprint="sha256:0000"), "data fingerprint"),
        (dict(seed=1), "seed is 1"),
    ],
)
def test_another_setup_is_bad_input(change, message):
    with pytest.raises(perfcheck.BadInput, match=message):
        check([real_results()], [real_results(**change)])


def test_model_missing_from_results_is_bad_input():
    current = real_results()
    del current["models"]["lenet5"]
    with pytest.raises(perfcheck.BadInput, match="no row for baseline model.*lenet5"):
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
    current = results(
        {
            "random-forest": measured_row(
                "random-forest", est, sample_splits, t, predict=sleepy_predict, reference=reference
            )
        }
    )
    found = regressions(check([base], [current]))
    assert {("random-forest", "latency_ms_p50"), ("random-forest", "latency_ms_p95")} <= found
    assert not {m for _, m in found} & set(rules.QUALITY_TOLERANCES)  # the same model: quality unchanged


# --------------------------------------------------------------------------- command line


def bench(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "benchmark.py", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def baseline_file(tmp_path_factory):
    """A baseline written by `benchmark.py baseline` from two real-layout results files."""
    tmp = tmp_path_factory.mktemp("baseline")
    runs = [tmp / "r1.json", tmp / "r2.json"]
    for p in runs:
        write(p, real_results())
    baseline = tmp / "baseline.json"
    proc = bench("baseline", "--results", *runs, "--out", baseline)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return baseline


def test_baseline_file_states_its_rules(baseline_file):
    b = json.loads(baseline_file.read_text())
    assert b["schema"] == perfcheck.BASELINE_SCHEMA and b["profile"] == "ci" and b["seed"] == 0
    assert b["dataset"] == {"name": "mnist", "fingerprint": FINGERPRINT}
    assert b["rules"]["quality"]["accuracy"] == {"higher_is_better": True, "tolerance": 0.002}
    assert all(0 < r["margin"] < 1 for r in b["rules"]["time"].values())  # so a 2x slowdown always fails
    assert set(b["models"]) == {"knn", "lenet5"} and len(b["sources"]) == 2


def test_cli_exit_0_when_nothing_regressed(baseline_file, tmp_path):
    write(tmp_path / "r.json", real_results())
    proc = bench("check", "--baseline", baseline_file, "--results", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no regression" in proc.stdout and "latency_ms_p95" in proc.stdout and "lenet5" in proc.stdout


def test_cli_exit_1_names_each_regressed_model_and_metric(baseline_file, tmp_path):
    bad = real_results()
    bad["models"]["knn"]["metrics"]["accuracy"] -= 0.01
    bad = slower(bad, 2.5, reference_too=False, models={"lenet5"})
    write(tmp_path / "bad.json", bad)
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


@pytest.mark.parametrize(
    "case, message",
    [
        ("no baseline", "no such baseline file"),
        ("bad baseline", "not a readable baseline file"),
        ("no results", "no such results file"),
        ("bad results", "schema is 'something/else'"),
        ("other profile", "profile is 'quick' but the baseline has 'ci'"),
        ("other data", "data fingerprint is 'sha256:000"),
        ("missing model", "no row for baseline model(s) knn"),
    ],
)
def test_check_main_bad_input_is_one_line_and_exit_2(baseline_file, tmp_path, capsys, case, message):
    # In process (each subprocess costs seconds of imports); the exit-2 path through benchmark.py is tested above.
    baseline, results_path = baseline_file, tmp_path / "r.json"
    write(results_path, real_results())
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
        write(results_path, real_results(profile="quick"))
    elif case == "other data":
        write(results_path, real_results(fingerprint="sha256:" + "0" * 64))
    elif case == "missing model":
        r = real_results()
        del r["models"]["knn"]
        write(results_path, r)
    code = check_cli.check_main(["--baseline", str(baseline), "--results", str(results_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 2
    assert len(out) == 1 and out[0].startswith("error: ") and message in out[0], out


def test_fresh_runs_do_not_join_results_of_another_machine_kind(baseline_file, tmp_path, capsys):
    # --results plus --repeats N adds N fresh ci runs here; runs made on another kind of machine would not mix
    # with them, and that is said before minutes of training.
    write(tmp_path / "r.json", with_kind(real_results(), "aarch64-asimd"))
    code = check_cli.check_main(
        ["--baseline", str(baseline_file), "--results", str(tmp_path / "r.json"), "--repeats", "2"]
    )
    out = capsys.readouterr().out
    assert (
        code == 2 and out.startswith("error: --results were made on a aarch64-asimd machine") and "Traceback" not in out
    )


def test_a_reference_that_moved_between_runs_is_called_out(baseline_file, tmp_path, capsys):
    # A load change: the reference 10x slower while the models are not. The output must say the
    # time verdicts are unreliable rather than leave a reader to trust them.
    moved = real_results()
    for r in moved["models"].values():
        r["metrics"]["reference_ms"] *= 10
        r["reference_ms_repeats"] = [t * 10 for t in r["reference_ms_repeats"]]
    write(tmp_path / "moved.json", moved)
    code = check_cli.check_main(["--baseline", str(baseline_file), "--results", str(tmp_path / "moved.json")])
    out = capsys.readouterr().out
    assert "reference itself varied 10.0x" in out and "time verdicts are unreliable" in out
    assert code == 0  # 10x the reference makes every ratio 10x *better*: improved, not regressed


# --------------------------------------------------------------------------- margins from measured noise


# Known noise for 8 unchanged runs: run k's time is its model's x pattern(lo, hi)[k] (> 1: slower; throughput is
# divided), so the median of 3 runs is lo, 1 or hi and the worst slowdown between disjoint sets of 3 is hi / lo.
def pattern(lo, hi):
    return [lo, lo, lo, 1.0, 1.0, hi, hi, hi]


NOISE = {
    ("knn", "latency_ms_p50"): pattern(0.9, 1.1),  # worst 1.222: margin safety x 0.222 (2.0: 0.4444 -> 0.45)
    ("knn", "latency_ms_p95"): pattern(0.7, 1.4),  # worst 2.0: margin safety x 1, from 0.9 on -> advisory
    ("lenet5", "throughput_img_s"): pattern(0.85, 1.15),  # worst 1.353: margin safety x 0.353 (2.0: 0.71)
}  # every other time metric: no noise, worst 1.0, margin the floor (rules.MARGIN_FLOOR)


def expected_margin(worst: float) -> float:
    """The rule written out: safety factor x the worst excess, rounded up to 0.01, at least the floor."""
    return max(rules.MARGIN_FLOOR, math.ceil(round(rules.SAFETY_FACTOR * (worst - 1) * 100, 6)) / 100)


TYPICAL = (0, 3, 4)  # three of the runs whose median is every metric's median over all 8


def scaled(res: dict, model: str, metric: str, slowdown: float) -> dict:
    """One model's metric `slowdown` x worse (time x slowdown, throughput / slowdown); the reference unchanged."""
    res = copy.deepcopy(res)
    m = res["models"][model]["metrics"]
    m[metric] = m[metric] / slowdown if metric == "throughput_img_s" else m[metric] * slowdown
    return res


def noisy_runs(noise_=NOISE) -> list[dict]:
    runs = []
    for k in range(len(next(iter(noise_.values())))):
        res = real_results()
        for (model, metric), slowdowns in noise_.items():
            res = scaled(res, model, metric, slowdowns[k])
        runs.append(res)
    return runs


def calibrated(runs=None) -> tuple[dict, noise.Calibration]:
    baseline = make_baseline(run_files(runs or noisy_runs()))
    calibration = noise.calibrate(baseline)
    return add_calibration(baseline, calibration), calibration


def test_calibration_sets_margins_from_the_known_noise():
    baseline, _ = calibrated()
    knn, lenet5 = baseline["models"]["knn"], baseline["models"]["lenet5"]
    floor = rules.MARGIN_FLOOR
    assert knn["margins"] == {
        "train_seconds": floor,
        "throughput_img_s": floor,
        "latency_ms_p50": expected_margin(1.1 / 0.9),
        "latency_ms_p95": expected_margin(2.0),
    }
    assert knn["advisory"] == ["latency_ms_p95"]
    assert lenet5["margins"] == {
        "train_seconds": floor,
        "throughput_img_s": expected_margin(1.15 / 0.85),
        "latency_ms_p50": floor,
        "latency_ms_p95": floor,
    }
    assert lenet5["advisory"] == []
    record = baseline["rules"]["time_calibration"]
    assert record["runs"] == 8 and record["pairs"] == 560  # C(8,3) sets of 3 x C(5,3) disjoint others
    assert record["safety_factor"] == rules.SAFETY_FACTOR and record["floor"] == rules.MARGIN_FLOOR
    assert record["worst_factors"]["knn"]["latency_ms_p50"] == pytest.approx(1.1 / 0.9, abs=1e-4)
    assert record["worst_factors"]["lenet5"]["throughput_img_s"] == pytest.approx(1.15 / 0.85, abs=1e-4)
    assert record["worst_factors"]["lenet5"]["train_seconds"] == pytest.approx(1.0)
    # in-sample the margins sit above every pair by construction; the default margins (knn p95: x1.9) do not
    assert record["false_alarm_rate_3run_median"] == 0
    assert record["false_alarm_rate_3run_median_default_margins"] > 0
    # the global margins stay the defaults, for models without their own
    assert {m: r["margin"] for m, r in baseline["rules"]["time"].items()} == rules.TIME_MARGINS
    assert baseline_problem(baseline) is None
    assert len(baseline["models"]["knn"]["ratio_runs"]["latency_ms_p50"]) == 8  # medians over all 8 runs


def test_calibration_matches_a_brute_force_count():
    # Random noise, the worst factor and the default-margin false alarms counted the slow, obvious way.
    rng = np.random.default_rng(1)
    slowdowns = list(np.exp(rng.normal(0, 0.15, 9)))
    runs = noisy_runs({("knn", "latency_ms_p50"): slowdowns})
    _, calibration = calibrated(runs)
    found = next(m for m in calibration.metrics if (m.model, m.metric) == ("knn", "latency_ms_p50"))
    factors = [
        statistics.median(slowdowns[i] for i in cur) / statistics.median(slowdowns[i] for i in base)
        for base in itertools.combinations(range(9), 3)
        for cur in itertools.combinations(range(9), 3)
        if not set(base) & set(cur)
    ]
    assert calibration.pairs == len(factors) == 84 * 20
    assert found.worst == pytest.approx(max(factors))
    assert found.percentile == pytest.approx(np.percentile(factors, noise.PERCENTILE))
    assert found.margin == pytest.approx(expected_margin(max(factors)))
    assert found.false_alarms_default == pytest.approx(np.mean([f > 1.75 for f in factors]))


def test_a_run_the_calibration_did_not_see_counts_as_held_out_false_alarms():
    # Two slow runs of 8: with both, sets of 3 holding both have a median 2x slower: advisory, and no
    # in-sample alarm. Without one of them the rest look quiet (margin the floor), and the pairs holding both alarm.
    _, calibration = calibrated(noisy_runs({("knn", "latency_ms_p50"): [1] * 6 + [2, 2]}))
    p50 = next(m for m in calibration.metrics if (m.model, m.metric) == ("knn", "latency_ms_p50"))
    assert p50.advisory and calibration.false_alarm_rate == 0
    assert p50.false_alarms_held_out > 0 and calibration.false_alarm_rate_held_out > 0


@pytest.mark.parametrize("model", ["knn", "lenet5"])
def test_planted_2x_slowdown_fails_every_non_advisory_time_metric_of_a_calibrated_baseline(model):
    baseline_runs = noisy_runs()
    current = [slower(baseline_runs[k], 2.0, reference_too=False, models={model}) for k in TYPICAL]
    findings = check(baseline_runs, current, calibrate=True)
    advisory = set(calibrated()[0]["models"][model]["advisory"])
    assert regressions(findings) == {(model, m) for m in rules.TIME_MARGINS if m not in advisory}
    assert {f["verdict"] for f in findings if f["model"] != model} == {"ok"}


def test_unchanged_typical_runs_pass_a_calibrated_baseline():
    runs = noisy_runs()
    findings = check(runs, [runs[k] for k in TYPICAL], calibrate=True)
    assert {f["verdict"] for f in findings} == {"ok"}


def test_advisory_metric_5x_slower_is_shown_and_does_not_fail(tmp_path, capsys):
    runs = noisy_runs()
    baseline, _ = calibrated(runs)
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    paths = [write(tmp_path / f"r{k}.json", scaled(runs[k], "knn", "latency_ms_p95", 5.0)) for k in TYPICAL]
    findings = check(runs, [json.loads(p.read_text()) for p in paths], calibrate=True)
    p95 = next(f for f in findings if (f["model"], f["metric"]) == ("knn", "latency_ms_p95"))
    assert p95["verdict"] == ADVISORY and p95["advisory"] and advisories(findings) == [p95]
    assert regressions(findings) == set()
    code = check_cli.check_main(["--baseline", str(tmp_path / "baseline.json"), "--results", *map(str, paths)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "slower (advisory)" in out and f"x{1 + expected_margin(2.0):g} advisory" in out
    assert "advisory, not failing" in out and "knn latency_ms_p95 (+400%, 5.00x slower)" in out
    assert out.strip().splitlines()[-1].startswith("no regression")


def test_calibrated_baseline_command_writes_margins_and_prints_the_noise(tmp_path, capsys):
    paths = [write(tmp_path / f"r{k}.json", r) for k, r in enumerate(noisy_runs())]
    out_file = tmp_path / "baseline.json"
    code = check_cli.baseline_main(["--results", *map(str, paths), "--out", str(out_file), "--calibrate"])
    out = capsys.readouterr().out
    assert code == 0, out
    baseline = read_baseline(out_file)
    assert baseline["models"]["knn"]["margins"]["latency_ms_p50"] == expected_margin(1.1 / 0.9)
    assert baseline["models"]["knn"]["advisory"] == ["latency_ms_p95"]
    assert baseline["rules"]["time_calibration"]["method"] == noise.METHOD
    assert "time margins from 8 unchanged runs" in out and "advisory" in out and "false alarms" in out
    assert "calibrated margins" in out.strip().splitlines()[-1]


def test_calibrate_with_fewer_than_8_runs_is_one_line_exit_2(tmp_path, capsys):
    paths = [write(tmp_path / f"r{k}.json", r) for k, r in enumerate(noisy_runs()[:7])]
    code = check_cli.baseline_main(["--results", *map(str, paths), "--out", str(tmp_path / "b.json"), "--calibrate"])
    out = capsys.readouterr().out.strip().splitlines()
    assert (
        code == 2
        and len(out) == 1
        and out[0].startswith("error: --calibrate needs at least 8 runs of unchanged code, got 7")
    )
    assert not (tmp_path / "b.json").exists()


def test_without_calibrate_the_baseline_has_no_model_margins(tmp_path, capsys):
    paths = [write(tmp_path / f"r{k}.json", r) for k, r in enumerate(noisy_runs())]
    assert check_cli.baseline_main(["--results", *map(str, paths), "--out", str(tmp_path / "b.json")]) == 0
    baseline = read_baseline(tmp_path / "b.json")
    assert "time_calibration" not in baseline["rules"]
    assert all("margins" not in m and "advisory" not in m for m in baseline["models"].values())


def results_matching(baseline: dict, reference_ms=25.0) -> dict:
    """Results whose medians are the baseline's own: quality as is, times from its ratios and one reference (any
    times for a model the baseline holds no time ratios of)."""
    rows = {}
    for name, b in baseline["models"].items():
        r = b["ratios"] or {
            "train_seconds": 10.0,
            "throughput_img_s": 500.0,
            "latency_ms_p50": 0.1,
            "latency_ms_p95": 0.2,
        }
        m = {
            **{k: REAL_METRICS["knn"][k] for k in REAL_METRICS["knn"]},
            **b["metrics"],
            "reference_ms": reference_ms,
            "train_seconds": r["train_seconds"] * reference_ms / 1000,
            "throughput_img_s": r["throughput_img_s"] * 1000 / reference_ms,
            "latency_ms_p50": r["latency_ms_p50"] * reference_ms,
            "latency_ms_p95": r["latency_ms_p95"] * reference_ms,
        }
        rows[name] = row(name, m, [reference_ms] * 7)
    return results(
        rows, profile=baseline["profile"], seed=baseline["seed"], fingerprint=baseline["dataset"]["fingerprint"]
    )


COMMITTED = sorted((ROOT / "reports" / "baselines").glob("*.json"))


@pytest.mark.parametrize("committed", COMMITTED, ids=lambda p: p.name)
def test_every_committed_baseline_loads_and_catches_a_2x_slowdown(committed, tmp_path, capsys):
    # Each machine kind's baseline, calibrated or not (the oldest predates calibration: default margins apply);
    # a calibrated one's advisory metrics are left out of the failures.
    baseline = read_baseline(committed)
    assert baseline["machine"]["kind"] and committed.name == f"ci-{baseline['machine']['kind']}.json"
    same = write(tmp_path / "same.json", results_matching(baseline))
    assert check_cli.check_main(["--baseline", str(committed), "--results", str(same)]) == 0
    assert "no regression" in capsys.readouterr().out
    for model in baseline["models"]:
        slow = write(
            tmp_path / "slow.json", slower(results_matching(baseline), 2.0, reference_too=False, models={model})
        )
        if not baseline["models"][model]["ratios"]:  # times not yet measured on that kind: said in its note
            assert model in baseline.get("note", ""), model
            assert check_cli.check_main(["--baseline", str(committed), "--results", str(slow)]) == 0, model
            capsys.readouterr()
            continue
        assert check_cli.check_main(["--baseline", str(committed), "--results", str(slow)]) == 1, model
        last = capsys.readouterr().out.strip().splitlines()[-1]
        advisory = baseline["models"][model].get("advisory", [])
        assert any(f"{model} {m} " in last for m in baseline["rules"]["time"]), (model, last)
        assert not any(f"{model} {m} " in last for m in advisory), (model, last)


def with_kind(res: dict, kind: str) -> dict:
    res = copy.deepcopy(res)
    res["run"]["environment"]["machine_kind"] = kind
    return res


def test_the_baseline_of_the_runs_machine_kind_is_chosen_from_a_folder(tmp_path, capsys):
    folder = tmp_path / "baselines"
    folder.mkdir()
    for kind, factor in (("x86_64-avx2", 1.0), ("x86_64-avx512_bf16", 2.0)):  # the other kind's code looks 2x faster
        base = make_baseline(run_files([with_kind(slower(real_results(), factor, reference_too=False), kind)]))
        (folder / f"ci-{kind}.json").write_text(json.dumps(base))
    same = write(tmp_path / "same.json", with_kind(real_results(), "x86_64-avx2"))
    assert check_cli.check_main(["--baseline", str(folder), "--results", str(same)]) == 0
    out = capsys.readouterr().out
    assert "ci-x86_64-avx2.json" in out and "no regression" in out


def test_a_baseline_of_another_machine_kind_judges_quality_but_not_time(tmp_path, capsys):
    base = make_baseline(run_files([with_kind(real_results(), "x86_64-avx512_bf16")]))
    (tmp_path / "b.json").write_text(json.dumps(base))
    slow = with_kind(slower(real_results(), 3.0, reference_too=False), "x86_64-avx2")  # 3x slower code
    args = ["--baseline", str(tmp_path / "b.json"), "--results"]
    assert check_cli.check_main([*args, str(write(tmp_path / "slow.json", slow))]) == 0
    out = capsys.readouterr().out
    assert "time not judged: no baseline for this kind" in out and "latency_ms_p50" not in out
    worse = copy.deepcopy(slow)
    worse["models"]["lenet5"]["metrics"]["accuracy"] -= 0.05
    assert check_cli.check_main([*args, str(write(tmp_path / "worse.json", worse))]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("REGRESSION in 1 check(s): lenet5 accuracy (-0.0500)"), last


def test_cross_kind_quality_is_judged_against_the_least_favourable_kind(tmp_path):
    # lenet5's accuracy is 0.950 on one kind and 0.958 on the other: a third kind is judged against 0.950 with
    # the cross-kind tolerance (0.005), and called improved only when it is also past 0.958 by more than that.
    folder = tmp_path / "baselines"
    folder.mkdir()
    for kind, accuracy, log_loss in (("x86_64-avx2", 0.950, 0.16), ("x86_64-avx512_bf16", 0.958, 0.15)):
        res = with_kind(real_results(), kind)
        res["models"]["lenet5"]["metrics"].update(accuracy=accuracy, log_loss=log_loss)
        (folder / f"ci-{kind}.json").write_text(json.dumps(make_baseline(run_files([res]))))
    own, baselines = choose_baseline(folder, "x86_64-amx_bf16")
    assert own is None and len(baselines) == 2
    baseline = cross_kind_baseline(baselines, "x86_64-amx_bf16")
    assert {m: r["tolerance"] for m, r in baseline["rules"]["quality"].items()} == rules.CROSS_KIND_TOLERANCES
    assert baseline["rules"]["time"] == {}

    def verdicts(accuracy, log_loss=0.15):
        res = with_kind(real_results(), "x86_64-amx_bf16")
        res["models"]["lenet5"]["metrics"].update(accuracy=accuracy, log_loss=log_loss)
        current, _ = current_summary(baseline, run_files([res]))
        found = {(f["model"], f["metric"]): f for f in compare(baseline, current)}
        assert {f["kind"] for f in found.values()} == {"quality"}  # no time finding at all
        return found[("lenet5", "accuracy")]["verdict"], found[("lenet5", "log_loss")]["verdict"]

    assert verdicts(0.946) == ("ok", "ok")  # 0.004 under the lower kind
    assert verdicts(0.944) == ("REGRESSION", "ok")  # 0.006 under it
    assert verdicts(0.962) == ("ok", "ok")  # past the lower kind, not past the higher one by more than 0.005
    assert verdicts(0.964) == ("improved", "ok")
    assert verdicts(0.95, log_loss=0.174) == ("ok", "ok")  # log-loss: lower is better, the worse kind's 0.16
    assert verdicts(0.95, log_loss=0.176) == ("ok", "REGRESSION")


def committed_kinds_run(source: Path) -> dict:
    """A ci run faked to a kind no committed baseline was made on (x86_64-amx_bf16): its quality that of the
    committed baseline `source` (models `source` lacks from the others), its times those of the first baseline."""
    baselines = [read_baseline(p) for p in COMMITTED]
    res = with_kind(results_matching(max(baselines, key=lambda b: len(b["models"]))), "x86_64-amx_bf16")
    for name, model in read_baseline(source)["models"].items():
        res["models"][name]["metrics"].update(model["metrics"])
    return res


@pytest.mark.parametrize("source", COMMITTED, ids=lambda p: p.name)
def test_a_kind_without_a_baseline_passes_unchanged_quality_and_says_time_was_not_judged(source, tmp_path, capsys):
    # Quality as either committed kind gave it: the cross-kind tolerances must cover the spread between kinds.
    # Every model's code 3x slower: without a baseline of this kind, time is not judged.
    models = set(committed_kinds_run(source)["models"])
    slow = slower(committed_kinds_run(source), 3.0, reference_too=False)
    code = check_cli.check_main(
        ["--baseline", str(COMMITTED[0].parent), "--results", str(write(tmp_path / "r.json", slow))]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    kinds = ", ".join(read_baseline(p)["machine"]["kind"] for p in COMMITTED)
    assert f"this is a x86_64-amx_bf16 machine; baselines exist for {kinds}:" in out
    assert "time not judged: no baseline for this kind; make one with `benchmark.py baseline`" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"no regression: {len(models) * len(rules.QUALITY_TOLERANCES)} checks over {len(models)}")
    assert last.endswith("time not judged on this kind"), last


def test_a_kind_as_far_below_the_lowest_kind_as_the_committed_kinds_differ_passes(tmp_path, capsys):
    # A third kind whose round-off puts every model's quality below the least favourable committed kind by the whole
    # spread measured between the committed kinds (rules.CROSS_KIND_SPREAD): unchanged code, so it must pass.
    baselines = [read_baseline(p) for p in COMMITTED]
    res = committed_kinds_run(COMMITTED[0])
    for name, row_ in res["models"].items():
        for metric, spread in rules.CROSS_KIND_SPREAD.items():
            values = [b["models"][name]["metrics"][metric] for b in baselines if name in b["models"]]
            higher = METRICS[metric].higher_is_better
            row_["metrics"][metric] = min(values) - spread if higher else max(values) + spread
    code = check_cli.check_main(
        ["--baseline", str(COMMITTED[0].parent), "--results", str(write(tmp_path / "r.json", res))]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("no regression"), out


@pytest.mark.parametrize("source", COMMITTED, ids=lambda p: p.name)
@pytest.mark.parametrize("model", ["cnn", "hog-svm", "ensemble"])
def test_a_kind_without_a_baseline_fails_a_one_point_accuracy_drop(source, model, tmp_path, capsys):
    bad = committed_kinds_run(source)
    bad["models"][model]["metrics"]["accuracy"] -= 0.01  # 10 of the 1,000 test images
    code = check_cli.check_main(
        ["--baseline", str(COMMITTED[0].parent), "--results", str(write(tmp_path / "r.json", bad))]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("REGRESSION") and f"{model} accuracy" in last, last
    assert "time not judged: no baseline for this kind" in out


def test_a_model_in_no_baseline_of_any_kind_is_named_as_not_judged(tmp_path, capsys):
    res = committed_kinds_run(COMMITTED[0])
    res["models"]["new-model"] = row("new-model", {**REAL_METRICS["knn"], "accuracy": 0.1})
    code = check_cli.check_main(
        ["--baseline", str(COMMITTED[0].parent), "--results", str(write(tmp_path / "r.json", res))]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not judged, in no baseline of any kind: new-model" in out


def test_cross_kind_tolerances_cover_the_committed_kinds_and_catch_one_point():
    # The data behind rules.CROSS_KIND_TOLERANCES: the largest difference between the committed baselines of
    # two kinds must stay within CROSS_KIND_SPREAD (remade baselines that differ more need new tolerances), and
    # each tolerance is the stated rule applied to it.
    baselines = [read_baseline(p) for p in COMMITTED]
    assert len({b["machine"]["kind"] for b in baselines}) >= 2
    for metric, spread in rules.CROSS_KIND_SPREAD.items():
        for a, b in itertools.combinations(baselines, 2):
            for name in set(a["models"]) & set(b["models"]):
                diff = abs(a["models"][name]["metrics"][metric] - b["models"][name]["metrics"][metric])
                assert diff <= spread + 1e-9, (metric, name, diff)
        derived = math.ceil(round(rules.CROSS_KIND_FACTOR * spread * 1000, 6)) / 1000
        assert rules.CROSS_KIND_TOLERANCES[metric] == max(derived, rules.QUALITY_TOLERANCES[metric]), metric
    assert rules.CROSS_KIND_TOLERANCES["accuracy"] <= 0.005  # a one-point drop is at least twice the tolerance


def test_runs_of_two_machine_kinds_do_not_make_one_baseline(tmp_path):
    paths = [write(tmp_path / f"{k}.json", with_kind(real_results(), k)) for k in ("x86_64-avx2", "aarch64-asimd")]
    with pytest.raises(perfcheck.BadInput, match="different kinds of machine"):
        make_baseline(perfcheck.read_runs(paths))


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda b: b["rules"]["time"]["latency_ms_p50"].update(higher_is_better=True),
            "latency_ms_p50 is lower-is-better",
        ),
        (lambda b: b["rules"]["time"].update(params={"margin": 0.5}), "rules.time.params: not a metric"),
        (lambda b: b["models"]["knn"].update(margins={"latency_ms_p50": "wide"}), "model 'knn': 'margins'"),
        (lambda b: b["models"]["knn"].update(advisory=["accuracy"]), "model 'knn': 'advisory'"),
    ],
)
def test_a_hand_edited_baseline_is_named_malformed(tmp_path, edit, message):
    baseline = make_baseline(run_files([real_results()]))
    edit(baseline)
    (tmp_path / "b.json").write_text(json.dumps(baseline))
    with pytest.raises(perfcheck.BadInput, match="malformed baseline: .*" + message):
        read_baseline(tmp_path / "b.json")


# --------------------------------------------------------------------------- one real run


def test_real_ci_run_has_the_row_format_these_tests_build_and_passes_its_baseline(tmp_path, capsys):
    # The one real ci-profile run here (one quick model): the runner's rows must keep the layout the
    # hand-built rows above copy, or the tests above would test a format the runner no longer writes.
    from bench.run.runner import run

    path = run(
        ["random-forest"],
        profile="ci",
        dataset="mnist-sample",
        seed=0,
        out_dir=tmp_path / "run",
        models_dir=tmp_path / "run" / "models",
    )
    real = json.loads(path.read_text())
    built = real_results()
    assert set(real["models"]["random-forest"]) == set(built["models"]["knn"])
    assert set(real["models"]["random-forest"]["metrics"]) == set(built["models"]["knn"]["metrics"])
    assert set(real["run"]) >= set(built["run"]) and set(real["run"]["dataset"]) >= {"name", "fingerprint"}
    baseline = tmp_path / "baseline.json"
    assert check_cli.baseline_main(["--results", str(path), "--out", str(baseline)]) == 0
    assert check_cli.check_main(["--baseline", str(baseline), "--results", str(path)]) == 0
    assert "random-forest" in capsys.readouterr().out
