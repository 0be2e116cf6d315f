"""What every executor is: the base class the in-process, pool and Dask executors share, and the one error
an executor raises when it cannot start as asked."""

from __future__ import annotations


class ExecutorError(ValueError):
    """The executor cannot start as asked: one line naming the option and what is wrong."""


class Executor:
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
