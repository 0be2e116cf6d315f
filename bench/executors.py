"""Where a matrix of jobs runs: in this process, a local pool of processes, or a Dask cluster.

Every executor takes the same plain-data `bench.jobs.Job` and gives back the same dict, so a
run's rows do not depend on where they were computed (only their times and `worker` do).
`run_jobs` is the one loop over them: it keeps at most `capacity` jobs in flight, hands each
result to the caller the moment it arrives (the caller writes it), retries a job that raised
or whose worker died `retries` times, and stops the whole matrix at once on data that is not
the run's (no retry can fix that; finished results are already with the caller).
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .data import DataError
from .jobs import Job, execute
from .threads import available_cores


class ExecutorError(ValueError):
    """The executor cannot start as asked: one line naming the option and what is wrong."""


class _Executor:
    """What every executor has: a context manager that closes it."""

    default_retries = 1  # a worker can die under a job (out of memory, a lost machine): try it once more

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass


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

    def wait(self, futures) -> set:
        return {f for f in futures if f.done()}

    def threads_per_job(self, profile_threads: int | None) -> int | None:
        return None  # the runner's own limit holds for the whole process

    def describe(self) -> dict:
        return {"executor": "in-process", "workers": 1, "hosts": [socket.gethostname()], "concurrent": False}


class ProcessPool(_Executor):
    """`--workers N`: N local processes, spawned (TensorFlow is not fork-safe); a pool whose worker dies is
    replaced, and the jobs it held are retried."""

    def __init__(self, workers: int):
        self.workers = self.capacity = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, job: Job) -> Future:
        try:
            return self._pool.submit(execute, job)
        except BrokenProcessPool:  # a worker died: its pool takes no more work
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(execute, job)

    def wait(self, futures) -> set:
        return wait(futures, return_when=FIRST_COMPLETED).done

    def threads_per_job(self, profile_threads: int | None) -> int:
        return profile_threads or max(1, available_cores() // self.workers)

    def describe(self) -> dict:
        return {"executor": "process-pool", "workers": self.workers, "hosts": [socket.gethostname()],
                "concurrent": self.workers > 1}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskCluster(_Executor):
    """`--scheduler tcp://HOST:PORT` (an existing Dask distributed cluster) or `local:N` (a LocalCluster of N
    single-threaded worker processes for this run). Dask reruns a task whose worker died on another worker."""

    def __init__(self, address: str):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("--scheduler: needs Dask distributed (pip install 'dask[distributed]')") from None
        self.address, self._cluster = address, None
        logging.getLogger("distributed").setLevel(logging.ERROR)  # worker restarts are reported by run_jobs
        if address.startswith("local:"):
            # silence_logs: a job that raised is reported once, by run_jobs, not also as a worker's log traceback
            self._cluster = LocalCluster(n_workers=_local_workers(address), threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.CRITICAL)
            self.client = Client(self._cluster)
        else:
            if "://" not in address:
                raise ExecutorError(f"--scheduler {address}: give tcp://HOST:PORT or local:N")
            import dask

            try:  # Dask's own connect timeout (30 s; DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s shortens it)
                self.client = Client(address, timeout=dask.config.get("distributed.comm.timeouts.connect"))
            except (OSError, TimeoutError, ValueError) as e:
                raise ExecutorError(f"--scheduler {address}: cannot reach a Dask scheduler there "
                                    f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        self._slots = self._slots_by_host()
        if not self._slots:
            self.close()
            raise ExecutorError(f"--scheduler {address}: the scheduler has no workers")
        self.capacity = 2 * sum(s for s, _ in self._slots.values())  # a little queue on every worker

    def _slots_by_host(self) -> dict[str, tuple[int, int]]:
        """host -> (task slots of its workers, its cores)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        cores = self.client.run(available_cores)
        out: dict[str, tuple[int, int]] = {}
        for address, info in workers.items():
            slots, n = out.get(info["host"], (0, 0))
            out[info["host"]] = (slots + info["nthreads"], max(n, cores.get(address, 1)))
        return out

    def submit(self, job: Job) -> Future:
        return self.client.submit(execute, job, pure=False)

    def wait(self, futures) -> set:
        from distributed import wait as dask_wait

        return dask_wait(list(futures), return_when=FIRST_COMPLETED).done

    def threads_per_job(self, profile_threads: int | None) -> int:
        """Cores per task slot on the most crowded host, so no host runs more threads than it has cores."""
        return profile_threads or max(1, min(cores // slots for slots, cores in self._slots.values()))

    def describe(self) -> dict:
        slots = sum(s for s, _ in self._slots.values())
        return {"executor": "dask", "scheduler": self.address, "workers": slots, "hosts": sorted(self._slots),
                "concurrent": any(s > 1 for s, _ in self._slots.values())}

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _local_workers(address: str) -> int:
    count = address.removeprefix("local:")
    if not count.isdigit() or int(count) < 1:
        raise ExecutorError(f"--scheduler {address}: local:N needs N of at least 1 worker processes")
    return int(count)


def open_executor(workers: int | None = None, scheduler: str | None = None, retries: int | None = None):
    """The executor the options ask for: in-process (neither), a ProcessPool or a DaskCluster. Its `retries`
    is `retries`, or its kind's default when None (checked before any process starts)."""
    if retries is not None and retries < 0:
        raise ExecutorError(f"--retries: must be 0 or more, got {retries}")
    executor = _open(workers, scheduler)
    executor.retries = executor.default_retries if retries is None else retries
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


def run_jobs(executor, jobs: Iterable[Job], on_result: Callable, *, retries: int = 0,
             on_retry: Callable | None = None, on_running: Callable | None = None,
             fatal: tuple[type[Exception], ...] = (DataError,)) -> None:
    """Run every job on `executor`; in this process, as each ends, call on_result(job, result, error, traceback)
    (result None when it failed after 1 + `retries` attempts). on_retry(job, error, attempt) hears of each
    retry, on_running(jobs) of the jobs in flight. An exception of a `fatal` type (by default DataError: data
    a worker cannot read, or not the run's) stops the matrix and propagates; KeyboardInterrupt too. Results
    already handed over stay.
    """
    queue, running, attempts = deque(jobs), {}, {}
    try:
        while queue or running:
            while queue and len(running) < executor.capacity:
                job = queue.popleft()
                attempts[job.key] = attempts.get(job.key, 0) + 1
                if on_running:  # before submit: an in-process job has finished when submit returns
                    on_running([*running.values(), job])
                running[executor.submit(job)] = job
            for future in executor.wait(running):
                job = running.pop(future)
                try:
                    result = future.result()
                except fatal:
                    raise
                except Exception as e:
                    error = _one_line(e)
                    if attempts[job.key] <= retries:
                        if on_retry:
                            on_retry(job, error, attempts[job.key])
                        queue.append(job)
                        continue
                    on_result(job, None, error, _traceback(e))
                else:
                    on_result(job, result, None, None)
            if on_running:
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
