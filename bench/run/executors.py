"""Where a matrix of jobs runs: in this process, a local pool of processes, or a Dask cluster.

Every executor takes the same plain-data `bench.run.jobs.Job` and gives back the same dict, so a
run's rows do not depend on where they were computed (only their times and `worker` do).
`run_jobs` is the one loop over them: it keeps at most `capacity` jobs in flight, hands each
result to the caller the moment it arrives (the caller writes it), retries a job that raised,
whose worker died or that ran past its time limit `retries` times, and stops the whole matrix
at once on data that is not the run's (no retry can fix that; finished results are already
with the caller).

A time limit (`--job-timeout`) counts from the moment a job starts on a worker (a pool's worker
or a Dask worker reports it), not from its submission: a job queued behind another is not
charged for the wait. A job past its limit is stopped by stopping its worker process: on a
pool every process of the pool (the others' jobs run again, and that run does not count as one
of their attempts), on Dask the worker that runs it (restarted by its nanny; Dask reruns the
other tasks it held). Jobs in this process have no limit: nothing can stop a running job
safely in the process that records the results.

Here: InProcess, `open_executor` (the executor the options ask for) and `run_jobs`. The local pool is
bench.run.pool, the Dask executor bench.run.dask_cluster, what they all share bench.run.executor_base.
"""

from __future__ import annotations

import math
import socket
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

from ..data import DataError
from .dask_cluster import DaskCluster
from .executor_base import Executor, ExecutorError
from .jobs import Job, execute
from .pool import ProcessPool

POLL_SECONDS = 1.0  # how often run_jobs looks for jobs past their time limit (at most)


class InProcess(Executor):
    """Jobs one after another in this process: today's behaviour and the default."""

    default_retries = 0  # no worker to lose: a job that raised will raise again

    capacity = 1

    def submit(self, job: Job) -> Future:
        future = Future()
        try:
            future.set_result(execute(job))
        except Exception as e:  # the loop decides: retry, record as failed, or stop
            future.set_exception(e)
        return future

    def wait(self, futures, timeout: float | None = None) -> set:
        return {f for f in futures if f.done()}

    def time_limit(self, profile_default: float | None) -> None:
        return None  # a job has ended when submit returns: there is nothing left to stop

    def threads_per_job(self, profile_threads: int | None) -> int | None:
        return None  # the runner's own limit holds for the whole process

    def describe(self) -> dict:
        return {"executor": "in-process", "workers": 1, "hosts": [socket.gethostname()], "concurrent": False}


def parse_job_timeout(value) -> float | None:
    """--job-timeout's seconds (a number or its text); None when not given; ExecutorError naming the option."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ExecutorError(f"--job-timeout: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ExecutorError(f"--job-timeout: must be 0 (no limit) or more seconds, got {value}")
    return seconds


def open_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int | None = None,
    job_timeout: float | str | None = None,
):
    """The executor the options ask for: in-process (neither), a ProcessPool or a DaskCluster. Its `retries`
    is `retries`, or its kind's default when None; its `job_timeout` is job_timeout in seconds (None: the
    profile's default, see time_limit). Both are checked before any process starts."""
    if retries is not None and retries < 0:
        raise ExecutorError(f"--retries: must be 0 or more, got {retries}")
    seconds = parse_job_timeout(job_timeout)
    if seconds and workers is None and not scheduler:
        raise ExecutorError(
            "--job-timeout: limits jobs on --workers or --scheduler only (a job in this process "
            "cannot be stopped safely); add --workers 1 to run them one at a time with a limit"
        )
    executor = _open(workers, scheduler)
    executor.retries = executor.default_retries if retries is None else retries
    executor.job_timeout = seconds
    return executor


def _open(workers, scheduler):
    if workers is not None and scheduler:
        raise ExecutorError("--workers and --scheduler: give one of them")
    if workers is not None:
        if workers < 1:
            raise ExecutorError(f"--workers: must be at least 1, got {workers}")
        return ProcessPool(workers)
    if scheduler:
        return DaskCluster(scheduler)
    return InProcess()


def run_jobs(
    executor,
    jobs: Iterable[Job],
    on_result: Callable,
    *,
    retries: int = 0,
    timeout: float | None = None,
    on_retry: Callable | None = None,
    on_running: Callable | None = None,
    fatal: tuple[type[Exception], ...] = (DataError,),
) -> None:
    """Run every job on `executor`; in this process, as each ends, call on_result(job, result, error, traceback)
    (result None when it failed after 1 + `retries` attempts). on_retry(job, error, attempt) hears of each
    retry, on_running(jobs) of the jobs in flight. An exception of a `fatal` type (by default DataError: data
    a worker cannot read, or not the run's) stops the matrix and propagates; KeyboardInterrupt too. Results
    already handed over stay.

    timeout: the seconds a job may run once started on a worker (None: no limit). A job past it is stopped
    (executor.stop) and fails as "timed out after N s", an attempt like any other; jobs stopped with it run
    again, and that does not count as one of their attempts.
    """
    queue, running, attempts = deque(jobs), {}, {}
    poll = None if timeout is None else min(POLL_SECONDS, max(timeout / 4, 0.05))

    def failed(job: Job, error: str, trace: str | None) -> None:
        if attempts[job.key] <= retries:
            if on_retry:
                on_retry(job, error, attempts[job.key])
            queue.append(job)
        else:
            on_result(job, None, error, trace)

    def stop_overdue() -> bool:
        now = time.monotonic()
        overdue = [f for f, t in executor.started(list(running)).items() if now - t > timeout and not f.done()]
        if not overdue:
            return False
        lost = executor.stop(overdue, [f for f in running if f not in overdue])
        for future in overdue:
            failed(running.pop(future), f"timed out after {timeout:g} s (--job-timeout)", None)
        for future in lost:  # stopped with an overdue job through no fault of its own
            job = running.pop(future)
            attempts[job.key] -= 1
            queue.appendleft(job)
        return True

    try:
        while queue or running:
            while queue and len(running) < executor.capacity:
                job = queue.popleft()
                attempts[job.key] = attempts.get(job.key, 0) + 1
                if on_running:  # before submit: an in-process job has finished when submit returns
                    on_running([*running.values(), job])
                running[executor.submit(job)] = job
            done = executor.wait(running, poll)
            for future in done:
                job = running.pop(future)
                try:
                    result = future.result()
                except fatal:
                    raise
                except Exception as e:
                    failed(job, _one_line(e), _traceback(e))
                else:
                    on_result(job, result, None, None)
            stopped = timeout is not None and bool(running) and stop_overdue()
            if on_running and (done or stopped):
                on_running(list(running.values()))
    finally:
        for future in running:
            future.cancel()


def _one_line(e: BaseException) -> str:
    if isinstance(e, BrokenProcessPool):
        return "worker process died (BrokenProcessPool)"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _traceback(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))
