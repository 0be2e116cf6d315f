"""Results file -> report.md and report.html (same content) with figures beside them.

Reads only what a run wrote: results.json, and when present test_set.npz and
predictions/<model>.npz (plain arrays, loaded without pickle). Without those arrays the
report still has every table and the confusion matrices and training curves; the
galleries and ROC curves say they are missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation.significance import resolution_sentence
from ..files import atomic_write_bytes
from ..results import load_predictions, load_test_set, predictions_file, read_results
from ..schema import Results, Run
from . import evaluation, figures, offmnist, optimisation
from .columns import (
    TIED_NOTE,
    comparison_table,
    concurrency_note,
    execution_text,
    ok_rows_by_accuracy,
    wall_time_text,
)
from .document import BulletList, Cell, Document, Heading, Note, Table, figure_block, to_html, to_markdown
from .model_sections import cross_model_section, model_section
from .timing import time_section

N_SAMPLE_PREDICTIONS = 12


def load_arrays(run_dir: Path, results: Results) -> dict:
    """Test images and each model's predictions, where the run left them."""
    test_set = load_test_set(run_dir / "test_set.npz")
    arrays = {"x_test": None, "y_test": None, "predictions": {}}
    if test_set is not None:
        arrays["x_test"], arrays["y_test"] = test_set
    for row in results.ok_rows():
        p = predictions_file(run_dir, row)
        if p is not None and p.is_file():
            arrays["predictions"][row.name] = load_predictions(p)
    return arrays


def run_section(results: Results) -> list:
    run, ds, env = results.run, results.run.dataset, results.run.environment
    blocks = [Heading(2, "Run")]
    failed = [r.name for r in results.failed_rows()]
    if failed:
        blocks.append(Note(f"These models failed and are not in the tables: {', '.join(failed)}."))
    threads = env.get("threads", {})
    pools = ", ".join(f"{p['api']} {p['num_threads']}" for p in threads.get("native_pools", []))
    code = env.get("digit_bench", {})
    blocks.append(
        Table(
            ["", ""],
            [
                ["date", f"{run.started_at} to {run.finished_at}"],
                ["command", run.command],
                ["profile", run.profile],
                ["seed", _seed_text(run)],
                [
                    "dataset",
                    f"{ds['name']}: {ds['n_train']:,} train, {ds['n_val']:,} validation, {ds['n_test']:,} test",
                ],
                ["data source", ds["source"]],
                ["data fingerprint", ds["fingerprint"]],
                [
                    "machine",
                    f"{env.get('cpu')}, {env.get('cpu_count')} cores ({env.get('affinity_cpus')} usable), {env.get('platform')}",
                ],
                [
                    "threads",
                    f"TensorFlow intra/inter-op {threads.get('tf_intra_op')}/{threads.get('tf_inter_op')} (0: all cores); {pools}",
                ],
                [
                    "packages",
                    ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()) + f"; Python {env.get('python')}",
                ],
                [
                    "code",
                    f"digit-bench {code.get('version')}, commit {code.get('git_commit')}"
                    + (" (uncommitted changes)" if code.get("git_dirty") else ""),
                ],
                ["total wall time", f"{wall_time_text(run)} over {len(run.sessions)} session(s)"],
                ["jobs ran", execution_text(run)],
            ],
            right_align_from=2,
        )
    )
    return blocks + time_section(results)


def dataset_section(results: Results, arrays: dict, fig_dir: Path) -> list:
    ds = results.run.dataset
    train = np.asarray(ds["train_class_counts"])
    test = np.asarray(ds["test_class_counts"])
    blocks = [
        Heading(2, "Dataset"),
        Table(
            ["digit", *map(str, range(10)), "total"],
            [
                ["train (incl. validation)", *map(str, train), str(train.sum())],
                ["test", *map(str, test), str(test.sum())],
            ],
        ),
        _figure(
            figures.class_distribution(train, test, fig_dir / "class_distribution.png"),
            fig_dir,
            "Class distribution of train and test",
        ),
    ]
    if arrays["x_test"] is not None:
        blocks.append(
            _figure(
                figures.sample_grid(arrays["x_test"], arrays["y_test"], fig_dir / "samples.png"),
                fig_dir,
                "Sample test images, one row per digit",
            )
        )
    return blocks


def comparison_section(results: Results, fig_dir: Path) -> list:
    rows = ok_rows_by_accuracy(results)
    if not rows:  # a learning-curves file has points, not models
        return []
    blocks = [
        Heading(2, "Comparison"),
        comparison_table(
            results,
            caption="Sorted by test accuracy; best value per column in bold. Precision, recall and F1 "
            "are macro averages; ROC-AUC is one-vs-rest, macro. Throughput: whole test set in "
            "batches of 1,000; latency: one image per call. "
            + (f"95% CI: Wilson interval of the accuracy. {TIED_NOTE} " if results.significance else "")
            + (
                resolution_sentence(results.significance["n_test"], rows[0].metrics["accuracy"])
                if results.significance
                else ""
            ),
        ),
        BulletList([f"{r.name} ({r.family}): {r.description}{runtime_text(r)}" for r in rows]),
    ]
    blocks.append(
        _figure(
            figures.accuracy_vs_latency(rows, fig_dir / "accuracy_vs_latency.png"),
            fig_dir,
            "Accuracy against single-image latency",
        )
    )
    return blocks


