"""What every command shares: its data, output and executor options, and one way to end.

A command's `main(argv)` parses its options, then hands its work to `finish`: a known error (bad data, a
bad results file, a refused setting) is one line and exit 2, Ctrl-C is one line saying what was kept and
how to continue (exit 130), and the work's own return value is the exit code otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..console import add_executor_options, fail, interrupted

__all__ = ["add_data_options", "add_executor_options", "add_output_options", "finish", "output_folder"]


def add_data_options(parser, *, what: str = "which data") -> None:
    """--dataset / --data / --offline, the same for every command that trains or scores on MNIST-like data."""
    from ..data import DATASETS, MNIST_ENV

    parser.add_argument(
        "--dataset",
        choices=list(DATASETS),
        default="mnist",
        help=f"{what} (default: mnist; falls back to mnist-sample loudly when not found)",
    )
    parser.add_argument(
        "--data",
        metavar="PATH",
        help=f"data location: mnist.npz, a folder of MNIST IDX files, or Kaggle train.csv (default for mnist: "
        f"${MNIST_ENV})",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never try to download MNIST (go straight to the sample when it is not found)",
    )


def add_output_options(parser, kind: str, holds: str) -> None:
    """--out / --resume for a command that writes a results folder of its own (`kind` names it)."""
    parser.add_argument(
        "--out", metavar="DIR", help=f"where results.json{holds} and the reports go (default: reports/<time>-{kind}/)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the work in --out; what is finished there is skipped"
    )


def output_folder(out: str | None, kind: str) -> Path:
    """--out, or a new reports/<time>-<kind>/."""
    return Path(out) if out else Path("reports") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{kind}"


def open_executor_of(args):
    """The executor that add_executor_options' options ask for, to use as a context manager."""
    from ..run.executors import open_executor

    return open_executor(args.workers, args.scheduler, args.retries, args.job_timeout)


def retry_notice(console, describe: Callable) -> Callable:
    """The executors' on_retry callback: one yellow line naming the job (`describe(job)`), the attempt and
    the error."""
    from ..console import esc

    def notice(job, error, attempt) -> None:
        console.print(f"[yellow]{esc(describe(job))} failed on attempt {attempt} ({esc(error)}); trying again[/yellow]")

    return notice


def user_errors() -> tuple[type[Exception], ...]:
    """The errors that mean bad input (a file, a value, a setting), each already one line naming what is wrong."""
    from ..data import DataError
    from ..optimise.tune_files import TuneError
    from ..optimise.variants import OptimiseError
    from ..results import ResultsError
    from ..run.curves import CurvesError
    from ..run.executors import ExecutorError
    from ..run.robustness import RobustnessError
    from ..run.runner import RunError
    from ..run.saved import SavedModelError

    return (
        DataError,
        ResultsError,
        RunError,
        ExecutorError,
        CurvesError,
        RobustnessError,
        TuneError,
        OptimiseError,
        SavedModelError,
    )


def finish(
    console,
    work: Callable[[], int],
    *,
    kept: str,
    also: tuple[type[Exception], ...] = (),
    named: tuple[type[Exception], ...] = (),
) -> int:
    """Run `work` (a command's body, returning its exit code) and end the one way every command ends.

    kept: what Ctrl-C leaves behind and how to continue, e.g. "finished models are kept in X; continue with: ...".
    also: further error types that mean bad input for this command.
    named: broad error types (e.g. ValueError, OSError) whose line starts with the error's type name, known
        errors among them included; `also` comes first.
    """
    try:
        return work()
    except also as e:
        return fail(console, str(e))
    except named as e:
        return fail(console, f"{type(e).__name__}: {e}")
    except user_errors() as e:
        return fail(console, str(e))
    except KeyboardInterrupt:
        return interrupted(console, kept)
