"""The run section's "where the time goes" table: each model's seconds by phase, read from its row."""

from __future__ import annotations

from ..evaluation.timing import reference_gflop_s
from ..schema import Results
from .document import Paragraph, Table

# (row key, column title): training phases, then what the run does with a trained model
PHASES = [
    ("train", "train"),
    ("epochs", "epochs"),
    ("input_pipeline_alone", "input pipeline*"),
    ("batch_norm", "BN stats"),
    ("validation", "validation"),
    ("checkpoint", "checkpoints"),
    ("save", "save"),
    ("predict_test", "test predictions†"),
    ("inference_check", "LiteRT check"),
    ("throughput", "throughput"),
    ("runtime_choice", "runtime choice"),
    ("latency", "latency"),
]


def time_section(results: Results) -> list:
    """A table of every ok row's time_breakdown (rows measured before it was recorded are left out)."""
    rows = [r for r in results.ok_rows() if r.time_breakdown]
    if not rows:
        return []
    body = []
    for r in rows:
        t = r.time_breakdown
        cells = [f"{t[k]:,.1f}" if k in t else "-" for k, _ in PHASES]
        rate = t.get("training_gflop_s")
        reference = reference_gflop_s(r.metrics["reference_ms"]) if r.metrics.get("reference_ms") else None
        share = f" ({rate / reference:.0%})" if rate and reference else ""
        reused = f"{t['reused_networks']} ({t['reused_fit_seconds']:,.1f})" if t.get("reused_networks") else "-"
        body.append(
            [
                r.name,
                *cells,
                reused,
                f"{t['training_img_s']:,.0f}" if "training_img_s" in t else "-",
                f"{rate:.2f}{share}" if rate else "-",
                f"{reference:.2f}" if reference else "-",
            ]
        )
    header = [
        "model",
        *[title for _, title in PHASES],
        "reused networks (their fit s)",
        "train img/s",
        "train GFLOP/s",
        "reference GFLOP/s",
    ]
    return [
        Paragraph(
            "Time by phase and training rate, to see how far each model trains from the machine's matrix-multiply rate."
        ),
        Table(
            header,
            body,
            right_align_from=1,
            caption="Seconds by phase. train: the whole fit; epochs: the optimiser's steps (train less "
            "validation, batch-norm statistics and checkpoints at each epoch's end; an ensemble's "
            "members summed). reused networks: an ensemble's members that another model of the run had already trained with the same settings, seed and data, loaded instead of trained again (not in train; their own fit in brackets). *The tf.data pipeline timed alone and extrapolated: in training it "
            "runs beside the steps, so it overlaps the epochs. †Includes a network's conversion to "
            "LiteRT. train img/s and GFLOP/s: images through the optimiser per second of its epochs "
            "and 3x the forward FLOPs of convolutions and dense layers per image; in brackets, the "
            "share of the reference workload's rate (float64 matrix products on one thread, "
            "measured before the model's measurements).",
        ),
    ]
