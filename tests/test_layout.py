"""Data flows one way: no module imports one above it, and reading results never loads a model library."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bench"

# module prefix -> bench modules it must never import (directly or lazily inside a function)
FORBIDDEN = {
    "bench.schema": ["bench."],
    "bench.console": ["bench."],
    "bench.files": ["bench."],
    "bench.timing": ["bench."],
    # which runtime times single images: predictions in, a choice out; it knows no model or command
    "bench.runtime_choice": [
        "bench.runner",
        "bench.registry",
        "bench.estimators",
        "bench.results",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
    ],
    "bench.results": ["bench.runner", "bench.estimators", "bench.report", "bench.perfcheck", "bench.cli"],
    "bench.estimators": [
        "bench.runner",
        "bench.registry",
        "bench.results",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
    ],
    "bench.registry": ["bench.runner", "bench.report", "bench.perfcheck", "bench.cli"],
    "bench.runner": ["bench.report", "bench.perfcheck", "bench.cli"],
    "bench.report": [
        "bench.estimators",
        "bench.runner",
        "bench.data",
        "bench.perfcheck",
        "bench.cli",
        "bench.corruptions",
        "bench.robustness",
        "bench.curves",
        "bench.tune",
        "bench.optimise",
        "bench.saved",
    ],
    # measurements of numbers: nothing above them
    "bench.significance": ["bench."],
    "bench.calibration": [
        "bench.runner",
        "bench.registry",
        "bench.estimators",
        "bench.results",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
    ],
    "bench.corruptions": [
        "bench.runner",
        "bench.registry",
        "bench.estimators",
        "bench.results",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
        "bench.robustness",
        "bench.curves",
    ],
    # commands beside the runner: they may build reports, never reach into each other or the CLI
    "bench.robustness": ["bench.runner", "bench.curves", "bench.tune", "bench.perfcheck", "bench.cli"],
    "bench.curves": ["bench.runner", "bench.robustness", "bench.tune", "bench.perfcheck", "bench.cli"],
    "bench.tune": ["bench.runner", "bench.robustness", "bench.curves", "bench.perfcheck", "bench.cli"],
    "bench.tune_files": [
        "bench.runner",
        "bench.report",
        "bench.robustness",
        "bench.curves",
        "bench.tune",
        "bench.perfcheck",
        "bench.cli",
    ],
    "bench.optimise": [
        "bench.runner",
        "bench.robustness",
        "bench.curves",
        "bench.tune",
        "bench.perfcheck",
        "bench.cli",
    ],
    "bench.saved": [
        "bench.runner",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
        "bench.robustness",
        "bench.curves",
        "bench.tune",
        "bench.optimise",
    ],
    "bench.perfcheck": ["bench.estimators", "bench.report", "bench.cli"],
    # a job names its task as "module:function" data; jobs and executors know no command
    "bench.jobs": [
        "bench.runner",
        "bench.curves",
        "bench.tune",
        "bench.robustness",
        "bench.executors",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
    ],
    "bench.executors": [
        "bench.runner",
        "bench.curves",
        "bench.tune",
        "bench.robustness",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
    ],
    # using saved models: reads them, never trains through the runner or builds reports
    "bench.use": [
        "bench.runner",
        "bench.report",
        "bench.perfcheck",
        "bench.cli",
        "bench.robustness",
        "bench.curves",
        "bench.tune",
    ],
    "bench.use.preprocess": ["bench."],  # image -> 28x28: knows nothing of models
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


def test_reading_results_loads_no_model_library():
    """`benchmark.py report` and the performance check's comparison need neither TensorFlow, OpenCV,
    scikit-image nor the estimators just to read a results file."""
    code = (
        "import sys\n"
        "import bench.report.build, bench.report.cli, bench.report.terminal, bench.perfcheck.compare\n"
        "from bench.results import read_results\n"
        "read_results('reports/full/results.json')\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'cv2', 'skimage', 'bench.estimators', 'bench.runner')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
