"""The training recipe shared by every network: `Recipe` and `train`.

Adam with either ReduceLROnPlateau and EarlyStopping on validation loss ('plateau', the
original) or a one-cycle schedule over a fixed number of epochs ('one-cycle'); optional
augmentation in the tf.data pipeline; best-epoch checkpoint. `dtype_policy` sets the
arithmetic (float32 or bfloat16) of the layers built under it; `enable_determinism` makes a
seed fix the weights.

Batch normalisation: Keras keeps its inference statistics as a moving average (momentum
0.99) that starts at mean 0, variance 1. After a few hundred steps the start still weighs
0.99**steps (5% after 300 steps: 10 epochs of 3,600 images), while the real variances after
the first convolutions are near 0.01, so on small training sets the network normalised its
test images with a variance five times too large and lost its argmax (cnn 65%, ensemble 27%
on the 5,000-image sample; with the batch's own statistics the same weights gave 96%). So at
every epoch's end the statistics are recomputed exactly over training images (`PopulationStatistics`,
"precise BN", Wu & Johnson 2021) before validation, and again for the network that is kept.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ... import progress
from ...evaluation.timing import PhaseClock
from ...files import atomic_write
from ..base import N_CLASSES
from .architectures import _keras
from .augment import random_affine

SCHEDULES = ("plateau", "one-cycle")
# Training images the batch-norm statistics are computed over: for the network that is kept, and
# (fewer, since it runs every epoch) for judging each epoch. The statistics are per channel over
# every position of every image, so even 1,000 images pin them down; each pass costs about a third
# of a forward pass of the network over those images. The images are the clean training images, also
# for cnn-aug: the statistics are those of the clean digits it will be tested on, not of the warped batches.
STATISTICS_IMAGES, EPOCH_STATISTICS_IMAGES = 10_000, 1_000


PRECISIONS = ("float32", "mixed_bfloat16", "auto")
NATIVE_BFLOAT16 = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs that do bfloat16 in hardware


def resolve_precision(precision: str) -> str:
    """'auto' -> 'mixed_bfloat16' on a CPU with native bfloat16, else 'float32'; others unchanged."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    from ...environment import cpu_simd_flags

    return "mixed_bfloat16" if set(NATIVE_BFLOAT16) & set(cpu_simd_flags()) else "float32"


@contextmanager
def dtype_policy(name: str):
    """Layers built inside use Keras' dtype policy `name` ('float32', 'mixed_bfloat16')."""
    keras = _keras()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def enable_determinism(seed: int) -> None:
    """Same seed, same weights, same metrics: seeds Python, NumPy, TF and Keras (seed_keras); deterministic TF ops."""
    import tensorflow as tf

    seed_keras(seed)
    tf.config.experimental.enable_op_determinism()


def seed_keras(seed: int) -> None:
    """keras.utils.set_random_seed, plus a generator of Keras' own for its layers' default seeds.

    Keras draws every layer's default seed (initializers, dropout, augmentation) from Python's global
    `random`, which any other thread of the process may draw from too: in a Dask worker its own threads
    do, and the mlp trained there came out differently now and then. So Keras gets `random.Random(seed)`,
    seeded as set_random_seed seeds the global one: the same draws a quiet process makes. Call this
    wherever Keras is seeded, so its generator never stays at an earlier seed."""
    import random

    _keras().utils.set_random_seed(seed)
    try:
        from keras.src.random import seed_generator
    except ImportError:  # a Keras without this module: its seeds stay on the global generator
        return
    seed_generator.python_random = random.Random(seed)


