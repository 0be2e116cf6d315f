"""From results files to verdicts: time ratios to the pooled reference, medians over runs, one finding per metric."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..schema import METRICS, Results, identity_differences
from .rules import QUALITY_TOLERANCES, TIME_MARGINS, TIME_REFERENCE

REGRESSION, ADVISORY, IMPROVED, OK, NOT_APPLICABLE = "REGRESSION", "slower (advisory)", "improved", "ok", "n/a"


class BadInput(ValueError):
    """The baseline or results cannot be compared; the message is one line."""


@dataclass(frozen=True)
class RunFile:
    """One results file read for a check or a baseline: where it came from (for messages) and what it holds."""

    path: str
    results: Results


def read_runs(paths) -> list[RunFile]:
    """Results files -> RunFiles; any unreadable file is bad input."""
    from ..results import ResultsError, read_results

    runs = []
    for p in paths:
        try:
            runs.append(RunFile(str(p), read_results(p)))
        except ResultsError as e:
            raise BadInput(str(e)) from None
    return runs


def identity(run: RunFile) -> dict:
    """What must match between runs being compared: profile, seed, dataset name and fingerprint."""
    try:
        return run.results.run.identity()
    except (KeyError, TypeError) as e:
        raise BadInput(f"{run.path}: no dataset name or fingerprint in the run ({type(e).__name__}: {e})") from None


def check_same_setup(runs: list[RunFile], expected: dict, against: str) -> None:
    """Every run must come from the same profile, seed and data as `expected`, or nothing compares."""
    for run in runs:
        for what, old, new in identity_differences(expected, identity(run)):
            raise BadInput(f"{run.path}: {what} is {new!r} but {against} has {old!r}")


# --------------------------------------------------------------------------- ratios and summaries


def run_reference_ms(results: Results) -> float | None:
    """The machine's speed over a whole run: the median of every reference repeat of every successful row.

    Why not each row's own `reference_ms` (the median of its 7 repeats, a few hundred ms of one-thread
    matrix products just before that model is measured): one busy moment moves it. In an unchanged ci
    run on the shared 2-core machine, seven rows read 27-31 ms and one 76 ms; in the next, one read
    107 ms. Pooling the ~56 repeats of a run gives one speed per run that shrugs off such moments and
    still follows a machine that is slower all run long.
    """
    times = [t for row in results.ok_rows() for t in row.reference_ms_repeats or [row.metrics.get("reference_ms")] if t]
    return statistics.median(times) if times else None


RATIO_UNITS = ("s", "ms", "img/s")  # the time metrics time_ratio can turn into ratios, by METRICS unit


def time_ratio(metric: str, metrics: dict, reference_ms: float | None) -> float | None:
    """A machine-independent ratio: time in reference workloads (throughput: images per reference workload)."""
    value = metrics.get(metric)
    if value is None or not reference_ms:
        return None
    unit = METRICS[metric].unit
    if unit == "img/s":
        return value * reference_ms / 1000  # images done in one reference workload's time
    if unit not in RATIO_UNITS:
        raise ValueError(f"{metric} ({unit or 'no unit'}) is not a time")
    return (value * 1000 if unit == "s" else value) / reference_ms


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(
    runs: list[Results],
    names,
    reference: str = TIME_REFERENCE,
    quality_metrics=tuple(QUALITY_TOLERANCES),
    time_metrics=tuple(TIME_MARGINS),
) -> dict:
    """Per model: median quality values and median time ratios over several runs.

    reference: "run" divides by the run's pooled reference (run_reference_ms), "row" by the row's own.
    """
    run_refs = [run_reference_ms(r) for r in runs]
    out = {}
    for name in names:
        rows = [r.models[name].metrics for r in runs]
        refs = run_refs if reference == "run" else [row.get("reference_ms") for row in rows]
        ratio_runs = {m: [time_ratio(m, row, ref) for row, ref in zip(rows, refs)] for m in time_metrics}
        out[name] = {
            "metrics": {m: _median(row.get(m) for row in rows) for m in quality_metrics},
            "ratios": {m: _median(v) for m, v in ratio_runs.items()},
            "ratio_runs": ratio_runs,
            # raw values for readers only (machine dependent, never compared)
            "raw": {**{m: _median(row.get(m) for row in rows) for m in time_metrics}, "reference_ms": _median(refs)},
        }
    return out


def current_summary(baseline: dict, runs: list[RunFile]) -> tuple[dict, list[str]]:
    """Validate runs against the baseline and summarise them; returns (summary, models not in baseline)."""
    check_same_setup(runs, baseline, "the baseline")
    wanted = list(baseline["models"])
    for run in runs:
        missing = [n for n in wanted if n not in run.results.models]
        if missing:
            raise BadInput(f"{run.path}: no row for baseline model(s) {', '.join(missing)}")
    # A failed row is a regression (reported per model), not bad input; only successful rows are summarised.
    ok = [n for n in wanted if all(r.results.is_ok(n) for r in runs)]
    extra = sorted(set().union(*(set(r.results.models) for r in runs)) - set(wanted))
    rules = baseline["rules"]
    return summarise(
        [r.results for r in runs],
        ok,
        rules.get("time_reference", TIME_REFERENCE),
        tuple(rules["quality"]),
        tuple(rules["time"]),
    ), extra


# --------------------------------------------------------------------------- verdicts


def slowdown(metric: str, base: float, cur: float) -> float:
    """How many times worse `cur` is than `base` in the metric's bad direction (> 1: worse)."""
    return base / cur if METRICS[metric].higher_is_better else cur / base


