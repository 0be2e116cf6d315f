"""`KerasClassifier`: a Keras network (or an averaged ensemble of them) as a `DigitClassifier`.

The estimator holds the hyperparameters, the member seeds and the files; building,
training and prediction are in the sibling modules.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from numbers import Real
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ...data import fingerprint
from ...files import atomic_write, atomic_write_text
from ..base import N_CLASSES, SEEDS, THREADS, DigitClassifier, check_images, counts, fractions, positive
from . import architectures, network_cache
from .architectures import _keras
from .inference import INFERENCE, LiteRunner, TracedRunner, agreement, batched_proba, lite_interpreter_name
from .training import (
    PRECISIONS,
    SCHEDULES,
    Recipe,
    dtype_policy,
    enable_determinism,
    fold_temperature,
    recalibrate_batch_norm,
    resolve_precision,
    train,
)

MEMBER_SEED_STRIDE = 1000  # member i of random_state s trains from seed s + 1000 i: member 0 is the single network of s


class KerasClassifier(DigitClassifier):
    """A Keras network trained with the shared recipe.

    architecture: 'mlp', 'lenet5' or 'cnn'. architecture_options: keyword arguments for that
    architecture's builder (e.g. {'hidden': 256, 'dropout': 0.3} for mlp); None: its defaults.
    augment: train on randomly rotated, zoomed, shifted and sheared batches. n_members > 1
    trains that many networks with seeds random_state, random_state + 1000, random_state + 2000, ...
    and averages their probabilities in one Keras model: the first member is the network a single
    model of the same settings and random_state trains (ensembles of random_state below 1000 share
    no member with each other).
    network_cache: a folder where each trained network is kept, keyed by everything its weights
    depend on (bench/estimators/keras/network_cache.py); a network already there is loaded instead of
    trained again (None: always train). The runner points it at the run's models folder, so the
    ensemble's first member is the cnn-aug row's network when their settings agree.
    schedule: 'plateau' (the original recipe: ReduceLROnPlateau and EarlyStopping on
    validation loss, up to `epochs`) or 'one-cycle' (exactly `epochs`: a linear warm-up to
    `learning_rate` over the first 30% of steps, then cosine decay to zero).
    precision: 'float32', 'mixed_bfloat16' to train with bfloat16 arithmetic (float32
    weights), or 'auto': bfloat16 where the CPU does it natively (AVX512-BF16 or AMX), else
    float32 (emulated bfloat16 trained the cnn 7.5x slower than float32 on an AVX2-only CPU).
    The fitted model is always a float32 network; `precision_` is what training used.
    label_smoothing: the share of each target spread evenly over the ten digits (0: none); the trained
    network's output layer is then rescaled by the temperature that fits the validation split best.
    ema_momentum: keep the exponential moving average of the weights over the optimiser's steps
    with this momentum (e.g. 0.999) instead of the last step's weights; None: no average.
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
    _parameter_constraints = {
        "architecture": [StrOptions(set(architectures.ARCHITECTURES))],
        "epochs": counts(1),
        "batch_size": counts(1),
        "learning_rate": positive(),
        "schedule": [StrOptions(set(SCHEDULES))],
        "precision": [StrOptions(set(PRECISIONS))],
        "augment": ["boolean"],
        "n_members": counts(1),
        "early_stopping_patience": counts(0),
        "lr_patience": counts(0),
        "lr_factor": fractions(),
        "min_lr": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "ema_momentum": [None, *fractions()],
        "validation_fraction": fractions(),
        "inference": [StrOptions(set(INFERENCE))],
        "n_jobs": THREADS,
        "random_state": SEEDS,
        "checkpoint_path": [None, str, os.PathLike],
        "architecture_options": [None, dict],
        "network_cache": [None, str, os.PathLike],
    }

    def __init__(
        self,
        architecture="cnn",
        epochs=30,
        batch_size=128,
        learning_rate=1e-3,
        schedule="plateau",
        precision="float32",
        augment=False,
        n_members=1,
        early_stopping_patience=5,
        lr_patience=3,
        lr_factor=0.5,
        min_lr=1e-4,
        label_smoothing=0.0,
        ema_momentum=None,
        validation_fraction=0.1,
        inference="keras",
        n_jobs=None,
        random_state=0,
        checkpoint_path=None,
        architecture_options=None,
        network_cache=None,
    ):
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
        self.label_smoothing = label_smoothing
        self.ema_momentum = ema_momentum
        self.validation_fraction = validation_fraction
        self.inference = inference
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.checkpoint_path = checkpoint_path
        self.architecture_options = architecture_options
        self.network_cache = network_cache

    def _fit(self, X, y, X_val, y_val):
        options = architectures.check_architecture(self.architecture, self.architecture_options)
        recipe = Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)})
        members, self.history_ = [], []
        self.precision_ = resolve_precision(self.precision)
        data = fingerprint(X, y, X_val, y_val) if self.network_cache else None  # once, for every member's key
        for i in range(self.n_members):
            seed = self.random_state + MEMBER_SEED_STRIDE * i
            name = self.architecture if self.n_members == 1 else f"{self.architecture}_{i}"
            key = reused = None
            if self.network_cache:
                key = network_cache.network_key(self.architecture, options, recipe, self.precision_, seed, data)
                reused = network_cache.load(self.network_cache, key)
            if reused:
                net, history = reused[0], {**reused[1], "reused": True}
                net.name = name  # stored under the single model's name; an ensemble's members need their own
            else:
                net, history = self._train_member(recipe, options, name, seed, X, y, X_val, y_val, i)
                if key:
                    network_cache.store(self.network_cache, key, net, history)
            self.history_.append(history)
            checkpoint = self._member_checkpoint(i)
            if checkpoint:  # the file holds the network the model uses, not a training snapshot
                atomic_write(checkpoint, net.save)
            members.append(net)
        self.model_ = (
            members[0] if len(members) == 1 else architectures.average(members, name=f"{self.architecture}_ensemble")
        )
        self._predict_fn = None
        self._lite = None

    def _train_member(self, recipe, options, name, seed, X, y, X_val, y_val, i):
        """One network trained from `seed` -> (the float32 network the model predicts with, its history)."""
        enable_determinism(seed)
        with dtype_policy(self.precision_):
            net = architectures.build(self.architecture, options, name)
        history = train(net, recipe, X, y, X_val, y_val, seed, self._member_checkpoint(i))
        history.update(seed=seed, precision=self.precision_)
        if self.precision_ != "float32":  # inference in float32: same weights, full-precision arithmetic
            trained, net = net, architectures.build(self.architecture, options, name)
            net.set_weights(trained.get_weights())
            recalibrate_batch_norm(net, X)  # statistics of the float32 arithmetic it predicts with
        if self.label_smoothing:
            history["temperature"] = fold_temperature(net, X_val, y_val)
        return net, history

    def _member_checkpoint(self, i):
        if not self.checkpoint_path:
            return None
        if self.n_members == 1:
            return str(self.checkpoint_path)
        p = Path(self.checkpoint_path)
        return str(p.with_name(f"{p.stem}.member{i}{p.suffix}"))

    # ---- prediction ----
    def _predict_proba(self, X, batch_size=2048):
        if self.inference not in INFERENCE:
            raise ValueError(f"unknown inference {self.inference!r}; choose one of {', '.join(INFERENCE)}")
        fn = self._lite_runner() if self.inference == "tflite" else self._keras_runner()
        return batched_proba(fn, X, batch_size)

    def _keras_runner(self):
        if getattr(self, "_predict_fn", None) is None:
            self._predict_fn = TracedRunner(self.model_)
        return self._predict_fn

    def _lite_runner(self):
        if getattr(self, "_lite", None) is None:
            self._lite = LiteRunner(self.model_, self.n_jobs)
        return self._lite

    def import_libraries(self) -> None:
        _keras()

    def n_params(self):
        return int(self.model_.count_params())

    def forward_flops(self) -> int:
        return architectures.forward_flops(self.model_)

    def onnx_export(self):
        """The whole network in ONNX (Keras 3's exporter); numpy only adds the channel axis."""
        from ..onnx import OnnxExport, keras_graph

        return OnnxExport(
            keras_graph(self.model_), lambda X: X[..., None], lambda outputs: outputs[0], "the whole network in ONNX"
        )

    def runtime_candidates(self, threads=None) -> dict:
        """None: with inference='tflite' the network already predicts through LiteRT, which answered single
        images faster than ONNX Runtime for every network of the full run (`benchmark.py optimise`)."""
        return {}

    def variants(self, data, kinds, threads=None):
        """LiteRT float32 and quantised files, ONNX int8, pruned copies (see keras/variants.py)."""
        from .variants import keras_variants

        return keras_variants(self, data, kinds, threads if threads is not None else self.n_jobs)

    # ---- hooks the runner calls ----
    def set_artifact_path(self, path) -> None:
        self.set_params(checkpoint_path=str(path))

    def reuse_trained_in(self, folder) -> None:
        self.set_params(network_cache=str(folder))

    def training_history(self) -> list[dict]:
        return self.history_

    def inference_check(self, X, proba=None, batch_size=2048) -> dict:
        """How the inference path in use compares with the Keras model itself on images X (N, 28, 28).

        proba: this estimator's predict_proba(X) when the caller already has it (not computed twice).
        """
        X = check_images(X)
        keras_proba = batched_proba(self._keras_runner(), X, batch_size)
        proba = self._predict_proba(X, batch_size) if proba is None else np.asarray(proba)
        interpreter = {"interpreter": lite_interpreter_name()} if self.inference == "tflite" else {}
        return {"inference": self.inference, **interpreter, **agreement(proba, keras_proba)}

    # ---- persistence ----
    def __getstate__(self):
        # The traced function and the interpreter cannot be copied or pickled; they are rebuilt on first use.
        state = self.__dict__.copy()
        state["_predict_fn"] = state["_lite"] = None
        return state

    def save(self, path) -> Path:
        """Writes PATH (.keras, loaded back in safe mode) and PATH.json (hyperparameters, history)."""
        path = atomic_write(path, self.model_.save)
        meta = {
            "class": type(self).__name__,
            "params": self.get_params(),
            "history": self.history_,
            "n_train": self.n_train_,
        }
        atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path):
        """A Keras v3 zip (PATH ending in .keras), loaded in safe mode (Keras refuses code stored in it, such as
        a Lambda layer's), and its PATH.json metadata, checked before use; ValueError, one line naming the file,
        otherwise."""
        import zipfile

        path = Path(path)
        if not path.name.endswith(".keras"):
            raise ValueError(f"{path}: not a .keras file; only Keras v3 .keras files are loaded (in safe mode)")
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a Keras v3 .keras file (a zip)")
        meta = cls._read_metadata(path.with_suffix(".json"))
        est = cls(**meta["params"])
        try:
            est.model_ = _keras().saving.load_model(path, safe_mode=True)
        except Exception as e:  # Keras' own refusals (safe mode) and damaged files: one line naming the file
            raise ValueError(f"{path}: cannot be loaded: {type(e).__name__}: {' '.join(str(e).split())}") from None
        est.history_ = meta["history"]
        est.precision_ = est.history_[0].get("precision", est.precision) if est.history_ else est.precision
        est.n_train_ = meta["n_train"]
        est.classes_ = np.arange(N_CLASSES)
        est._predict_fn = est._lite = None
        return est

    @classmethod
    def _read_metadata(cls, meta_path: Path) -> dict:
        """The JSON `save` writes beside the network: {"class": this class's name, "params": {constructor
        parameter: value} (parameters left out take their defaults), "history": [{...} per network],
        "n_train": int}; ValueError naming the file when it is anything else."""
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ValueError(
                f"{meta_path}: cannot read the model's metadata: {type(e).__name__}: {' '.join(str(e).split())}"
            ) from None
        problem = None
        if not isinstance(meta, dict):
            problem = "not a JSON object"
        elif meta.get("class") != cls.__name__:
            problem = f"its class is {meta.get('class')!r}, not {cls.__name__!r}"
        elif not isinstance(meta.get("params"), dict):
            problem = '"params" is not an object'
        elif unknown := sorted(set(meta["params"]) - set(cls._get_param_names())):
            problem = f'"params" names {", ".join(map(repr, unknown))}, not parameters of {cls.__name__}'
        elif not isinstance(meta.get("history"), list) or not all(isinstance(h, dict) for h in meta["history"]):
            problem = '"history" is not a list of objects'
        elif type(meta.get("n_train")) is not int:
            problem = '"n_train" is not an integer'
        if problem:
            raise ValueError(f"{meta_path}: not this model's metadata: {problem}")
        return meta
