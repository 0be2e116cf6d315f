"""`--scheduler`: jobs on a Dask distributed cluster, an existing one or a LocalCluster started for the run."""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future

from ..threads import available_cores
from .executor_base import Executor, ExecutorError
from .jobs import Job, execute

RESTART_SECONDS = 120  # how long a Dask worker restarted for a job past its limit may take to come back
STARTED_TOPIC = "digit-bench-job-started"  # the Dask event a job sends as it starts: {"key", "worker"}
# A LocalCluster's workers start without the MALLOC_TRIM_THRESHOLD_=65536 Dask's nannies set by default (None
# removes it; they inherit this process's value, if any). Any value there, however large, switches off glibc's
# dynamic mmap threshold, leaving it at 128 KiB: TensorFlow's buffers of 128 KiB to 1 MiB are then mapped,
# page-faulted in and unmapped at every training step (lenet5 in the ci profile, on an AVX512-BF16 machine: 2.6x
# the page faults and 1.2x the training time). Workers of an external cluster need the same setting where
# `dask worker` starts (docs/scale-out.md).
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class DaskCluster(Executor):
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
