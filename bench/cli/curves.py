"""`benchmark.py curves`: the command-line face of bench.run.curves."""

from __future__ import annotations

from ..registry import PROFILES
from ..report import write_reports
from ..results import read_results
from ..run.curves import DEFAULT_MODELS, DEFAULT_SIZES, run_curves
from ..schema import OK, Results
from .common import (
    add_data_options,
    add_executor_options,
    add_output_options,
    finish,
    open_executor_of,
    output_folder,
    retry_notice,
)


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="benchmark.py curves",
        description="Learning curves: train each model on stratified subsets of the training set and score it on "
        "the whole test set; one point per model and size, written as each finishes.",
        epilog="exit codes: 0 every point measured; 1 a point failed (the others are kept); 2 bad input; "
        "130 interrupted (use --resume).",
    )
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        metavar="A,B",
        help=f"comma-separated model names or 'all' (default: {','.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        metavar="N,M",
        help="training-set sizes before the 10%% validation split (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the subsets and the training (default: 0)")
    add_output_options(p, "curves", "")
    add_data_options(p)
    add_executor_options(p, PROFILES)
    return p


def main(argv) -> int:
    from ..console import EXIT_FAILED, command_line, esc, fail, make_console
    from ..registry import parse_model_names

    args = build_parser().parse_args(argv)
    console = make_console()
    out_dir = output_folder(args.out, "curves")
    command = command_line("curves", *argv)
    try:
        names = parse_model_names(args.models)
    except ValueError as e:
        return fail(console, f"--models: {e}")

    def show(p):
        if p["status"] == OK:
            console.print(
                f"{p['model']} on {p['size']:,} images: accuracy {p['accuracy']:.4f}, trained in "
                f"{p['train_seconds']:.1f} s"
                + (
                    f" (epochs run {p['settings']['epochs_run']} of up to {p['settings']['epochs']})"
                    if p["settings"]
                    else ""
                )
            )
        else:
            console.print(f"[red]{p['model']} on {p['size']:,} images failed: {esc(p['error'])}[/red]")

    def work() -> int:
        with open_executor_of(args) as executor:
            results_path = run_curves(
                names,
                args.sizes,
                seed=args.seed,
                out_dir=out_dir,
                dataset=args.dataset,
                data_path=args.data,
                download=not args.offline,
                resume=args.resume,
                command=command.strip(),
                on_point=show,
                executor=executor,
                retries=executor.retries,
                on_retry=retry_notice(console, lambda job: job.label),
            )
        results = read_results(results_path)
        console.print(curves_table(results))
        console.print(f"results: {esc(results_path)} (wall time {results.run.total_wall_seconds:.0f} s)")
        write_reports(console, results_path)
        failed = [f"{p['model']}@{p['size']}" for p in results.curves if p["status"] != OK]
        if failed:
            return fail(console, f"point(s) failed: {', '.join(failed)} (details in {results_path})", EXIT_FAILED)
        return 0

    return finish(
        console,
        work,
        kept=f"finished points are kept; continue with: python benchmark.py curves --resume --out {out_dir} "
        "(same --models and --sizes)",
    )


def curves_table(results: Results):
    """Terminal table: accuracy per model (rows) and size (columns)."""
    from rich.table import Table

    points = {(p["model"], p["size"]): p for p in results.curves}
    sizes = sorted({s for _, s in points})
    table = Table(title="learning curves: test accuracy by training-set size")
    table.add_column("model")
    for s in sizes:
        table.add_column(f"{s:,}", justify="right")
    for name in dict.fromkeys(m for m, _ in points):
        cells = []
        for s in sizes:
            p = points.get((name, s))
            cells.append("-" if p is None else (f"{p['accuracy']:.2%}" if p["status"] == OK else "[red]failed[/red]"))
        table.add_row(name, *cells)
    return table
