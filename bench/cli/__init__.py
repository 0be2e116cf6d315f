"""Command line: `python benchmark.py [options]` trains and measures the selected models; `benchmark.py NAME ...`
runs another command. Each command's face (its options, its terminal output, its exit code) lives here; the
work it asks for lives in an importable engine (bench.run, bench.optimise, bench.report, bench.perfcheck,
bench.use)."""

from __future__ import annotations

import sys

from ..console import quiet_library_logs

# `benchmark.py NAME ...` hands the rest of the command line to these (module, function).
SUBCOMMANDS = {
    "report": ("bench.cli.report", "main"),
    "check": ("bench.cli.check", "check_main"),
    "baseline": ("bench.cli.check", "baseline_main"),
    "robustness": ("bench.cli.robustness", "main"),
    "curves": ("bench.cli.curves", "main"),
    "tune": ("bench.cli.tune", "main"),
    "optimise": ("bench.cli.optimise", "main"),
    "generalise": ("bench.cli.generalise", "main"),
    "predict": ("bench.cli.predict", "main"),
    "serve": ("bench.cli.serve", "main"),
    "kaggle": ("bench.cli.kaggle", "main"),
}


def main(argv=None) -> int:
    quiet_library_logs()  # before anything imports TensorFlow
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        module, function = SUBCOMMANDS[argv[0]]
        return getattr(importlib.import_module(module), function)(argv[1:])
    from .run import run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
