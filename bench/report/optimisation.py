"""The report's sections on tuning and optimisation: the search's trials, and every model's variants (other
runtimes, quantised, pruned, smaller) against the native model, with the accuracy-latency front."""

from __future__ import annotations

import json
from pathlib import Path

from ..schema import VARIANT_KINDS, Results
from . import figures
from .columns import ok_rows_by_accuracy
from .document import BulletList, Cell, Heading, Image, Paragraph, Table, figure_block
from .pareto import ACCURACY_WINDOW, accuracy_axis, front_of

_figure = figure_block


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def tuning_section(results: Results, limit: int = 25) -> list:
    """A hyperparameter search: how it ran, its best trials (best first) and the best settings."""
    tuning = results.tuning
    if not tuning:
        return []
    names = list(tuning["space"])
    ok = sorted((t for t in tuning["trials"] if t["status"] == "ok"), key=lambda t: -t["score"])
    failed = [t for t in tuning["trials"] if t["status"] != "ok"]
    best = tuning.get("best")
    halving = tuning["search"] == "halving"
    header = ["trial", *(["round", "images"] if halving else []), *names, "validation accuracy", "fit (s)"]
    body = [
        [
            str(t["trial"]),
            *([str(t["iter"] + 1), f"{t['n_resources']:,}"] if halving else []),
            *[str(t["params"].get(n, "")) for n in names],
            Cell(_pct(t["score"]), bold=t == best),
            f"{t['fit_seconds']:.1f}",
        ]
        for t in ok[:limit]
    ]
    wall = results.run.total_wall_seconds
    stops = [s.get("stopped_by") or "interrupted" for s in results.run.sessions]
    how = (
        f"{tuning['search']} search of {results.run.models_requested[0]} over {json.dumps(tuning['space'])}: "
        f"{len(tuning['trials'])} trials ({len(failed)} failed) in {wall:.0f} s over {len(stops)} session(s), "
        f"ended by: {', '.join(stops)}. Each trial is fit on the training split and scored on the validation "
        f"split (scikit-learn's {'HalvingRandomSearchCV' if halving else 'GridSearchCV' if tuning['search'] == 'grid' else 'RandomizedSearchCV'} "
        "with a PredefinedSplit); the test split is not used."
    )
    blocks = [
        Heading(2, f"Hyperparameter search: {tuning['model']}"),
        Paragraph(how),
        Table(
            header,
            body,
            right_align_from=len(header) - 2,
            caption=f"The best {min(limit, len(ok))} of {len(ok)} finished trials, best first"
            + (" (halving: the best is taken from the last round reached)." if halving else "."),
        ),
    ]
    if best:
        blocks.append(
            Paragraph(
                f"Best: {', '.join(f'{k}={v}' for k, v in best['params'].items())}, validation accuracy "
                f"{_pct(best['score'])}. Train and test it with: python benchmark.py --models "
                f"{tuning['model']} --params results.json"
            )
        )
    return blocks


NATIVE = "native"
KIND_METHOD = {
    "runtime": "runtime: the same model exported and run by another runtime (ONNX Runtime)",
    "quantised": "quantised: weights (and for int8 activations) stored in fewer bits (LiteRT dynamic range, "
    "float16 or int8; ONNX int8)",
    "pruned": "pruned: the smallest weights set to zero to the stated sparsity (the zeros cost file size "
    "until compressed, hence the gzip column)",
    "smaller": "smaller: a cut-down classical model (fewer trees, fewer PCA components, a smaller kNN "
    "reference set, an SVM trained on a subset)",
}


def variant_kind(v: dict) -> str:
    """A variant's kind; results written before kinds existed held ONNX Runtime variants only."""
    return v.get("kind") or "runtime"


def _mb(n) -> str:
    if n is None:
        return "-"
    mb = n / 1e6
    return f"{mb:.2f}" if mb >= 0.1 else f"{mb:.3f}"


def _points_delta(accuracy, native) -> str:
    """Accuracy minus the native model's, in percentage points, signed ("-0.05", "+0.01", "0.00")."""
    d = round(100 * (accuracy - native), 2)
    return "0.00" if d == 0 else f"{d:+.2f}"


def _grouped(pairs) -> list[str]:
    """(model, variant, text) -> one line per distinct text naming who it applies to, first-seen order:
    "cnn, lenet5 (litert-int8, litert-float16): text"."""
    by_text: dict = {}
    for model, variant, text in pairs:
        who = by_text.setdefault(text, {})
        who.setdefault(model, []).append(variant)
    lines = []
    for text, who in by_text.items():
        by_variants: dict = {}  # models with the same variants share one label
        for model, variants in who.items():
            by_variants.setdefault(tuple(variants), []).append(model)
        label = "; ".join(f"{', '.join(models)} ({', '.join(variants)})" for variants, models in by_variants.items())
        lines.append(f"{label}: {text}")
    return lines


