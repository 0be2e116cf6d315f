"""The results file: typed rows that round-trip, atomic writes, schema check."""

import json
from pathlib import Path

import pytest

from bench.results import ResultsError, atomic_write_bytes, read_results, results_frame, write_results
from bench.schema import METRICS, Results, Row, Run, SeedRun

HEADLINE = Path(__file__).resolve().parents[1] / "reports" / "full" / "results.json"


def small_results() -> Results:
    run = Run(
        command="python benchmark.py",
        profile="ci",
        seed=0,
        started_at="2026-11-25T00:00:00+00:00",
        dataset={"name": "mnist", "fingerprint": "sha256:00"},
        environment={},
    )
    ok = Row(
        "knn",
        "classical",
        "ok",
        metrics={"accuracy": 0.9, "train_seconds": 1.0},
        seed_runs=[
            SeedRun(1, "ok", train_seconds=2.0, metrics={"accuracy": 0.91}),
            SeedRun(2, "failed", error="ValueError: boom"),
        ],
    )
    return Results(run, {"knn": ok, "mlp": Row.failed("mlp", "deep", "ValueError: x", "Traceback ...", "t")})


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, small_results())
    back = read_results(path)
    assert back == small_results()
    assert [r.name for r in back.ok_rows()] == ["knn"] and [r.name for r in back.failed_rows()] == ["mlp"]
    assert back.models["knn"].seed_runs[0].accuracy == 0.91 and not back.models["knn"].seed_runs[1].ok
    assert not [p for p in tmp_path.iterdir() if p.name != "results.json"]  # no temporary left over


def test_old_results_file_loads_and_writes_back_unchanged():
    """The headline run's file (schema 1, written before rows were typed) reads into typed rows and back exactly."""
    raw = json.loads(HEADLINE.read_text())
    results = read_results(HEADLINE)
    assert len(results.ok_rows()) == 8 and results.models["cnn"].metrics["params"] == 330_346
    assert results.to_json() == raw


def test_a_results_file_is_a_frame_of_one_row_per_model_and_seed():
    raw = json.loads(HEADLINE.read_text())
    frame = results_frame(HEADLINE)
    assert len(frame) == 3 * len(raw["models"]) and list(frame.columns[:8]) == [
        "model", "family", "seed", "status", "error", "profile", "dataset", "machine_kind",
    ]  # fmt: skip
    assert list(frame["model"].unique()) == list(raw["models"])
    for (name, seed), got in frame.set_index(["model", "seed"]).iterrows():
        row = raw["models"][name]
        recorded = row["metrics"] if seed == row["seed"] else next(r for r in row["seed_runs"] if r["seed"] == seed)
        assert got["accuracy"] == recorded["accuracy"] and got["train_seconds"] == recorded["train_seconds"]
        assert got["family"] == row["family"] and got["status"] == "ok"
        assert (got["profile"], got["dataset"], got["machine_kind"]) == ("full", "mnist", "x86_64-avx512_bf16")
    knn = frame[frame["model"] == "knn"]
    assert list(knn["seed"]) == [0, 1, 2] and knn["latency_ms_p50"].notna().tolist() == [True, False, False]


def test_failed_rows_and_seeds_are_rows_with_their_error():
    frame = results_frame(small_results())
    assert [tuple(r) for r in frame[["model", "seed", "status"]].itertuples(index=False)] == [
        ("knn", 0, "ok"), ("knn", 1, "ok"), ("knn", 2, "failed"), ("mlp", 0, "failed"),
    ]  # fmt: skip
    assert frame["accuracy"].tolist()[:2] == [0.9, 0.91] and frame["accuracy"].isna().tolist()[2:] == [True, True]
    assert frame["error"].tolist()[2:] == ["ValueError: boom", "ValueError: x"]


def test_every_compared_metric_has_a_direction_or_none():
    assert METRICS["accuracy"].best([0.9, None, 0.95]) == 0.95 and METRICS["log_loss"].best([0.2, 0.1]) == 0.1
    assert METRICS["params"].best([1, 2]) is None and METRICS["size_bytes"].show(6_310_000) == "6.31"


def test_malformed_results_file_is_one_line_error(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "digit-bench/results/1", "models": {}}))
    with pytest.raises(ResultsError, match="malformed results file"):
        read_results(path)


def test_failed_write_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, small_results())
    before = path.read_bytes()
    bad = small_results()
    bad.models["knn"].settings = {"bad": object()}
    with pytest.raises(TypeError):
        write_results(path, bad)
    assert path.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_bytes(path, b"old")

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such results file"),
        ("{not json", "not a readable results file"),
        (json.dumps({"schema": "other/9"}), "schema is 'other/9'"),
        (json.dumps([1, 2]), "schema is 'list'"),
    ],
)
def test_read_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        read_results(path)
