"""Magnitude pruning for Keras 3 networks: zero the smallest weights, fine-tune the rest.

`tensorflow-model-optimization` (tfmot), the usual tool, wraps Keras 2 layers and does not work
with Keras 3, so this module does the same thing with a plain callback instead of wrapped layers:

- `polynomial_sparsity`: tfmot's PolynomialDecay schedule, the share of each kernel to zero at a step;
- `prunable_kernels`: the kernels of every Dense and Conv2D layer, nested models (the ensemble) included;
- `MagnitudePruning`: a callback keeping one 0/1 mask per kernel, recomputed on the schedule and
  multiplied into the kernel after every training step, so pruned weights stay exactly zero;
- `prune`: a pruned, fine-tuned copy of a trained network;
- `sparsity`: the share of exact zeros over the prunable kernels.

Only kernels are pruned, each on its own ("per layer", as tfmot does): biases and batch
normalisation are a few hundred numbers that shift whole channels, and zeroing them saves nothing
worth the damage. The zeros make the weights compress well (gzip, zip); they do not make the
dense arithmetic of Keras or TensorFlow Lite any faster.

A weight once pruned stays pruned: when a mask is recomputed, weights already masked rank below
every live weight, so with a sparsity that never decreases the new mask zeroes a superset of the
old one (tfmot ends up the same way, since its masked weights are zero when it ranks them). The
schedule therefore may not decrease: `initial_sparsity <= final_sparsity`.
"""

from __future__ import annotations

# Keras at module level, unlike architectures.py: the callback must subclass a Keras class, and
# nothing imports this module unless it is about to prune a network.
import keras
import numpy as np

from .training import batch_norm_layers, recalibrate_batch_norm, seed_keras

# Fine-tuning steps over which `prune` ramps the sparsity up; the rest train the final mask.
RAMP_SHARE = 2 / 3
# Mask updates during the ramp in `prune`: tfmot's default of every 100 steps would give only
# three on one epoch of MNIST, and each jump then removes weights the network had no time to replace.
RAMP_UPDATES = 10


def _check_sparsity(value, name):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1): the share of each kernel's weights set to zero; got {value!r}")


def polynomial_sparsity(step, final_sparsity, begin_step, end_step, initial_sparsity=0.0, power=3) -> float:
    """tfmot's PolynomialDecay: `initial_sparsity` up to `begin_step`, `final_sparsity` from `end_step`.

    In between `final + (initial - final) * (1 - progress) ** power`, with progress going from 0 to 1:
    with power 3 most weights go early, while the network still has many to spare.
    """
    if step >= end_step:  # also covers begin_step == end_step: a single jump, no division by zero
        return float(final_sparsity)
    if step <= begin_step:
        return float(initial_sparsity)
    progress = (step - begin_step) / (end_step - begin_step)
    return float(final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - progress) ** power)


def _all_layers(model):
    # Keras has no public recursive walk: `Model.layers` stops one level down, and the ensemble's
    # members are layers of it. `_flatten_layers` also lists a layer used twice only once.
    return model._flatten_layers(include_self=True, recursive=True)


def prunable_kernels(model) -> list:
    """The kernel variables of every Dense and Conv2D layer in `model`, nested models included."""
    return [
        layer.kernel for layer in _all_layers(model) if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))
    ]


def magnitude_mask(kernel, sparsity, mask=None) -> np.ndarray:
    """0/1 mask zeroing round(sparsity * size) of `kernel`'s smallest magnitudes, those `mask` zeroes first."""
    weights = np.abs(kernel.numpy().astype(np.float64)).ravel()
    if mask is not None:
        weights[np.asarray(mask).ravel() == 0] = -1.0  # below every magnitude: pruned stays pruned
    n_pruned = int(np.round(sparsity * weights.size))
    new = np.ones(weights.size, dtype=np.float32)
    if n_pruned:
        # stable sort: among equal magnitudes (often zeros) the choice does not depend on the platform
        new[np.argsort(weights, kind="stable")[:n_pruned]] = 0.0
    return new.reshape(np.shape(kernel))


