"""`benchmark.py generalise RUN_DIR`: the command-line face of bench.run.generalise."""

from __future__ import annotations

import time

from ..registry import PROFILES
from ..report import write_reports
from ..run.generalise import GeneraliseError, run_generalise
from .common import add_executor_options, finish, open_executor_of, retry_notice


def build_parser():
    import argparse

    from ..data.offmnist import OFF_MNIST

    p = argparse.ArgumentParser(
        prog="benchmark.py generalise",
        description="Score the models a run saved on handwritten digits from other sources, made MNIST-style "
        "(white on black, 20x20 box centred by mass in 28x28); the numbers go into the run's results.json and "
        "report, with each dataset's drop from the MNIST test accuracy and exact McNemar tests between models.",
        epilog="datasets: "
        + ", ".join(OFF_MNIST)
        + ", folder:PATH (your own images: one subfolder per digit, or the digit after the last underscore of "
        "each file name). uci-digits ships with scikit-learn; the others are read from --data NAME=PATH or "
        "their environment variable (QMNIST_PATH, USPS_PATH, EMNIST_PATH); nothing is downloaded.\n"
        "exit codes: 0 done; 2 bad input; 130 interrupted (finished models are kept; use --resume).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder a run wrote (its --out), with results.json")
    p.add_argument(
        "--datasets",
        default="all",
        metavar="A,B",
        help="comma-separated datasets, or 'all' (default): every dataset whose files are found; the "
        "others are named with where to put them",
    )
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="where a dataset's files are, e.g. qmnist=downloads/qmnist (repeat for several)",
    )
    p.add_argument("--models", metavar="A,B", help="which of the run's models (default: every measured one)")
    p.add_argument(
        "--models-dir",
        metavar="DIR",
        default="models",
        help="where the run saved its models, if not inside RUN_DIR (default: models/); a model the "
        "results file places anywhere else is refused",
    )
    p.add_argument(
        "--resume", action="store_true", help="skip models already scored on the same data (same fingerprints)"
    )
    add_executor_options(p, PROFILES)
    return p


def parse_paths(items: list[str]) -> dict[str, str]:
    """['qmnist=dir', ...] -> {'qmnist': 'dir'}; GeneraliseError naming a malformed item."""
    paths = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise GeneraliseError(f"--data {item!r}: give NAME=PATH, e.g. qmnist=downloads/qmnist")
        paths[name.strip()] = path.strip()
    return paths


def main(argv) -> int:
    from ..console import command_line, esc, make_console

    args = build_parser().parse_args(argv)
    console = make_console()
    command = command_line("generalise", *argv)
    start = time.perf_counter()

    def show(name, scores):
        parts = ", ".join(f"{esc(d)} {s['accuracy']:.2%}" for d, s in scores.items())
        console.print(f"{name}: {parts} ({time.perf_counter() - start:.0f} s so far)", highlight=False)

    def skipped(line):
        console.print(f"[yellow]skipped: {esc(line)}[/yellow]")

    def work() -> int:
        models = args.models.split(",") if args.models else None
        with open_executor_of(args) as executor:
            results_path = run_generalise(
                args.run_dir,
                args.datasets,
                parse_paths(args.data),
                models,
                command=command,
                on_model=show,
                on_skip=skipped,
                executor=executor,
                retries=executor.retries,
                on_retry=retry_notice(console, lambda job: job.model),
                models_dir=args.models_dir,
                resume=args.resume,
            )
        console.print(
            f"every model scored off MNIST in {time.perf_counter() - start:.0f} s; results: {esc(results_path)}"
        )
        write_reports(console, results_path)
        return 0

    return finish(
        console,
        work,
        kept=f"the models already scored are kept in the run's results file; continue with: {command} --resume",
        also=(GeneraliseError,),
    )
