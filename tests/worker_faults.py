"""Job tasks that misbehave on purpose, for tests/test_executors.py; workers import this module by name
(a spawned worker gets the test process's sys.path, which holds this folder)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from bench.run.model_job import model_task


def die_once_after_a_row(job, splits):
    """Kill this worker process in the middle of the job, the first time only: once another model's row is
    in the run's results file (so a finished row exists when the worker dies). Then train as usual."""
    marker = Path(job.out_dir) / f"killed-{job.model}.pid"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        results = Path(job.out_dir) / "results.json"
        deadline = time.time() + 120
        while time.time() < deadline and not _has_row(results):
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGKILL)
    return model_task(job, splits)


def _has_row(results: Path) -> bool:
    try:
        return bool(json.loads(results.read_text())["models"])
    except (OSError, ValueError, KeyError):
        return False


def hang(job, splits):
    """Append this process's pid to <out_dir>/<model>.pids, then never return (a job that hangs)."""
    _note_pid(job)
    while True:
        time.sleep(1)


def hang_once(job, splits):
    """Note this process's pid; the first time (no <out_dir>/<model>.pids yet) never return, later return at once."""
    first = not (Path(job.out_dir) / f"{job.model}.pids").exists()
    _note_pid(job)
    while first:
        time.sleep(1)
    return {"pid": os.getpid()}


def after_file(job, splits):
    """Return job.options["seconds"] after job.options["file"] exists (a job that ends normally)."""
    _note_pid(job)
    deadline = time.time() + 120
    while time.time() < deadline and not Path(job.options["file"]).exists():
        time.sleep(0.05)
    time.sleep(job.options.get("seconds", 0))
    return {"pid": os.getpid()}


def _note_pid(job) -> None:
    with open(Path(job.out_dir) / f"{job.model}.pids", "a") as f:
        f.write(f"{os.getpid()}\n")
