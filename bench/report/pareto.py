"""Which points are worth having: the Pareto front of (cost, accuracy), and the accuracy range worth showing.

Pure functions (no matplotlib), shared by the report's tables, captions and figures so a caption
names exactly the points its figure marks.
"""

from __future__ import annotations

# A point further than this below the most accurate one (in accuracy, 0-1) is "broken" for the
# axis: it is drawn on the bottom edge instead of squashing everything else into a sliver.
ACCURACY_WINDOW = 0.10


def pareto_front(points) -> set[int]:
    """Indices of the points no other point dominates; points: (cost, accuracy), lower cost and higher accuracy better.

    A point is dominated when another is at least as good on both and strictly better on one, so
    identical points are all on the front (neither is strictly better).
    """
    points = [(float(c), float(a)) for c, a in points]
    return {
        i for i, (c, a) in enumerate(points) if not any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in points)
    }


def front_of(points, cost: str) -> list[int]:
    """points: dicts with "accuracy" and `cost`; the indices of their Pareto front, cheapest first.

    Points without the cost (None, or not positive: nothing to draw on a log axis) take no part.
    """
    have = [i for i, p in enumerate(points) if p.get(cost) is not None and p[cost] > 0]
    front = pareto_front([(points[i][cost], points[i]["accuracy"]) for i in have])
    return sorted((have[j] for j in front), key=lambda i: (points[i][cost], -points[i]["accuracy"]))


def accuracy_axis(accuracies, window: float = ACCURACY_WINDOW) -> tuple[float, float]:
    """(low, high) accuracy limits (0-1) covering every point within `window` of the best, with a margin.

    Points below `low` are off-axis; the margin is a tenth of the shown span, at least 0.2 points.
    """
    best = max(accuracies)
    shown = [a for a in accuracies if a >= best - window]
    pad = max(0.1 * (best - min(shown)), 0.002)
    return min(shown) - pad, best + pad