def verdict_quality(metric: str, base, cur, tolerance: float) -> tuple[str, str]:
    """(verdict, change) for one quality metric under its absolute tolerance."""
    if base is None:
        return NOT_APPLICABLE, "-"
    if cur is None:
        return REGRESSION, "missing"
    diff = cur - base
    better = diff if METRICS[metric].higher_is_better else -diff
    change = f"{diff:+.4f}"
    tolerance += 1e-9  # 0.956 - 0.958 is -0.0020000000000000018: at the tolerance, not past it
    if better < -tolerance:
        return REGRESSION, change
    if better > tolerance:
        return IMPROVED, change
    return OK, change


def verdict_time(metric: str, base, cur, margin: float, advisory: bool = False) -> tuple[str, str]:
    """(verdict, change) for one time ratio under its relative margin (as a factor); advisory: never REGRESSION."""
    if not base:  # no baseline value (or a zero time, which no ratio can be taken of)
        return NOT_APPLICABLE, "-"
    if not cur:
        return (ADVISORY if advisory else REGRESSION), "missing"
    slower = slowdown(metric, base, cur)  # > 1: worse
    change = f"{cur / base - 1:+.0%}, {slower:.2f}x {'slower' if slower >= 1 else 'faster'}"
    if slower > 1 + margin:
        return (ADVISORY if advisory else REGRESSION), change
    if slower < 1 / (1 + margin):
        return IMPROVED, change
    return OK, change


def time_rule(baseline: dict, name: str, metric: str) -> tuple[float, bool]:
    """(margin, advisory) for one model's time metric: its own from a calibrated baseline, else the default."""
    model = baseline["models"][name]
    margin = model.get("margins", {}).get(metric, baseline["rules"]["time"][metric]["margin"])
    return margin, metric in model.get("advisory", ())


def compare(baseline: dict, current: dict) -> list[dict]:
    """One finding per model and metric: baseline, current, change, verdict, and the rule applied.

    A baseline from baseline.cross_kind_baseline has no time rules (no time findings), compares quality with
    the least favourable value of the other kinds (`metric_kinds` says which kind, kept in the finding as
    `baseline_kind`), and calls a value improved only when it is also better than the most favourable one.
    """
    rules = baseline["rules"]
    findings = []
    for name, base in baseline["models"].items():
        cur = current.get(name)
        if cur is None:  # the model failed in the current run(s)
            findings.append(
                {
                    "model": name,
                    "metric": "status",
                    "kind": "status",
                    "baseline": "ok",
                    "current": "failed",
                    "change": "-",
                    "verdict": REGRESSION,
                }
            )
            continue
        for metric, rule in rules["quality"].items():
            b, c = base["metrics"].get(metric), cur["metrics"].get(metric)
            verdict, change = verdict_quality(metric, b, c, rule["tolerance"])
            best = base.get("best_metrics", {}).get(metric, b)
            if verdict == IMPROVED and verdict_quality(metric, best, c, rule["tolerance"])[0] != IMPROVED:
                verdict = OK  # better than one kind's baseline, not than every kind's
            findings.append(
                {
                    "model": name,
                    "metric": metric,
                    "kind": "quality",
                    "baseline": b,
                    "current": c,
                    "change": change,
                    "verdict": verdict,
                    "tolerance": rule["tolerance"],
                    **({"baseline_kind": base["metric_kinds"].get(metric)} if "metric_kinds" in base else {}),
                }
            )
        for metric in rules["time"]:
            b, c = base["ratios"].get(metric), cur["ratios"].get(metric)
            margin, advisory = time_rule(baseline, name, metric)
            verdict, change = verdict_time(metric, b, c, margin, advisory)
            raw = (base.get("raw", {}).get(metric), cur["raw"].get(metric))  # for readers: seconds, ms, img/s
            findings.append(
                {
                    "model": name,
                    "metric": metric,
                    "kind": "time",
                    "baseline": b,
                    "current": c,
                    "change": change,
                    "verdict": verdict,
                    "margin": margin,
                    "advisory": advisory,
                    "raw": raw,
                }
            )
    return findings


def regressed(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["verdict"] == REGRESSION]


def advisories(findings: list[dict]) -> list[dict]:
    """Advisory metrics past their margin: shown, never failing."""
    return [f for f in findings if f["verdict"] == ADVISORY]
