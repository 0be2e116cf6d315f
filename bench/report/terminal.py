"""The comparison table printed at the end of a run, built from the results file alone."""

from __future__ import annotations

from rich.table import Table

from .columns import (COLUMNS, SEED_COLUMN, best_values, fmt, has_seed_runs, ok_rows_by_accuracy, seed_spread,
                      wall_time_text, with_seed_column)


def comparison_table(results: dict) -> Table:
    """One row per model, sorted by accuracy, best value per column in bold; failed models listed."""
    run = results["run"]
    ds = run["dataset"]
    title = (f"digit-bench - {ds['name']} ({ds['n_train']:,} train / {ds['n_val']:,} val / {ds['n_test']:,} test), "
             f"profile {run['profile']}, seed {run['seed']}")
    if run.get("seeds", 1) > 1:
        title += f" (spread over seeds {run['seed']} to {run['seed'] + run['seeds'] - 1})"
    table = Table(title=title, caption=_caption(run))
    table.add_column("model")
    table.add_column("family")
    rows = ok_rows_by_accuracy(results)
    seeds = has_seed_runs(rows)
    for title_ in with_seed_column([c[0] for c in COLUMNS], SEED_COLUMN, seeds):
        table.add_column(title_, justify="right")
    best = best_values(rows)
    for r in rows:
        cells = []
        for _, key, f, _ in COLUMNS:
            text = fmt(key, f, r["metrics"].get(key))
            cells.append(f"[bold green]{text}[/bold green]" if key in best and r["metrics"].get(key) == best[key] else text)
        table.add_row(r["name"], r["family"], *with_seed_column(cells, seed_spread(r), seeds))
    for r in results["models"].values():
        if r.get("status") != "ok":
            table.add_row(r["name"], r.get("family", "?"), f"[red]FAILED: {r.get('error', '')[:80]}[/red]")
    return table


def _caption(run: dict) -> str:
    parts = [f"total wall time {wall_time_text(run)}"]
    if run["dataset"].get("is_sample"):
        parts.insert(0, "SAMPLE DATA, not full MNIST")
    return "; ".join(parts)
