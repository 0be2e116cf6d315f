"""The results file: plain JSON that reports and regression checks read back.

Layout (schema "digit-bench/results/1"):
    {"schema": ..., "run": {command, profile, seed, started_at, finished_at,
                           total_wall_seconds, environment, dataset},
     "models": {name: row, ...}}
A row is the measurement of one model: name, family, status, settings, metrics (flat),
per_class, confusion_matrix, history, and the path of its predictions file (.npz with
y_true, y_pred, proba; the test images are in test_set.npz beside the results). Every write replaces the file atomically.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .threads import available_cores

SCHEMA = "digit-bench/results/1"
RESULTS_NAME = "results.json"


class ResultsError(ValueError):
    """A results file is missing, unreadable or of another schema."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_results(path: Path, results: dict) -> None:
    atomic_write_bytes(path, json.dumps(results, indent=1, default=_plain).encode())


def read_versioned_json(path, schema: str, kind: str, error=ValueError, hint: str = "") -> dict:
    """Read a JSON object whose "schema" field must equal `schema`; one-line `error` otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file{hint}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise error(f"{path}: not a readable {kind} file: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise error(f"{path}: schema is {found!r}, expected {schema!r}")
    return data


def read_results(path) -> dict:
    return read_versioned_json(path, SCHEMA, "results", ResultsError)


def save_predictions(path: Path, y_true, proba) -> None:
    """Per-model predictions for error analysis; .npz of plain arrays (loaded without pickle)."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(
        buf, y_true=np.asarray(y_true, np.int64), y_pred=np.argmax(proba, axis=1).astype(np.int64),
        proba=np.asarray(proba, np.float32),
    )
    atomic_write_bytes(path, buf.getvalue())


def load_predictions(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _plain(obj):
    """json.dumps fallback for numpy scalars and arrays."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def environment() -> dict:
    """Versions, CPU and thread counts: what a reader needs to judge or repeat the numbers."""
    from importlib import metadata

    packages = {}
    for name in ("numpy", "scikit-learn", "scikit-image", "tensorflow", "keras", "opencv-python-headless",
                 "opencv-python", "pandas", "skops", "mlxtend", "rich", "matplotlib"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    env = {
        "digit_bench": _code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": available_cores(),
        "packages": packages,
        "threads": _threads(),
        "env_vars": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                 "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                                                 "OPENBLAS_CORETYPE", "TF_ENABLE_ONEDNN_OPTS") if k in os.environ},
    }
    return env


def _code_version() -> dict:
    """Package version and, when run from a git checkout, the commit (with a dirty flag)."""
    import subprocess

    from . import __version__

    out = {"version": __version__, "git_commit": None}
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _threads() -> dict:
    out = {}
    try:
        from threadpoolctl import threadpool_info

        out["native_pools"] = [
            {"api": p.get("internal_api"), "num_threads": p.get("num_threads")} for p in threadpool_info()
        ]
    except Exception:  # threadpoolctl is optional information
        pass
    try:
        import tensorflow as tf

        out["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        out["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
        out["tf_note"] = "0 means TensorFlow picks (all available cores)"
    except Exception:
        pass
    return out
