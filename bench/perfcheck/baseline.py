"""The baseline file: what a check compares with, written by `benchmark.py baseline` and committed.

Layout (schema "digit-bench/baseline/1"): the runs' identity (profile, seed, dataset), where the
runs came from, the rules (quality tolerances, default time margins, both with the direction
from METRICS for readers), and per model the medians: `metrics` (quality), `ratios` (time
ratios), `ratio_runs` (each run's ratio) and `raw` (for readers). A calibrated baseline adds, per
model, `margins` {metric: margin} and `advisory` [metric, ...], and `rules.time_calibration`
saying how they were set; a baseline without them compares with the default margins.

`machine.kind` (bench.environment.machine_kind: architecture and widest SIMD level) says which
kind of machine the runs were made on. Speeds do not carry across kinds, and quality only roughly: a
different SIMD level runs other TensorFlow kernels, whose round-off the short ci training carries into
the last digits of quality. So `--baseline` may name a folder of baselines, one per kind, and the check
uses the one made on its own kind of machine (`choose_baseline`); on a kind with none, it judges quality
against the other kinds' baselines with wider tolerances and no time (`cross_kind_baseline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..files import as_typed
from ..schema import METRICS, identity_differences
from .compare import RATIO_UNITS, BadInput, RunFile, check_same_setup, identity, run_reference_ms, summarise
from .rules import (
    CALIBRATED_NOTE,
    CROSS_KIND_NOTE,
    CROSS_KIND_TOLERANCES,
    QUALITY_NOTE,
    QUALITY_TOLERANCES,
    TIME_MARGINS,
    TIME_NOTE,
    TIME_REFERENCE,
)

if TYPE_CHECKING:
    from .noise import Calibration

BASELINE_SCHEMA = "digit-bench/baseline/1"


def read_baseline(path) -> dict:
    from ..results import read_versioned_json

    baseline = read_versioned_json(
        path, BASELINE_SCHEMA, "baseline", BadInput, f" (make one with: python benchmark.py baseline --out {path})"
    )
    problem = baseline_problem(baseline)
    if problem:
        raise BadInput(f"{path}: malformed baseline: {problem}")
    return baseline


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def baseline_problem(b: dict) -> str | None:
    """What is wrong with a baseline's layout (a hand edit, a truncated file), or None."""
    for key in ("profile", "dataset", "seed", "rules", "models"):
        if key not in b:
            return f"no {key!r}"
    rules = b["rules"]
    if (
        not isinstance(rules, dict)
        or not isinstance(rules.get("quality"), dict)
        or not isinstance(rules.get("time"), dict)
    ):
        return "rules need 'quality' and 'time'"
    for kind, field in (("quality", "tolerance"), ("time", "margin")):
        for metric, rule in rules[kind].items():
            if metric not in METRICS or METRICS[metric].better is None:
                return f"rules.{kind}.{metric}: not a metric with a better direction"
            if kind == "time" and METRICS[metric].unit not in RATIO_UNITS:
                return f"rules.time.{metric}: not a time (unit {METRICS[metric].unit!r})"
            if not isinstance(rule, dict) or not _is_number(rule.get(field)):
                return f"rules.{kind}.{metric} needs a number {field!r}"
            if "higher_is_better" in rule and rule["higher_is_better"] != METRICS[metric].higher_is_better:
                return (
                    f"rules.{kind}.{metric}.higher_is_better is {rule['higher_is_better']}, "
                    f"but {metric} is {METRICS[metric].better}-is-better"
                )
    if rules.get("time_reference", TIME_REFERENCE) not in ("run", "row"):
        return f"rules.time_reference is {rules['time_reference']!r}, expected 'run' or 'row'"
    if not isinstance(b["models"], dict) or not b["models"]:
        return "no models"
    for name, m in b["models"].items():
        if not isinstance(m, dict) or not isinstance(m.get("metrics"), dict) or not isinstance(m.get("ratios"), dict):
            return f"model {name!r} needs 'metrics' and 'ratios'"
        margins, advisory = m.get("margins", {}), m.get("advisory", [])
        if not isinstance(margins, dict) or not all(
            k in rules["time"] and _is_number(v) and v >= 0 for k, v in margins.items()
        ):
            return f"model {name!r}: 'margins' must map time metrics of the rules to numbers >= 0"
        if not isinstance(advisory, list) or not all(k in rules["time"] for k in advisory):
            return f"model {name!r}: 'advisory' must list time metrics of the rules"
    return None


def make_baseline(runs: list[RunFile], command: str = "") -> dict:
    """The baseline dict: setup, rules, and per model medians over `runs` (models ok in every run)."""
    from ..results import now

    expected = identity(runs[0])
    check_same_setup(runs, expected, runs[0].path)
    names = [n for n in runs[0].results.models if all(r.results.is_ok(n) for r in runs)]
    if not names:
        raise BadInput(f"{runs[0].path}: no model measured successfully in every results file")
    env = runs[0].results.run.environment or {}
    kind = machine_kind_of(runs)
    return {
        "schema": BASELINE_SCHEMA,
        "created_at": now(),
        "command": command,
        **expected,
        "sources": [
            {
                "path": as_typed(str(r.path)),
                "started_at": r.results.run.started_at,
                "git_commit": (r.results.run.environment or {}).get("digit_bench", {}).get("git_commit"),
            }
            for r in runs
        ],
        "machine": {
            "cpu": env.get("cpu"),
            "cpu_count": env.get("cpu_count"),
            "kind": kind,
            "cpu_flags": env.get("cpu_flags"),
        },
        "reference_ms_runs": [run_reference_ms(r.results) for r in runs],  # pooled per run: how steady the machine was
        "rules": {
            "quality": {
                m: {"higher_is_better": METRICS[m].higher_is_better, "tolerance": tol}
                for m, tol in QUALITY_TOLERANCES.items()
            },
            "quality_note": QUALITY_NOTE,
            "time": {
                m: {"higher_is_better": METRICS[m].higher_is_better, "margin": margin}
                for m, margin in TIME_MARGINS.items()
            },
            "time_reference": TIME_REFERENCE,
            "time_note": TIME_NOTE,
        },
        "models": summarise([r.results for r in runs], names, TIME_REFERENCE),
    }


