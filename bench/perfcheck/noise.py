"""Time margins from measured noise: `benchmark.py baseline --calibrate` over N >= 8 unchanged ci runs.

A check compares the median of 3 runs (DEFAULT_REPEATS) with the baseline, so the noise that
matters is how far the median of 3 runs can drift from the median of 3 others when nothing
changed. For every model and time metric, with each run's ratios to its pooled reference
(exactly as compare.py computes them):

- factor: the slowdown, in the metric's bad direction, from the median of one set of 3 runs
  (the "baseline") to the median of 3 other runs (the "current"), for every ordered pair of
  disjoint sets of 3 (N=8: 560 pairs, N=10: 4,200);
- worst: the largest factor (the 95th percentile is recorded beside it, for readers only);
- margin = max(MARGIN_FLOOR, SAFETY_FACTOR x (worst - 1)), rounded up to 0.01;
- advisory: a margin of ADVISORY_MARGIN (0.9) or more would let a 2x slowdown of that model pass
  or fail by a hair, so the metric is advisory for that model instead: shown, never failing the
  check. Every failing margin is below 0.9: a 2x slowdown that the noise does not hide fails.
  Whether it fails even against the worst noise seen (2 / worst > 1 + margin) is shown in the
  calibration table; it holds for worst factors up to about 1.33.

False alarms: the share of those pairs in which any failing (not advisory) metric of any model
is past its margin. In-sample it is 0 by construction (the margins sit above the worst pair),
so two more honest figures are reported: held out (each run left out in turn, margins set from
the others, the pairs that include it judged) and with the default margins (rules.TIME_MARGINS).

A calibrated baseline's medians are over all N runs, and the worst factor bounds those too: for
N >= 8, any 3 of the runs are within it of the median M of all N. (If the 3 have a median above
M, at least 2 of them are above M, so at least 3 of the N/2 or more runs at or below M are
outside them, and those 3 have a median at or below M; the same the other way round.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..schema import METRICS
from .compare import BadInput
from .rules import ADVISORY_MARGIN, DEFAULT_REPEATS, MARGIN_FLOOR, MIN_CALIBRATION_RUNS, SAFETY_FACTOR

PERCENTILE = 95  # recorded beside the worst factor; the margin uses the worst

METHOD = (
    f"per model and time metric, each run's ratio to its pooled reference; factor = slowdown (in the "
    f"metric's bad direction) from the median of {DEFAULT_REPEATS} runs to the median of {DEFAULT_REPEATS} "
    f"other runs, over every ordered pair of disjoint sets of {DEFAULT_REPEATS} runs; worst = the largest "
    f"factor (p{PERCENTILE} recorded for readers); margin = max(floor, safety_factor x (worst - 1)), rounded "
    f"up to 0.01; from advisory_margin on, a 2x slowdown could pass, so the metric is advisory for that model "
    f"(shown, never failing). false_alarm_rate_3run_median: share of the pairs in which any non-advisory metric "
    f"of any model is past its margin, in-sample (0 by construction); _held_out: each run left out in turn, "
    f"margins from the others, the pairs including it judged; _default_margins: the pairs judged by the "
    f"default margins. The baseline's medians are over all runs: any {DEFAULT_REPEATS} of them are within "
    f"the worst factor of those medians."
)


def margin_for(worst: float) -> tuple[float, bool]:
    """(margin, advisory) for a worst factor: SAFETY_FACTOR x the worst excess, at least MARGIN_FLOOR."""
    margin = max(MARGIN_FLOOR, SAFETY_FACTOR * (worst - 1))
    margin = math.ceil(round(margin * 100, 6)) / 100  # up to 0.01, without 0.3 * 100 = 30.000000000000004 -> 0.31
    return margin, margin >= ADVISORY_MARGIN


@dataclass
class MetricNoise:
    """The calibration of one model's time metric; margin None: a ratio missing in some run, default applies."""

    model: str
    metric: str
    default_margin: float
    worst: float | None = None
    percentile: float | None = None
    margin: float | None = None
    advisory: bool = False
    false_alarms: float = 0.0  # in-sample share of pairs past the margin (0 by construction)
    false_alarms_held_out: float | None = None
    false_alarms_default: float | None = None

    @property
    def catches_2x_at_worst(self) -> bool | None:
        """Would a 2x slowdown still fail if the noise worked against it as hard as the worst pair?"""
        if self.margin is None or self.advisory:
            return None
        return 2 / self.worst > 1 + self.margin


