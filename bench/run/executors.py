"""Where a matrix of jobs runs: in this process, a local pool of processes, or a Dask cluster.

Every executor takes the same plain-data `bench.jobs.Job` and gives back the same dict, so a
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
"""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing
import socket
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .data import DataError
from .jobs import Job, execute
from .threads import available_cores

POLL_SECONDS = 1.0  # how often run_jobs looks for jobs past their time limit (at most)
RESTART_SECONDS = 120  # how long a Dask worker restarted for a job past its limit may take to come back
STARTED_TOPIC = "digit-bench-job-started"  # the Dask event a job sends as it starts: {"key", "worker"}
# A LocalCluster's workers start without the MALLOC_TRIM_THRESHOLD_=65536 Dask's nannies set by default (None
# removes it; they inherit this process's value, if any). Any value there, however large, switches off glibc's
# dynamic mmap threshold, leaving it at 128 KiB: TensorFlow's buffers of 128 KiB to 1 MiB are then mapped,
# page-faulted in and unmapped at every training step (lenet5 in the ci profile, on an AVX512-BF16 machine: 2.6x
# the page faults and 1.2x the training time). Workers of an external cluster need the same setting where
# `dask worker` starts (docs/scale-out.md).
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class ExecutorError(ValueError):
    """The executor cannot start as asked: one line naming the option and what is wrong."""


class _Executor:
    """What every executor has: a context manager that closes it."""

    default_retries = 1  # a worker can die under a job (out of memory, a lost machine): try it once more
    job_timeout: float | None = None  # --job-timeout as given; None: the profile's default, 0: no limit

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass

    def time_limit(self, profile_default: float | None) -> float | None:
        """The seconds a job may run here: --job-timeout, else the profile's default; None: no limit."""
        limit = profile_default if self.job_timeout is None else self.job_timeout
        return float(limit) if limit else None

    def started(self, futures) -> dict:
        """future -> time.monotonic() when its job started on a worker, for those of `futures` that run now."""
        return {}

    def stop(self, futures, others) -> list:
        """Stop the jobs of `futures`; returns those of `others` (the rest in flight) that were stopped with them."""
        raise NotImplementedError


class InProcess(_Executor):
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