def add_calibration(baseline: dict, calibration: Calibration) -> dict:
    """Per-model margins and advisory metrics from noise.calibrate(baseline), and how they were set."""
    baseline["rules"]["time_note"] += CALIBRATED_NOTE
    baseline["rules"]["time_calibration"] = calibration.record()
    for name, model in baseline["models"].items():
        model["margins"] = calibration.margins().get(name, {})
        model["advisory"] = calibration.advisory().get(name, [])
    return baseline


def machine_kind_of(runs: list[RunFile]) -> str | None:
    """The machine kind every run was made on (None for runs older than the record); runs of two kinds refused."""
    kinds = {(r.results.run.environment or {}).get("machine_kind") for r in runs}
    if len(kinds) > 1:
        raise BadInput(
            f"runs come from different kinds of machine ({', '.join(sorted(map(str, kinds)))}); "
            "their numbers do not mix"
        )
    return kinds.pop()


def baseline_kind(baseline: dict) -> str | None:
    return (baseline.get("machine") or {}).get("kind")


def read_baselines(path) -> list[tuple[str, dict]]:
    """(file, baseline) for a baseline file, or for every *.json of a folder of them, one per machine kind."""
    path = Path(path)
    if not path.is_dir():
        return [(str(path), read_baseline(path))]
    files = sorted(path.glob("*.json"))
    if not files:
        raise BadInput(
            f"{path}: no baseline files (*.json) in this folder "
            f"(make one with: python benchmark.py baseline --out {path}/ci-KIND.json)"
        )
    return [(str(f), read_baseline(f)) for f in files]


def choose_baseline(path, kind: str | None) -> tuple[tuple[str, dict] | None, list[tuple[str, dict]]]:
    """(own, every baseline read) for a check on `kind`; `path` is a baseline file or a folder of them.

    own is (file, baseline) of the one made on this kind of machine, else of one that records no kind (older
    than kinds), else, for runs that record no kind, the first; None when every baseline was made on another
    kind: then only quality is judged, against all of them (cross_kind_baseline).
    """
    baselines = read_baselines(path)
    own = next((b for b in baselines if baseline_kind(b[1]) == kind), None) or next(
        (b for b in baselines if baseline_kind(b[1]) is None), None
    )
    if own is None and kind is None:
        own = baselines[0]
    return own, baselines


def cross_kind_baseline(baselines: list[tuple[str, dict]], kind: str | None) -> dict:
    """A baseline judging quality on a kind of machine that has none of its own, from the other kinds' baselines.

    Per model and quality metric: the least favourable value over the baselines that hold it (`metrics`, with
    the kind it comes from in `metric_kinds`, "every kind" when they agree) and the most favourable
    (`best_metrics`: only better than that is 'improved'); tolerances rules.CROSS_KIND_TOLERANCES, never below
    a baseline's own. No time rules: times do not carry across kinds. A model no baseline holds is not in it,
    so the check names it as not judged.
    """
    first_path, first = baselines[0]
    expected = {"profile": first["profile"], "seed": first["seed"], "dataset": first["dataset"]}
    for path, b in baselines[1:]:
        for what, old, new in identity_differences(expected, b):
            raise BadInput(f"{path}: {what} is {new!r} but {first_path} has {old!r}; baselines must share one setup")
    quality = {}
    for _, b in baselines:
        for metric, rule in b["rules"]["quality"].items():
            tolerance = max(rule["tolerance"], CROSS_KIND_TOLERANCES.get(metric, 0), quality.get(metric, 0))
            quality[metric] = tolerance
    models = {}
    for name in dict.fromkeys(n for _, b in baselines for n in b["models"]):
        held = [
            (baseline_kind(b) or path, b["models"][name]["metrics"]) for path, b in baselines if name in b["models"]
        ]
        model = models[name] = {"metrics": {}, "best_metrics": {}, "metric_kinds": {}, "ratios": {}}
        for metric in quality:
            values = sorted(
                ((m[metric], k) for k, m in held if m.get(metric) is not None),
                reverse=not METRICS[metric].higher_is_better,  # least favourable first
            )
            model["metrics"][metric] = values[0][0] if values else None
            model["best_metrics"][metric] = values[-1][0] if values else None
            same = len(values) > 1 and values[0][0] == values[-1][0]
            model["metric_kinds"][metric] = "every kind" if same else values[0][1] if values else None
    return {
        "schema": BASELINE_SCHEMA,
        **expected,
        "cross_kind": {"kind": kind, "baselines": [[baseline_kind(b), path] for path, b in baselines]},
        "rules": {
            "quality": {
                m: {"higher_is_better": METRICS[m].higher_is_better, "tolerance": tol} for m, tol in quality.items()
            },
            "quality_note": CROSS_KIND_NOTE,
            "time": {},
            "time_reference": TIME_REFERENCE,
        },
        "models": models,
    }
