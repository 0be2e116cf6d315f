"""Keras networks behind the sklearn interface: `KerasClassifier` and the architectures it builds.

architectures: the networks; augment: the training-time image warp; training: the recipe
(schedules, precision, callbacks, data pipeline); inference: traced TensorFlow and TensorFlow
Lite prediction; classifier: the estimator tying them together. TensorFlow is imported only
when a network is built, trained or run.
"""

from .architectures import ARCHITECTURES, build_cnn, build_lenet5, build_mlp
from .classifier import KerasClassifier

__all__ = ["KerasClassifier", "ARCHITECTURES", "build_mlp", "build_lenet5", "build_cnn"]
