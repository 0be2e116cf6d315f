"""The report's answers to "which model, and why": verdict, significance, calibration, robustness, curves.

Every section reads only what a run stored in its results file (schema 2) and says in one
line how its numbers were made; a run that did not measure something gets no section.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..evaluation.calibration import ECE_BINS
from ..evaluation.significance import seed_interval
from ..results import ROBUSTNESS_SAMPLES_NAME
from ..schema import METRICS, Results
from . import figures
from .columns import TIED_MARK, ok_rows_by_accuracy, seed_entries, tied_with_best
from .document import BulletList, Cell, Heading, Paragraph, Table, figure_block
from .offmnist import most_transferable

CALIBRATION_METHOD = (
    f"ECE: expected calibration error of the top label over {ECE_BINS} equal-width confidence bins "
    "(sum over bins of share of images x |accuracy - mean confidence|); Brier: mean over images of "
    "the squared distance between the probability vector and the one-hot label (0 best, 2 worst)."
)
INTERVAL_METHOD = "95% intervals of accuracy: Wilson score interval over the test images."
SEED_METHOD = "Over seeds: mean and 95% Student-t interval of the accuracy over the training seeds."
ROBUSTNESS_METHOD = (
    "Each corruption is applied to every test image, deterministically for the seed; relative drop = "
    "1 - mean accuracy over corruptions / clean accuracy."
)


_figure = figure_block


def robustness_view(results: Results):
    """(rows, corruptions, accuracy matrix, mean per row, drop per row, how) for the rows measured the same
    way as the most accurate one (source, severity, seed), over the corruptions all of them have; None if none."""
    measured = [r for r in ok_rows_by_accuracy(results) if r.robustness]
    if not measured:
        return None
    how = {k: measured[0].robustness.get(k) for k in ("source", "severity", "seed", "n_test", "command")}
    rows = [r for r in measured if all(r.robustness.get(k) == how[k] for k in ("source", "severity", "seed", "n_test"))]
    corruptions = [c for c in rows[0].robustness["accuracy"] if all(c in r.robustness["accuracy"] for r in rows)]
    matrix = np.array([[r.robustness["accuracy"][c] for c in corruptions] for r in rows])
    clean = np.array([r.robustness["clean_accuracy"] for r in rows])
    mean = matrix.mean(axis=1)
    drop = np.where(clean > 0, 1 - mean / np.where(clean > 0, clean, 1), np.nan)
    return rows, corruptions, matrix, mean, drop, how


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def verdict(results: Results) -> list[str]:
    """Which model to pick, in words, for each question the run can answer."""
    rows = ok_rows_by_accuracy(results)
    little = _best_with_little_data(results)
    if not rows:
        return [little] if little else []
    best = rows[0]
    tied = sorted(tied_with_best(results) - {best.name})
    compared = {n for p in (results.significance or {}).get("pairs", []) for n in (p["model_a"], p["model_b"])}
    others = "every other model" if compared >= {r.name for r in rows} else "every other model with saved predictions"
    lines = [
        f"For accuracy: {best.name}, {_pct(best.metrics['accuracy'])}"
        + (
            f"; {', '.join(tied)} not significantly different."
            if tied
            else (f", significantly ahead of {others}." if results.significance else ".")
        )
    ]
    fastest = min(rows, key=lambda r: r.metrics["latency_ms_p50"])
    lines.append(
        f"For latency: {fastest.name} ({fastest.metrics['latency_ms_p50']:.3f} ms per image at p50, "
        f"{_pct(fastest.metrics['accuracy'])} accurate)."
    )
    calibrated = [r for r in rows if r.metrics.get("ece") is not None]
    if calibrated:
        c = min(calibrated, key=lambda r: r.metrics["ece"])
        lines.append(f"For trustworthy confidence: {c.name} (ECE {c.metrics['ece']:.4f}).")
    if little:
        lines.append(little)
    view = robustness_view(results)
    if view and view[1]:
        robust_rows, corruptions, _, mean, drop, _ = view
        i = int(np.argmax(mean))
        lines.append(
            f"For robustness: {robust_rows[i].name} ({_pct(mean[i])} mean accuracy over {len(corruptions)} "
            f"corruptions, {100 * drop[i]:.1f}% below clean)."
        )
    if transfer := most_transferable(results):
        lines.append(transfer)
    return lines


def _best_with_little_data(results: Results) -> str | None:
    """'For little data: ...' from the run's learning curves at their smallest size, if it has any."""
    points = [p for p in results.curves if p.get("status") == "ok"]
    if not points:
        return None
    smallest = min(p["size"] for p in points)
    best = max((p for p in points if p["size"] == smallest), key=lambda p: p["accuracy"])
    return f"For little data: {best['model']} ({_pct(best['accuracy'])} after training on {smallest:,} images)."


