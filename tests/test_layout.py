"""Data flows one way: no module imports one above it, and reading results never loads a model library."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bench"

# module prefix -> bench modules it must never import (directly or lazily inside a function). The packages,
# bottom up: schema/console/files; data; evaluation (numbers in, numbers out); corruptions; estimators;
# registry; run (runner, jobs, executors and the matrix commands); optimise; use; report; perfcheck; cli.
# The top two: every command's face (bench.cli), and the performance check, an engine only `check` and
# `baseline` use.
COMMANDS = ["bench.cli", "bench.perfcheck"]
RUNNING = ["bench.run", "bench.optimise"]
# a run: its loop over the jobs, and what one model or seed job does
RUNNER = ["bench.run.runner", "bench.run.model_job"]
# where jobs run: the interface (in this process), what every executor shares, the local pool, Dask
EXECUTORS = ["bench.run.executors", "bench.run.executor_base", "bench.run.pool", "bench.run.dask_cluster"]
FORBIDDEN = {
    "bench.schema": ["bench."],
    "bench.console": ["bench."],
    "bench.files": ["bench."],
    "bench.evaluation.timing": ["bench."],
    "bench.evaluation.significance": ["bench."],
    "bench.data": [
        *COMMANDS,
        *RUNNING,
        "bench.estimators",
        "bench.registry",
        "bench.report",
        "bench.use",
        "bench.evaluation",
        "bench.results",
        "bench.corruptions",
    ],
    # measurements: predictions and probabilities in, numbers out; they know no model, run or command
    "bench.evaluation": [
        *COMMANDS,
        *RUNNING,
        "bench.registry",
        "bench.estimators",
        "bench.results",
        "bench.report",
        "bench.use",
        "bench.data",
    ],
    "bench.corruptions": [
        *COMMANDS,
        *RUNNING,
        "bench.registry",
        "bench.estimators",
        "bench.results",
        "bench.report",
        "bench.use",
    ],
    "bench.results": [*COMMANDS, *RUNNING, "bench.estimators", "bench.report"],
    "bench.estimators": [*COMMANDS, *RUNNING, "bench.registry", "bench.results", "bench.report", "bench.use"],
    "bench.registry": [*COMMANDS, *RUNNING, "bench.report", "bench.use"],
    # jobs name their task as "module:function" data; jobs and executors know no command
    "bench.run.jobs": [
        *COMMANDS,
        "bench.optimise",
        "bench.report",
        *RUNNER,
        "bench.run.curves",
        "bench.run.robustness",
        *EXECUTORS,
    ],
    **{
        executor: [*COMMANDS, "bench.optimise", "bench.report", *RUNNER, "bench.run.curves", "bench.run.robustness"]
        for executor in EXECUTORS
    },
    "bench.run.saved": [
        *COMMANDS,
        "bench.optimise",
        "bench.report",
        *RUNNER,
        "bench.run.curves",
        "bench.run.robustness",
    ],
    # the engines: they may build reports, never reach into each other or a command line
    "bench.run.runner": [*COMMANDS, "bench.optimise", "bench.run.curves", "bench.run.robustness"],
    "bench.run.model_job": [
        *COMMANDS,
        "bench.optimise",
        "bench.run.runner",
        "bench.run.curves",
        "bench.run.robustness",
    ],
    "bench.run.curves": [*COMMANDS, "bench.optimise", *RUNNER, "bench.run.robustness"],
    "bench.run.robustness": [*COMMANDS, "bench.optimise", *RUNNER, "bench.run.curves"],
    "bench.run.generalise": [
        *COMMANDS,
        "bench.optimise",
        *RUNNER,
        "bench.run.curves",
        "bench.run.robustness",
    ],
    "bench.optimise": [*COMMANDS, *RUNNER, "bench.run.curves", "bench.run.robustness"],
    # using saved models: reads them, never trains through the runner or builds reports
    # (it reads saved models the way a run checks them: bench.run.saved)
    "bench.use": [
        *COMMANDS,
        "bench.optimise",
        "bench.report",
        *RUNNER,
        "bench.run.curves",
        "bench.run.robustness",
        "bench.run.jobs",
        *EXECUTORS,
    ],
    # image -> 28x28: knows nothing of models; its array steps are bench.data.mnist_style, which imports nothing
    "bench.use.preprocess": [
        *COMMANDS,
        *RUNNING,
        "bench.estimators",
        "bench.registry",
        "bench.results",
        "bench.report",
        "bench.evaluation",
        "bench.use.models",
        "bench.data.mnist",
        "bench.data.readers",
        "bench.data.offmnist",
    ],
    "bench.data.mnist_style": ["bench."],
    # reading results never loads a model library or reaches back into what made them
    "bench.report": [*COMMANDS, *RUNNING, "bench.estimators", "bench.data", "bench.corruptions", "bench.use"],
    "bench.perfcheck": ["bench.cli", "bench.estimators", "bench.report"],
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def bench_imports(path: Path) -> set[str]:
    """Every bench module `path` imports, anywhere in the file (lazy imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bench")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("bench"):
                found |= {target} | {f"{target}.{a.name}" for a in node.names}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_one_above_it(path):
    name = module_name(path)
    rules = [
        bad for prefix, bads in FORBIDDEN.items() if name == prefix or name.startswith(prefix + ".") for bad in bads
    ]
    wrong = sorted(
        i
        for i in bench_imports(path)
        for bad in rules
        if (i + ".").startswith(bad if bad.endswith(".") else bad + ".") and not i.startswith(name)
    )
    assert not wrong, f"{name} imports {wrong}"


def test_only_the_command_line_imports_a_face():
    """bench.cli sits on top: no engine, nor any other module outside it, imports a command's face."""
    wrong = {
        module_name(p): faces
        for p in MODULES
        if not (module_name(p) + ".").startswith("bench.cli.")
        for faces in [sorted(i for i in bench_imports(p) if (i + ".").startswith("bench.cli."))]
        if faces
    }
    assert not wrong, wrong


def test_reading_results_loads_no_model_library():
    """`benchmark.py report` and the performance check's comparison need neither TensorFlow, OpenCV,
    scikit-image nor the estimators just to read a results file."""
    code = (
        "import sys\n"
        "import bench.report.build, bench.cli.report, bench.report.terminal, bench.perfcheck.compare\n"
        "from bench.results import read_results\n"
        "read_results('reports/full/results.json')\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'cv2', 'skimage', 'bench.estimators', 'bench.run.runner')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_top_of_bench_holds_at_most_ten_modules_beside_its_packages():
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 10, f"{len(top)} modules directly under bench/: {', '.join(top)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{module_name(path)} has {lines} lines: split it by concern"
