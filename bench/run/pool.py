"""`--workers N`: a local pool of spawned processes that run jobs and report when each starts."""

from __future__ import annotations

import itertools
import multiprocessing
import socket
import time
import weakref
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..threads import available_cores
from .executor_base import Executor
from .jobs import Job, execute


class ProcessPool(Executor):
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