def verdict_section(results: Results) -> list:
    lines = verdict(results)
    return [Heading(2, "Verdict"), BulletList(lines)] if lines else []


def significance_section(results: Results, fig_dir: Path) -> list:
    sig = results.significance
    rows = ok_rows_by_accuracy(results)
    if not sig or not rows:
        return []
    names = [r.name for r in rows if any(r.name in (p["model_a"], p["model_b"]) for p in sig["pairs"])]
    index = {n: i for i, n in enumerate(names)}
    p_holm = np.full((len(names), len(names)), np.nan)
    for p in sig["pairs"]:
        i, j = index[p["model_a"]], index[p["model_b"]]
        p_holm[i, j] = p_holm[j, i] = p["p_holm"]
    table = [
        [
            a,
            *[
                Cell("-" if i == j else figures.p_value_text(p_holm[i, j]), bold=i != j and p_holm[i, j] < sig["alpha"])
                for j in range(len(names))
            ],
        ]
        for i, a in enumerate(names)
    ]
    blocks = [
        Heading(2, "Is the difference real?"),
        Paragraph(
            f"Method: {sig['method']}; {INTERVAL_METHOD} "
            "The comparison table states the smallest difference this test set resolves."
        ),
        Table(
            ["", *names],
            table,
            right_align_from=1,
            caption=f"Holm-corrected p-values; bold: significant at {sig['alpha']:.0%}. "
            f"In the comparison table, {TIED_MARK} marks models the test cannot tell from the best.",
        ),
        _figure(
            figures.mcnemar_matrix(names, p_holm, fig_dir / "mcnemar.png", sig["alpha"]),
            fig_dir,
            "Pairwise McNemar p-values (Holm-corrected)",
        ),
    ]
    return blocks


def seeds_section(results: Results) -> list:
    """With --seeds N: each model's mean accuracy over seeds and its Student-t interval."""
    seeded = [r for r in ok_rows_by_accuracy(results) if len(seed_entries(r)) > 1]
    if not seeded:
        return []
    body = []
    for r in seeded:
        mean, low, high = seed_interval([s.accuracy for s in seed_entries(r)])
        body.append([r.name, str(len(seed_entries(r))), _pct(mean), f"{_pct(low)} to {_pct(high)}"])
    return [
        Heading(2, "Spread over seeds"),
        Table(
            ["model", "seeds", "mean accuracy", "95% interval over seeds"],
            body,
            right_align_from=1,
            caption=SEED_METHOD,
        ),
    ]


def calibration_section(results: Results, fig_dir: Path) -> list:
    rows = [r for r in ok_rows_by_accuracy(results) if r.metrics.get("ece") is not None]
    if not rows:
        return []
    ece, brier, log_loss = METRICS["ece"], METRICS["brier"], METRICS["log_loss"]
    best = {m.key: m.best(r.metrics.get(m.key) for r in rows) for m in (ece, brier, log_loss)}
    body = [
        [
            r.name,
            r.family,
            *[Cell(m.show(r.metrics[m.key]), bold=r.metrics[m.key] == best[m.key]) for m in (ece, brier, log_loss)],
        ]
        for r in rows
    ]
    blocks = [
        Heading(2, "Calibration: is a 99% confidence worth 99%?"),
        Paragraph(f"Method: {CALIBRATION_METHOD}"),
        Table(
            ["model", "family", ece.title, brier.title, log_loss.title],
            body,
            right_align_from=2,
            caption="Lower is better in every column; best in bold.",
        ),
    ]
    reliability = {r.name: r.reliability for r in rows if r.reliability}
    if reliability:
        blocks.append(
            _figure(
                figures.reliability_diagrams(reliability, fig_dir / "reliability.png"),
                fig_dir,
                "Reliability diagrams: accuracy per confidence bin",
            )
        )
    return blocks


