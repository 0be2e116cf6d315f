"""Reports read result files only; they never import an estimator or the runner.

`write_reports` is what every command that writes a results file calls at its end; `build` makes the
documents (imported only when they are made, so a command's start stays quick)."""

from __future__ import annotations


def write_reports(console, results_path) -> None:
    """Build the reports beside a results file and say where; a failure is one red line, never lost work."""
    from ..console import esc
    from .build import build_reports

    try:
        for path in build_reports(results_path):
            console.print(f"report: {esc(path)}")
    except Exception as e:  # the measurements are safe on disk; a report can be rebuilt later
        console.print(
            f"[red]report failed ({type(e).__name__}: {esc(e)}); rebuild with: "
            f"python benchmark.py report {esc(results_path)}[/red]"
        )
