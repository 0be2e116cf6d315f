"""ONNX export of fitted estimators, run by ONNX Runtime: one compiled runtime for every model.

Each estimator's `onnx_export()` returns an `OnnxExport`: the serialized graph plus the numpy
code that stays around it. Front ends with no ONNX converter (deskew, HOG: OpenCV and numpy)
stay in numpy and the classifier behind them goes to ONNX; `note` says which part is which.
`OnnxRunner` runs an export on a fixed number of threads and returns (N, 10) probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..threads import available_cores

OPSET = 17  # every converter used here (skl2onnx, Keras' tf2onnx) writes it; ONNX Runtime 1.16+ runs it


@dataclass
class OnnxExport:
    model: bytes  # the serialized ONNX graph
    front: Callable  # (N, 28, 28) float32 images (0-255) -> the graph's input, float32
    post: Callable  # the graph's outputs (a list of arrays) -> (N, K) class probabilities
    note: str  # which part runs in ONNX Runtime and which in numpy


def sklearn_graph(model, n_features: int, raw_scores: bool = False) -> bytes:
    """A fitted scikit-learn classifier (or pipeline ending in one) -> ONNX bytes; input (N, n_features)
    float32; outputs label and a plain (N, K) array of probabilities (or raw scores)."""
    import warnings

    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    last = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(last): {"zipmap": False, **({"raw_scores": True} if raw_scores else {})}}
    with warnings.catch_warnings():  # the SVC converter reads probA_, which scikit-learn 1.9 warns about
        warnings.simplefilter("ignore", FutureWarning)
        graph = to_onnx(
            model,
            initial_types=[("features", FloatTensorType([None, n_features]))],
            options=options,
            target_opset=OPSET,
        )
    return graph.SerializeToString()


def keras_graph(model) -> bytes:
    """A Keras model -> ONNX bytes through Keras 3's own exporter (tf2onnx underneath)."""
    import tempfile
    import warnings
    from pathlib import Path

    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # the exporter needs a model that has been called
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf2onnx's own deprecation and numpy warnings
        path = Path(tmp) / "model.onnx"
        model.export(str(path), format="onnx", verbose=False, opset_version=OPSET)
        return path.read_bytes()


class OnnxRunner:
    """An OnnxExport in an ONNX Runtime session on `threads` threads (default: this process's cores)."""

    def __init__(self, export: OnnxExport, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no warnings on the user's terminal
        self.export = export
        self.session = ort.InferenceSession(export.model, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 images -> (N, K) float64 probabilities, K the classes the model was trained on."""
        outputs = self.session.run(None, {self.input: np.ascontiguousarray(self.export.front(X), dtype=np.float32)})
        proba = np.asarray(self.export.post(outputs), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)


def quantise_int8(export: OnnxExport, calibration: np.ndarray, batch_size: int = 100) -> OnnxExport:
    """The export's graph with int8 weights (per channel) and int8 activations whose scales come from
    calibration images (N, 28, 28): ONNX Runtime's static quantisation, in QDQ format.

    Static, not dynamic: dynamic quantisation turns each Conv into ConvInteger, which ONNX Runtime's
    CPU provider runs slowly (measured on the cnn: single-image p50 24 ms against 0.33 ms in float).
    """
    import logging
    import tempfile
    from pathlib import Path

    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = ort.InferenceSession(export.model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    feeds = [
        {name: np.ascontiguousarray(export.front(calibration[i : i + batch_size]), dtype=np.float32)}
        for i in range(0, len(calibration), batch_size)
    ]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._feeds = iter(feeds)

        def get_next(self):
            return next(self._feeds, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a warning per integer tensor it leaves alone
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source, prepared, quantised = (Path(tmp) / f for f in ("float.onnx", "prepared.onnx", "int8.onnx"))
            source.write_bytes(export.model)
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)  # symbolic shapes need sympy
            quantize_static(
                str(prepared),
                str(quantised),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
            model = quantised.read_bytes()
    finally:
        root.setLevel(level)
    return OnnxExport(model, export.front, export.post, export.note + "; int8 weights and activations (static, QDQ)")