class MagnitudePruning(keras.callbacks.Callback):
    """Prunes a model's Dense and Conv2D kernels while it trains, on tfmot's polynomial schedule.

    From `begin_step` to `end_step`, every `frequency` steps and at `end_step`, each kernel's mask
    is recomputed to zero the schedule's share of its smallest weights (never bringing one back).
    After every training step the masks are multiplied into the kernels: the optimiser still
    updates pruned weights, and this sets them back to zero before the next batch uses them.

    The step counter is the callback's own, not `optimizer.iterations`: it counts the batches this
    callback has seen, across `fit` calls, whatever the optimiser did before. Batch hooks run once
    per `steps_per_execution`, so compile with the default of 1.
    """

    def __init__(self, final_sparsity, begin_step=0, end_step=None, frequency=100, initial_sparsity=0.0, power=3):
        super().__init__()
        _check_sparsity(final_sparsity, "final_sparsity")
        _check_sparsity(initial_sparsity, "initial_sparsity")
        if initial_sparsity > final_sparsity:
            raise ValueError(
                f"initial_sparsity ({initial_sparsity}) must not exceed final_sparsity "
                f"({final_sparsity}): a pruned weight is never brought back"
            )
        if end_step is None or not 0 <= begin_step <= end_step:
            raise ValueError(f"need 0 <= begin_step <= end_step; got begin_step={begin_step!r}, end_step={end_step!r}")
        if frequency < 1:
            raise ValueError(f"frequency must be a positive number of steps; got {frequency!r}")
        self.final_sparsity, self.initial_sparsity, self.power = final_sparsity, initial_sparsity, power
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency
        self.step = 0
        self.kernels = self.masks = None
        self._pruned_model = None

    def set_model(self, model):
        super().set_model(model)
        if model is not self._pruned_model:  # a further fit of the same model keeps its masks
            self._pruned_model = model
            self.kernels = prunable_kernels(model)
            self.masks = [np.ones(kernel.shape, dtype=np.float32) for kernel in self.kernels]
            self._mask_tensors = None

    def sparsity_at(self, step) -> float:
        return polynomial_sparsity(
            step, self.final_sparsity, self.begin_step, self.end_step, self.initial_sparsity, self.power
        )

    def updates_at(self, step) -> bool:
        """Whether the masks are recomputed before training step `step` (counted from 0)."""
        in_ramp = self.begin_step <= step <= self.end_step
        return in_ramp and ((step - self.begin_step) % self.frequency == 0 or step == self.end_step)

    def update_masks(self, sparsity) -> None:
        """Each kernel's mask zeroes `sparsity` of it: its smallest live weights join the pruned ones."""
        self.masks = [magnitude_mask(kernel, sparsity, mask) for kernel, mask in zip(self.kernels, self.masks)]
        self._mask_tensors = None

    def apply_masks(self) -> None:
        if self._mask_tensors is None:  # converted once per update, not once per step
            self._mask_tensors = [
                keras.ops.convert_to_tensor(mask, dtype=kernel.dtype) for kernel, mask in zip(self.kernels, self.masks)
            ]
        for kernel, mask in zip(self.kernels, self._mask_tensors):
            kernel.assign(kernel * mask)

    def on_train_batch_begin(self, batch, logs=None):
        if self.updates_at(self.step):
            self.update_masks(self.sparsity_at(self.step))
            self.apply_masks()  # this batch already sees the new zeros

    def on_train_batch_end(self, batch, logs=None):
        self.apply_masks()
        self.step += 1


def _images(X):
    # The networks take (28, 28, 1) images of 0-255 and rescale them themselves (architectures.py).
    X = np.asarray(X)
    return X[..., None] if X.ndim == 3 else X


def _recalibrate_batch_norm(model, X):
    """X: (N, 28, 28, 1) images."""
    # Fine-tuning moved the batch-norm moving averages along with weights that were being pruned:
    # as at the end of training (training.py), recompute them exactly for the weights kept. The
    # ensemble holds its batch norm in its members, each a network of the same images.
    for net in _all_layers(model):
        if isinstance(net, keras.Model) and batch_norm_layers(net):
            recalibrate_batch_norm(net, X[..., 0])  # it takes (N, 28, 28)


def prune(
    model, X, y, sparsity, epochs=1, batch_size=128, learning_rate=1e-3, validation=None, seed=0, verbose=0
) -> keras.Model:
    """A copy of `model` with `sparsity` of every Dense and Conv2D kernel zeroed, fine-tuned on X, y.

    X: (N, 28, 28) images of 0-255 as the networks take them, y: (N,) digits; `validation` an optional
    (X_val, y_val) pair of the same kind. `model` itself is left as it is. The sparsity ramps from 0
    over the first two thirds of the fine-tuning steps and holds for the rest; the returned network
    has exactly round(sparsity * size) zeros in each kernel. Batch-norm statistics are recomputed
    over X at the end. Same seed, same weights.
    """
    _check_sparsity(sparsity, "sparsity")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1; got {epochs!r}")
    seed_keras(seed)  # before cloning: dropout layers draw their seeds when built
    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    X = _images(X)
    steps = epochs * -(-len(X) // batch_size)
    end_step = int(RAMP_SHARE * (steps - 1))
    callback = MagnitudePruning(sparsity, begin_step=0, end_step=end_step, frequency=max(1, end_step // RAMP_UPDATES))
    # from_logits=False: every network here ends in a softmax
    pruned.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    if validation is not None:
        validation = (_images(validation[0]), validation[1])
    pruned.fit(
        X, y, batch_size=batch_size, epochs=epochs, validation_data=validation, callbacks=[callback], verbose=verbose
    )
    callback.update_masks(sparsity)  # exact even if fit stopped before end_step; a no-op otherwise
    callback.apply_masks()
    _recalibrate_batch_norm(pruned, X)
    return pruned


def sparsity(model) -> float:
    """The share of exact zeros among all weights of `model`'s prunable kernels."""
    kernels = [kernel.numpy() for kernel in prunable_kernels(model)]
    total = sum(kernel.size for kernel in kernels)
    return sum(int(np.count_nonzero(kernel == 0)) for kernel in kernels) / total if total else 0.0