class ProcessPool(_Executor):
    """`--workers N`: N local processes, spawned (TensorFlow is not fork-safe); a pool whose worker dies is
    replaced, and the jobs it held are retried."""

    def __init__(self, workers: int):
        self.workers = self.capacity = workers
        self._tokens = itertools.count()
        self._token_of: weakref.WeakKeyDictionary[Future, int] = weakref.WeakKeyDictionary()
        self._started_at: dict[int, float] = {}  # token -> when the client heard its job start
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        # each pool has its own queue: a process killed while it writes can only leave a dropped pool's queue locked
        self._starts = context.SimpleQueue()
        return ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_report_starts_on, initargs=(self._starts,)
        )

    def submit(self, job: Job) -> Future:
        token = next(self._tokens)
        try:
            future = self._pool.submit(_execute_reporting_start, token, job)
        except BrokenProcessPool:  # a worker died: its pool takes no more work
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            future = self._pool.submit(_execute_reporting_start, token, job)
        self._token_of[future] = token
        return future

    def wait(self, futures, timeout: float | None = None) -> set:
        self._hear_starts(futures)  # with or without a time limit: a full queue would block the workers
        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED).done

    def started(self, futures) -> dict:
        tokens = self._hear_starts(futures)
        return {f: self._started_at[t] for f, t in tokens.items() if t in self._started_at}

    def _hear_starts(self, futures) -> dict:
        """Read the starts the workers reported; forget those of jobs not in `futures` (ended). future -> token."""
        while not self._starts.empty():
            self._started_at[self._starts.get()] = time.monotonic()
        tokens = {f: self._token_of.get(f) for f in futures}
        for token in set(self._started_at) - set(tokens.values()):
            del self._started_at[token]
        return tokens

    def stop(self, futures, others) -> list:
        """A pool cannot cancel a running task, and a pool whose process died takes no more work: kill every
        process of the pool and start a new one. Returns those of `others` that ended with the pool."""
        processes = list((self._pool._processes or {}).values())  # the executor's own (Python 3.14: kill_workers)
        for process in processes:
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(10)
        self._pool = self._new_pool()
        return [f for f in others if not f.done() or f.cancelled() or isinstance(f.exception(), BrokenProcessPool)]

    def threads_per_job(self, profile_threads: int | None) -> int:
        return profile_threads or max(1, available_cores() // self.workers)

    def describe(self) -> dict:
        return {
            "executor": "process-pool",
            "workers": self.workers,
            "hosts": [socket.gethostname()],
            "concurrent": self.workers > 1,
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


_starts = None  # in a pool's worker process: the queue it reports its jobs' starts on


def _report_starts_on(queue) -> None:
    global _starts
    _starts = queue


def _execute_reporting_start(token: int, job: Job) -> dict:
    _starts.put(token)
    return execute(job)


class DaskCluster(_Executor):
    """`--scheduler tcp://HOST:PORT` or tls://HOST:PORT (an existing Dask distributed cluster) or `local:N` (a
    LocalCluster of N single-threaded worker processes for this run). Dask reruns a task whose worker died on
    another worker. A tls:// scheduler takes its certificates from Dask's configuration (distributed.comm.tls,
    or DASK_DISTRIBUTED__COMM__TLS__* variables), as Dask's own Client does."""

    def __init__(self, address: str):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("--scheduler: needs Dask distributed (pip install 'dask[distributed]')") from None
        self.address, self._cluster = address, None
        self._started: dict[str, tuple[float, str]] = {}  # task key -> (when the client heard it start, worker)
        logging.getLogger("distributed").setLevel(logging.ERROR)  # worker restarts are reported by run_jobs
        if address.startswith("local:"):
            import dask

            # silence_logs: a job that raised is reported once, by run_jobs, not also as a worker's log traceback.
            # Each nanny reads its workers' pre-spawn environment here, once; a restarted worker gets the same.
            with dask.config.set(LOCAL_WORKER_CONFIG):
                self._cluster = LocalCluster(
                    n_workers=_local_workers(address),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,
                )
            self.client = Client(self._cluster)
        else:
            if "://" not in address:
                raise ExecutorError(
                    f"--scheduler {address}: give tcp://HOST:PORT or local:N "
                    "(tls://HOST:PORT for a scheduler that takes TLS)"
                )
            import dask

            if address.startswith("tls://") and not _tls_configured():
                raise ExecutorError(
                    f"--scheduler {address}: a tls:// scheduler needs this side's certificates in "
                    "Dask's configuration: distributed.comm.tls.ca-file, .client.cert and "
                    ".client.key (or DASK_DISTRIBUTED__COMM__TLS__CA_FILE, __CLIENT__CERT and "
                    "__CLIENT__KEY)"
                )
            try:  # Dask's own connect timeout (30 s; DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s shortens it)
                self.client = Client(address, timeout=dask.config.get("distributed.comm.timeouts.connect"))
            # TypeError: TLS settings Dask cannot use; RuntimeError: tcp:// while Dask's config requires encryption
            except (OSError, TimeoutError, ValueError, TypeError, RuntimeError) as e:
                raise ExecutorError(
                    f"--scheduler {address}: cannot reach a Dask scheduler there "
                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                ) from None
        self._slots = self._slots_by_host()
        if not self._slots:
            self.close()
            raise ExecutorError(f"--scheduler {address}: the scheduler has no workers")
        self.capacity = 2 * sum(s for s, _ in self._slots.values())  # a little queue on every worker
        self.client.subscribe_topic(STARTED_TOPIC, self._heard_start)

    def _slots_by_host(self) -> dict[str, tuple[int, int]]:
        """host -> (task slots of its workers, its cores)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        cores = self.client.run(available_cores)
        out: dict[str, tuple[int, int]] = {}
        for address, info in workers.items():
            slots, n = out.get(info["host"], (0, 0))
            out[info["host"]] = (slots + info["nthreads"], max(n, cores.get(address, 1)))
        return out

    def _heard_start(self, event) -> None:  # on the client's event loop thread
        _, message = event
        self._started[message["key"]] = (time.monotonic(), message["worker"])

    def submit(self, job: Job) -> Future:
        return self.client.submit(_execute_on_dask, job, pure=False)

    def wait(self, futures, timeout: float | None = None) -> set:
        from distributed import wait as dask_wait

        self._forget_starts(futures)
        try:
            return dask_wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED).done
        except TimeoutError:
            return set()

    def _forget_starts(self, futures) -> None:
        """Forget the starts of tasks not in `futures`: ended, or another client's."""
        keys = {f.key for f in futures}
        for key in [k for k in list(self._started) if k not in keys]:
            self._started.pop(key, None)

    def started(self, futures) -> dict:
        self._forget_starts(futures)
        if not any(f.key in self._started for f in futures):
            return {}
        # a task counts as running where it started only while that worker still holds it: one whose worker
        # died waits for Dask to run it again (and its start there)
        held = {worker: set(keys) for worker, keys in self.client.processing().items()}
        out = {}
        for f in futures:
            when, worker = self._started.get(f.key, (None, None))
            if when is not None and f.key in held.get(worker, ()):
                out[f] = when
        return out

    def stop(self, futures, others) -> list:
        """Cancel the tasks, then restart the workers that run them (Dask cannot stop a running task; a worker
        without a nanny cannot be restarted and is retired instead). Dask reruns the other tasks those workers
        held, so this returns []."""
        workers = sorted({self._started[f.key][1] for f in futures})
        keys = {f.key for f in futures}
        self.client.cancel(list(futures))
        deadline = time.monotonic() + 30
        # the scheduler must have forgotten them before their workers go, or it would run them again elsewhere
        while keys & {k for held in self.client.processing().values() for k in held} and time.monotonic() < deadline:
            time.sleep(0.1)
        try:
            self.client.restart_workers(workers, timeout=RESTART_SECONDS, raise_for_error=False)
        except ValueError:  # a worker without a nanny
            self.client.retire_workers(workers, close_workers=True)
        except (OSError, TimeoutError):
            pass  # the scheduler removes a worker that does not come back; the check below says if none is left
        for key in [k for k, (_, w) in list(self._started.items()) if w in workers]:
            self._started.pop(key, None)  # their clocks start again when Dask runs them again
        if not self.client.scheduler_info(n_workers=-1)["workers"]:
            raise ExecutorError(
                f"--scheduler {self.address}: no workers left after stopping a job past its time limit (--job-timeout)"
            )
        return []

    def threads_per_job(self, profile_threads: int | None) -> int:
        """Cores per task slot on the most crowded host, so no host runs more threads than it has cores."""
        return profile_threads or max(1, min(cores // slots for slots, cores in self._slots.values()))

    def describe(self) -> dict:
        slots = sum(s for s, _ in self._slots.values())
        return {
            "executor": "dask",
            "scheduler": self.address,
            "workers": slots,
            "hosts": sorted(self._slots),
            "concurrent": any(s > 1 for s, _ in self._slots.values()),
        }

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _tls_configured() -> bool:
    """Whether Dask's Client finds what a tls:// connection needs: a security loader, or a CA and a client
    certificate in its configuration (distributed.comm.tls)."""
    import dask
    from distributed.security import Security

    if dask.config.get("distributed.client.security-loader", None):
        return True
    security = Security()
    return bool(security.tls_ca_file and security.tls_client_cert)


def _execute_on_dask(job: Job) -> dict:
    """execute(job) on a Dask worker, after telling the client (an event through the scheduler) that it started."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(STARTED_TOPIC, {"key": str(worker.get_current_task()), "worker": worker.address})
    return execute(job)


def _local_workers(address: str) -> int:
    count = address.removeprefix("local:")
    if not count.isdigit() or int(count) < 1:
        raise ExecutorError(f"--scheduler {address}: local:N needs N of at least 1 worker processes")
    return int(count)


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
