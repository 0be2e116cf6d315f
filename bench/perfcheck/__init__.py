"""Performance-regression check for CI: compare a ci-profile run with a committed baseline.

`python benchmark.py baseline --results R1 ... R8 --calibrate --out reports/baselines/ci-KIND.json`
writes a baseline; `python benchmark.py check --baseline reports/baselines/` runs the ci profile
(or reads `--results`) and compares every model and metric with the baseline made on the same
kind of machine (baseline.choose_baseline). On a kind with no baseline of its own, only quality is
judged, against the other kinds' baselines with the wider cross-kind tolerances of `rules`, and time
is not (baseline.cross_kind_baseline).

Two kinds of metric, two rules (directions from `bench.schema.METRICS`, sizes in `rules`):

- quality (accuracy, f1_macro, roc_auc_macro, log_loss): the ci profile is seeded and
  deterministic, so values are compared with small absolute tolerances.
- time (train_seconds, throughput_img_s, latency_ms_p50, latency_ms_p95): raw times depend
  on the machine, so each is first turned into a ratio to the reference workload (a fixed
  one-thread matrix product timed just before each model is measured: `reference_ms`). A ratio
  is "how many reference workloads" a time lasts (throughput: images per reference workload).
  It is a regression when the ratio is worse than the baseline's by more than the margin, as a
  factor: current/baseline > 1 + margin (throughput: baseline/current). The reference is the
  run's pooled median, not each row's own (see `compare.run_reference_ms`).

Several runs (baseline: several --results files; check: several --results files or --repeats N,
default 3) are summarised by the median per model and metric, which resists one noisy run.
Tolerances and margins live in the baseline file, so CI and readers see the same rules. The
default margins were chosen by hand; `baseline --calibrate` over at least 8 unchanged runs sets
each model's margins from the measured noise between 3-run medians, and makes a metric too noisy
for a margin that still catches a 2x slowdown advisory: shown, never failing (see `noise`).

Limits: quality is exact run to run, but time verdicts are only as steady as the machine. When
its speed or load changes between runs, the ratios divide that out only as far as each model
slows down as much as the reference; the check then prints a warning naming the reference's
spread (see `output.reference_lines`).

Modules: rules (tolerances, margins), compare (ratios, medians, verdicts), baseline (the file),
noise (margins from measured noise), output (tables), runs (the ci-profile runs made when no results
files are given). The two commands' faces (options, terminal output) are bench.cli.check.
Exit codes (bench.console): 0 nothing regressed; 1 something regressed; 2 bad input (one line);
130 interrupted.
"""

from .baseline import BASELINE_SCHEMA, add_calibration, make_baseline, read_baseline
from .compare import BadInput, RunFile, compare, current_summary, read_runs, regressed

__all__ = [
    "BASELINE_SCHEMA",
    "BadInput",
    "RunFile",
    "add_calibration",
    "compare",
    "current_summary",
    "make_baseline",
    "read_baseline",
    "read_runs",
    "regressed",
]