@dataclass(frozen=True)
class Recipe:
    """How one network is trained; the fields are `KerasClassifier` hyperparameters of the same name."""

    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    augment: bool
    early_stopping_patience: int
    lr_patience: int
    lr_factor: float
    min_lr: float
    label_smoothing: float = 0.0
    ema_momentum: float | None = None

    def loss(self):
        """Cross-entropy on integer labels, or on one-hot labels (see `targets`) when they are smoothed."""
        if not self.label_smoothing:
            return "sparse_categorical_crossentropy"
        return _keras().losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)

    def targets(self, y):
        """Labels as the loss takes them: integers, or one-hot (N, 10) float32 when smoothed."""
        return y if not self.label_smoothing else np.eye(N_CLASSES, dtype=np.float32)[y]

    def optimizer(self, total_steps):
        """Adam at `rate`; with ema_momentum, the network keeps the exponential moving average of its weights
        over the steps (swapped in when fit ends) instead of the last step's weights."""
        ema = {"use_ema": True, "ema_momentum": self.ema_momentum} if self.ema_momentum else {}
        return _keras().optimizers.Adam(self.rate(total_steps), **ema)

    def rate(self, total_steps):
        """A constant rate (plateau: the callback lowers it) or the one-cycle schedule over all steps."""
        if self.schedule == "plateau":
            return self.learning_rate
        warmup = int(0.3 * total_steps)
        return _keras().optimizers.schedules.CosineDecay(
            self.learning_rate / 25,
            decay_steps=total_steps - warmup,
            warmup_target=self.learning_rate,
            warmup_steps=warmup,
        )


