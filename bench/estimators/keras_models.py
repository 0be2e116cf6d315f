"""Keras models behind the same sklearn interface: mlp, lenet5, cnn, cnn-aug, ensemble.

Each network is a few lines in one builder function taking (28, 28, 1) images of 0-255
(rescaling is the model's first layer, so a saved .keras file is the whole inference path).
`KerasClassifier` holds the training recipes shared by all of them: Adam with either
ReduceLROnPlateau and EarlyStopping on validation loss (the original) or a one-cycle
schedule over a fixed number of epochs, in float32 or bfloat16 arithmetic; best-epoch
checkpoint; prediction through a traced TensorFlow function or TensorFlow Lite.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import progress
from ..threads import available_cores
from .base import DigitClassifier, N_CLASSES, check_images

INPUT_SHAPE = (28, 28, 1)


def _keras():
    # Imported lazily: TensorFlow takes seconds to import and classical models never need it.
    import keras

    return keras


# --------------------------------------------------------------------------- architectures


def build_mlp(hidden=512, dropout=0.2, name="mlp"):
    """Two hidden dense layers with dropout (the keras-io mnist_mlp layout)."""
    layers = _keras().layers
    return _keras().Sequential([
        layers.Input(INPUT_SHAPE),
        layers.Rescaling(1 / 255),
        layers.Flatten(),
        layers.Dense(hidden, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(hidden, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(N_CLASSES, activation="softmax"),
    ], name=name)


def build_lenet5(name="lenet5"):
    """LeNet-5: 6 and 16 5x5 convolutions with 2x2 pooling, dense 120 and 84 (61,706 parameters)."""
    layers = _keras().layers
    return _keras().Sequential([
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
    ], name=name)


def build_cnn(name="cnn"):
    """The primary CNN: conv 32-32 / 64-64 with batch norm, pooling, dropout; 330,346 parameters."""
    layers = _keras().layers
    return _keras().Sequential([
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
    ], name=name)


def random_affine(images, seed, rotation_deg=10.0, zoom=0.1, shift=0.1, shear=0.1):
    """Randomly rotate, zoom, shift and shear a batch (B, 28, 28, 1) in one resampling.

    One combined affine warp per image (bilinear, nearest fill) instead of four layers in a
    row: each extra interpolation blurs the strokes. Parameters are drawn uniformly, as
    Keras' ImageDataGenerator does: angle within +-rotation_deg, x and y zoom within
    1 +- zoom, shift within +-shift of the size, shear factor within +-shear. `seed` is a
    pair of int32s; the same seed gives the same batch.
    """
    import math

    import tensorflow as tf

    n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
    u = tf.random.stateless_uniform([n, 6], seed=seed, minval=-1.0, maxval=1.0)
    theta = u[:, 0] * rotation_deg * math.pi / 180
    zx, zy, k = 1 + u[:, 1] * zoom, 1 + u[:, 2] * zoom, u[:, 3] * shear
    tx, ty = u[:, 4] * shift * w, u[:, 5] * shift * h
    c, s = tf.cos(theta), tf.sin(theta)
    # output pixel -> input pixel: rotation @ shear @ zoom about the centre, then shift
    m00, m01, m10, m11 = c * zx, (c * k - s) * zy, s * zx, (s * k + c) * zy
    cx, cy = (w - 1) / 2, (h - 1) / 2
    zeros = tf.zeros_like(theta)
    transforms = tf.stack([m00, m01, cx - m00 * cx - m01 * cy + tx,
                           m10, m11, cy - m10 * cx - m11 * cy + ty, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[h, w], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")


ARCHITECTURES = {"mlp": build_mlp, "lenet5": build_lenet5, "cnn": build_cnn}
SCHEDULES = ("plateau", "one-cycle")
INFERENCE = ("keras", "tflite")


def _batched_proba(fn, X, batch_size) -> np.ndarray:
    """fn over (B, 28, 28, 1) batches of X (N, 28, 28) -> (N, 10) float64 rows that sum to 1."""
    proba = np.concatenate([fn(X[i : i + batch_size, ..., None]) for i in range(0, len(X), batch_size)])
    proba = proba.astype(np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


def _lite_interpreter(**kwargs):
    try:  # LiteRT, TensorFlow Lite's successor, when installed
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(**kwargs)
    return Interpreter(**kwargs)


class LiteRunner:
    """A Keras model converted to TensorFlow Lite; call it with (B, 28, 28, 1) float32 batches.

    The interpreter runs XNNPACK kernels with almost no per-call overhead, which is what a
    single image needs. An interpreter has one input shape, so one is kept per batch size.
    """

    def __init__(self, model, threads=None, max_shapes=4):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.tflite"
            model.export(str(path), format="litert", verbose=False)
            self.content = path.read_bytes()
        self.threads = threads
        self.max_shapes = max_shapes
        self._by_size = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n not in self._by_size:
            if len(self._by_size) >= self.max_shapes:
                self._by_size.pop(next(iter(self._by_size)))
            # TensorFlow Lite's own default is one thread: the machine's cores unless told otherwise
            it = _lite_interpreter(model_content=self.content, num_threads=self.threads or available_cores())
            inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
            it.resize_tensor_input(inp, [n, *INPUT_SHAPE])
            it.allocate_tensors()
            self._by_size[n] = (it, inp, out)
        it, inp, out = self._by_size[n]
        it.set_tensor(inp, np.ascontiguousarray(x, dtype=np.float32))
        it.invoke()
        return it.get_tensor(out).copy()


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


def _log_learning_rate_callback():
    keras = _keras()

    class LogLearningRate(keras.callbacks.Callback):
        """Records the optimizer's rate at each epoch's end (ReduceLROnPlateau does this itself)."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LogLearningRate()