@dataclass
class Calibration:
    runs: int
    pairs: int
    metrics: list[MetricNoise] = field(default_factory=list)
    false_alarm_rate: float = 0.0
    false_alarm_rate_held_out: float = 0.0
    false_alarm_rate_default: float = 0.0

    def margins(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for m in self.metrics:
            if m.margin is not None:
                out.setdefault(m.model, {})[m.metric] = m.margin
        return out

    def advisory(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m in self.metrics:
            if m.advisory:
                out.setdefault(m.model, []).append(m.metric)
        return out

    def record(self) -> dict:
        """rules.time_calibration of the baseline file."""

        def by_model(value) -> dict:
            return {
                name: {m.metric: value(m) for m in self.metrics if m.model == name}
                for name in dict.fromkeys(m.model for m in self.metrics)
            }

        return {
            "runs": self.runs,
            "method": METHOD,
            "pairs": self.pairs,
            "safety_factor": SAFETY_FACTOR,
            "floor": MARGIN_FLOOR,
            "advisory_margin": ADVISORY_MARGIN,
            "false_alarm_rate_3run_median": round(self.false_alarm_rate, 4),
            "false_alarm_rate_3run_median_held_out": round(self.false_alarm_rate_held_out, 4),
            "false_alarm_rate_3run_median_default_margins": round(self.false_alarm_rate_default, 4),
            "worst_factors": by_model(lambda m: None if m.worst is None else round(m.worst, 4)),
            f"p{PERCENTILE}_factors": by_model(lambda m: None if m.percentile is None else round(m.percentile, 4)),
        }


def _pairs(n: int):
    """Every set of 3 of n runs, and every ordered pair (base, cur) of disjoint ones, with run bitmasks."""
    triples = np.array(list(combinations(range(n), DEFAULT_REPEATS)))
    masks = (np.left_shift(1, triples)).sum(axis=1)
    base, cur = np.nonzero((masks[:, None] & masks[None, :]) == 0)
    return triples, base, cur, masks[base] | masks[cur]


def calibrate(baseline: dict) -> Calibration:
    """Margins from the spread of every model's time ratios over the runs of `baseline` (make_baseline's ratio_runs)."""
    models = baseline["models"]
    n = min(len(r) for model in models.values() for r in model["ratio_runs"].values())
    if n < MIN_CALIBRATION_RUNS:
        raise BadInput(f"--calibrate needs at least {MIN_CALIBRATION_RUNS} runs of unchanged code, got {n}")
    triples, base, cur, pair_masks = _pairs(n)
    held_out = [((pair_masks >> i) & 1) == 1 for i in range(n)]  # pairs including run i
    alarm = np.zeros(len(base), bool)
    alarm_default = np.zeros(len(base), bool)
    alarm_held_out = [np.zeros(int(h.sum()), bool) for h in held_out]
    out = Calibration(runs=n, pairs=len(base))
    for name, model in models.items():
        for metric, ratios in model["ratio_runs"].items():
            noise = MetricNoise(name, metric, baseline["rules"]["time"][metric]["margin"])
            out.metrics.append(noise)
            if any(r is None or r <= 0 for r in ratios):
                continue  # no ratio in some run: this model keeps the default margin
            bad = np.asarray(ratios, float)
            if METRICS[metric].higher_is_better:
                bad = 1 / bad  # throughput: fewer images per reference workload is worse
            medians = np.median(bad[triples], axis=1)
            factors = medians[cur] / medians[base]  # > 1: the current 3 runs look slower
            noise.worst = float(factors.max())
            noise.percentile = float(np.percentile(factors, PERCENTILE))
            noise.margin, noise.advisory = margin_for(noise.worst)
            past = factors > 1 + noise.margin
            noise.false_alarms = float(past.mean()) if not noise.advisory else 0.0
            alarm |= past & (not noise.advisory)
            past_default = factors > 1 + noise.default_margin
            noise.false_alarms_default = float(past_default.mean())
            alarm_default |= past_default
            judged = alarms = 0
            for i, including in enumerate(held_out):
                margin_i, advisory_i = margin_for(float(factors[~including].max()))
                if advisory_i:
                    continue
                past_i = factors[including] > 1 + margin_i
                alarm_held_out[i] |= past_i
                judged, alarms = judged + len(past_i), alarms + int(past_i.sum())
            noise.false_alarms_held_out = alarms / judged if judged else None
    out.false_alarm_rate = float(alarm.mean())
    out.false_alarm_rate_default = float(alarm_default.mean())
    out.false_alarm_rate_held_out = sum(int(a.sum()) for a in alarm_held_out) / sum(len(a) for a in alarm_held_out)
    return out
