"""What the check and the calibration print: the findings table, the reference workload's spread, the noise table."""

from __future__ import annotations

from ..schema import METRICS
from .compare import ADVISORY, IMPROVED, NOT_APPLICABLE, OK, REGRESSION, run_reference_ms
from .rules import ADVISORY_MARGIN, MARGIN_FLOOR, SAFETY_FACTOR, TIME_REFERENCE


def _fmt(kind: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if kind == "quality":
        return f"{value:.4f}"
    return f"{value:,.0f}" if value >= 10_000 else f"{value:.4g}"  # no 1.3e+04 in a table


def _fmt_raw(f: dict) -> str:
    b, c = f.get("raw", (None, None))
    if b is None or c is None:
        return ""
    return f"{_fmt('time', b)} -> {_fmt('time', c)} {METRICS[f['metric']].unit}"


def _rule_text(f: dict) -> str:
    if "tolerance" in f:
        return f"±{f['tolerance']:g}"
    if "margin" in f:
        return f"x{1 + f['margin']:g}" + (" advisory" if f["advisory"] else "")
    return ""


VERDICT_STYLE = {
    OK: "green",
    REGRESSION: "bold red",
    ADVISORY: "yellow",
    IMPROVED: "cyan",
    NOT_APPLICABLE: "dim",
}


def _fmt_baseline(f: dict) -> str:
    text = _fmt(f["kind"], f["baseline"])
    return f"{text} ({f['baseline_kind']})" if f.get("baseline_kind") else text


def findings_table(findings: list[dict], baseline: dict, n_runs: int):
    from rich.table import Table

    ds = baseline["dataset"]
    reference = baseline["rules"].get("time_reference", TIME_REFERENCE)
    advisory = "; advisory: shown, never fails" if any(f.get("advisory") for f in findings) else ""
    setup = (
        f"regression check: profile {baseline['profile']}, {ds['name']} ({ds['fingerprint'][:19]}), "
        f"seed {baseline['seed']}"
    )
    if "cross_kind" in baseline:  # baseline.cross_kind_baseline: quality only, against the other kinds
        title = f"{setup}; quality only, against the other kinds' baselines; current = median of {n_runs} run(s)"
        caption = (
            "quality: values, absolute tolerance across kinds; baseline: the least favourable value of the "
            "other kinds (which kind in brackets); time: not judged without a baseline of this kind"
        )
    else:
        title = (
            f"{setup}; baseline = median of {len(baseline.get('sources', [])) or '?'} run(s), "
            f"current = median of {n_runs} run(s)"
        )
        caption = (
            "quality: values, absolute tolerance. time: ratio to the reference workload "
            f"({'pooled over the run' if reference == 'run' else 'of the row'}): time / reference_ms, "
            "throughput: images per reference workload; rule: the factor of slowdown that fails" + advisory
        )
    table = Table(title=title, caption=caption)
    for col, justify in [
        ("model", "left"),
        ("metric", "left"),
        ("rule", "right"),
        ("baseline", "right"),
        ("current", "right"),
        ("change", "right"),
        ("verdict", "left"),
        *([] if "cross_kind" in baseline else [("raw, not compared", "right")]),
    ]:
        table.add_column(col, justify=justify)
    previous = None
    for f in findings:
        if previous is not None and f["model"] != previous:
            table.add_section()
        style = VERDICT_STYLE[f["verdict"]]
        table.add_row(
            f["model"] if f["model"] != previous else "",
            f["metric"],
            _rule_text(f),
            _fmt_baseline(f),
            _fmt(f["kind"], f["current"]),
            f["change"],
            f"[{style}]{f['verdict']}[/{style}]",
            *([] if "cross_kind" in baseline else [_fmt_raw(f)]),
        )
        previous = f["model"]
    return table


REFERENCE_SPREAD_WARNING = 2.0  # runs' references further apart than this: the machine's load changed


def reference_lines(baseline: dict, runs: list) -> list[str]:
    """The pooled reference workload of the baseline's runs and of these runs (Results), and a warning when it moved.

    The reference is a one-thread matrix product. When it differs by more than REFERENCE_SPREAD_WARNING
    between runs, the machine was not the same (another load, CPU or clock), and the time ratios divide
    that out only as far as every model slows down as much as the reference did, which nothing ensures.
    """
    before = [r for r in baseline.get("reference_ms_runs") or [] if r]
    now = [r for r in map(run_reference_ms, runs) if r]
    if not before or not now:
        return ["reference workload: not in every run, time ratios may be missing"]
    lines = [
        (
            f"reference workload per run (pooled median, ms): baseline {', '.join(f'{r:.0f}' for r in before)}; "
            f"now {', '.join(f'{r:.0f}' for r in now)}; time ratios divide it out"
        )
    ]
    spread = max(before + now) / min(before + now)
    if spread > REFERENCE_SPREAD_WARNING:
        lines.append(
            f"[yellow]warning: the reference itself varied {spread:.1f}x between runs: the machine's speed "
            "or load changed, and the ratios divide that out only as far as each model slowed down as much "
            "as the one-thread reference; time verdicts are unreliable (quality verdicts are not affected): "
            "rerun on a quiet machine[/yellow]"
        )
    return lines


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def calibration_table(calibration):
    """Per model and time metric: worst factor between 3-run medians, the margin set from it, advisory or failing."""
    from rich.table import Table

    table = Table(
        title=f"time margins from {calibration.runs} unchanged runs: slowdown between medians of 3 "
        f"disjoint runs over {calibration.pairs:,} ordered pairs",
        caption=f"margin = max({MARGIN_FLOOR:g}, {SAFETY_FACTOR:g} x (worst - 1)), rounded up; from "
        f"{ADVISORY_MARGIN:g} the metric is advisory (a 2x slowdown must fail every failing metric). "
        "2x at worst: would a 2x slowdown fail even against the worst noise seen. "
        "false alarms: share of pairs past the margin",
    )
    for col, justify in [
        ("model", "left"),
        ("metric", "left"),
        ("worst", "right"),
        ("p95", "right"),
        ("margin", "right"),
        ("rule", "left"),
        ("2x at worst", "left"),
        ("false alarms, held out", "right"),
        ("at default margin", "right"),
    ]:
        table.add_column(col, justify=justify)
    previous = None
    for m in calibration.metrics:
        if previous is not None and m.model != previous:
            table.add_section()
        if m.margin is None:
            cells = ["-", "-", "-", f"default x{1 + m.default_margin:g} (ratio missing in a run)", "-", "-", "-"]
        else:
            caught = {True: "fails", False: "[yellow]may pass[/yellow]", None: "-"}[m.catches_2x_at_worst]
            cells = [
                f"{m.worst:.3f}",
                f"{m.percentile:.3f}",
                f"{m.margin:.2f}",
                "[yellow]advisory[/yellow]" if m.advisory else f"fails past x{1 + m.margin:g}",
                caught,
                _pct(m.false_alarms_held_out),
                _pct(m.false_alarms_default),
            ]
        table.add_row(m.model if m.model != previous else "", m.metric, *cells)
        previous = m.model
    return table


def calibration_lines(calibration) -> list[str]:
    c = calibration
    return [
        (
            f"false alarms of a 3-run-median check over these {c.pairs:,} pairs (any model or metric failing with "
            f"nothing changed): in-sample {c.false_alarm_rate:.1%} (by construction: the margins were set from these "
            f"pairs); each run held out in turn {c.false_alarm_rate_held_out:.1%}; with the default margins "
            f"{c.false_alarm_rate_default:.1%}"
        )
    ]
