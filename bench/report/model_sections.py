"""The report's per-model sections (confusion matrix, ROC curves, training curves, errors) and the models'
shared errors, from the run's rows and the arrays it left (test images, predictions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..schema import N_CLASSES, Row
from . import figures
from .columns import seed_entries, seed_spread
from .document import BulletList, Heading, Paragraph, Table, figure_block


def top_confusions(cm, limit=10) -> list[str]:
    cm = np.asarray(cm)
    off = [(cm[i, j], i, j) for i in range(N_CLASSES) for j in range(N_CLASSES) if i != j and cm[i, j] > 0]
    return [
        f"true {i} -> predicted {j}: {n} case{'s' if n != 1 else ''}" for n, i, j in sorted(off, reverse=True)[:limit]
    ]


def model_section(row: Row, arrays: dict, fig_dir: Path) -> list:
    name, m = row.name, row.metrics
    pc = row.per_class
    blocks = [
        Heading(2, f"Model: {name}"),
        Paragraph(
            f"{row.family} - {row.description}. Accuracy {m['accuracy']:.2%} "
            f"({m['error_count']} errors of {row.n_test:,}), trained on {row.n_train:,} images "
            f"in {m['train_seconds']:.1f} s."
        ),
        Paragraph(
            "Settings: "
            + ", ".join(f"{k}={v}" for k, v in sorted(row.settings.items()))
            + (
                f" ({', '.join(sorted(row.settings_source['settings']))} from {row.settings_source['source']}, "
                "not the registry)"
                if row.settings_source
                else ""
            )
        ),
        *_inference_paragraph(row.inference),
        *_seeds_paragraph(row),
        figure_block(
            figures.confusion_matrix(row.confusion_matrix, name, fig_dir / f"cm_{name}.png"),
            fig_dir,
            f"{name}: confusion matrix",
        ),
        Table(
            ["true \\ predicted", *map(str, range(N_CLASSES))],
            [[str(i), *map(str, r)] for i, r in enumerate(row.confusion_matrix)],
            caption="Counts.",
        ),
        Table(
            ["digit", "precision", "recall", "F1", "ROC-AUC", "support"],
            [
                [
                    str(d),
                    f"{pc['precision'][d]:.4f}",
                    f"{pc['recall'][d]:.4f}",
                    f"{pc['f1'][d]:.4f}",
                    "-" if pc["roc_auc"][d] is None else f"{pc['roc_auc'][d]:.5f}",
                    str(pc["support"][d]),
                ]
                for d in range(N_CLASSES)
            ],
        ),
    ]
    preds = arrays["predictions"].get(name)
    if preds is not None:
        blocks.append(
            figure_block(
                figures.roc_curves(
                    preds["y_true"], preds["proba"].astype(np.float64), name, fig_dir / f"roc_{name}.png"
                ),
                fig_dir,
                f"{name}: ROC curves",
            )
        )
    if row.history:
        blocks.append(
            figure_block(
                figures.training_curves(row.history, name, fig_dir / f"history_{name}.png"),
                fig_dir,
                f"{name}: loss and accuracy per epoch",
            )
        )
    blocks += [Heading(3, f"{name}: error analysis"), BulletList(top_confusions(row.confusion_matrix) or ["no errors"])]
    if preds is not None and arrays["x_test"] is not None and m["error_count"]:
        conf = preds["proba"].max(axis=1)
        blocks.append(
            figure_block(
                figures.misclassified_gallery(
                    arrays["x_test"], preds["y_true"], preds["y_pred"], conf, name, fig_dir / f"errors_{name}.png"
                ),
                fig_dir,
                f"{name}: misclassified test images, most confident first (true -> predicted, confidence)",
            )
        )
    elif preds is None:
        blocks.append(Paragraph("Predictions file not available: no ROC curves or error gallery."))
    return blocks


def cross_model_section(arrays: dict, fig_dir: Path) -> list:
    preds = arrays["predictions"]
    if len(preds) < 2:
        return []
    names = list(preds)
    wrong = {n: preds[n]["y_pred"] != preds[n]["y_true"] for n in names}
    shared = np.array([[int((wrong[a] & wrong[b]).sum()) for b in names] for a in names])
    everyone = np.flatnonzero(np.logical_and.reduce([wrong[n] for n in names]))
    blocks = [
        Heading(2, "Errors across models"),
        Paragraph(f"{len(everyone)} test images are misclassified by all {len(names)} models."),
        Table(
            ["", *names],
            [[a, *map(str, shared[i])] for i, a in enumerate(names)],
            caption="Errors shared by each pair of models; the diagonal is each model's own error count.",
        ),
        figure_block(
            figures.shared_errors(names, shared, fig_dir / "shared_errors.png"),
            fig_dir,
            "Shared errors between pairs of models",
        ),
    ]
    if len(everyone) and arrays["x_test"] is not None:
        blocks.append(
            figure_block(
                figures.common_errors(arrays["x_test"], arrays["y_test"], everyone[:32], fig_dir / "common_errors.png"),
                fig_dir,
                "Test images every model gets wrong (true label, test index)",
            )
        )
    return blocks


def _seeds_paragraph(row: Row) -> list:
    """Each seed's accuracy and training time, then their mean and sample standard deviation."""
    if not row.seed_runs:
        return []
    text = "Seeds: " + "; ".join(f"{r.seed}: {r.accuracy:.2%} in {r.train_seconds:.0f} s" for r in seed_entries(row))
    text += f". Accuracy {seed_spread(row)} (mean ± sample standard deviation)"
    failed = [r for r in row.seed_runs if not r.ok]
    if failed:
        text += "; failed: " + "; ".join(f"seed {r.seed}: {r.error or ''}" for r in failed)
    return [Paragraph(text + ".")]


def _inference_paragraph(check: dict | None) -> list:
    """A model predicting through its own inference path says how it agrees with the model it came from."""
    if not check:
        return []
    interpreter = f" ({check['interpreter']})" if check.get("interpreter") else ""
    return [
        Paragraph(
            f"Inference: {check['inference']}{interpreter}; same prediction as the Keras model on "
            f"{check['same_predictions_as_keras']:.2%} of the test images (largest probability "
            f"difference {check['max_abs_proba_difference']:.1e})."
        )
    ]
