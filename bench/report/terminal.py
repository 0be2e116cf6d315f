"""The comparison table printed at the end of a run, built from the results file alone."""

from __future__ import annotations

from rich.table import Table

# (column title, metric key, format, higher is better)
COLUMNS = [
    ("accuracy", "accuracy", "{:.2%}", True),
    ("log-loss", "log_loss", "{:.4f}", False),
    ("F1 macro", "f1_macro", "{:.4f}", True),
    ("ROC-AUC", "roc_auc_macro", "{:.5f}", True),
    ("train s", "train_seconds", "{:.1f}", False),
    ("img/s", "throughput_img_s", "{:,.0f}", True),
    ("p50 ms", "latency_ms_p50", "{:.3f}", False),
    ("p95 ms", "latency_ms_p95", "{:.3f}", False),
    ("params", "params", "{:,}", None),
    ("size MB", "size_bytes", "{:.2f}", None),
]


def fmt(key: str, fmt_str: str, value) -> str:
    if value is None:
        return "-"
    if key == "size_bytes":
        value = value / 1e6
    return fmt_str.format(value)


def comparison_table(results: dict) -> Table:
    """One row per model, sorted by accuracy; failed models listed with their error."""
    run = results["run"]
    ds = run["dataset"]
    title = (f"digit-bench - {ds['name']} ({ds['n_train']:,} train / {ds['n_val']:,} val / {ds['n_test']:,} test), "
             f"profile {run['profile']}, seed {run['seed']}")
    table = Table(title=title, caption=_caption(run))
    table.add_column("model")
    table.add_column("family")
    for title_, *_ in COLUMNS:
        table.add_column(title_, justify="right")
    rows = results["models"].values()
    ok = sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: -r["metrics"]["accuracy"])
    for r in ok:
        table.add_row(r["name"], r["family"], *[fmt(k, f, r["metrics"].get(k)) for _, k, f, _ in COLUMNS])
    for r in rows:
        if r.get("status") != "ok":
            table.add_row(r["name"], r.get("family", "?"), f"[red]FAILED: {r.get('error', '')[:80]}[/red]")
    return table


def _caption(run: dict) -> str:
    parts = [f"total wall time {run['total_wall_seconds']:.0f} s"]
    if run["dataset"].get("is_sample"):
        parts.insert(0, "SAMPLE DATA, not full MNIST")
    return "; ".join(parts)
