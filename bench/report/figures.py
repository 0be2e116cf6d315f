"""Report figures (matplotlib, Agg): each function draws one figure and saves it as PNG.

Images passed in are (N, 28, 28) uint8; probabilities (N, 10). The same model always gets
the same colour (`model_color`).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import atomic_write  # noqa: E402
from ..registry import MODELS  # noqa: E402  (names and order only: no estimator is imported)
from ..schema import N_CLASSES  # noqa: E402
from .figure_cache import png_metadata, redrawn_when_changed  # noqa: E402

DIGITS = np.arange(N_CLASSES)
PALETTE = plt.get_cmap("tab10").colors


def model_color(name: str):
    """A fixed colour per model name: registered models in registry order, others by a stable hash."""
    order = list(MODELS)
    i = order.index(name) if name in order else zlib.crc32(name.encode()) % len(PALETTE)
    return PALETTE[i % len(PALETTE)]


def _save(fig, path: Path) -> Path:
    metadata = png_metadata(path)
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight", metadata=metadata))
    finally:
        plt.close(fig)
    return path


@redrawn_when_changed
def class_distribution(train_counts, test_counts, path: Path) -> Path:
    """Share of each digit in train and test, side by side, with the counts on the bars."""
    train, test = np.asarray(train_counts), np.asarray(test_counts)
    fig, ax = plt.subplots(figsize=(7, 3))
    w = 0.4
    for offset, counts, label, color in (
        (-w / 2, train, "train (incl. validation)", "#4c72b0"),
        (w / 2, test, "test", "#dd8452"),
    ):
        bars = ax.bar(
            DIGITS + offset, counts / counts.sum() * 100, w, label=f"{label}, n={counts.sum():,}", color=color
        )
        ax.bar_label(bars, [f"{c:,}" for c in counts], fontsize=6, rotation=90, padding=2)
    ax.set_xticks(DIGITS)
    ax.set_xlabel("digit")
    ax.set_ylabel("share of split (%)")
    ax.set_ylim(0, max(train.max() / train.sum(), test.max() / test.sum()) * 100 * 1.25)
    ax.set_title("Class distribution (bar labels: image counts)")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _image_grid(images, titles, path: Path, cols: int, title: str, title_colors=None) -> Path:
    """The images as one mosaic in a single axes, each title written above its tile.

    One axes per image under constrained layout took ~2.5 s a figure (30 of a report's 35 s,
    mostly layout passes over hidden tick labels); one image and some text draw in a fraction.
    """
    rows = max(1, -(-len(images) // cols))
    title_lines = [line for t in titles for line in str(t).split("\n")]
    lines = max((str(t).count("\n") + 1 for t in titles), default=1)
    side, gap = 28, 4
    # at this figure size a mosaic pixel is ~2.5 points: a 7-point title line takes ~4 pixels of
    # height and a character ~1.7 of width
    cell_w = max(side + gap, int(1.7 * max(map(len, title_lines), default=0)) + 3)
    cell_h = side + gap + 4 * lines + 2
    mosaic = np.zeros((rows * cell_h, cols * cell_w), dtype=np.uint8)
    fig = plt.figure(figsize=(cols * cell_w / 29, rows * cell_h / 29 + 0.4))
    ax = fig.add_axes((0, 0, 1, 1 - 0.4 / (rows * cell_h / 29 + 0.4)))
    for i, (img, t) in enumerate(zip(images, titles)):
        r, c = divmod(i, cols)
        top, left = r * cell_h + cell_h - side - gap // 2, c * cell_w + (cell_w - side) // 2
        mosaic[top : top + side, left : left + side] = img
        ax.text(
            left + side / 2,
            top - 1,
            t,
            ha="center",
            va="bottom",
            fontsize=7,
            linespacing=1.0,
            color=(title_colors[i] if title_colors else "black"),
        )
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


@redrawn_when_changed
def sample_grid(x, y, path: Path, per_class: int = 6) -> Path:
    """The first `per_class` test images of each digit, one row per digit."""
    picks = [i for d in DIGITS for i in np.flatnonzero(y == d)[:per_class]]
    return _image_grid(x[picks], [str(y[i]) for i in picks], path, per_class, "Sample test images per class")


@redrawn_when_changed
def confusion_matrix(cm, name: str, path: Path) -> Path:
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    shown = cm.astype(float)
    np.fill_diagonal(shown, np.nan)  # colour the errors; the diagonal would swamp them
    im = ax.imshow(shown, cmap="Reds")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j,
            i,
            str(v),
            ha="center",
            va="center",
            fontsize=7,
            color="black" if i != j else "#0a5c2b",
            fontweight="bold" if i == j else "normal",
        )
    ax.set_xticks(DIGITS)
    ax.set_yticks(DIGITS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{name}: confusion matrix (errors shaded)", color=model_color(name), fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


@redrawn_when_changed
def roc_curves(y_true, proba, name: str, path: Path) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5, 4.4))
    for d in DIGITS:
        positive = y_true == d
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, d])
        ax.plot(fpr, tpr, lw=1, color=PALETTE[d], label=f"{d} (AUC {roc_auc_score(positive, proba[:, d]):.4f})")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0.5, 1.005)
    ax.set_xlabel("false positive rate (log scale near 0)")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{name}: ROC, one digit vs rest", color=model_color(name), fontsize=10)
    ax.legend(fontsize=6, loc="lower right")
    return _save(fig, path)


@redrawn_when_changed
def training_curves(histories, name: str, path: Path) -> Path:
    """Loss and accuracy per epoch, train (solid) and validation (dashed); dotted lines at LR changes."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"wspace": 0.45})
    for k, hist in enumerate(histories):
        epochs = np.arange(1, len(hist["loss"]) + 1)
        alpha = 1.0 if len(histories) == 1 else 0.5 + 0.5 * (k == 0)
        label = "" if len(histories) == 1 else f" (member {k})"
        for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
            ax.plot(epochs, hist[key], color=model_color(name), alpha=alpha, label=f"train{label}")
            ax.plot(epochs, hist[f"val_{key}"], "--", color=model_color(name), alpha=alpha, label=f"validation{label}")
        if hist.get("learning_rate") and k == 0:  # plateau cuts show as steps, a one-cycle schedule as a curve
            lr_ax = loss_ax.twinx()
            lr_ax.step(epochs, hist["learning_rate"], where="mid", color="grey", ls=":", lw=1.2)
            lr_ax.set_ylim(0, max(hist["learning_rate"]) * 1.1)  # linear: a schedule that ends at 0 stays visible
            lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
            lr_ax.yaxis.get_offset_text().set_fontsize(7)
            lr_ax.set_ylabel("learning rate", color="grey", fontsize=8)
            lr_ax.tick_params(axis="y", labelsize=7, colors="grey")
        kept = hist.get("kept_epoch", hist.get("best_epoch"))
        if kept:
            acc_ax.plot(kept, hist["val_accuracy"][kept - 1], "o", color=model_color(name), ms=5)
    loss_ax.set_yscale("log")
    loss_ax.set_title("loss")
    acc_ax.set_title("accuracy (dot: epoch kept)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
    acc_ax.legend(fontsize=7)
    fig.suptitle(
        f"{name}: training (dotted grey: learning rate at each epoch's end)", color=model_color(name), fontsize=10
    )
    return _save(fig, path)


@redrawn_when_changed
def misclassified_gallery(x, y_true, y_pred, confidence, name: str, path: Path, limit: int = 24) -> Path:
    """The most confident mistakes first."""
    wrong = np.flatnonzero(y_true != y_pred)
    wrong = wrong[np.argsort(-confidence[wrong])][:limit]
    titles = [f"true {y_true[i]} → {y_pred[i]}\n{confidence[i]:.1%}" for i in wrong]
    return _image_grid(
        x[wrong], titles, path, 8, f"{name}: most confident mistakes ({len(wrong)} shown)", ["#b00020"] * len(wrong)
    )


@redrawn_when_changed
def sample_predictions(x, y_true, y_pred, confidence, indices, name: str, path: Path) -> Path:
    titles = [f"Actual: {y_true[i]}\nPredicted: {y_pred[i]}\nConfidence: {confidence[i]:.2%}" for i in indices]
    colors = ["#0a5c2b" if y_true[i] == y_pred[i] else "#b00020" for i in indices]
    return _image_grid(x[indices], titles, path, 6, f"Sample predictions of {name}", colors)


@redrawn_when_changed
def common_errors(x, y_true, indices, path: Path) -> Path:
    titles = [f"true {y_true[i]}\n#{i}" for i in indices]
    return _image_grid(x[indices], titles, path, 8, "Test images every model gets wrong")


@redrawn_when_changed
def shared_errors(names, matrix, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(names), 0.8 + 0.6 * len(names)))
    im = ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title("Errors shared by each pair of models (diagonal: each model's errors)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


@redrawn_when_changed
def accuracy_vs_latency(rows, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in rows:
        m = r.metrics
        ax.scatter(
            m["latency_ms_p50"],
            m["accuracy"] * 100,
            s=60,
            color=model_color(r.name),
            label=r.name,
            marker="o" if r.family == "deep" else "s",
        )
    ax.set_xscale("log")
    ax.set_xlabel("single-image latency p50 (ms, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs latency (squares: classical, circles: deep)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def p_value_text(p: float) -> str:
    """Two significant digits, but four decimals near the usual levels so 0.0498 never reads as 0.05."""
    return f"{p:.4f}" if 0.005 <= p < 0.1 else f"{p:.2g}"


@redrawn_when_changed
def mcnemar_matrix(names, p_holm, path: Path, alpha: float) -> Path:
    """Holm-corrected McNemar p-values (K, K) between models; NaN on the diagonal."""
    k = len(names)
    fig, ax = plt.subplots(figsize=(1.4 + 0.75 * k, 1 + 0.65 * k))
    shown = np.where(np.isnan(p_holm), np.nan, np.log10(np.clip(p_holm, 1e-12, 1)))
    im = ax.imshow(shown, cmap="RdYlGn_r", vmin=-6, vmax=0)
    for (i, j), v in np.ndenumerate(p_holm):
        if not np.isnan(v):
            ax.text(
                j,
                i,
                p_value_text(v),
                ha="center",
                va="center",
                fontsize=7,
                fontweight="bold" if v < alpha else "normal",
            )
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_title(f"McNemar p-values, Holm-corrected (bold: below {alpha})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="log10 p")
    return _save(fig, path)


@redrawn_when_changed
def reliability_diagrams(reliability: dict, path: Path) -> Path:
    """One panel per model: accuracy against confidence per bin (calibration.reliability_bins), bars by count."""
    names = list(reliability)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.5 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        b = reliability[name]
        ax.axis("on")
        lower, upper = np.asarray(b["bin_lower"]), np.asarray(b["bin_upper"])
        acc = np.array([np.nan if a is None else a for a in b["accuracy"]], dtype=float)
        ax.bar(lower, acc, width=upper - lower, align="edge", color=model_color(name), edgecolor="white", alpha=0.85)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("confidence", fontsize=7)
        ax.set_ylabel("accuracy", fontsize=7)
    fig.suptitle("Reliability: accuracy per confidence bin (diagonal: perfectly calibrated)", fontsize=9)
    return _save(fig, path)


@redrawn_when_changed
def robustness_heatmap(names, corruptions, accuracy, path: Path) -> Path:
    """Accuracy (K models, C corruptions) as a heatmap with the values written in."""
    accuracy = np.asarray(accuracy, dtype=float)
    fig, ax = plt.subplots(figsize=(1.5 + 0.55 * len(corruptions), 1 + 0.45 * len(names)))
    im = ax.imshow(accuracy * 100, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for (i, j), v in np.ndenumerate(accuracy):
        if not np.isnan(v):
            ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(corruptions)), corruptions, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title("Test accuracy (%) under each corruption", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _save(fig, path)


@redrawn_when_changed
def corruption_samples(images, names, path: Path) -> Path:
    """One example image per corruption (first: clean)."""
    return _image_grid(images, names, path, min(10, len(names)), "One test image under each corruption")


@redrawn_when_changed
def learning_curves(curves: dict, path: Path) -> Path:
    """curves: model -> {"family", "size": [...], "accuracy": [...], "train_seconds": [...]}; log-size axes."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for name, c in curves.items():
        style = dict(color=model_color(name), marker="o" if c["family"] == "deep" else "s", label=name, ms=4)
        left.plot(c["size"], 100 * np.asarray(c["accuracy"]), **style)
        right.plot(c["size"], c["train_seconds"], **style)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("training images (log scale)")
    right.set_yscale("log")
    left.set_ylabel("test accuracy (%)")
    right.set_ylabel("training time (s, log scale)")
    left.set_title("Accuracy against training-set size (squares: classical, circles: deep)", fontsize=9)
    right.set_title("Training time against size", fontsize=9)
    left.legend(fontsize=7, loc="lower right")
    return _save(fig, path)
