"""The report's "Off MNIST" section: how each model does on digits from other sources (`benchmark.py generalise`).

Reads the rows' `generalisation` entries and the sample images the command kept beside the results file; knows
nothing of how the datasets are read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..schema import Results
from . import figures
from .columns import ok_rows_by_accuracy
from .document import Heading, Paragraph, Table, figure_block

FOLDER, SAMPLES_NAME = "generalisation", "samples.npz"  # as bench.run.generalise writes them
METHOD = (
    "Each saved model, checked to be the one the run measured, scores every image of each dataset after it was "
    "made MNIST-style (white ink on black, the digit's box scaled into 20x20 and centred by mass in 28x28); "
    "intervals are 95% Wilson intervals; drop = MNIST test accuracy - accuracy on the dataset. Pairs of models are "
    "compared with the exact McNemar test on the same images, Holm-corrected over each dataset's pairs."
)


def generalisation_view(results: Results):
    """(rows, datasets, accuracy matrix (rows x datasets), entries) over the datasets every scored row has;
    None when no row was scored off MNIST. Rows in MNIST accuracy order."""
    rows = [r for r in ok_rows_by_accuracy(results) if r.generalisation]
    if not rows:
        return None
    datasets = [d for d in rows[0].generalisation if all(d in r.generalisation for r in rows)]
    if not datasets:
        return None
    entries = [[r.generalisation[d] for d in datasets] for r in rows]
    matrix = np.array([[e["accuracy"] for e in row] for row in entries])
    return rows, datasets, matrix, entries


def most_transferable(results: Results) -> str | None:
    """'For digits from elsewhere: X (...)': the model with the highest mean accuracy over the datasets."""
    view = generalisation_view(results)
    if view is None:
        return None
    rows, datasets, matrix, _ = view
    mean = matrix.mean(axis=1)
    i = int(np.argmax(mean))
    return (
        f"For digits from elsewhere: {rows[i].name} ({100 * mean[i]:.1f}% mean accuracy over "
        f"{len(datasets)} dataset{'s' if len(datasets) > 1 else ''}: {', '.join(datasets)})."
    )


def ranking_sentence(rows, datasets, matrix) -> str:
    """Whether the MNIST ranking holds on each dataset: rank correlation and who wins there."""
    from scipy.stats import kendalltau

    mnist = np.array([r.metrics["accuracy"] for r in rows])
    parts = []
    for j, d in enumerate(datasets):
        tau = kendalltau(mnist, matrix[:, j]).statistic if len(rows) > 1 else float("nan")
        winner = rows[int(np.argmax(matrix[:, j]))].name
        parts.append(f"{d}: Kendall tau {tau:.2f} with the MNIST order, best {winner}")
    held = all(rows[int(np.argmax(matrix[:, j]))].name == rows[0].name for j in range(len(datasets)))
    verdict = (
        f"The MNIST winner ({rows[0].name}) stays first on every dataset"
        if held
        else f"The MNIST ranking does not hold: its winner ({rows[0].name}) is not first everywhere"
    )
    return f"{verdict} ({'; '.join(parts)})."


def _cell(entry: dict) -> str:
    return (
        f"{100 * entry['accuracy']:.1f}% ({100 * entry['accuracy_ci95_low']:.1f}-"
        f"{100 * entry['accuracy_ci95_high']:.1f})"
    )


def offmnist_section(results: Results, run_dir: Path, fig_dir: Path) -> list:
    view = generalisation_view(results)
    if view is None:
        return []
    rows, datasets, matrix, entries = view
    first = entries[0]
    sizes = ", ".join(f"{d} {e['n']:,} images ({e['source']})" for d, e in zip(datasets, first))
    body = [
        [r.name, f"{100 * r.metrics['accuracy']:.2f}%", *[_cell(e) for e in row], f"{100 * np.mean(matrix[i]):.1f}%"]
        for i, (r, row) in enumerate(zip(rows, entries))
    ]
    blocks = [
        Heading(2, "Off MNIST: digits from other sources"),
        Paragraph(
            f"Method: {METHOD} Datasets: {sizes}; command: {first[0].get('command') or 'benchmark.py generalise'}."
        ),
        Table(
            ["model", "MNIST test", *datasets, "mean off MNIST"],
            body,
            right_align_from=1,
            caption="Accuracy in % with its 95% interval, models in MNIST order.",
        ),
        Paragraph(ranking_sentence(rows, datasets, matrix)),
        Paragraph(_separated(rows, datasets)),
        figure_block(
            heatmap([r.name for r in rows], datasets, matrix, fig_dir / "offmnist.png"),
            fig_dir,
            "Accuracy on each dataset",
        ),
    ]
    samples = Path(run_dir) / FOLDER / SAMPLES_NAME
    if samples.is_file():
        with np.load(samples, allow_pickle=False) as f:
            names = [str(n) for n in f["names"]]
            grids = {n: (f[f"images_{i}"], f[f"labels_{i}"]) for i, n in enumerate(names)}
        for i, (name, (images, labels)) in enumerate(grids.items()):
            blocks.append(
                figure_block(
                    sample_grid(images, labels, name, fig_dir / f"offmnist_samples_{i}.png"),
                    fig_dir,
                    f"{name}: the first images as the models saw them",
                )
            )
    return blocks


def _separated(rows, datasets) -> str:
    """Per dataset, which pairs the McNemar test separates from the dataset's best model."""
    parts = []
    for d in datasets:
        best = max(rows, key=lambda r: r.generalisation[d]["accuracy"])
        tests = best.generalisation[d].get("mcnemar") or {}
        tied = sorted(n for n, t in tests.items() if not t["significant"])
        parts.append(f"{d}: {best.name}" + (f", not separated from {', '.join(tied)}" if tied else ", ahead of all"))
    return "Best per dataset by the McNemar test (Holm): " + "; ".join(parts) + "."


@figures.redrawn_when_changed
def heatmap(names, datasets, accuracy, path: Path) -> Path:
    """Accuracy (K models, D datasets) as a heatmap with the values written in."""
    plt = figures.plt
    accuracy = np.asarray(accuracy, dtype=float)
    fig, ax = plt.subplots(figsize=(2.5 + 1.1 * len(datasets), 1 + 0.45 * len(names)))
    im = ax.imshow(accuracy * 100, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for (i, j), v in np.ndenumerate(accuracy):
        ax.text(j, i, f"{100 * v:.1f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(datasets)), datasets, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title("Accuracy (%) on digits from other sources", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return figures._save(fig, path)


@figures.redrawn_when_changed
def sample_grid(images, labels, name: str, path: Path) -> Path:
    """The first images of a dataset, MNIST-style, each titled with its label."""
    return figures._image_grid(images, [str(int(y)) for y in labels], path, 10, f"{name} (labels above)")
