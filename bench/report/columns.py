"""The comparison columns shared by the terminal table and the reports."""

from __future__ import annotations

import numpy as np

from ..evaluation.significance import not_significantly_different_from_best
from ..schema import COMPARISON, METRICS, Results, Row, Run, SeedRun
from .document import Cell, Table

COLUMNS = [METRICS[key] for key in COMPARISON]


SEED_COLUMN = "accuracy over seeds"
INTERVAL_COLUMN = "95% CI"
TIED_MARK = "≈"  # accuracy not significantly different from the best model's (exact McNemar, Holm)
TIED_NOTE = (
    f"{TIED_MARK}: not significantly different from the most accurate model (exact McNemar test on the "
    "shared test images, Holm-corrected over all pairs, 5% level)."
)


def tied_with_best(results: Results) -> set[str]:
    """Models whose accuracy the run's McNemar pairs cannot tell from the best's (the best included); empty without pairs."""
    pairs = (results.significance or {}).get("pairs") or []
    compared = {name for p in pairs for name in (p["model_a"], p["model_b"])}
    accuracies = {r.name: r.metrics["accuracy"] for r in results.ok_rows() if r.name in compared}
    return not_significantly_different_from_best(pairs, accuracies) if pairs else set()


def interval_text(row: Row) -> str:
    """'99.10-99.36%': the accuracy's 95% Wilson interval on the test set; '-' where not recorded."""
    low, high = row.metrics.get("accuracy_ci95_low"), row.metrics.get("accuracy_ci95_high")
    return "-" if low is None else f"{100 * low:.2f}-{100 * high:.2f}%"


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


def comparison_cells(rows: list[Row], tied: set[str] = frozenset()) -> tuple[list[str], list[list[Cell]]]:
    """The metric columns' titles and, per row, its cells with the best value per column in bold.

    After the accuracy: its 95% interval (runs that recorded it) and, with --seeds N runs, the
    mean and spread over seeds. tied: models marked TIED_MARK beside their accuracy (other than
    the best). Both the terminal table and the reports' table are drawn from this.
    """
    best = best_values(rows)
    extra_titles = ([INTERVAL_COLUMN] if _has_intervals(rows) else []) + ([SEED_COLUMN] if has_seed_runs(rows) else [])
    body = []
    for r in rows:
        cells = [
            Cell(m.show(r.metrics.get(m.key)), bold=best.get(m.key) is not None and r.metrics.get(m.key) == best[m.key])
            for m in COLUMNS
        ]
        if r.name in tied and r.metrics["accuracy"] != best["accuracy"]:
            cells[0] = Cell(f"{cells[0].text} {TIED_MARK}", bold=cells[0].bold)
        extra = ([Cell(interval_text(r))] if INTERVAL_COLUMN in extra_titles else []) + (
            [Cell(seed_spread(r))] if SEED_COLUMN in extra_titles else []
        )
        body.append([cells[0], *extra, *cells[1:]])
    titles = [m.title for m in COLUMNS]
    return [titles[0], *extra_titles, *titles[1:]], body


def comparison_table(results: Results, caption: str = "") -> Table:
    """One row per measured model, sorted by accuracy, ties with the best marked (see comparison_cells)."""
    rows = ok_rows_by_accuracy(results)
    titles, body = comparison_cells(rows, tied_with_best(results))
    return Table(
        ["model", "family", *titles],
        [[r.name, r.family, *cells] for r, cells in zip(rows, body)],
        right_align_from=2,
        caption=caption,
    )


def comparison_frame(results: Results):
    """The comparison table as numbers (pandas DataFrame), for a spreadsheet or notebook: one row per measured
    model in the table's order, its family, the accuracy with its 95% interval, for a --seeds N run the mean,
    sample standard deviation and count of the accuracy over seeds, every other comparison metric unformatted
    (results.json keys), and tied_with_best: the McNemar test cannot tell it from the most accurate model (which is one)."""
    import pandas as pd

    tied = tied_with_best(results)
    rows = ok_rows_by_accuracy(results)
    seeds = has_seed_runs(rows)
    records = []
    for r in rows:
        record = {"model": r.name, "family": r.family, "accuracy": r.metrics["accuracy"]}
        record |= {k: r.metrics.get(k) for k in ("accuracy_ci95_low", "accuracy_ci95_high")}
        if seeds:
            acc = [e.accuracy for e in seed_entries(r)]
            sd = float(np.std(acc, ddof=1)) if len(acc) > 1 else None
            record |= {"accuracy_mean": float(np.mean(acc)), "accuracy_sd": sd, "seeds": len(acc)}
        record |= {m.key: r.metrics.get(m.key) for m in COLUMNS[1:]}
        records.append({**record, "tied_with_best": r.name in tied})
    frame = pd.DataFrame.from_records(records)
    if "params" in frame:  # a count, empty for the classical models
        frame["params"] = frame["params"].astype("Int64")
    return frame


def _has_intervals(rows: list[Row]) -> bool:
    return any("accuracy_ci95_low" in r.metrics for r in rows)


def best_values(rows: list[Row]) -> dict:
    """metric key -> the best value among rows, for columns that have a direction."""
    return {m.key: m.best(r.metrics.get(m.key) for r in rows) for m in COLUMNS}


def _executions(run: Run) -> list[dict]:
    return [s["execution"] for s in run.sessions if s.get("execution")]


def execution_text(run: Run) -> str:
    """Where each session's jobs ran: 'in this process' or 'dask local:2, 2 workers on 1 host, 1 thread each'."""
    parts = []
    for e in _executions(run):
        if e["executor"] == "in-process":
            parts.append("one after another in the run's process")
        else:
            where = e.get("scheduler") or "local process pool"
            parts.append(
                f"{e['executor']} {where}: {e['workers']} at a time on {len(e['hosts'])} host(s), "
                f"{e.get('threads_per_job')} thread(s) each"
            )
    return "; ".join(dict.fromkeys(parts)) or "one after another in the run's process"


def concurrency_note(run: Run) -> str | None:
    """A warning when jobs shared a machine: their training times and latencies are not a sequential run's."""
    shared = [e for e in _executions(run) if e.get("concurrent")]
    if not shared:
        return None
    most = max(e["workers"] for e in shared)
    hosts = max(len(e["hosts"]) for e in shared)
    return (
        f"Jobs of this run ran concurrently ({most} at a time on {hosts} machine(s)). Each had its own "
        "cores, but they shared memory bandwidth and caches: training times, throughput and latency are not "
        "comparable with a run whose jobs ran one after another. Quality numbers do not depend on it."
    )