def sample_predictions_section(results: Results, arrays: dict, fig_dir: Path) -> list:
    rows = [r for r in ok_rows_by_accuracy(results) if r.name in arrays["predictions"]]
    if arrays["x_test"] is None or not rows:
        return []
    y = arrays["y_test"]
    picks = np.arange(min(N_SAMPLE_PREDICTIONS, len(y)))
    best = arrays["predictions"][rows[0].name]
    conf = best["proba"].max(axis=1)
    blocks = [
        Heading(2, "Sample predictions"),
        _figure(
            figures.sample_predictions(
                arrays["x_test"], y, best["y_pred"], conf, picks, rows[0].name, fig_dir / "sample_predictions.png"
            ),
            fig_dir,
            f"The first {len(picks)} test images as {rows[0].name} (most accurate) sees them",
        ),
    ]
    table = []
    for i in picks:
        cells = [f"#{i}", str(y[i])]
        for r in rows:
            p = arrays["predictions"][r.name]
            cells.append(Cell(f"{p['y_pred'][i]} ({p['proba'][i].max():.2%})", bold=p["y_pred"][i] != y[i]))
        table.append(cells)
    blocks.append(
        Table(
            ["image", "actual", *[r.name for r in rows]],
            table,
            right_align_from=1,
            caption="Predicted digit (confidence) of every model; wrong predictions in bold.",
        )
    )
    return blocks


_figure = figure_block


def build_document(results: Results, arrays: dict, fig_dir: Path, run_dir: Path | None = None) -> Document:
    """run_dir: the folder of the results file (files a run left beside it); default: fig_dir's parent."""
    run, ds = results.run, results.run.dataset
    run_dir = Path(run_dir) if run_dir else fig_dir.parent
    title = f"digit-bench report: {ds['name']}, profile {run.profile}, seed {run.seed}"
    doc = Document(title)
    if ds.get("is_sample"):
        doc.add(Note(f"{ds.get('note')} Numbers here are not comparable with full-MNIST results."))
    if concurrency_note(run):
        doc.add(Note(concurrency_note(run)))
    # what people came for first (the comparison and a verdict), then why, then how the run was made
    doc.add(
        *comparison_section(results, fig_dir),
        *evaluation.verdict_section(results),
        *evaluation.significance_section(results, fig_dir),
        *evaluation.seeds_section(results),
        *evaluation.calibration_section(results, fig_dir),
        *evaluation.robustness_section(results, run_dir, fig_dir),
        *offmnist.offmnist_section(results, run_dir, fig_dir),
        *evaluation.curves_section(results, fig_dir),
        *optimisation.optimisation_section(results, fig_dir),
        *optimisation.tuning_section(results),
        *run_section(results),
        *dataset_section(results, arrays, fig_dir),
        *sample_predictions_section(results, arrays, fig_dir),
    )
    for row in ok_rows_by_accuracy(results):
        doc.add(*model_section(row, arrays, fig_dir))
    doc.add(*cross_model_section(arrays, fig_dir))
    return doc


def build_reports(results_path, out_dir=None) -> tuple[Path, Path]:
    """Write report.md, report.html and figures/ into out_dir (default: beside the results)."""
    results_path = Path(results_path)
    results = read_results(results_path)
    out_dir = Path(out_dir) if out_dir else results_path.parent
    doc = build_document(results, load_arrays(results_path.parent, results), out_dir / "figures", results_path.parent)
    md, page = out_dir / "report.md", out_dir / "report.html"
    atomic_write_bytes(md, to_markdown(doc).encode())
    atomic_write_bytes(page, to_html(doc).encode())
    return md, page


def _seed_text(run: Run) -> str:
    n = run.seeds
    if n == 1:
        return str(run.seed)
    return (
        f"{run.seed}; every model also trained with seeds {run.seed + 1} to {run.seed + n - 1} on the same "
        f"split (tables show seed {run.seed}, the spread is in its own column)"
    )


def runtime_text(row) -> str:
    """'; single images through onnxruntime (same digit as the model on all 10,000 test images; pilot p50
    native 23.7 ms, onnxruntime 0.27 ms)', or '' for a row measured before runtimes were compared."""
    record = row.runtime
    if not record:
        return ""
    pilots = ", ".join(
        f"{c['runtime']} {c['pilot_p50_ms']:.3g} ms" for c in record["candidates"] if "pilot_p50_ms" in c
    )
    left_out = [f"{c['runtime']} ({_why_left_out(c)})" for c in record["candidates"] if "pilot_p50_ms" not in c]
    return (
        f"; single images through {record['latency_runtime']} (same digit as the model on all "
        f"{record['n_checked']:,} test images; pilot p50 {pilots})"
        + (f"; not used: {', '.join(left_out)}" if left_out else "")
    )


def _why_left_out(candidate: dict) -> str:
    if "error" in candidate:
        return f"failed: {candidate['error']}"
    return f"same digit on {candidate['same_predictions']:.2%} of the test images"