def optimisation_points(rows) -> list[dict]:
    """Every model natively and every measured variant: model, variant, kind, accuracy, size_bytes, latency_ms_p50."""
    points = []
    for r in rows:
        m = r.metrics
        points.append(
            {
                "model": r.name,
                "variant": NATIVE,
                "kind": NATIVE,
                "accuracy": m["accuracy"],
                "size_bytes": m.get("size_bytes"),
                "latency_ms_p50": m.get("latency_ms_p50"),
            }
        )
        points += [
            {
                "model": r.name,
                "variant": v["variant"],
                "kind": variant_kind(v),
                "accuracy": v["accuracy"],
                "size_bytes": v.get("size_bytes"),
                "latency_ms_p50": v.get("latency_ms_p50"),
            }
            for v in _ok_variants(r)
        ]
    return points


def _ok_variants(row) -> list[dict]:
    ok = [v for v in row.variants or [] if v.get("status") == "ok"]
    order = {k: i for i, k in enumerate(VARIANT_KINDS)}
    return sorted(ok, key=lambda v: order.get(variant_kind(v), len(order)))  # stable: measured order within a kind


def _point_name(p: dict) -> str:
    return f"{p['model']} {p['variant']}"


def optimisation_section(results: Results, fig_dir: Path | None = None) -> list:
    """Each model natively and in every form `benchmark.py optimise` measured (other runtimes, quantised,
    pruned, smaller), one table grouped per model; with fig_dir, accuracy against size and latency with
    the Pareto fronts."""
    rows = [r for r in ok_rows_by_accuracy(results) if r.variants]
    if not rows:
        return []
    header = [
        "model",
        "variant",
        "kind",
        "accuracy",
        "Δ accuracy (points)",
        "same predictions",
        "max |Δp|",
        "size (MB)",
        "gzip (MB)",
        "sparsity",
        "throughput (img/s)",
        "latency p50 (ms)",
        "latency p95 (ms)",
    ]
    body, unsupported, notes, kinds = [], [], [], set()
    for r in rows:
        m = r.metrics
        body.append(
            [
                r.name,
                NATIVE,
                NATIVE,
                _pct(m["accuracy"]),
                "-",
                "-",
                "-",
                _mb(m.get("size_bytes")),
                "-",
                "-",
                f"{m['throughput_img_s']:,.0f}",
                f"{m['latency_ms_p50']:.3f}",
                f"{m['latency_ms_p95']:.3f}",
            ]
        )
        unsupported += [
            (r.name, v["variant"], f"{v['status']}, {v.get('reason') or 'no reason given'}")
            for v in r.variants
            if v.get("status") != "ok"
        ]
        for v in _ok_variants(r):
            kinds.add(variant_kind(v))
            sparsity = v.get("sparsity")
            body.append(
                [
                    r.name,
                    v["variant"],
                    variant_kind(v),
                    _pct(v["accuracy"]),
                    _points_delta(v["accuracy"], m["accuracy"]),
                    _pct(v["same_predictions_as_native"]),
                    f"{v['max_abs_proba_difference']:.1e}",
                    _mb(v["size_bytes"]),
                    _mb(v.get("size_gzip_bytes")),
                    "-" if sparsity is None else f"{100 * sparsity:.1f}%",
                    f"{v['throughput_img_s']:,.0f}",
                    f"{v['latency_ms_p50']:.3f}",
                    f"{v['latency_ms_p95']:.3f}",
                ]
            )
            if v.get("note"):
                notes.append((r.name, v["variant"], v["note"]))
    described = [KIND_METHOD[k] for k in VARIANT_KINDS if k in kinds]
    blocks = [
        Heading(2, "Optimisation: runtimes, quantisation, pruning and smaller models"),
        Paragraph(
            "Each saved model measured natively and in other forms, on the run's threads and as the "
            "native model was: the whole test set in batches of 1,000, and one image per call. "
            + (f"Kinds: {'; '.join(described)}. " if described else "")
            + "Δ accuracy: the variant's accuracy minus the native model's, in percentage points; "
            "'same predictions': share of test images with the native model's predicted digit; "
            "max |Δp|: largest probability difference. Native Keras models predict through TensorFlow "
            "Lite (LiteRT). Size: the native saved file(s), the variant's file; gzip: that file "
            "gzip-compressed; sparsity: share of zero weights."
        ),
        Table(
            header,
            body,
            right_align_from=3,
            caption="Grouped per model (most accurate model first): the native model, then its variants "
            "by kind. '-': not measured or not applicable.",
        ),
    ]
    if notes:
        blocks.append(BulletList(_grouped(notes)))
    if unsupported:
        blocks += [Paragraph("Not exported or not measured:"), BulletList(_grouped(unsupported))]
    if fig_dir is not None:
        blocks += _pareto_figure(optimisation_points(rows), fig_dir)
    return blocks


