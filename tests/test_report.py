"""Reports: built from a real run, same content in Markdown and HTML, rendered in headless Chromium."""

import copy
import json
import re
import shutil

import numpy as np
from conftest import bench, bench_here

from bench.registry import MODELS
from bench.report.build import build_reports
from bench.report.document import Document, Image, Paragraph, Table, to_html, to_markdown
from bench.report.readme import END, START


def test_run_writes_both_reports_with_the_same_figures(ci_run):
    out, proc = ci_run
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for name in MODELS:
        assert f"Model: {name}" in md and f"Model: {name}" in page
        assert f"figures/cm_{name}.png" in md and f"figures/cm_{name}.png" in page
        assert (out / "figures" / f"cm_{name}.png").is_file()
    md_images = sorted(line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("!["))
    html_images = sorted(part.split('"')[0] for part in page.split('<img src="')[1:])
    assert md_images == html_images and len(md_images) > 3 * len(MODELS)
    assert "true " in md and "Actual" not in md  # confusions listed; sample predictions are a figure + table
    assert "<script" not in page and "http://" not in page and "https://" not in page  # offline, no scripts
    # Keras models say which inference path (and interpreter) made their numbers and how it agrees with Keras
    assert md.count("Inference: tflite (ai-edge-litert); same prediction as the Keras model on 100.00%") == 5


def test_report_opens_with_the_comparison_and_answers_which_model_and_why(ci_run):
    out, _ = ci_run
    md = (out / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:4] == [
        "## Comparison",
        "## Verdict",
        "## Is the difference real?",
        "## Calibration: is a 99% confidence worth 99%?",
    ]
    assert headings.index("## Run") > headings.index("## Calibration: is a 99% confidence worth 99%?")
    assert "| 95% CI |" in md and "With 1,000 test images at" in md and "For accuracy: " in md
    assert (out / "figures" / "mcnemar.png").is_file() and (out / "figures" / "reliability.png").is_file()
    results = json.loads((out / "results.json").read_text())
    n = len(results["models"])
    assert results["schema"] == "digit-bench/results/2" and len(results["significance"]["pairs"]) == n * (n - 1) // 2
    for row in results["models"].values():
        m = row["metrics"]
        assert m["accuracy_ci95_low"] < m["accuracy"] < m["accuracy_ci95_high"] and 0 <= m["ece"] <= 1
        assert sum(row["reliability"]["count"]) == row["n_test"]


# column title -> (metric, how the report writes it, which way is better)
SHOWN = {
    "accuracy": ("accuracy", "{:.2%}", max),
    "log-loss": ("log_loss", "{:.4f}", min),
    "precision": ("precision_macro", "{:.4f}", max),
    "recall": ("recall_macro", "{:.4f}", max),
    "F1": ("f1_macro", "{:.4f}", max),
    "ROC-AUC": ("roc_auc_macro", "{:.5f}", max),
    "train s": ("train_seconds", "{:,.1f}", min),
    "img/s": ("throughput_img_s", "{:,.0f}", max),
    "p50 ms": ("latency_ms_p50", "{:.3f}", min),
    "p95 ms": ("latency_ms_p95", "{:.3f}", min),
}


