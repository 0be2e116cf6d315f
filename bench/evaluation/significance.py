"""Is a difference real? Intervals and paired tests for accuracies measured on one test set.

- `accuracy_interval`: Wilson score interval of one model's accuracy.
- `mcnemar_pairs`: exact McNemar test for every pair of models on the same test images, with
  Holm's correction over all pairs; each pair is one flat dict.
- `not_significantly_different_from_best`: the models a report may call tied for best.
- `resolvable_difference` / `resolution_sentence`: how small a difference the test set can resolve.
- `seed_interval`: Student-t interval of a metric over training seeds.

Accuracies are fractions (0.992), differences in sentences are percentage points.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

# scipy and statsmodels (with pandas, ~2 s) are imported inside the functions that use them: a
# report that only reads stored pairs (`not_significantly_different_from_best`) never loads them.

ALPHA = 0.05


def _check_confidence(confidence):
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


def accuracy_interval(n_correct, n, confidence=0.95) -> tuple[float, float]:
    """Wilson score interval (low, high) of an accuracy of n_correct out of n images.

    Wilson rather than the normal p +- z*se: near 100% accuracy the normal interval runs past 1
    and is too narrow; Wilson stays inside [0, 1] and keeps its coverage.
    """
    from statsmodels.stats.proportion import proportion_confint

    _check_confidence(confidence)
    if n < 1 or not 0 <= n_correct <= n:
        raise ValueError(f"need 0 <= n_correct <= n and n >= 1, got n_correct={n_correct}, n={n}")
    low, high = proportion_confint(n_correct, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def holm_adjusted(p_values) -> list[float]:
    """Holm step-down adjusted p-values, (K,) -> (K,) in the same order.

    Holm controls the chance of any false "significant" among all K comparisons (family-wise
    error) without assuming the tests are independent; pairs sharing a model are not.
    """
    from statsmodels.stats.multitest import multipletests

    p_values = np.asarray(p_values, dtype=np.float64)
    if p_values.size == 0:
        return []
    return multipletests(p_values, method="holm")[1].tolist()


def mcnemar_pairs(y_true, predictions: dict, alpha=ALPHA) -> list[dict]:
    """Exact McNemar test for every unordered pair of models, Holm-corrected over all pairs.

    y_true (N,) labels, predictions {model: (N,) predicted labels} -> one flat dict per pair, in
    the dict's order (a before b): model_a, model_b, only_a_correct, only_b_correct, p_value,
    p_holm, significant (p_holm < alpha). Fewer than two models -> [].

    Paired, because all models answer the same images: only images where exactly one of the two
    is right carry information, and the exact (binomial) test is right for the few dozen such
    images two good MNIST models disagree on.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must have shape (N,), got {y_true.shape}")
    correct = {}
    for name, pred in predictions.items():
        pred = np.asarray(pred)
        if pred.shape != y_true.shape:
            raise ValueError(
                f"predictions of {name!r} have shape {pred.shape}, y_true has {y_true.shape}: "
                "pass one predicted label per test image"
            )
        correct[name] = pred == y_true

    pairs = []
    for a, b in combinations(correct, 2):
        only_a = int((correct[a] & ~correct[b]).sum())
        only_b = int((~correct[a] & correct[b]).sum())
        both = int((correct[a] & correct[b]).sum())
        neither = len(y_true) - both - only_a - only_b
        p = mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue
        pairs.append(
            {"model_a": a, "model_b": b, "only_a_correct": only_a, "only_b_correct": only_b, "p_value": float(p)}
        )
    for pair, p_holm in zip(pairs, holm_adjusted([p["p_value"] for p in pairs])):
        pair["p_holm"] = float(p_holm)
        pair["significant"] = bool(p_holm < alpha)
    return pairs


def not_significantly_different_from_best(pairs: list[dict], accuracies: dict) -> set[str]:
    """Names in `accuracies` whose pair with the most accurate model is not significant.

    pairs from `mcnemar_pairs`, accuracies {model: accuracy}. The best is included; on a tie the
    first in dict order is the reference (equal accuracy on shared images means equally many
    images each way, p = 1, so the other is included too).
    """
    if not accuracies:
        return set()
    best = max(accuracies, key=accuracies.get)
    by_pair = {frozenset((p["model_a"], p["model_b"])): p for p in pairs}
    tied = {best}
    for name in accuracies:
        if name == best:
            continue
        pair = by_pair.get(frozenset((name, best)))
        if pair is None:
            raise ValueError(f"no McNemar pair for {name!r} and the best model {best!r}")
        if not pair["significant"]:
            tied.add(name)
    return tied


def _resolvable_images(n, accuracy, confidence) -> int | None:
    """Smallest difference in images the exact McNemar test calls significant (see below)."""
    from scipy import stats

    _check_confidence(confidence)
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy!r}")
    n = int(n)
    errors = round(n * (1 - accuracy))
    k = np.arange(n + 1)
    # The better model errs on `errors` images, the other on `errors + k` different images:
    # `errors + k` images go to the better model, `errors` to the other; exact two-sided p-value.
    p = np.minimum(1.0, 2 * stats.binom.cdf(errors, 2 * errors + k, 0.5))
    resolved = np.flatnonzero(p < 1 - confidence)
    return int(resolved[0]) if resolved.size else None


def resolvable_difference(n, accuracy, confidence=0.95) -> float:
    """Roughly the smallest accuracy difference (a fraction) that n test images can resolve.

    Approximation: two models near `accuracy` whose errors fall on different images. The better
    one errs on e = n * (1 - accuracy) images, the other on e + k others, and we return k / n for
    the smallest k at which the exact McNemar test (the one `mcnemar_pairs` runs, without Holm)
    gives p < 1 - confidence. Disjoint errors are the worst case: models that fail on the same
    hard images leave fewer discordant images and can resolve smaller differences. With no
    errors at all it is the k images that must all go one way (6 at 95%). About
    z * sqrt(2 * (1 - accuracy) / n) for large n. Meant for accuracies well above 50%.
    Returns inf when even all n images could not resolve a difference.
    """
    k = _resolvable_images(n, accuracy, confidence)
    return float("inf") if k is None else k / int(n)


def resolution_sentence(n, accuracy, confidence=0.95) -> str:
    """One sentence for a report stating `resolvable_difference` in points and images."""
    k = _resolvable_images(n, accuracy, confidence)
    setting = f"With {int(n):,} test images at {accuracy:.1%} accuracy"
    if k is None:
        return f"{setting}, no difference between two models is resolvable at {confidence:.0%} confidence."
    points = 100 * k / int(n)
    images = f"{k:,} image" + ("" if k == 1 else "s")
    return (
        f"{setting}, differences below about {points:.2g} points ({images}) "
        f"are within chance at {confidence:.0%} confidence."
    )


def seed_interval(values, confidence=0.95) -> tuple[float, float | None, float | None]:
    """Student-t interval (mean, low, high) of a metric measured once per seed, values (S,).

    t rather than normal: with the 3-5 seeds a benchmark affords, the sample standard deviation
    is itself uncertain. With one value there is no spread: (mean, None, None).
    """
    from scipy import stats

    _check_confidence(confidence)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"values must be a non-empty list of finite numbers, got {values.tolist()!r}")
    mean = float(values.mean())
    if values.size == 1:
        return mean, None, None
    half = stats.t.ppf((1 + confidence) / 2, df=values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, float(mean - half), float(mean + half)
