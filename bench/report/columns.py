"""The comparison columns shared by the terminal table and the reports."""

from __future__ import annotations

import numpy as np

from ..schema import COMPARISON, METRICS, Results, Row, Run, SeedRun
from .document import Cell, Table

COLUMNS = [METRICS[key] for key in COMPARISON]


SEED_COLUMN = "accuracy over seeds"


def seed_entries(row: Row) -> list[SeedRun]:
    """The row's own seed then every further seed of a --seeds N run that finished, in seed order."""
    own = SeedRun(row.seed, "ok", row.finished_at, row.metrics["train_seconds"], {"accuracy": row.metrics["accuracy"]})
    return [own] + sorted((r for r in row.seed_runs if r.ok), key=lambda r: r.seed)


def seed_spread(row: Row) -> str:
    """'99.55 ± 0.04% (3 seeds)': mean and sample standard deviation of the accuracy; '-' for one seed."""
    acc = [r.accuracy for r in seed_entries(row)]
    if len(acc) < 2:
        return "-"
    return f"{100 * np.mean(acc):.2f} ± {100 * np.std(acc, ddof=1):.2f}% ({len(acc)} seeds)"


def wall_time_text(run: Run, minutes: bool = False) -> str:
    """'1500 s', or with --seeds N '4400 s (1500 s for seed 0, the rest for further seeds)'."""
    def t(seconds):
        return f"{seconds / 60:.0f} min" if minutes else f"{seconds:.0f} s"

    text = t(run.total_wall_seconds)
    if run.seeds > 1:
        first = sum(s.get("first_seed_wall_seconds", s.get("wall_seconds", 0.0)) for s in run.sessions)
        text += f" ({t(first)} for seed {run.seed}, the rest for further seeds)"
    return text


def has_seed_runs(rows: list[Row]) -> bool:
    return any(r.seed_runs for r in rows)


def ok_rows_by_accuracy(results: Results) -> list[Row]:
    return sorted(results.ok_rows(), key=lambda r: -r.metrics["accuracy"])


def comparison_cells(rows: list[Row]) -> tuple[list[str], list[list[Cell]]]:
    """The metric columns' titles and, per row, its cells with the best value per column in bold;
    with --seeds N runs, the mean and spread of the accuracy follow the accuracy column.
    Both the terminal table and the reports' table are drawn from this."""
    best = best_values(rows)
    seeds = has_seed_runs(rows)
    body = []
    for r in rows:
        cells = [Cell(m.show(r.metrics.get(m.key)), bold=best.get(m.key) is not None and r.metrics.get(m.key) == best[m.key])
                 for m in COLUMNS]
        body.append(_with_seed_column(cells, Cell(seed_spread(r)), seeds))
    return _with_seed_column([m.title for m in COLUMNS], SEED_COLUMN, seeds), body


def comparison_table(results: Results, caption: str = "") -> Table:
    """One row per measured model, sorted by accuracy (see comparison_cells)."""
    rows = ok_rows_by_accuracy(results)
    titles, body = comparison_cells(rows)
    return Table(["model", "family", *titles], [[r.name, r.family, *cells] for r, cells in zip(rows, body)],
                 right_align_from=2, caption=caption)


def _with_seed_column(cells: list, seed_cell, present: bool) -> list:
    """The row's cells with the seed-spread cell after accuracy (the first column) when the run has one."""
    return [cells[0], seed_cell, *cells[1:]] if present else cells


def best_values(rows: list[Row]) -> dict:
    """metric key -> the best value among rows, for columns that have a direction."""
    return {m.key: m.best(r.metrics.get(m.key) for r in rows) for m in COLUMNS}
