"""End to end through benchmark.py: the ci profile, resume after a kill, bad options."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from conftest import DATA_ARGS, ROOT, bench, bench_here

from bench.registry import MODELS

# The ci profile's test accuracy, 20 test images (0.02) below the lower of what each model reaches on full
# MNIST and on the sample fallback (x86_64-avx512_bf16; full MNIST's match the AVX2 baseline within 0.002):
# hog-svm 0.980/0.976, random-forest 0.951/0.944, knn 0.963/0.963, mlp 0.934/0.926, lenet5 0.955/0.942,
# cnn 0.972/0.958, cnn-aug 0.974/0.961, ensemble 0.937/0.932.
CI_FLOORS = {
    "hog-svm": 0.955,
    "random-forest": 0.925,
    "knn": 0.945,
    "mlp": 0.905,
    "lenet5": 0.92,
    "cnn": 0.935,
    "cnn-aug": 0.94,
    "ensemble": 0.91,
}


def test_ci_profile_runs_all_eight_models(ci_run):
    out, proc = ci_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "digit-bench/results/2"
    assert set(results["models"]) == set(MODELS)
    for name, row in results["models"].items():
        assert row["status"] == "ok", row.get("error")
        m = row["metrics"]
        assert CI_FLOORS[name] < m["accuracy"] <= 1.0, (name, m["accuracy"])
        for key in (
            "log_loss",
            "f1_macro",
            "roc_auc_macro",
            "train_seconds",
            "throughput_img_s",
            "latency_ms_p50",
            "latency_ms_p90",
            "latency_ms_p95",
            "size_bytes",
        ):
            assert m[key] is not None and m[key] >= 0, (name, key)
        assert len(row["per_class"]["f1"]) == 10 and np.array(row["confusion_matrix"]).shape == (10, 10)
        assert Path(row["model_path"]).is_file()
        preds = np.load(out / row["predictions_path"])
        assert preds["proba"].shape == (row["n_test"], 10)
    assert results["models"]["cnn"]["metrics"]["params"] == 330_346
    assert all(len(h["loss"]) >= 1 for h in results["models"]["cnn"]["history"])
    run = results["run"]
    assert run["profile"] == "ci" and run["seed"] == 0 and run["total_wall_seconds"] > 0
    assert run["dataset"]["fingerprint"].startswith("sha256:")
    assert run["environment"]["packages"]["tensorflow"] and run["environment"]["cpu_count"]
    # the ci profile pins every library to one thread, and the record says so
    threads = run["environment"]["threads"]
    assert threads["tf_intra_op"] == 1 and threads["tf_inter_op"] == 1
    assert all(p["num_threads"] == 1 for p in threads["native_pools"])
    for name in ("mlp", "lenet5", "cnn", "cnn-aug", "ensemble"):  # TensorFlow Lite predicts as Keras does
        check = results["models"][name]["inference"]
        assert check["inference"] == "tflite" and check["same_predictions_as_keras"] == 1.0, (name, check)
    # single-image latency through the fastest runtime that agrees with the model on every test image: the
    # classical models had ONNX Runtime tried (the forest's export agrees exactly), the networks use LiteRT
    for name, row in results["models"].items():
        record = row["runtime"]
        chosen = next(c for c in record["candidates"] if c["runtime"] == record["latency_runtime"])
        assert chosen["same_predictions"] == 1.0 and record["n_checked"] == row["n_test"], (name, record)
        tried = [c["runtime"] for c in record["candidates"]]
        assert tried == (["native"] if row["family"] == "deep" else ["native", "onnxruntime"]), (name, tried)
    # every row says where its time went; a network's phases add up to its training time
    for name, row in results["models"].items():
        t = row["time_breakdown"]
        assert all(t[k] >= 0 for k in ("save", "predict_test", "throughput", "runtime_choice", "latency")), name
        if row["family"] == "deep":
            phases = t["epochs"] + t["validation"] + t["checkpoint"] + t["batch_norm"]
            assert 0 < t["epochs"] <= phases <= t["train"] and t["training_gflop_s"] > 0, (name, t)
            members = 3 if name == "ensemble" else 1
            assert t["training_images"] == members * row["n_train"] * len(row["history"][0]["loss"]), (name, t)
    assert "train GFLOP/s" in (out / "report.md").read_text()
    forest = results["models"]["random-forest"]["runtime"]["candidates"][1]
    assert forest["same_predictions"] == 1.0 and forest["pilot_p50_ms"] > 0
    # the terminal table is read back from the file and lists every model
    for name in MODELS:
        assert name in proc.stdout


def test_sample_data_is_labelled_loudly(ci_run):
    out, proc = ci_run
    results = json.loads((out / "results.json").read_text())
    if results["run"]["dataset"]["is_sample"]:
        assert "SAMPLE DATA" in proc.stdout and "SAMPLE DATA" in results["run"]["dataset"]["note"]
    else:
        assert "SAMPLE DATA" not in proc.stdout


def test_resume_after_kill_keeps_finished_models(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "benchmark.py",
        "--profile",
        "ci",
        "--models",
        "knn,random-forest,mlp",
        "--out",
        str(out),
        "--models-dir",
        str(out / "models"),
        *DATA_ARGS,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results_path = out / "results.json"
    deadline = time.time() + 300
    try:
        while time.time() < deadline:  # wait until the first model's row is on disk, then kill
            if results_path.exists() and json.loads(results_path.read_text())["models"].get("knn"):
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = json.loads(results_path.read_text())  # never half-written: always parses
    assert before["models"]["knn"]["status"] == "ok"
    assert "mlp" not in before["models"]

    resumed = bench("--profile", "ci", "--models", "knn,random-forest,mlp", "--resume", out=out)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "knn: already measured" in resumed.stdout
    after = json.loads(results_path.read_text())
    assert after["models"]["knn"] == before["models"]["knn"]  # not retrained, not rewritten
    assert all(after["models"][n]["status"] == "ok" for n in ("knn", "random-forest", "mlp"))
    assert len(after["run"]["sessions"]) == 2


def test_resume_with_other_seed_is_refused(ci_run, tmp_path):
    from test_robustness import copy_run

    out = copy_run(ci_run, tmp_path / "run")  # a finished ci run (seed 0): refused before any training
    proc = bench_here("--profile", "ci", "--models", "knn", "--resume", "--seed", "7", out=out)
    assert proc.returncode == 2 and "cannot resume, seed was 0, now 7" in proc.stdout
    again = bench_here("--profile", "ci", "--models", "knn", out=out)
    assert again.returncode == 2 and "already holds results" in again.stdout


def test_seeds_add_spread_and_resume_adds_only_new_seeds(tmp_path):
    out = tmp_path / "run"
    proc = bench("--profile", "ci", "--models", "random-forest,knn", "--seeds", "2", out=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "accuracy over seeds" in proc.stdout and "(2 seeds)" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["seeds"] == 2
    forest, knn = results["models"]["random-forest"], results["models"]["knn"]
    assert forest["seed"] == 0 and [r["seed"] for r in forest["seed_runs"]] == [1]
    assert all(r["status"] == "ok" and 0 < r["accuracy"] <= 1 for r in forest["seed_runs"])
    # the seed reaches the forest (three different models), and not the deterministic kNN
    assert len({forest["metrics"]["log_loss"], *(r["log_loss"] for r in forest["seed_runs"])}) == 2
    assert {r["accuracy"] for r in knn["seed_runs"]} == {knn["metrics"]["accuracy"]}  # kNN has no randomness
    report = (out / "report.md").read_text()
    assert "accuracy over seeds" in report and "Seeds: 0: " in report

    more = bench("--profile", "ci", "--models", "random-forest,knn", "--seeds", "3", "--resume", out=out)
    assert more.returncode == 0, more.stdout[-3000:]
    after = json.loads((out / "results.json").read_text())
    assert after["run"]["sessions"][-1]["models_run"] == ["random-forest@seed2", "knn@seed2"]
    assert after["models"]["random-forest"]["seed_runs"][:1] == forest["seed_runs"]
    assert "(3 seeds)" in more.stdout
    again = bench("--profile", "ci", "--models", "random-forest,knn", "--resume", out=out)  # N is the run's own
    assert (
        again.returncode == 0
        and json.loads((out / "results.json").read_text())["run"]["sessions"][-1]["models_run"] == []
    )
    assert "(3 seeds)" in again.stdout


def test_seeds_below_one_is_one_line_exit_2():
    proc = bench_here("--models", "knn", "--seeds", "0")
    assert proc.returncode == 2 and "--seeds: must be at least 1, got 0" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unknown_model_is_one_line_exit_2():
    proc = bench_here("--models", "hog-svm,resnet")
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert "unknown model(s) resnet" in proc.stdout


def test_help_explains_every_option():
    proc = bench_here("--help")
    assert proc.returncode == 0
    for option in (
        "--models",
        "--profile",
        "--out",
        "--seed",
        "--seeds",
        "--dataset",
        "--data",
        "--resume",
        "--models-dir",
    ):
        assert option in proc.stdout
    for name in MODELS:
        assert name in proc.stdout


NATIVE_LOG_WORDS = ("cuInit", "cuda", "NodeDef", "oneDNN", "XNNPACK", "absl::InitializeLog", "E0000", "I0000", "W0000")


def test_a_whole_run_prints_no_tensorflow_log_line(ci_run):
    out, proc = ci_run
    seen = [line for line in (proc.stdout + proc.stderr).splitlines() if any(word in line for word in NATIVE_LOG_WORDS)]
    assert not seen, seen[:5]


def test_out_naming_an_existing_file_is_one_line_exit_2(tmp_path):
    taken = tmp_path / "results.txt"
    taken.write_text("not a folder")
    proc = bench_here("--models", "knn", "--profile", "ci", "--out", str(taken))
    assert proc.returncode == 2 and "Traceback" not in proc.stdout + proc.stderr
    assert f"{taken}: is a file, not a folder (--out" in proc.stdout
    assert taken.read_text() == "not a folder"