def test_comparison_table_shows_each_models_numbers_in_accuracy_order_with_the_best_in_bold(ci_run):
    out, _ = ci_run
    rows = {n: r for n, r in json.loads((out / "results.json").read_text())["models"].items() if r["status"] == "ok"}
    section = (out / "report.md").read_text().split("## Comparison")[1].split("## Verdict")[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header, *body = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    body = body[1:]  # the alignment row
    assert header == ["model", "family", "accuracy", "95% CI", *list(SHOWN)[1:], "params", "size MB"]
    assert [cells[0] for cells in body] == sorted(rows, key=lambda n: -rows[n]["metrics"]["accuracy"])
    for cells in body:
        name, shown = cells[0], dict(zip(header, cells))
        row = rows[name]
        m = row["metrics"]
        assert shown["family"] == row["family"]
        low, high = m["accuracy_ci95_low"], m["accuracy_ci95_high"]
        assert shown["95% CI"] == f"{100 * low:.2f}-{100 * high:.2f}%"
        assert shown["params"] == (f"{m['params']:,}" if m.get("params") else "\\-")
        columns = {**SHOWN, "size MB": ("size_bytes", "{:.2f}", min)}
        for title, (key, text, best) in columns.items():
            value = m[key] / 1e6 if key == "size_bytes" else m[key]
            best_value = best(r["metrics"][key] for r in rows.values())
            expected = text.format(value)
            assert shown[title].removesuffix(" ≈") in (expected, f"**{expected}**"), (name, title, shown[title])
            assert shown[title].startswith("**") == (m[key] == best_value), (name, title)


def test_report_csv_writes_the_comparison_table_as_numbers(ci_run, tmp_path):
    import csv

    out, _ = ci_run
    table = tmp_path / "tables" / "comparison.csv"
    proc = bench_here("report", out / "results.json", "--out", tmp_path / "report", "--csv", table)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"table: {table}" in proc.stdout and (tmp_path / "report" / "report.md").is_file()
    rows = {n: r for n, r in json.loads((out / "results.json").read_text())["models"].items() if r["status"] == "ok"}
    with table.open(newline="") as f:
        lines = list(csv.DictReader(f))
    assert [line["model"] for line in lines] == sorted(rows, key=lambda n: -rows[n]["metrics"]["accuracy"])
    assert list(lines[0])[:5] == ["model", "family", "accuracy", "accuracy_ci95_low", "accuracy_ci95_high"]
    assert list(lines[0])[-1] == "tied_with_best" and "accuracy_mean" not in lines[0]  # one seed: no spread
    for line in lines:
        m = rows[line["model"]]["metrics"]
        for key, *_ in SHOWN.values():
            assert float(line[key]) == m[key], (line["model"], key)
        assert float(line["size_bytes"]) == m["size_bytes"] and line["family"] == rows[line["model"]]["family"]
    assert lines[0]["tied_with_best"] == "True"


def test_report_csv_into_a_folder_is_one_line_and_exit_2(ci_run, tmp_path):
    out, _ = ci_run
    proc = bench_here("report", out / "results.json", "--out", tmp_path / "report", "--csv", tmp_path)
    assert proc.returncode == 2
    assert proc.stdout.strip() == f"error: {tmp_path}: is a folder, not a file (--csv)"
    assert not (tmp_path / "report").exists()  # refused before the reports were written


def test_models_the_test_cannot_separate_from_the_best_are_marked(ci_run, tmp_path):
    out, _ = ci_run
    data = json.loads((out / "results.json").read_text())
    accuracy = {n: r["metrics"]["accuracy"] for n, r in data["models"].items()}
    ranked = sorted(accuracy, key=lambda n: -accuracy[n])
    best, last = ranked[0], ranked[-1]
    second = next(n for n in ranked if accuracy[n] < accuracy[best])  # a tie with the best is bold, not marked
    for pair in data["significance"]["pairs"]:  # only the runner-up is "not significantly different"
        involved = {pair["model_a"], pair["model_b"]}
        pair["significant"] = involved != {best, second}
    (tmp_path / "results.json").write_text(json.dumps(data))
    md = build_reports(tmp_path / "results.json")[0].read_text()
    table = md.split("## Comparison")[1].split("## Verdict")[0]
    assert re.search(rf"\| {re.escape(second)} \| \w+ \| [\d.]+% ≈ \|", table)
    assert not re.search(rf"\| {re.escape(last)} \| \w+ \| [\d.]+% ≈", table)
    assert f"{second} not significantly different" in md


def test_report_command_rebuilds_without_retraining(ci_run, tmp_path):
    out, _ = ci_run
    before = (out / "results.json").read_bytes()
    shutil.copytree(out / "figures", tmp_path / "figures")  # kept, not drawn again (their inputs are the same)
    proc = bench("report", str(out / "results.json"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    assert (tmp_path / "report.md").read_text() == (out / "report.md").read_text()
    assert (out / "results.json").read_bytes() == before
    assert not (tmp_path / "models").exists()


def test_everything_is_escaped():
    evil = '<script>alert("x")</script> [click](javascript:alert(1)) *bold* | pipe'
    doc = Document(evil, [Paragraph(evil), Table(["a", evil], [[evil, evil]]), Image("figures/a.png", evil, evil)])
    page, md = to_html(doc), to_markdown(doc)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert not re.search(r"(?<!\\)\]\(javascript", md)  # no live link
    assert "\\[click\\]" in md and "\\<script\\>" in md
    assert md.count("\n| ") == 3  # the pipe inside the text did not add a column


def test_report_without_prediction_files_still_builds(ci_run, tmp_path):
    out, _ = ci_run
    shutil.copy(out / "results.json", tmp_path / "results.json")  # no test_set.npz, no predictions/
    md, _ = build_reports(tmp_path / "results.json")
    text = md.read_text()
    assert "Predictions file not available" in text and "figures/cm_cnn.png" in text


def test_seed_spread_from_a_results_file_with_a_failed_and_an_unordered_seed(ci_run, tmp_path):
    out, _ = ci_run
    results = json.loads((out / "results.json").read_text())
    row = results["models"]["lenet5"]
    own = row["metrics"]["accuracy"]
    row["seed_runs"] = [
        {"seed": 2, "status": "ok", "accuracy": own + 0.002, "train_seconds": 3.0},
        {"seed": 3, "status": "failed", "error": "MemoryError: out of memory"},
        {"seed": 1, "status": "ok", "accuracy": own - 0.002, "train_seconds": 2.0},
    ]
    results["run"]["seeds"] = 4
    (tmp_path / "results.json").write_text(json.dumps(results))
    text = build_reports(tmp_path / "results.json")[0].read_text()
    mean, sd = own * 100, 0.2  # three accuracies: own - 0.2, own, own + 0.2 points
    assert f"{mean:.2f} ± {sd:.2f}% (3 seeds)" in text  # the table column and the model's paragraph
    assert re.search(r"Seeds: 0: [0-9.]+% in \d+ s; 1: .*; 2: ", text)
    assert "failed: seed 3: MemoryError: out of memory" in text
    assert "| accuracy over seeds |" in text


def _headline(results):
    """A copy of a real run's results made to look like a full-MNIST run, to test the README writer alone."""
    full = copy.deepcopy(results)
    full["run"]["profile"] = "full"
    full["run"]["dataset"].update(name="mnist", is_sample=False)
    return full


README = "# Title\n\nintro text\n\n" + START + "\nold table\n" + END + "\n\n## After\nkept as is\n"


def test_update_readme_changes_only_the_marked_block(ci_run, tmp_path):
    out, _ = ci_run
    results = _headline(json.loads((out / "results.json").read_text()))
    (tmp_path / "results.json").write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text(README)
    proc = bench("report", str(tmp_path / "results.json"), "--update-readme", "--readme", str(readme))
    assert proc.returncode == 0, proc.stdout
    text = readme.read_text()
    before, after = text.split(START)[0], text.split(END)[1]
    assert before == README.split(START)[0] and after == README.split(END)[1]
    block = text.split(START)[1].split(END)[0]
    assert "old table" not in block and all(f"| {n} |" in block for n in MODELS)
    assert "results.json" in block


def test_update_readme_refuses_sample_or_partial_runs(ci_run, tmp_path):
    out, _ = ci_run
    readme = tmp_path / "README.md"
    readme.write_text(README)
    results = json.loads((out / "results.json").read_text())
    sample = _headline(results)
    sample["run"]["dataset"].update(name="mnist-sample", is_sample=True)
    partial = _headline(results)
    del partial["models"]["ensemble"]
    for bad, reason in (
        (sample, "mnist-sample"),
        (partial, "models not measured: ensemble"),
        (results, "profile is 'ci'"),
    ):
        (tmp_path / "results.json").write_text(json.dumps(bad))
        proc = bench("report", str(tmp_path / "results.json"), "--update-readme", "--readme", str(readme))
        assert proc.returncode == 2 and reason in proc.stdout and "refusing to update README" in proc.stdout
        assert readme.read_text() == README


def test_html_report_renders_in_headless_chromium(ci_run, browser, tmp_path):
    out, _ = ci_run
    browser.get((out / "report.html").resolve().as_uri())
    # The comparison table is there and lists every model.
    tables = browser.find_elements("css selector", "table")
    comparison = [t for t in tables if "ROC-AUC" in t.text and "img/s" in t.text]
    assert comparison and all(name in comparison[0].text for name in MODELS)
    # Every image loaded (a broken one has naturalWidth 0), confusion matrices included.
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
    )
    broken = [src for src, ok in images if not ok]
    assert not broken, broken
    assert sum("figures/cm_" in src for src, _ in images) == len(MODELS)
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] > 500 and pixels.std() > 0.05  # not a blank page


def test_a_figure_is_drawn_again_only_when_its_inputs_change(tmp_path):
    from bench.report import figures

    path = tmp_path / "figures" / "cm.png"
    cm = np.eye(10, dtype=int) * 5
    figures.confusion_matrix(cm, "knn", path)
    drawn = path.stat().st_mtime_ns
    figures.confusion_matrix(cm.copy(), "knn", path)  # equal inputs: the file is kept as it is
    assert path.stat().st_mtime_ns == drawn
    for changed in ((cm + np.eye(10, dtype=int), "knn"), (cm, "mlp")):
        figures.confusion_matrix(*changed, path)
        assert path.stat().st_mtime_ns != drawn
        drawn = path.stat().st_mtime_ns
    path.write_bytes(b"not a png")  # a file it did not draw is replaced
    figures.confusion_matrix(cm, "mlp", path)
    assert path.read_bytes()[:4] == b"\x89PNG"
