"""`benchmark.py tune --model NAME`: the command-line face of bench.optimise.tune."""

from __future__ import annotations

from ..optimise.tune import HALVING_FACTOR, SEARCHES, run_tune
from ..registry import MODELS, PROFILES
from ..report import write_reports
from ..results import RESULTS_NAME, read_results
from ..run.executors import InProcess
from ..schema import OK
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
        prog="benchmark.py tune",
        description="Search one model's settings on the validation split (never the test split) with "
        "scikit-learn's GridSearchCV, RandomizedSearchCV or HalvingRandomSearchCV; every trial is "
        "written as it ends. Then train with the best: python benchmark.py --models NAME --params "
        "OUT/results.json",
        epilog="search space: each model declares one in the registry (see --help of the main command for the "
        "models); --space FILE replaces it with a JSON object such as "
        '{"C": [1, 10, 100], "gamma": {"loguniform": [0.001, 0.1]}}. '
        "exit codes: 0 searched (or stopped by the budget); 1 every trial failed; 2 bad input; "
        "130 interrupted (finished trials are kept; --resume skips them).",
    )
    p.add_argument("--model", required=True, help=f"the model to tune: {', '.join(MODELS)}")
    p.add_argument(
        "--search",
        choices=SEARCHES,
        default="random",
        help="grid: every combination; random: --n-iter samples; halving: --n-iter candidates, each "
        f"round keeping the best 1/{HALVING_FACTOR} on {HALVING_FACTOR}x the images (default: random)",
    )
    p.add_argument("--n-iter", type=int, default=10, help="candidates of a random or halving search (default: 10)")
    p.add_argument(
        "--budget",
        type=float,
        metavar="MINUTES",
        help="stop before a trial that would end after this many minutes of this session (judged by "
        "the longest trial so far; the first trial always runs)",
    )
    p.add_argument("--space", metavar="FILE", help="a JSON search space instead of the registry's")
    p.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="quick",
        help="the data and training of every trial (default: quick, 9,000 train / 1,000 validation)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the sampling and the training (default: 0)")
    add_output_options(p, "tune-<model>", " (every trial)")
    add_data_options(p)
    add_executor_options(p, PROFILES)
    return p


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def main(argv) -> int:
    from ..console import EXIT_FAILED, command_line, esc, fail, make_console

    args = build_parser().parse_args(argv)
    console = make_console()
    if args.resume and not args.out:
        return fail(console, "--resume: give --out DIR, the folder of the search to continue")
    out_dir = output_folder(args.out, f"tune-{args.model}")
    command = command_line("tune", *argv)

    def announce(splits):
        console.print(
            f"dataset [bold]{esc(splits.name)}[/bold] from {esc(splits.source)}: trials fit on {len(splits.y_train):,} "
            f"images and are scored on {len(splits.y_val):,} validation images (the test split is not used)"
        )
        if splits.is_sample:
            console.print(f"[bold yellow]{esc(splits.note)}[/bold yellow]")

    def show(t):
        where = f" (round {t['iter'] + 1}, {t['n_resources']:,} images)" if "iter" in t else ""
        if t["status"] == OK:
            console.print(
                f"trial {t['trial']}{where}: {esc(_params_text(t['params']))} -> validation accuracy "
                f"{t['score']:.4f} (fit {t['fit_seconds']:.1f} s)"
            )
        else:
            console.print(
                f"[red]trial {t['trial']}{where}: {esc(_params_text(t['params']))} failed: {esc(t.get('error'))}[/red]"
            )

    def work() -> int:
        with open_executor_of(args) as executor:
            results_path = run_tune(
                args.model,
                search=args.search,
                n_iter=args.n_iter,
                budget_minutes=args.budget,
                space_path=args.space,
                profile=args.profile,
                seed=args.seed,
                out_dir=out_dir,
                dataset=args.dataset,
                data_path=args.data,
                download=not args.offline,
                resume=args.resume,
                command=command,
                on_trial=show,
                on_data=announce,
                executor=None if isinstance(executor, InProcess) else executor,
                retries=executor.retries,
                on_retry=retry_notice(console, lambda job: f"trial {_params_text(job.options['params'])}"),
            )
        results = read_results(results_path)
        tuning = results.tuning
        console.print(trials_table(tuning))
        session = results.run.sessions[-1]
        console.print(
            f"{len(tuning['trials'])} trial(s) in {session['wall_seconds']:.0f} s this session"
            + (" (stopped by the budget)" if session["stopped_by"] == "budget" else "")
            + f"; results: {esc(results_path)}"
        )
        write_reports(console, results_path)
        if tuning["best"] is None:
            return fail(console, f"no trial succeeded (details in {results_path})", EXIT_FAILED)
        console.print(
            f"best: {esc(_params_text(tuning['best']['params']))} (validation accuracy "
            f"{tuning['best']['score']:.4f}); train with it: python benchmark.py --models {esc(args.model)} "
            f"--params {esc(results_path)}"
        )
        return 0

    return finish(
        console,
        work,
        kept=f"finished trials are kept in {out_dir / RESULTS_NAME}; continue with "
        f"the same command and --resume --out {out_dir}",
    )


def trials_table(tuning: dict, limit: int = 15):
    """Terminal table: the best `limit` trials, best first."""
    from rich.table import Table

    from ..console import esc

    names = list(tuning["space"])
    table = Table(
        title=f"{esc(tuning['model'])}: {esc(tuning['search'])} search, validation accuracy (best {limit} trials)"
    )
    for column in ["trial", *names, "accuracy", "fit s"]:
        table.add_column(column, justify="left" if column in names else "right")
    trials = sorted(tuning["trials"], key=lambda t: -(t["score"] if t["score"] is not None else -1))[:limit]
    for t in trials:
        table.add_row(
            str(t["trial"]),
            *[esc(t["params"].get(n, "")) for n in names],
            f"{t['score']:.4f}" if t["score"] is not None else "[red]failed[/red]",
            f"{t['fit_seconds']:.1f}",
        )
    return table
