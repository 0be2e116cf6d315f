"""What a reader needs to judge or repeat a run's numbers: code version, machine, packages, threads."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from .threads import available_cores


def describe() -> dict:
    """Versions, CPU and thread counts: what a reader needs to judge or repeat the numbers."""
    from importlib import metadata

    packages = {}
    for name in (
        "numpy",
        "scikit-learn",
        "scikit-image",
        "tensorflow",
        "keras",
        "ai-edge-litert",
        "opencv-python-headless",
        "opencv-python",
        "pandas",
        "skops",
        "mlxtend",
        "rich",
        "matplotlib",
        "onnxruntime",
        "skl2onnx",
        "tf2onnx",
    ):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    flags = cpu_simd_flags()
    env = {
        "digit_bench": code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_flags": flags,
        "machine_kind": machine_kind(flags=flags),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": available_cores(),
        "packages": packages,
        "threads": thread_counts(),
        "env_vars": {
            k: os.environ[k]
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS",
                "TF_NUM_INTEROP_THREADS",
                "OPENBLAS_CORETYPE",
                "TF_ENABLE_ONEDNN_OPTS",
            )
            if k in os.environ
        },
    }
    return env


def code_version() -> dict:
    """Package version and, when run from a git checkout, the commit (with a dirty flag)."""
    import subprocess

    from . import __version__

    out = {"version": __version__, "git_commit": None}
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out


# Vector instruction sets that decide which kernels TensorFlow (oneDNN, XNNPACK) and BLAS run. Two CPUs
# with different ones give different float round-off, and a short, unstable training (the ci profile)
# turns that into different accuracy: an AVX2-only VM and an AVX512-BF16 one differ by points, not ulps.
SIMD_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "sve",
)


def cpu_simd_flags() -> list[str]:
    """The SIMD_FLAGS this CPU reports (Linux /proc/cpuinfo), in SIMD_FLAGS order; [] where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            present = set(line.split(":", 1)[1].split())
            return [f for f in SIMD_FLAGS if f in present]
    return []


def machine_kind(arch: str | None = None, flags: list[str] | None = None) -> str:
    """Which kind of machine numbers were made on, for baselines: 'x86_64-avx2', 'x86_64-avx512_bf16', ..."""
    arch = arch or platform.machine()
    flags = cpu_simd_flags() if flags is None else flags
    level = next((f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2", "sve", "asimd") if f in flags), "base")
    return f"{arch}-{level}"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def thread_counts(import_tensorflow: bool = True) -> dict:
    """Thread pools of this process: native BLAS/OpenMP pools and TensorFlow's intra/inter-op
    (import_tensorflow=False: only when TensorFlow is already loaded)."""
    out = {}
    try:
        from threadpoolctl import threadpool_info

        out["native_pools"] = [
            {"api": p.get("internal_api"), "num_threads": p.get("num_threads")} for p in threadpool_info()
        ]
    except Exception:  # threadpoolctl is optional information
        pass
    if not import_tensorflow and "tensorflow" not in sys.modules:
        return out
    try:
        import tensorflow as tf

        # 0 when set through TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, which TensorFlow then uses
        out["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads() or int(
            os.environ.get("TF_NUM_INTRAOP_THREADS", 0)
        )
        out["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads() or int(
            os.environ.get("TF_NUM_INTEROP_THREADS", 0)
        )
        out["tf_note"] = "0 means TensorFlow picks (all available cores)"
    except Exception:
        pass
    return out