def _log_learning_rate_callback():
    keras = _keras()

    class LogLearningRate(keras.callbacks.Callback):
        """Records the optimizer's rate at each epoch's end (ReduceLROnPlateau does this itself)."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LogLearningRate()


def batch_norm_layers(net) -> list:
    return [layer for layer in net.layers if isinstance(layer, _keras().layers.BatchNormalization)]


class PopulationStatistics:
    """Sets a network's batch-norm moving mean and variance to their exact values over given images.

    Layers are done in order, each with the ones before it already set, because a layer's input
    depends on them. The sub-networks feeding each layer are built once (no retracing per call).
    """

    def __init__(self, net):
        keras = _keras()
        self.layers = batch_norm_layers(net)
        self.features = [keras.Model(net.inputs, layer.input) for layer in self.layers]

    def recalibrate(self, X, batch_size=1000) -> None:
        """X: (N, 28, 28) training images, 0-255."""
        X = X[..., None]
        for layer, features in zip(self.layers, self.features):
            total = total_sq = 0.0
            count = 0
            for i in range(0, len(X), batch_size):
                a = np.asarray(features.predict_on_batch(X[i : i + batch_size]))
                a = a.reshape(-1, a.shape[-1])  # every position of every image is one sample per channel
                for part in np.array_split(a, 8):  # float64 sums in pieces: no 300 MB float64 copy of a batch
                    part = part.astype(np.float64)
                    total, total_sq = total + part.sum(0), total_sq + (part * part).sum(0)
                count += len(a)
            mean = total / count
            layer.moving_mean.assign(mean.astype("float32"))
            layer.moving_variance.assign(np.maximum(total_sq / count - mean * mean, 0.0).astype("float32"))


def recalibrate_batch_norm(net, X) -> None:
    """Exact batch-norm statistics of `net` over the first STATISTICS_IMAGES of X (N, 28, 28); no-op without batch norm."""
    if batch_norm_layers(net):
        PopulationStatistics(net).recalibrate(X[:STATISTICS_IMAGES])


def _validation_clock_callback(clock: PhaseClock):
    """Times Keras' own validation inside fit (networks without batch norm)."""
    keras = _keras()

    class ValidationClock(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_test_end(self, logs=None):
            clock.seconds["validation"] = clock.seconds.get("validation", 0.0) + time.perf_counter() - self.start

    return ValidationClock()


def input_pipeline_seconds(batches, steps: int, epochs: int, sample_batches: int = 20) -> float:
    """The input pipeline's time for `epochs` epochs of `steps` batches, run alone (no model): the time to
    the first batch (the shuffle buffer filled) and `sample_batches` more, extrapolated. In training it
    runs on tf.data's threads beside the optimiser, so it overlaps the epochs' time rather than adding to it."""
    iterator = iter(batches)
    start = time.perf_counter()
    next(iterator)
    first = time.perf_counter() - start
    n = 0
    start = time.perf_counter()
    for _ in range(min(sample_batches, steps - 1)):
        next(iterator)
        n += 1
    per_batch = (time.perf_counter() - start) / n if n else 0.0
    return epochs * (first + per_batch * (steps - 1))


def _validate_with_population_statistics_callback(X, X_val, t_val, clock: PhaseClock):
    keras = _keras()

    class ValidateWithPopulationStatistics(keras.callbacks.Callback):
        """At each epoch's end: exact batch-norm statistics, then the validation loss and accuracy.

        Placed first among the callbacks, so early stopping, the rate schedule and the checkpoint
        judge the network as it will predict.
        """

        def set_model(self, model):
            super().set_model(model)
            self.statistics = PopulationStatistics(model)

        def on_epoch_end(self, epoch, logs=None):
            with clock("batch_norm"):
                self.statistics.recalibrate(X[:EPOCH_STATISTICS_IMAGES])
            with clock("validation"):
                scores = self.model.evaluate(X_val[..., None], t_val, batch_size=1000, verbose=0, return_dict=True)
            if logs is not None:
                logs.update({f"val_{k}": float(v) for k, v in scores.items()})

    return ValidateWithPopulationStatistics()


def dataset(recipe: Recipe, X, y, seed, steps):
    """Shuffled (and, with augment, warped) training batches of images X (N, 28, 28) and labels y."""
    import tensorflow as tf

    train = tf.data.Dataset.from_tensor_slices((X[..., None], recipe.targets(y)))
    train = train.shuffle(len(X), seed=seed, reshuffle_each_iteration=True).batch(recipe.batch_size)
    if recipe.augment:
        # Seeded by (seed, epoch * steps + batch): deterministic, yet every batch of every epoch differs.
        # The dataset then spans all epochs, so Keras is told the steps per epoch.
        epochs = tf.data.Dataset.range(recipe.epochs).flat_map(
            lambda e: train.enumerate().map(lambda i, xy: (e * steps + i, xy))
        )
        train = epochs.map(
            lambda i, xy: (random_affine(xy[0], tf.stack([tf.cast(seed, tf.int64), i])), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return train.prefetch(tf.data.AUTOTUNE)


def callbacks(recipe: Recipe, checkpoint, label, clock: PhaseClock | None = None):
    """The schedule's callbacks, the best-epoch checkpoint (plateau) and the progress bar if one is shown."""
    keras = _keras()
    if recipe.schedule == "plateau":
        found = [
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=recipe.lr_factor, patience=recipe.lr_patience, min_lr=recipe.min_lr
            ),
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=recipe.early_stopping_patience, restore_best_weights=True
            ),
        ]
    else:  # the schedule fixes the epochs and the last one is the one it anneals to: kept as it ends
        found = [_log_learning_rate_callback()]
    if checkpoint and recipe.schedule == "plateau":  # one-cycle keeps its last epoch, saved once trained
        found.append(_best_epoch_checkpoint(checkpoint, clock or PhaseClock()))
    bar = progress.keras_callback(label)
    if bar is not None:
        found.append(bar)
    return found


def _best_epoch_checkpoint(path, clock: PhaseClock):
    """Keras' ModelCheckpoint(save_best_only=True) on val_loss, with each save written atomically."""
    keras = _keras()

    class BestEpochCheckpoint(keras.callbacks.Callback):
        best = float("inf")

        def on_epoch_end(self, epoch, logs=None):
            loss = (logs or {}).get("val_loss")
            if loss is not None and loss < self.best:
                self.best = loss
                with clock("checkpoint"):
                    atomic_write(path, self.model.save)

    return BestEpochCheckpoint()


def fold_temperature(net, X_val, y_val) -> float:
    """Temperature scaling (Guo et al. 2017) folded into the network: the T > 0 that minimises the log-loss
    of softmax(z / T) on the validation images X_val (N, 28, 28), y_val (N,), with z the output layer's
    logits, is applied by dividing that layer's kernel and bias by T, so every runtime predicts the
    calibrated probabilities and the digits stay the same. Label smoothing trains a network to put at most
    1 - smoothing on the likeliest digit; this gives it back the confidence its accuracy supports.
    Returns T."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    out = net.layers[-1]
    proba = np.asarray(net.predict(X_val[..., None], batch_size=1000, verbose=0), dtype=np.float64)
    logits = np.log(np.clip(proba, 1e-30, None))  # the logits up to a per-image constant, which softmax ignores
    rows = np.arange(len(y_val))

    def log_loss(log_t):
        return -log_softmax(logits / np.exp(log_t), axis=1)[rows, y_val].mean()

    t = float(np.exp(minimize_scalar(log_loss, bounds=(-5.0, 5.0), method="bounded").x))
    kernel, bias = out.get_weights()
    out.set_weights([kernel / t, bias / t])
    return t


def training_seconds(phases: dict, input_pipeline: float, images: int) -> dict:
    """Where a network's training time went. fit: the whole of Keras' fit; epochs: its optimiser steps (fit
    less the validation, batch-norm statistics and checkpoints run at each epoch's end); batch_norm: those
    statistics at each epoch's end and once more for the kept network; input_pipeline_alone: see
    `input_pipeline_seconds` (overlaps the epochs); images: training images the optimiser saw."""
    in_fit = sum(phases.get(k, 0.0) for k in ("validation", "batch_norm", "checkpoint"))
    return {
        "fit": phases["fit"],
        "epochs": phases["fit"] - in_fit,
        "validation": phases.get("validation", 0.0),
        "batch_norm": phases.get("batch_norm", 0.0) + phases.get("batch_norm_kept", 0.0),
        "checkpoint": phases.get("checkpoint", 0.0),
        "input_pipeline_alone": input_pipeline,
        "images": images,
    }


def train(net, recipe: Recipe, X, y, X_val, y_val, seed, checkpoint=None) -> dict:
    """Compile and fit `net` in place; returns its history: per-epoch lists, best_epoch, kept_epoch."""
    steps = -(-len(X) // recipe.batch_size)
    net.compile(optimizer=recipe.optimizer(steps * recipe.epochs), loss=recipe.loss(), metrics=["accuracy"])
    batches = dataset(recipe, X, y, seed, steps)
    clock = PhaseClock()
    found = callbacks(recipe, checkpoint, net.name, clock)
    validation = (X_val[..., None], recipe.targets(y_val))
    if batch_norm_layers(net):  # validated by the callback, after its statistics are recomputed
        found, validation = (
            [_validate_with_population_statistics_callback(X, X_val, validation[1], clock), *found],
            None,
        )
    else:
        found = [_validation_clock_callback(clock), *found]
    with clock("fit"):
        fitted = net.fit(
            batches,
            validation_data=validation,
            epochs=recipe.epochs,
            steps_per_epoch=steps if recipe.augment else None,
            callbacks=found,
            verbose=0,
            shuffle=False,
        )  # tf.data already shuffles
    with clock("batch_norm_kept"):
        recalibrate_batch_norm(net, X)  # the kept network's statistics, over more images than each epoch's
    history = {k: [float(v) for v in vals] for k, vals in fitted.history.items()}
    epochs_run = len(history["loss"])
    # a second pipeline, timed alone after training: the seeded one above is not iterated twice
    pipeline = input_pipeline_seconds(dataset(recipe, X, y, seed, steps), steps, epochs_run)
    history["seconds"] = training_seconds(clock.seconds, pipeline, int(len(X)) * epochs_run)
    history["best_epoch"] = int(np.argmin(history["val_loss"])) + 1
    # plateau restores the best epoch's weights; one-cycle keeps the epoch it annealed to
    history["kept_epoch"] = history["best_epoch"] if recipe.schedule == "plateau" else len(history["val_loss"])
    return history
