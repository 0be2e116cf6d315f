"""`benchmark.py report RESULTS.json [--out DIR] [--update-readme] [--csv FILE]`: reports without retraining; the
command-line face of bench.report."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def build_parser():
    p = argparse.ArgumentParser(
        prog="benchmark.py report", description="Rebuild report.md and report.html (with figures/) from a results file."
    )
    p.add_argument("results", help="a results.json written by a run")
    p.add_argument("--out", metavar="DIR", help="where the reports go (default: beside the results file)")
    p.add_argument(
        "--update-readme",
        action="store_true",
        help="also rewrite the README table between <!-- results:start --> and <!-- results:end -->; "
        "only a full-profile run of all models on full MNIST is accepted",
    )
    p.add_argument("--readme", default="README.md", help="the README to update (default: README.md)")
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="also write the comparison table to FILE as CSV: one row per model, unformatted numbers",
    )
    return p


def main(argv) -> int:
    from ..console import esc, fail, make_console
    from ..registry import MODELS
    from ..report.build import build_reports
    from ..report.readme import ReadmeError, check_headline, results_block, update_readme
    from ..results import ResultsError, read_results

    args = build_parser().parse_args(argv)
    console = make_console()
    try:
        results = read_results(args.results)
        if args.update_readme:  # refuse before writing anything
            check_headline(results, list(MODELS))
        if args.csv:
            write_comparison_csv(results, Path(args.csv))
            console.print(f"table: {esc(args.csv)}")
        md, page = build_reports(args.results, args.out)
        console.print(f"report: {esc(md)}\nreport: {esc(page)}")
        if args.update_readme:
            readme = Path(args.readme)
            rel = lambda p: os.path.relpath(Path(p).resolve(), readme.resolve().parent)  # noqa: E731
            changed = update_readme(readme, results_block(results, rel(args.results), rel(md)))
            console.print(f"{esc(readme)}: {'table updated' if changed else 'already up to date'}")
    except (ResultsError, ReadmeError) as e:
        return fail(console, str(e))
    except FileNotFoundError as e:
        return fail(console, f"{e.filename}: no such file")
    return 0


def write_comparison_csv(results, path: Path) -> None:
    """The comparison table as CSV, written atomically; ResultsError naming the file when it cannot be."""
    from ..files import atomic_write_text
    from ..report.columns import comparison_frame
    from ..results import ResultsError

    if path.is_dir():
        raise ResultsError(f"{path}: is a folder, not a file (--csv)")
    try:
        atomic_write_text(path, comparison_frame(results).to_csv(index=False))
    except OSError as e:
        raise ResultsError(f"{path}: cannot write the table (--csv): {e.strerror or e}") from None
