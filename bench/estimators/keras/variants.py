"""A trained Keras network's variants: LiteRT float32 / dynamic-range / float16 / int8, ONNX Runtime
int8, and magnitude-pruned copies fine-tuned on the training split (see ..variants for the contract).
"""

from __future__ import annotations

import numpy as np

from ...data import stratified_subset
from ..variants import SPARSITIES, Variant, VariantData, gzip_size
from .inference import LiteRunner, batched_proba, lite_interpreter_name
from .quantise import LITERT, litert_bytes

CALIBRATION_IMAGES = 500  # representative training images for int8 scales (LiteRT's guide suggests 100-500)


def _litert_runtime() -> str:
    from importlib.metadata import PackageNotFoundError, version

    name = lite_interpreter_name()
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return name


def _lite_variant(name, kind, content, threads, note, extra=None) -> Variant:
    runner = LiteRunner(content=content, threads=threads)
    return Variant(
        name,
        kind,
        _litert_runtime(),
        note,
        lambda X: batched_proba(runner, X, 1000),
        len(content),
        {"size_gzip_bytes": gzip_size(content), **(extra or {})},
        content,
        ".tflite",
    )


def keras_variants(est, data: VariantData, kinds, threads=None):
    """Variants of a fitted KerasClassifier `est`, one kind at a time, cheapest first."""
    model = est.model_
    if "runtime" in kinds and data.wanted("litert-float32"):
        yield _lite_variant(
            "litert-float32",
            "runtime",
            litert_bytes(model),
            threads,
            "the float32 LiteRT file the benchmark predicts with",
        )
    if "quantised" in kinds:
        calibration = stratified_subset(data.x_train, data.y_train, CALIBRATION_IMAGES, data.seed)[0].astype(np.float32)
        notes = {
            "dynamic": "int8 weights, float activations (dynamic range)",
            "float16": "float16 weights, float32 arithmetic",
            "int8": f"int8 weights and activations; scales from {len(calibration)} training images",
        }
        for how in (h for h in LITERT[1:] if data.wanted(f"litert-{h}")):
            yield _lite_variant(
                f"litert-{how}", "quantised", litert_bytes(model, how, calibration), threads, notes[how]
            )
        if data.wanted("onnx-int8"):
            yield _onnx_int8(est, calibration, threads)
    if "pruned" in kinds:
        from .pruning import prune, sparsity

        for target in (t for t in SPARSITIES if data.wanted(f"pruned-{round(t * 100)}")):
            pruned = prune(model, data.x_train, data.y_train, target, epochs=data.prune_epochs, seed=data.seed)
            yield _lite_variant(
                f"pruned-{round(target * 100)}",
                "pruned",
                litert_bytes(pruned),
                threads,
                f"magnitude pruning to {target:.0%} of each kernel, {data.prune_epochs} fine-tuning epoch(s) "
                "on the training split; float32 LiteRT file (zeros still stored: see gzip size)",
                {"sparsity": sparsity(pruned)},
            )


def _onnx_int8(est, calibration, threads) -> Variant:
    import onnxruntime

    from ..onnx import OnnxRunner, quantise_int8

    export = quantise_int8(est.onnx_export(), calibration)
    runner = OnnxRunner(export, threads)
    return Variant(
        "onnx-int8",
        "quantised",
        f"onnxruntime {onnxruntime.__version__}",
        f"ONNX Runtime static quantisation (QDQ, per-channel int8); scales from {len(calibration)} training images",
        runner.predict_proba,
        len(export.model),
        {"size_gzip_bytes": gzip_size(export.model)},
        export.model,
        ".onnx",
    )
