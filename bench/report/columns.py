"""The comparison columns shared by the terminal table and the reports."""

from __future__ import annotations

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


def fmt(key: str, fmt_str: str, value) -> str:
    if value is None:
        return "-"
    if key == "size_bytes":
        value = value / 1e6
    return fmt_str.format(value)


def ok_rows_by_accuracy(results: dict) -> list[dict]:
    rows = [r for r in results["models"].values() if r.get("status") == "ok"]
    return sorted(rows, key=lambda r: -r["metrics"]["accuracy"])


def comparison_table(results: dict, caption: str = "") -> Table:
    """One row per measured model, sorted by accuracy, best value per column in bold."""
    rows = ok_rows_by_accuracy(results)
    best = best_values(rows)
    return Table(["model", "family", *[c[0] for c in COLUMNS]], [
        [r["name"], r["family"], *[Cell(fmt(k, f, r["metrics"].get(k)), bold=k in best and r["metrics"].get(k) == best[k])
                                   for _, k, f, _ in COLUMNS]] for r in rows], right_align_from=2, caption=caption)


def best_values(rows: list[dict]) -> dict:
    """metric key -> the best value among rows, for columns that have a direction."""
    best = {}
    for _, key, _, direction in COLUMNS:
        values = [r["metrics"].get(key) for r in rows if r["metrics"].get(key) is not None]
        if direction and values:
            best[key] = max(values) if direction > 0 else min(values)
    return best