def enable_determinism(seed: int) -> None:
    """Same seed, same weights, same metrics: seeds Python, NumPy and TF; deterministic TF ops."""
    import tensorflow as tf

    _keras().utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# --------------------------------------------------------------------------- estimator


class KerasClassifier(DigitClassifier):
    """A Keras network trained with the shared recipe.

    architecture: 'mlp', 'lenet5' or 'cnn'. augment: train on randomly rotated, zoomed,
    shifted and sheared batches. n_members > 1 trains that many networks with seeds
    n_members*random_state, n_members*random_state+1, ... (so ensembles of different
    random_state share no member) and averages their probabilities in one Keras model.
    schedule: 'plateau' (the original recipe: ReduceLROnPlateau and EarlyStopping on
    validation loss, up to `epochs`) or 'one-cycle' (exactly `epochs`: a linear warm-up to
    `learning_rate` over the first 30% of steps, then cosine decay to zero).
    precision: 'float32', or 'mixed_bfloat16' to train with bfloat16 arithmetic (float32
    weights); the fitted model is always a float32 network.
    inference: 'keras' (a traced TensorFlow function) or 'tflite' (the same network
    converted to TensorFlow Lite: far less per-call overhead for single images); n_jobs is
    its thread count (None: every core this process may use).
    checkpoint_path: where each network is saved: during training its best epoch so far (plateau
    schedule), and once trained the float32 network the model keeps (an ensemble's members go
    to <stem>.member<i>.keras).
    """

    family = "deep"
    uses_validation = True
    file_suffix = ".keras"

    def __init__(self, architecture="cnn", epochs=30, batch_size=128, learning_rate=1e-3,
                 schedule="plateau", precision="float32", augment=False, n_members=1,
                 early_stopping_patience=5, lr_patience=3, lr_factor=0.5, min_lr=1e-4,
                 validation_fraction=0.1, inference="keras", n_jobs=None, random_state=0,
                 checkpoint_path=None):
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.precision = precision
        self.augment = augment
        self.n_members = n_members
        self.early_stopping_patience = early_stopping_patience
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.min_lr = min_lr
        self.validation_fraction = validation_fraction
        self.inference = inference
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.checkpoint_path = checkpoint_path

    def _fit(self, X, y, X_val, y_val):
        keras = _keras()
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        members, self.history_ = [], []
        for i in range(self.n_members):
            seed = self.random_state * self.n_members + i
            enable_determinism(seed)
            name = self.architecture if self.n_members == 1 else f"{self.architecture}_{i}"
            with dtype_policy(self.precision):
                net = ARCHITECTURES[self.architecture](name=name)
            checkpoint = self._member_checkpoint(i)
            self.history_.append(self._train(net, X, y, X_val, y_val, seed, checkpoint))
            if self.precision != "float32":  # inference in float32: same weights, full-precision arithmetic
                trained, net = net, ARCHITECTURES[self.architecture](name=name)
                net.set_weights(trained.get_weights())
            if checkpoint:  # the file holds the network the model uses, not a training snapshot
                Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
                net.save(checkpoint)
            members.append(net)
        if len(members) == 1:
            self.model_ = members[0]
        else:
            inputs = keras.Input(INPUT_SHAPE)
            averaged = keras.layers.Average()([m(inputs) for m in members])
            self.model_ = keras.Model(inputs, averaged, name=f"{self.architecture}_ensemble")
        self._predict_fn = None
        self._lite = None

    def _learning_rate(self, total_steps):
        """A constant rate (plateau: the callback lowers it) or the one-cycle schedule over all steps."""
        if self.schedule == "plateau":
            return self.learning_rate
        warmup = int(0.3 * total_steps)
        return _keras().optimizers.schedules.CosineDecay(
            self.learning_rate / 25, decay_steps=total_steps - warmup, warmup_target=self.learning_rate,
            warmup_steps=warmup)

    def _member_checkpoint(self, i):
        if not self.checkpoint_path:
            return None
        if self.n_members == 1:
            return str(self.checkpoint_path)
        p = Path(self.checkpoint_path)
        return str(p.with_name(f"{p.stem}.member{i}{p.suffix}"))

    def _train(self, net, X, y, X_val, y_val, seed, checkpoint):
        keras = _keras()
        import tensorflow as tf

        steps = -(-len(X) // self.batch_size)
        net.compile(
            optimizer=keras.optimizers.Adam(self._learning_rate(steps * self.epochs)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        train = tf.data.Dataset.from_tensor_slices((X[..., None], y))
        train = train.shuffle(len(X), seed=seed, reshuffle_each_iteration=True).batch(self.batch_size)
        if self.augment:
            # Seeded by (seed, epoch * steps + batch): deterministic, yet every batch of every epoch differs.
            # The dataset then spans all epochs, so Keras is told the steps per epoch.
            epochs = tf.data.Dataset.range(self.epochs).flat_map(
                lambda e: train.enumerate().map(lambda i, xy: (e * steps + i, xy)))
            train = epochs.map(
                lambda i, xy: (random_affine(xy[0], tf.stack([tf.cast(seed, tf.int64), i])), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE)
        train = train.prefetch(tf.data.AUTOTUNE)
        if self.schedule == "plateau":
            callbacks = [
                keras.callbacks.ReduceLROnPlateau(
                    monitor="val_loss", factor=self.lr_factor, patience=self.lr_patience, min_lr=self.min_lr
                ),
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.early_stopping_patience, restore_best_weights=True
                ),
            ]
        else:  # the schedule fixes the epochs and the last one is the one it anneals to: kept as it ends
            callbacks = [_log_learning_rate_callback()]
        if checkpoint and self.schedule == "plateau":  # one-cycle keeps its last epoch, saved once trained
            Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
            callbacks.append(keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True))
        bar = progress.keras_callback(f"{net.name}")
        if bar is not None:
            callbacks.append(bar)
        fitted = net.fit(train, validation_data=(X_val[..., None], y_val), epochs=self.epochs,
                         steps_per_epoch=steps if self.augment else None, callbacks=callbacks, verbose=0, shuffle=False)  # tf.data already shuffles
        history = {k: [float(v) for v in vals] for k, vals in fitted.history.items()}
        history["best_epoch"] = int(np.argmin(history["val_loss"])) + 1
        # plateau restores the best epoch's weights; one-cycle keeps the epoch it annealed to
        history["kept_epoch"] = history["best_epoch"] if self.schedule == "plateau" else len(history["val_loss"])
        return history

    def _compiled(self):
        """A traced inference function with a fixed input signature: no per-call retracing."""
        if getattr(self, "_predict_fn", None) is None:
            import tensorflow as tf

            model = self.model_
            self._predict_fn = tf.function(
                lambda x: model(x, training=False),
                input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
            )
        return self._predict_fn

    def _predict_proba(self, X, batch_size=2048):
        if self.inference not in INFERENCE:
            raise ValueError(f"unknown inference {self.inference!r}; choose one of {', '.join(INFERENCE)}")
        fn = self._lite_runner() if self.inference == "tflite" else self._keras_fn
        return _batched_proba(fn, X, batch_size)

    def _keras_fn(self, x):
        return self._compiled()(x).numpy()

    def _lite_runner(self):
        if getattr(self, "_lite", None) is None:
            self._lite = LiteRunner(self.model_, self.n_jobs)
        return self._lite

    def inference_check(self, X, proba=None, batch_size=2048) -> dict:
        """How the inference path in use compares with the Keras model itself on images X (N, 28, 28).

        proba: this estimator's predict_proba(X) when the caller already has it (not computed twice).
        """
        X = check_images(X)
        keras_proba = _batched_proba(self._keras_fn, X, batch_size)
        proba = self._predict_proba(X, batch_size) if proba is None else np.asarray(proba)
        return {"inference": self.inference,
                "same_predictions_as_keras": float(np.mean(proba.argmax(1) == keras_proba.argmax(1))),
                "max_abs_proba_difference": float(np.abs(proba - keras_proba).max())}

    def n_params(self):
        return int(self.model_.count_params())

    def __getstate__(self):
        # The traced function cannot be copied or pickled; it is rebuilt on first use.
        state = self.__dict__.copy()
        state["_predict_fn"] = state["_lite"] = None
        return state

    def save(self, path) -> Path:
        """Writes PATH (.keras, loaded back in safe mode) and PATH.json (hyperparameters, history)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model_.save(path)
        meta = {"class": type(self).__name__, "params": self.get_params(), "history": self.history_,
                "n_train": self.n_train_}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path):
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        if meta.get("class") != cls.__name__:
            raise ValueError(f"{path}: metadata says {meta.get('class')}, not {cls.__name__}")
        est = cls(**meta["params"])
        est.model_ = _keras().saving.load_model(path, safe_mode=True)
        est.history_ = meta["history"]
        est.n_train_ = meta["n_train"]
        est.classes_ = np.arange(N_CLASSES)
        est._predict_fn = est._lite = None
        return est
