"""`benchmark.py robustness RUN_DIR`: the command-line face of bench.run.robustness."""

from __future__ import annotations

from .. import corruptions
from ..registry import PROFILES
from ..report import write_reports
from ..run.robustness import run_robustness
from .common import add_executor_options, finish, open_executor_of, retry_notice


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="benchmark.py robustness",
        description="Score the models a run saved on its test images under MNIST-C style corruptions; the numbers go "
        "into the run's results.json and report.",
        epilog="corruptions: " + ", ".join(corruptions.CORRUPTIONS) + "\nexit codes: 0 done; 2 bad input.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder a run wrote (its --out), with results.json")
    p.add_argument(
        "--corruptions", default="all", metavar="A,B", help="comma-separated corruptions, or 'all' (default)"
    )
    p.add_argument(
        "--severity",
        type=int,
        default=corruptions.DEFAULT_SEVERITY,
        help=f"1 (mild) to 5 (harsh); {corruptions.DEFAULT_SEVERITY} is MNIST-C's level (default)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the corruptions' randomness (default: 0)")
    p.add_argument("--models", metavar="A,B", help="which of the run's models (default: every measured one)")
    p.add_argument(
        "--models-dir",
        metavar="DIR",
        default="models",
        help="where the run saved its models, if not inside RUN_DIR (default: models/); a model the "
        "results file places anywhere else is refused",
    )
    p.add_argument(
        "--data",
        metavar="MNIST_C_DIR",
        help="use the released MNIST-C (a folder of <corruption>/test_images.npy and test_labels.npy) "
        "instead of generating the corruptions",
    )
    add_executor_options(p, PROFILES)
    return p


def main(argv) -> int:
    import time

    from ..console import command_line, esc, make_console

    args = build_parser().parse_args(argv)
    console = make_console()
    command = command_line("robustness", *argv)
    start = time.perf_counter()

    def show(name, entry):
        drop = "-" if entry["relative_drop"] is None else f"{100 * entry['relative_drop']:.1f}%"
        console.print(
            f"{name}: clean {entry['clean_accuracy']:.4f}, mean over corruptions {entry['mean_accuracy']:.4f} "
            f"({drop} lower), {time.perf_counter() - start:.0f} s so far"
        )

    def work() -> int:
        models = args.models.split(",") if args.models else None
        with open_executor_of(args) as executor:
            results_path = run_robustness(
                args.run_dir,
                args.corruptions,
                args.severity,
                args.seed,
                args.data,
                models,
                command=command,
                on_model=show,
                executor=executor,
                retries=executor.retries,
                on_retry=retry_notice(console, lambda job: job.model),
                models_dir=args.models_dir,
            )
        console.print(
            f"robustness of every model measured in {time.perf_counter() - start:.0f} s; results: {esc(results_path)}"
        )
        write_reports(console, results_path)
        return 0

    # the corruptions refuse an unknown name, a severity outside 1-5 or a bad seed with a ValueError
    return finish(
        console, work, kept="the models already scored are kept in the run's results file", also=(ValueError,)
    )
