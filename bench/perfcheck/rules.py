"""The numbers the check judges by: quality tolerances, default time margins, how many runs, which profile.

Which direction is better comes from `bench.schema.METRICS`; only the sizes of the allowed
changes live here. A baseline file copies these rules, so CI and readers see the same ones;
a calibrated baseline (`bench.perfcheck.noise`) adds margins per model from measured noise.
"""

from __future__ import annotations

CI_PROFILE = "ci"
DEFAULT_REPEATS = 3  # ci runs per check or baseline when none are given: medians of 3 (see TIME_MARGINS)

# metric -> absolute tolerance. The ci profile is seeded and Keras trains with deterministic ops:
# nine ci runs on one machine gave identical quality (difference 0.0 in every metric of every model).
# The tolerances only absorb float round-off across CPUs and library builds: accuracy 0.002 lets 2
# of the 1,000 test images flip, a third fails.
QUALITY_TOLERANCES = {
    "accuracy": 0.002,
    "f1_macro": 0.002,
    "roc_auc_macro": 0.001,
    "log_loss": 0.01,
}
QUALITY_NOTE = (
    "absolute tolerances, current - baseline; nine ci runs on one machine gave identical quality "
    "(difference 0), so these only absorb float round-off across CPUs and library builds; "
    "accuracy 0.002 = 2 of the 1,000 test images"
)

# Cross-kind quality tolerances: used only on a kind of machine with no baseline of its own, where a run is judged
# against the baselines of the other kinds (baseline.cross_kind_baseline), never against one of its own kind.
# Other SIMD kernels round differently, and the short ci training carries that into the last digits of quality.
# CROSS_KIND_SPREAD is the largest difference between the committed baselines of two kinds (ci-x86_64-avx2 and
# ci-x86_64-avx512_bf16: ci profile, seed 0, full MNIST), over the models both hold: the classical models are
# identical (0 in every metric), so the spread is the Keras models' (mlp, lenet5, cnn, cnn-aug). Accuracy differed
# by at most 2 of the 1,000 test images (cnn 0.970 / 0.972, mlp 0.936 / 0.934), f1_macro by 0.00218 (mlp),
# roc_auc_macro by 0.00021 (lenet5), log_loss by 0.00561 (lenet5); CROSS_KIND_SPREAD holds them rounded up to
# 0.00001. A tolerance is CROSS_KIND_FACTOR x that spread, rounded up to 0.001 and never below the same-kind
# tolerance: room for a third kind to round further from either than these two did from each other (no flaky
# failure), while accuracy 0.005 stays half of a one-point drop (0.01), which fails. Only two kinds were
# compared: a kind that rounds further apart fails here, and the remedy is a baseline of its own.
CROSS_KIND_SPREAD = {
    "accuracy": 0.002,
    "f1_macro": 0.00219,
    "roc_auc_macro": 0.00021,
    "log_loss": 0.00562,
}
CROSS_KIND_FACTOR = 2.5
CROSS_KIND_TOLERANCES = {
    "accuracy": 0.005,
    "f1_macro": 0.006,
    "roc_auc_macro": 0.001,
    "log_loss": 0.015,
}
CROSS_KIND_NOTE = (
    "no baseline of this kind: absolute tolerances across kinds, current - the least favourable value of the "
    f"other kinds' baselines; {CROSS_KIND_FACTOR:g} x the largest difference between the committed baselines "
    "of two kinds (ci profile: classical models identical, Keras models within 2 of 1,000 test images), "
    "so a one-point accuracy drop fails; time is not judged"
)

# metric -> default margin: a regression is a ratio worse by a factor above 1 + margin. Used for every
# model a baseline gives no margin of its own (every model of an uncalibrated baseline). Every margin is
# below 1, so a 2x slowdown fails when the noise of that comparison is small. Chosen by hand from nine
# ci runs on the shared 2-core machine under steady load (load average 3-6): between medians of 3 runs,
# with the pooled reference, most models stayed within throughput 1.56, latency p50 1.19, train 1.6,
# p95 1.5; the exceptions (kNN p50 up to 4.1x: its OpenMP search stalls under contention; hog-svm
# train 2.4x; p95 tails up to 3.0x from preemption) can still raise false alarms, which no margin below
# 1 avoids. Single runs were far worse (2-46x): medians of 3 by default. `baseline --calibrate` replaces
# these hand-picked margins with margins per model from measured noise, and makes a metric too noisy
# for a margin below 0.9 advisory for that model (see noise.py).
TIME_MARGINS = {
    "train_seconds": 0.9,
    "throughput_img_s": 0.75,
    "latency_ms_p50": 0.75,
    "latency_ms_p95": 0.9,
}
TIME_REFERENCE = "run"  # "run": the run's pooled reference (robust); "row": each row's own reference_ms
TIME_NOTE = (
    "ratios to the reference workload: time_ms / reference_ms, throughput: img/s x reference_ms / 1000; "
    "median over runs; a regression is a ratio worse than the baseline's by a factor above 1 + margin. "
    "Margins stay below 1 so a 2x slowdown fails; they sit above the noise between medians of "
    "3 ci runs on a loaded 2-core machine (throughput 1.56x, p50 1.19x, train 1.6x), except kNN p50, "
    "hog-svm train and the p95 tails, which can still exceed them when the machine is heavily loaded"
)
CALIBRATED_NOTE = (
    "; this baseline is calibrated: a model's own margins (models[name].margins) replace these "
    "defaults and its advisory metrics (models[name].advisory) are shown but never fail, "
    "see time_calibration"
)

# Calibration (noise.py): margin = SAFETY_FACTOR x (worst factor - 1), at least MARGIN_FLOOR; a metric whose
# margin would reach ADVISORY_MARGIN becomes advisory for that model, so every failing margin stays below 0.9
# and a 2x slowdown beats it by more than 5%.
# SAFETY_FACTOR 2.0, chosen on ten unchanged ci runs on a quiet AVX2 VM (reports/baselines/ci-x86_64-avx2.json):
# 1.5 left 6.3% false alarms on a run held out of the calibration, 2.0 3.6% with 4 of 32 metrics advisory, 2.5
# made 11 of 32 advisory for the same 3.6%; with 2.0 a planted 2x slowdown of any one model still failed in every
# 3-run comparison tried. MARGIN_FLOOR 0.5: ten runs see few of a metric's rare bad moments, and a floor of 0.5
# (against 0.25) took the held-out false alarms from 3.5% to 1.1% at no cost: a 2x slowdown is still past x1.5.
MIN_CALIBRATION_RUNS = 8
SAFETY_FACTOR = 2.0
MARGIN_FLOOR = 0.5
ADVISORY_MARGIN = 0.9
