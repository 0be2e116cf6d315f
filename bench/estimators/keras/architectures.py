"""The networks: one builder per architecture, each taking (28, 28, 1) images of 0-255.

Rescaling is each model's first layer, so a saved .keras file is the whole inference path.
`ARCHITECTURES` maps a name to its builder; a builder's keyword arguments other than `name`
are the knobs `KerasClassifier(architecture_options=...)` may set.
"""

from __future__ import annotations

import inspect

from ..base import N_CLASSES

INPUT_SHAPE = (28, 28, 1)


def _keras():
    # Imported lazily: TensorFlow takes seconds to import and classical models never need it.
    import keras

    return keras


def build_mlp(hidden=512, dropout=0.2, name="mlp"):
    """Two hidden dense layers with dropout (the keras-io mnist_mlp layout)."""
    layers = _keras().layers
    return _keras().Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / 255),
            layers.Flatten(),
            layers.Dense(hidden, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(hidden, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(N_CLASSES, activation="softmax"),
        ],
        name=name,
    )


def build_lenet5(name="lenet5"):
    """LeNet-5: 6 and 16 5x5 convolutions with 2x2 pooling, dense 120 and 84 (61,706 parameters)."""
    layers = _keras().layers
    return _keras().Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / 255),
            layers.Conv2D(6, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dense(84, activation="relu"),
            layers.Dense(N_CLASSES, activation="softmax"),
        ],
        name=name,
    )


def build_cnn(name="cnn"):
    """The primary CNN: conv 32-32 / 64-64 with batch norm, pooling, dropout; 330,346 parameters."""
    layers = _keras().layers
    return _keras().Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / 255),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(N_CLASSES, activation="softmax"),
        ],
        name=name,
    )


ARCHITECTURES = {"mlp": build_mlp, "lenet5": build_lenet5, "cnn": build_cnn}


def check_architecture(architecture, options=None) -> dict:
    """A known architecture name and keyword arguments its builder takes -> a copy of the options.

    `name` is not an option: the classifier names each network (saved files refer to it).
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    options = dict(options or {})
    allowed = [p for p in inspect.signature(ARCHITECTURES[architecture]).parameters if p != "name"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        known = f"its options are {', '.join(allowed)}" if allowed else "it has none"
        raise ValueError(f"architecture {architecture!r} has no option {', '.join(map(repr, unknown))}; {known}")
    return options


def build(architecture, options, name):
    """A fresh network of `architecture` built with `options` (checked by `check_architecture`)."""
    return ARCHITECTURES[architecture](**options, name=name)


def average(members, name):
    """One model whose output is the mean of the members' probabilities."""
    keras = _keras()
    inputs = keras.Input(INPUT_SHAPE)
    return keras.Model(inputs, keras.layers.Average()([m(inputs) for m in members]), name=name)


def forward_flops(net) -> int:
    """Multiply-adds x 2 of one image through `net`'s convolutions and dense layers (what dominates its
    arithmetic; activations, pooling and batch norm are left out). Training costs about three times this
    per image: the forward pass, and the gradients with respect to inputs and to weights."""
    keras = _keras()
    total = 0
    for layer in _leaf_layers(net):
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            _, h, w, c_out = layer.output.shape
            total += 2 * kh * kw * layer.input.shape[-1] * c_out * h * w
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)


def _leaf_layers(net):
    for layer in net.layers:
        if hasattr(layer, "layers") and layer.layers:  # an ensemble's member networks
            yield from _leaf_layers(layer)
        else:
            yield layer
