"""The comparison table printed at the end of a run, built from the results file alone."""

from __future__ import annotations

from rich.table import Table

from ..console import esc
from ..schema import Results, Run
from .columns import TIED_NOTE, comparison_cells, concurrency_note, ok_rows_by_accuracy, tied_with_best, wall_time_text


def comparison_table(results: Results) -> Table:
    """One row per model, sorted by accuracy, best value per column in bold; failed models listed."""
    run = results.run
    ds = run.dataset
    title = (
        f"digit-bench - {esc(ds['name'])} ({ds['n_train']:,} train / {ds['n_val']:,} val / {ds['n_test']:,} test), "
        f"profile {run.profile}, seed {run.seed}"
    )
    if run.seeds > 1:
        title += f" (spread over seeds {run.seed} to {run.seed + run.seeds - 1})"
    rows = ok_rows_by_accuracy(results)
    tied = tied_with_best(results)
    table = Table(title=title, caption=_caption(run, marked=len(tied) > 1))
    table.add_column("model")
    table.add_column("family")
    titles, body = comparison_cells(rows, tied)
    for title_ in titles:
        table.add_column(title_, justify="right")
    for r, cells in zip(rows, body):
        table.add_row(
            r.name, esc(r.family), *(f"[bold green]{c.text}[/bold green]" if c.bold else c.text for c in cells)
        )
    for r in results.failed_rows():
        table.add_row(r.name, esc(r.family), f"[red]FAILED: {esc((r.error or '')[:80])}[/red]")
    return table


def _caption(run: Run, marked: bool = False) -> str:
    parts = [f"total wall time {wall_time_text(run)}"] + ([TIED_NOTE] if marked else [])
    if run.dataset.get("is_sample"):
        parts.insert(0, "SAMPLE DATA, not full MNIST")
    if concurrency_note(run):
        parts.append("jobs ran concurrently: times are not comparable with a sequential run's")
    return "; ".join(parts)