def robustness_section(results: Results, run_dir: Path, fig_dir: Path) -> list:
    view = robustness_view(results)
    if not view or not view[1]:
        return []
    rows, corruptions, matrix, mean, drop, how = view
    body = [
        [
            r.name,
            _pct(r.robustness["clean_accuracy"]),
            _pct(mean[i]),
            f"{100 * drop[i]:.1f}%",
            *[f"{100 * v:.1f}" for v in matrix[i]],
        ]
        for i, r in enumerate(rows)
    ]
    left_out = [r.name for r in ok_rows_by_accuracy(results) if r.robustness and r not in rows]
    setting = "" if how["severity"] is None else f", severity {how['severity']}, seed {how['seed']}"
    blocks = [
        Heading(2, "Robustness: accuracy under corruptions"),
        Paragraph(
            f"Method: {ROBUSTNESS_METHOD} Corruptions: {how['source']}{setting}, {how['n_test']:,} test "
            f"images; command: {how.get('command') or 'benchmark.py robustness'}."
            + (f" Measured another way, not shown: {', '.join(left_out)}." if left_out else "")
        ),
        Table(
            ["model", "clean", "mean corrupted", "drop", *corruptions],
            body,
            right_align_from=1,
            caption="Accuracy in % per corruption (MNIST-C names, then stroke dilate / erode and inversion).",
        ),
        _figure(
            figures.robustness_heatmap([r.name for r in rows], corruptions, matrix, fig_dir / "robustness.png"),
            fig_dir,
            "Accuracy under each corruption",
        ),
    ]
    samples = run_dir / ROBUSTNESS_SAMPLES_NAME
    if samples.is_file():
        with np.load(samples, allow_pickle=False) as f:
            images, names = f["images"], [str(n) for n in f["names"]]
        blocks.append(
            _figure(
                figures.corruption_samples(images, names, fig_dir / "corruption_samples.png"),
                fig_dir,
                "The first test image, clean and under each corruption",
            )
        )
    return blocks


def curves_section(results: Results, fig_dir: Path) -> list:
    points = [p for p in results.curves if p.get("status") == "ok"]
    if not points:
        return []
    curves: dict = {}
    for p in sorted(points, key=lambda p: p["size"]):
        c = curves.setdefault(p["model"], {"family": p["family"], "size": [], "accuracy": [], "train_seconds": []})
        c["size"].append(p["size"])
        c["accuracy"].append(p["accuracy"])
        c["train_seconds"].append(p["train_seconds"])
    sizes = sorted({p["size"] for p in points})
    by = {(p["model"], p["size"]): p for p in points}
    body = [
        [name, c["family"], *[_pct(by[(name, s)]["accuracy"]) if (name, s) in by else "-" for s in sizes]]
        for name, c in curves.items()
    ]
    return [
        Heading(2, "Learning curves: accuracy against training-set size"),
        Paragraph(
            "Each model trained on stratified subsets of the training split (the same subset for every "
            "model at a size), tested on the whole test split; the networks' epochs are in each point's "
            "settings."
        ),
        Table(
            ["model", "family", *[f"{s:,}" for s in sizes]],
            body,
            right_align_from=2,
            caption="Test accuracy per training-set size.",
        ),
        _figure(
            figures.learning_curves(curves, fig_dir / "learning_curves.png"),
            fig_dir,
            "Accuracy and training time against training-set size (log axes)",
        ),
    ]
