"""A run folder or results file from someone else: its names and paths never lead a read or a write
outside the folders they belong in, and text from it or from file names is printed as text."""

import json
import os

import numpy as np
import pytest
from conftest import bench_here
from rich.console import Console

from bench.console import esc, fail
from bench.files import UnsafePathError, atomic_write, atomic_write_bytes, check_model_name, inside
from bench.results import ResultsError, predictions_file, read_results, save_test_set
from bench.run.saved import SavedModelError, model_file, open_run
from bench.schema import Results, Row, Run


def _run(tmp_path, rows: dict[str, dict] | None = None, **extra) -> "Path":  # noqa: F821
    """A run folder with results.json whose knn row says what `rows` says, and a tiny test set."""
    run = Run(
        command="python benchmark.py",
        profile="ci",
        seed=0,
        started_at="2026-11-25T00:00:00+00:00",
        dataset={"name": "mnist", "fingerprint": "sha256:00", "n_train": 10, "n_val": 1, "n_test": 4},
        environment={},
    )
    folder = tmp_path / "run"
    folder.mkdir()
    results = Results(
        run,
        {
            "knn": Row(
                "knn",
                "classical",
                "ok",
                metrics={"accuracy": 0.9},
                model_path=str(folder / "models" / "knn.skops"),
                predictions_path="predictions/knn.npz",
            )
        },
    )
    raw = results.to_json()
    for name, fields in (rows or {}).items():
        raw["models"][name] = {**raw["models"].get("knn", {}), **fields}
    raw.update(extra)
    (folder / "results.json").write_text(json.dumps(raw))
    save_test_set(folder / "test_set.npz", np.zeros((4, 28, 28), np.uint8), np.arange(4))
    return folder


# ---- names ----


@pytest.mark.parametrize("name", ["../../evil", "a/b", "cm_x.png/..", "", "knn\n", "[bold]x", "..", "x y"])
def test_a_model_name_that_could_reach_outside_is_refused(name):
    with pytest.raises(UnsafePathError, match="not a model name"):
        check_model_name(name, "somewhere")


@pytest.mark.parametrize("name", ["knn", "hog-svm", "random_forest", "CNN2"])
def test_registry_style_names_pass(name):
    assert check_model_name(name, "somewhere") == name


@pytest.mark.parametrize(
    "attack",
    [
        {"rows": {"../../outside": {"name": "../../outside"}}},
        {"rows": {"knn": {"name": "../knn"}}},  # the row's own name disagrees with its key
        {"curves": [{"model": "../../x", "size": 10, "status": "ok"}]},
        {"tuning": {"model": "a/b", "trials": [], "best": None}},
        {"significance": {"pairs": [{"model_a": "knn", "model_b": "../x"}]}},
    ],
)
def test_results_file_with_a_path_for_a_model_name_is_refused(tmp_path, attack):
    folder = _run(tmp_path, attack.get("rows"), **{k: v for k, v in attack.items() if k != "rows"})
    with pytest.raises(ResultsError, match="not a model name|is named") as e:
        read_results(folder / "results.json")
    assert "\n" not in str(e.value) and str(folder / "results.json") in str(e.value)


