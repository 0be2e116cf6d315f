"""The comparison columns shared by the terminal table and the reports."""

from __future__ import annotations

import numpy as np

from .document import Cell, Table

# The eight models of a headline run, in registry order (the report never imports the registry).
MODEL_ORDER = ["hog-svm", "random-forest", "knn", "mlp", "lenet5", "cnn", "cnn-aug", "ensemble"]

# (title, metric key, format, direction: +1 higher is better, -1 lower is better, 0 neither)
COLUMNS = [
    ("accuracy", "accuracy", "{:.2%}", +1),
    ("log-loss", "log_loss", "{:.4f}", -1),
    ("precision", "precision_macro", "{:.4f}", +1),
    ("recall", "recall_macro", "{:.4f}", +1),
    ("F1", "f1_macro", "{:.4f}", +1),
    ("ROC-AUC", "roc_auc_macro", "{:.5f}", +1),
    ("train s", "train_seconds", "{:,.1f}", -1),
    ("img/s", "throughput_img_s", "{:,.0f}", +1),
    ("p50 ms", "latency_ms_p50", "{:.3f}", -1),
    ("p95 ms", "latency_ms_p95", "{:.3f}", -1),
    ("params", "params", "{:,}", 0),
    ("size MB", "size_bytes", "{:.2f}", -1),
]


SEED_COLUMN = "accuracy over seeds"


def seed_entries(row: dict) -> list[dict]:
    """The row's own seed ({seed, accuracy, train_seconds}) then every further seed of a --seeds N run
    that finished, in seed order."""
    own = {"seed": row.get("seed", 0), "status": "ok", "accuracy": row["metrics"]["accuracy"],
           "train_seconds": row["metrics"]["train_seconds"]}
    return [own] + sorted((r for r in row.get("seed_runs", []) if r.get("status") == "ok"), key=lambda r: r["seed"])


def seed_spread(row: dict) -> str:
    """'99.55 ± 0.04% (3 seeds)': mean and sample standard deviation of the accuracy; '-' for one seed."""
    acc = [r["accuracy"] for r in seed_entries(row)]
    if len(acc) < 2:
        return "-"
    return f"{100 * np.mean(acc):.2f} ± {100 * np.std(acc, ddof=1):.2f}% ({len(acc)} seeds)"


def wall_time_text(run: dict, minutes: bool = False) -> str:
    """'1500 s', or with --seeds N '4400 s (1500 s for seed 0, the rest for further seeds)'."""
    def t(seconds):
        return f"{seconds / 60:.0f} min" if minutes else f"{seconds:.0f} s"

    text = t(run["total_wall_seconds"])
    if run.get("seeds", 1) > 1:
        first = sum(s.get("first_seed_wall_seconds", s.get("wall_seconds", 0.0)) for s in run["sessions"])
        text += f" ({t(first)} for seed {run['seed']}, the rest for further seeds)"
    return text


def has_seed_runs(rows: list[dict]) -> bool:
    return any(r.get("seed_runs") for r in rows)


def fmt(key: str, fmt_str: str, value) -> str:
    if value is None:
        return "-"
    if key == "size_bytes":
        value = value / 1e6
    return fmt_str.format(value)


def ok_rows_by_accuracy(results: dict) -> list[dict]:
    rows = [r for r in results["models"].values() if r.get("status") == "ok"]
    return sorted(rows, key=lambda r: -r["metrics"]["accuracy"])


def comparison_cells(rows: list[dict]) -> tuple[list[str], list[list[Cell]]]:
    """The metric columns' titles and, per row, its cells with the best value per column in bold;
    with --seeds N runs, the mean and spread of the accuracy follow the accuracy column.
    Both the terminal table and the reports' table are drawn from this."""
    best = best_values(rows)
    seeds = has_seed_runs(rows)
    body = []
    for r in rows:
        cells = [Cell(fmt(k, f, r["metrics"].get(k)), bold=k in best and r["metrics"].get(k) == best[k])
                 for _, k, f, _ in COLUMNS]
        body.append(_with_seed_column(cells, Cell(seed_spread(r)), seeds))
    return _with_seed_column([c[0] for c in COLUMNS], SEED_COLUMN, seeds), body


def comparison_table(results: dict, caption: str = "") -> Table:
    """One row per measured model, sorted by accuracy (see comparison_cells)."""
    rows = ok_rows_by_accuracy(results)
    titles, body = comparison_cells(rows)
    return Table(["model", "family", *titles], [[r["name"], r["family"], *cells] for r, cells in zip(rows, body)],
                 right_align_from=2, caption=caption)


def _with_seed_column(cells: list, seed_cell, present: bool) -> list:
    """The row's cells with the seed-spread cell after accuracy (the first column) when the run has one."""
    return [cells[0], seed_cell, *cells[1:]] if present else cells


def best_values(rows: list[dict]) -> dict:
    """metric key -> the best value among rows, for columns that have a direction."""
    best = {}
    for _, key, _, direction in COLUMNS:
        values = [r["metrics"].get(key) for r in rows if r["metrics"].get(key) is not None]
        if direction and values:
            best[key] = max(values) if direction > 0 else min(values)
    return best