def _pareto_figure(points, fig_dir: Path) -> list:
    if all(p["kind"] == NATIVE for p in points):  # nothing measured beside the natives
        return []
    low, _ = accuracy_axis([p["accuracy"] for p in points])
    sentences = []
    for cost, what in (("size_bytes", "size"), ("latency_ms_p50", "latency")):
        front = front_of(points, cost)
        if front:
            sentences.append(
                f"Front by {what}, {'smallest' if what == 'size' else 'fastest'} first: "
                + ", ".join(f"{_point_name(points[i])} ({_pct(points[i]['accuracy'])})" for i in front)
                + "."
            )
    below = [p for p in points if p["accuracy"] < low]
    if below:
        sentences.append(
            f"Below the axis (more than {100 * ACCURACY_WINDOW:.0f} points under the best; drawn hollow "
            "on the bottom edge): " + ", ".join(f"{_point_name(p)} ({_pct(p['accuracy'])})" for p in below) + "."
        )
    path = optimisation_pareto(points, fig_dir / "optimisation_pareto.png")
    pruned = any(p["kind"] == "pruned" for p in points)
    caption = (
        "Accuracy against size and against single-image latency (p50), log x: one point per model (colour) "
        "and variant (marker: kind); ringed and joined: the Pareto front, the points no other point is at "
        "least as good as on both axes and better than on one. "
        + (
            "Size is the file as stored: pruning's zeros save space only compressed (the gzip column). "
            if pruned
            else ""
        )
        + " ".join(sentences)
    )
    return [
        Image(
            f"{fig_dir.name}/{path.name}",
            alt="Accuracy against size and latency with the Pareto fronts",
            caption=caption,
        )
    ]


# marker per kind of optimisation point (bench.report.optimisation.optimisation_points)
KIND_MARKERS = {"native": "o", "runtime": "s", "quantised": "^", "pruned": "D", "smaller": "P"}


@figures.redrawn_when_changed
def optimisation_pareto(points, path: Path) -> Path:
    """Accuracy against size and against single-image latency p50 (log x), one point per model and variant.

    points: dicts with model, variant, kind, accuracy (0-1), size_bytes, latency_ms_p50 (None: not in that
    panel). Colour: model; marker: kind (KIND_MARKERS, others "X"); ringed and joined by a step line: the
    Pareto front of each panel (pareto.front_of). The y axis covers the points within
    pareto.ACCURACY_WINDOW of the best; the rest are drawn hollow on the bottom edge.
    """
    from matplotlib.lines import Line2D

    from .pareto import accuracy_axis, front_of

    low, high = accuracy_axis([p["accuracy"] for p in points])
    fig, axes = figures.plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    panels = (
        (axes[0], "size_bytes", 1e-6, "size (MB, log scale)", "Accuracy against size"),
        (axes[1], "latency_ms_p50", 1, "single-image latency p50 (ms, log scale)", "Accuracy against latency"),
    )
    for ax, cost, scale, xlabel, title in panels:
        drawn = [p for p in points if p.get(cost) is not None and p[cost] > 0]
        for p in drawn:
            x, off_axis = p[cost] * scale, p["accuracy"] < low
            y = 100 * max(p["accuracy"], low)
            color = figures.model_color(p["model"])
            ax.scatter(
                x,
                y,
                s=70 if p["kind"] == "native" else 40,
                marker=KIND_MARKERS.get(p["kind"], "X"),
                facecolors="none" if off_axis else color,
                edgecolors=color,
                linewidths=1.2,
                alpha=0.9,
                zorder=3,
                clip_on=False,
            )
        front = front_of(points, cost)
        if front:
            fx = [points[i][cost] * scale for i in front]
            fy = [100 * max(points[i]["accuracy"], low) for i in front]
            ax.step(fx, fy, where="post", color="black", lw=1, alpha=0.6, zorder=2, clip_on=False)
            ax.scatter(fx, fy, s=170, facecolors="none", edgecolors="black", linewidths=1.1, zorder=4, clip_on=False)
        ax.set_xscale("log")
        ax.set_ylim(100 * low, 100 * high)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    models = list(dict.fromkeys(p["model"] for p in points))
    order = list(KIND_MARKERS)
    kinds = sorted({p["kind"] for p in points}, key=lambda k: (order.index(k) if k in order else len(order), k))
    model_handles = [Line2D([], [], ls="", marker="o", color=figures.model_color(m), label=m) for m in models]
    kind_handles = [Line2D([], [], ls="", marker=KIND_MARKERS.get(k, "X"), color="grey", label=k) for k in kinds]
    kind_handles.append(Line2D([], [], color="black", alpha=0.6, marker="o", mfc="none", ms=10, label="Pareto front"))
    fig.legend(handles=model_handles, title="model", loc="outside right upper", fontsize=7, title_fontsize=8)
    fig.legend(handles=kind_handles, title="kind", loc="outside right lower", fontsize=7, title_fontsize=8)
    fig.suptitle(
        "Accuracy against size and latency per model and variant (ringed and joined: the Pareto front)", fontsize=10
    )
    return figures._save(fig, path)
