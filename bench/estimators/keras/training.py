"""The training recipe shared by every network: `Recipe` and `train`.

Adam with either ReduceLROnPlateau and EarlyStopping on validation loss ('plateau', the
original) or a one-cycle schedule over a fixed number of epochs ('one-cycle'); optional
augmentation in the tf.data pipeline; best-epoch checkpoint. `dtype_policy` sets the
arithmetic (float32 or bfloat16) of the layers built under it; `enable_determinism` makes a
seed fix the weights.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import progress
from .architectures import _keras
from .augment import random_affine

SCHEDULES = ("plateau", "one-cycle")


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
    """Same seed, same weights, same metrics: seeds Python, NumPy and TF; deterministic TF ops."""
    import tensorflow as tf

    _keras().utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")

    def rate(self, total_steps):
        """A constant rate (plateau: the callback lowers it) or the one-cycle schedule over all steps."""
        if self.schedule == "plateau":
            return self.learning_rate
        warmup = int(0.3 * total_steps)
        return _keras().optimizers.schedules.CosineDecay(
            self.learning_rate / 25, decay_steps=total_steps - warmup, warmup_target=self.learning_rate,
            warmup_steps=warmup)


def _log_learning_rate_callback():
    keras = _keras()

    class LogLearningRate(keras.callbacks.Callback):
        """Records the optimizer's rate at each epoch's end (ReduceLROnPlateau does this itself)."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LogLearningRate()


def dataset(recipe: Recipe, X, y, seed, steps):
    """Shuffled (and, with augment, warped) training batches of images X (N, 28, 28) and labels y."""
    import tensorflow as tf

    train = tf.data.Dataset.from_tensor_slices((X[..., None], y))
    train = train.shuffle(len(X), seed=seed, reshuffle_each_iteration=True).batch(recipe.batch_size)
    if recipe.augment:
        # Seeded by (seed, epoch * steps + batch): deterministic, yet every batch of every epoch differs.
        # The dataset then spans all epochs, so Keras is told the steps per epoch.
        epochs = tf.data.Dataset.range(recipe.epochs).flat_map(
            lambda e: train.enumerate().map(lambda i, xy: (e * steps + i, xy)))
        train = epochs.map(
            lambda i, xy: (random_affine(xy[0], tf.stack([tf.cast(seed, tf.int64), i])), xy[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    return train.prefetch(tf.data.AUTOTUNE)


def callbacks(recipe: Recipe, checkpoint, label):
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
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        found.append(keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True))
    bar = progress.keras_callback(label)
    if bar is not None:
        found.append(bar)
    return found


def train(net, recipe: Recipe, X, y, X_val, y_val, seed, checkpoint=None) -> dict:
    """Compile and fit `net` in place; returns its history: per-epoch lists, best_epoch, kept_epoch."""
    keras = _keras()
    steps = -(-len(X) // recipe.batch_size)
    net.compile(
        optimizer=keras.optimizers.Adam(recipe.rate(steps * recipe.epochs)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    batches = dataset(recipe, X, y, seed, steps)
    fitted = net.fit(batches, validation_data=(X_val[..., None], y_val), epochs=recipe.epochs,
                     steps_per_epoch=steps if recipe.augment else None,
                     callbacks=callbacks(recipe, checkpoint, net.name),
                     verbose=0, shuffle=False)  # tf.data already shuffles
    history = {k: [float(v) for v in vals] for k, vals in fitted.history.items()}
    history["best_epoch"] = int(np.argmin(history["val_loss"])) + 1
    # plateau restores the best epoch's weights; one-cycle keeps the epoch it annealed to
    history["kept_epoch"] = history["best_epoch"] if recipe.schedule == "plateau" else len(history["val_loss"])
    return history
