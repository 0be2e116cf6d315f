"""What every command shares: the console, one-line errors, exit codes, and quiet libraries."""

from __future__ import annotations

import atexit
import logging
import os
import re
import shlex
import sys
import threading

EXIT_OK = 0
EXIT_FAILED = 1  # a model failed, or the performance check found a regression
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# Lines TensorFlow's C++ runtime (absl logging) and TensorFlow Lite write straight to file
# descriptor 2: "I0000 00:00:17.. 123 cudart_stub.cc:31] Could not find cuda drivers ...",
# "E0000 ... node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool ...",
# absl's "WARNING: All log messages before absl::InitializeLog() ..." and the older
# "2024-01-01 12:00:00.000000: I tensorflow/..." form.
NATIVE_LOG = re.compile(
    rb"^([IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate"
    rb"|fully_quantize: \d+, inference_type: )"  # the LiteRT converter's int8 notice
)
SHOW_NATIVE_LOGS = "DIGIT_BENCH_NATIVE_LOGS"  # =1: let library logs through (debugging)


def make_console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the whole comparison table
        console = Console(width=200)
    return console


def command_line(*words: str) -> str:
    """The command as a results file records it: `python benchmark.py WORDS`, each word shell-quoted, an
    absolute path (`/data/x`, `--out=/data/x`) written relative to the working directory, so that what a
    report shows does not name folders of the machine that made it."""
    return "python benchmark.py " + shlex.join(map(_relative, words))


def _relative(word: str) -> str:
    option, eq, value = word.partition("=") if word.startswith("--") else ("", "", word)
    if not os.path.isabs(value):
        return word
    return f"{option}{eq}{os.path.relpath(value)}"


def esc(value) -> str:
    """User text (a file name, a path, an error message) for a rich markup string: shown as it is, so
    `scans[/x].png` or `[bold]` in a name neither raises MarkupError nor styles the line."""
    from rich.markup import escape

    text = escape(str(value))
    # escape() doubles a trailing backslash, which shows as one only when a tag follows: an empty
    # tag pair makes that so wherever the text is placed
    return text + "[dim][/dim]" if text.endswith("\\") else text


def interrupted(console, kept: str) -> int:
    """Ctrl-C: one yellow line saying what was kept and how to go on (`kept`, printed as text); returns 130."""
    from rich.text import Text

    console.print(Text.assemble("\n", ("interrupted: ", "yellow"), (kept, "yellow")), highlight=False, soft_wrap=True)
    return EXIT_INTERRUPTED


def fail(console, message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print one red line naming what is wrong (message printed as text, never as markup); returns the
    exit code to end with."""
    from rich.text import Text

    console.print(Text.assemble(("error:", "bold red"), " ", str(message)), highlight=False, soft_wrap=True)
    return code


def quiet_library_logs() -> None:
    """Keep TensorFlow's C++ log lines out of the terminal; everything else on stderr passes.

    TF_CPP_MIN_LOG_LEVEL alone does not do it: TensorFlow 2.21 logs through absl before it reads
    the variable (CUDA probes on a machine with no GPU), and TensorFlow Lite prints its own notice.
    So file descriptor 2 goes through a pipe that drops lines in those formats; Python warnings
    and tracebacks still reach the real stderr. DIGIT_BENCH_NATIVE_LOGS=1 turns this off.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow's Python logger: "5 out of the last 5 calls ... triggered tf.function retracing" when
    # `check` trains the ci models three times in one process (each model traces its own function once).
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if os.environ.get(SHOW_NATIVE_LOGS) == "1" or getattr(quiet_library_logs, "_active", False):
        return
    quiet_library_logs._active = True
    sys.stderr.flush()
    real_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as src, os.fdopen(os.dup(real_stderr), "wb", buffering=0) as dst:
            for line in src:
                if not NATIVE_LOG.match(line):
                    dst.write(line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore():  # at exit: put the real stderr back, which ends the pipe, and let the pump drain it
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real_stderr, 2)
        thread.join(timeout=5)

    atexit.register(restore)


def add_executor_options(parser, profiles) -> None:
    """--workers / --scheduler / --retries / --job-timeout: where a command's jobs run (bench.run.executors).
    profiles: registry.PROFILES, whose job_timeout defaults the help names."""

    def duration(seconds):
        return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"

    defaults = ", ".join(f"{p.name} {duration(p.job_timeout)}" for p in profiles.values() if p.job_timeout)
    group = parser.add_argument_group("where the jobs run (default: one after another in this process)")
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="a local pool of N worker processes; each job gets cores/N threads, and its times are "
        "not comparable with a sequential run's",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask distributed scheduler, tcp://HOST:PORT (tls://HOST:PORT with the certificates "
        "of Dask's distributed.comm.tls settings), or local:N for a LocalCluster of N "
        "single-threaded worker processes; every worker must read the same --data path",
    )
    group.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="run a job that raised, whose worker died or that ran past --job-timeout up to N more "
        "times before it is recorded as failed (default: 1 with --workers or --scheduler, else 0)",
    )
    group.add_argument(
        "--job-timeout",
        metavar="SECONDS",
        help="with --workers or --scheduler: a job still running this many seconds after it started "
        "on a worker is stopped, recorded as failed ('timed out after N s') or retried as "
        "--retries says, and the other jobs go on. Stopped means killed: on a pool all its "
        "processes, then a new pool (the other jobs cut short run again, not counted as an "
        "attempt); on Dask the job's worker, restarted by its nanny. 0: no "
        f"limit (default: the profile's, {defaults}; curves use full's, robustness the run's "
        "profile's). Jobs in this process (neither option) have no limit, and a limit other "
        "than 0 is refused there: add --workers 1 to run them one at a time with one",
    )