def test_report_of_a_hostile_results_file_writes_nothing_outside(tmp_path):
    folder = _run(tmp_path, {"../../escaped": {"name": "../../escaped"}})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = bench_here("report", str(folder / "results.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a model name" in lines[0], proc.stdout
    assert "Traceback" not in proc.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# ---- paths ----


@pytest.mark.parametrize("path", ["../outside.npz", "/etc/passwd", "predictions/../../x.npz"])
def test_predictions_path_outside_the_run_is_refused(tmp_path, path):
    folder = _run(tmp_path, {"knn": {"predictions_path": path}})
    row = Row.from_json(json.loads((folder / "results.json").read_text())["models"]["knn"])
    with pytest.raises(ResultsError, match="predictions_path.*lies outside"):
        predictions_file(folder, row)


def test_predictions_path_inside_the_run_resolves_there(tmp_path):
    folder = _run(tmp_path)
    row = read_results(folder / "results.json").models["knn"]
    assert predictions_file(folder, row) == (folder / "predictions" / "knn.npz").resolve()


def test_report_refuses_a_predictions_path_outside_the_run(tmp_path):
    secret = tmp_path / "secret.npz"
    np.savez(secret, y_true=np.arange(4), y_pred=np.arange(4), proba=np.eye(4, 10))
    folder = _run(tmp_path, {"knn": {"predictions_path": str(secret)}})
    proc = bench_here("report", str(folder / "results.json"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "predictions_path" in proc.stdout and "lies outside" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "model_path, message",
    [
        ("/etc/passwd", "is not a file named knn.skops"),
        ("{outside}/knn.skops", "lies outside"),
        ("../elsewhere/knn.skops", "lies outside"),
        ("{run}/models/cnn.keras", "is not a file named knn.skops"),
    ],
)
def test_model_path_outside_the_run_and_models_folder_is_refused(tmp_path, model_path, message):
    outside = tmp_path / "elsewhere"
    folder = _run(tmp_path, {"knn": {"model_path": model_path.format(outside=outside, run=tmp_path / "run")}})
    with pytest.raises(SavedModelError, match=message) as e:
        open_run(folder, models_dir=tmp_path / "models")
    assert "\n" not in str(e.value)


def test_model_path_in_the_models_folder_given_is_accepted(tmp_path):
    shared = tmp_path / "shared-models"
    folder = _run(tmp_path, {"knn": {"model_path": str(shared / "knn.skops")}})
    row = read_results(folder / "results.json").models["knn"]
    with pytest.raises(SavedModelError, match="lies outside"):
        model_file(row, folder)  # default models/ of the working directory
    assert model_file(row, folder, shared) == (shared / "knn.skops").resolve()


def test_a_symlink_out_of_the_run_is_followed_to_where_it_leads_and_refused(tmp_path):
    (tmp_path / "secret").mkdir()
    folder = _run(tmp_path, {"knn": {"predictions_path": "link/knn.npz"}})
    os.symlink(tmp_path / "secret", folder / "link")
    row = read_results(folder / "results.json").models["knn"]
    with pytest.raises(ResultsError, match="lies outside"):
        predictions_file(folder, row)


def test_robustness_on_a_hostile_run_folder_is_one_line_and_exit_2(tmp_path):
    folder = _run(tmp_path, {"knn": {"model_path": "/etc/passwd"}})
    proc = bench_here("robustness", str(folder), "--corruptions", "rotate")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "knn.skops" in lines[0], proc.stdout
    assert "Traceback" not in proc.stderr


def test_inside_keeps_relative_paths_under_the_first_root(tmp_path):
    assert inside("a/b.npz", [tmp_path], "x") == (tmp_path / "a" / "b.npz").resolve()
    with pytest.raises(UnsafePathError, match="x: '../b.npz' lies outside"):
        inside("../b.npz", [tmp_path], "x")


# ---- one atomic write ----


def test_atomic_write_hands_the_writer_a_temporary_file_with_the_same_suffix(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp.suffix == ".keras" and tmp != tmp_path / "model.keras"
        tmp.write_bytes(b"weights")

    atomic_write(tmp_path / "model.keras", write)
    assert (tmp_path / "model.keras").read_bytes() == b"weights" and not seen[0].exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "figure.png"
    atomic_write_bytes(path, b"old")

    def half_then_crash(tmp):
        tmp.write_bytes(b"ha")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_crash)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["figure.png"]


def test_every_file_a_run_writes_goes_through_the_atomic_write(tmp_path, monkeypatch):
    """Models (skops and Keras, with the Keras metadata) and figures are written through bench.files."""
    import bench.files

    written = []
    real = bench.files.atomic_write

    def spy(path, write):
        written.append(path.name)
        return real(path, write)

    monkeypatch.setattr(bench.files, "atomic_write", spy)
    import bench.estimators.base as base
    import bench.report.figures as figures

    monkeypatch.setattr(base, "atomic_write", spy)
    monkeypatch.setattr(figures, "atomic_write", spy)
    from bench.registry import MODELS

    rng = np.random.default_rng(0)
    est = MODELS["knn"].build("ci", 0).fit(rng.integers(0, 255, (100, 28, 28)), np.tile(np.arange(10), 10))
    est.save(tmp_path / "knn.skops")
    figures.confusion_matrix(np.eye(10, dtype=int).tolist(), "knn", tmp_path / "cm_knn.png")
    assert written == ["knn.skops", "cm_knn.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm_knn.png", "knn.skops"]


def test_writes_in_the_package_go_through_bench_files():
    """No module writes a file by itself: only bench/files.py opens files for writing."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "bench"
    direct = re.compile(
        r"\.write_text\(|\.write_bytes\(|\bimwrite\(|\.savefig\(|\bopen\([^)]*['\"][wax]b?\+?['\"]"
        r"|callbacks\.ModelCheckpoint\(|\.dump\(|\.save\(path|np\.save\w*\((?!\s*$|buf)"
    )
    # lines that write into a TemporaryDirectory the function deletes, or hand atomic_write a temporary file
    allowed = {
        ("estimators/onnx.py", "source.write_bytes(export.model)"),
        ("estimators/base.py", "sio.dump(self, tmp)"),
        ("report/figures.py", "fig.savefig(tmp,"),
    }
    found = [
        f"{p.relative_to(root)}:{i}: {line.strip()}"
        for p in root.rglob("*.py")
        if p.name != "files.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if direct.search(line) and not any(str(p.relative_to(root)) == f and s in line for f, s in allowed)
    ]
    assert not found, found


# ---- the terminal prints user text as text ----


@pytest.mark.parametrize("text", ["scans[/x].png", "[bold]loud[/bold]", "a\\[b]", "[/]", "trailing\\"])
def test_user_text_is_printed_as_it_is(text):
    console = Console(record=True, width=200, color_system=None)
    console.print(f"[yellow]file {esc(text)}[/yellow] [red]{esc(text)}[/red] {esc(text)}")
    fail(console, f"{text}: no such file")
    assert console.export_text().splitlines() == [f"file {text} {text} {text}", f"error: {text}: no such file"]


def test_predict_prints_a_file_name_with_brackets(tmp_path):
    """A folder named 'scans[' made rich raise MarkupError on 'scans[/x].png'."""
    from bench.registry import MODELS

    rng = np.random.default_rng(0)
    MODELS["knn"].build("ci", 0).fit(rng.integers(0, 255, (100, 28, 28)), np.tile(np.arange(10), 10)).save(
        tmp_path / "models" / "knn.skops"
    )
    (tmp_path / "scans[").mkdir()
    image = tmp_path / "scans[" / "x].png"
    image.write_text("not an image")
    proc = bench_here(
        "predict",
        str(image),
        str(tmp_path / "scans[" / "[bold]missing.png"),
        "--model",
        "knn",
        "--models-dir",
        str(tmp_path / "models"),
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {image}: not an image" in proc.stdout
    assert f"error: {tmp_path / 'scans['}/[bold]missing.png: no such file" in proc.stdout
    assert "MarkupError" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_recorded_command_names_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    from bench.console import command_line

    monkeypatch.chdir(tmp_path)
    data = tmp_path.parent / "shared" / "mnist.npz"
    assert (
        command_line("--data", str(data), f"--out={tmp_path / 'run'}", "--seed", "1")
        == "python benchmark.py --data ../shared/mnist.npz --out=run --seed 1"
    )


def test_a_path_inside_the_working_folder_is_recorded_relative_to_it(tmp_path, monkeypatch):
    from bench.files import as_typed

    monkeypatch.chdir(tmp_path)
    assert as_typed(str(tmp_path / "models" / "cnn.keras")) == "models/cnn.keras"
    assert as_typed("/elsewhere/models/cnn.keras") == "/elsewhere/models/cnn.keras"
    assert as_typed("models/cnn.keras") == "models/cnn.keras" and as_typed(None) is None


def test_a_relative_model_path_is_found_from_the_working_folder_or_the_run_folder(tmp_path, monkeypatch):
    from bench.run.saved import SavedModelError, model_file
    from bench.schema import Row

    run, models = tmp_path / "reports" / "run", tmp_path / "models"
    run.mkdir(parents=True)
    models.mkdir()
    (models / "knn.skops").write_bytes(b"x")
    row = Row("knn", "classical", "ok", "t", model_path="models/knn.skops")
    monkeypatch.chdir(tmp_path)  # as the run recorded it: relative to where it was started
    assert model_file(row, run, "models") == (models / "knn.skops").resolve()
    (run / "models").mkdir()
    (run / "models" / "knn.skops").write_bytes(b"x")
    monkeypatch.chdir(run.parent)  # elsewhere: the run folder's own models/
    assert model_file(row, run, "models") == (run / "models" / "knn.skops").resolve()
    escape = Row("knn", "classical", "ok", "t", model_path="../../../knn.skops")
    with pytest.raises(SavedModelError, match="lies outside"):
        model_file(escape, run, "models")
