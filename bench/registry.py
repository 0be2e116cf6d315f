"""Model and profile registry: configuration as data.

`MODELS` maps a command-line model name to its estimator class, base settings and
per-profile overrides; `PROFILES` says how much data and how many latency calls a profile
uses. Adding a model is one entry here (plus its class, if it is a new kind of model).
The order of `MODELS` is the order models run in and the order of their colours in reports.

Estimator classes are named, not imported ("bench.estimators:HogSVM"): reading the registry
(model names for a report, --help) costs nothing, and TensorFlow loads only when a model is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    """How big a run is. Sizes are before the validation split (10% of train)."""

    name: str
    description: str
    train_size: int | None  # None: the whole training set
    test_size: int | None
    latency_calls: int  # single-image calls timed after warm-up
    val_fraction: float = 0.1
    threads: int | None = None  # every library's thread count (bench.threads); None: their defaults
    # the seconds a job may run on a pool or cluster before it is stopped and recorded as failed (--job-timeout
    # overrides it); None: no limit. Generous: a concurrent run, or one thread per job, makes jobs slower
    job_timeout: float | None = None


PROFILES = {
    # full: its longest job, the ensemble, took about 32 min on a slow 2-core machine
    "full": Profile(
        "full",
        "the real comparison: all data; mlp 20 epochs, lenet5, cnn and cnn-aug 10, ensemble 3 x 15",
        None,
        None,
        1000,
        job_timeout=4 * 3600,
    ),
    "quick": Profile(
        "quick", "a fast look: 10,000 train / 2,000 test, few epochs", 10_000, 2_000, 300, job_timeout=30 * 60
    ),
    "ci": Profile(
        "ci",
        "small, fixed, deterministic: 5,000 train / 1,000 test, 3 epochs, one thread",
        5_000,
        1_000,
        200,
        threads=1,
        job_timeout=10 * 60,
    ),
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    estimator: str  # "module:Class", imported when first needed
    settings: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)  # profile name -> overrides of settings
    description: str = ""
    # what `benchmark.py tune` searches: parameter -> list of values, or {"loguniform" | "uniform" |
    # "randint": [low, high]} (random and halving searches only); see bench.optimise.tune.parse_space
    search_space: dict = field(default_factory=dict)

    def settings_for(self, profile: str) -> dict:
        return {**self.settings, **self.profiles.get(profile, {})}

    @property
    def estimator_class(self) -> type:
        module, _, name = self.estimator.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, profile: str, seed: int, threads: int | None = None, **extra):
        """A fresh, unfitted estimator with this profile's settings and the run's seed; threads: what its
        n_jobs is (default: the profile's threads, if it sets any)."""
        settings = self.settings_for(profile)
        params = self.estimator_class().get_params()
        if "random_state" in params:
            settings["random_state"] = seed
        threads = threads or PROFILES[profile].threads
        if "n_jobs" in params and threads is not None:
            settings["n_jobs"] = threads
        return self.estimator_class(**{**settings, **extra})  # extra (e.g. tuned settings) wins

    @property
    def family(self) -> str:
        return self.estimator_class.family


CNN_EPOCHS, CNN_AUG_EPOCHS = 10, 10  # full profile
# The ensemble's members train as cnn-aug but for 15 epochs: on the validation split, three 15-epoch
# members beat three 10-epoch ones on each of seeds 0-2 (99.68/99.72/99.70% against 99.65/99.63/99.62%).
ENSEMBLE_EPOCHS = 15

# Short runs use small batches: more steps per epoch.
_KERAS_PROFILES = {"quick": {"epochs": 3, "batch_size": 64}, "ci": {"epochs": 3, "batch_size": 32}}
# The full profile's fast recipe for the convolutional networks (every choice is in the row's
# settings): a fixed number of epochs under a one-cycle schedule instead of up to 30 epochs with
# plateau cuts, and bfloat16 arithmetic in training where the CPU has it natively (2.1x faster per
# epoch on AVX512-BF16; emulated on an AVX2-only CPU it was 7.5x slower than float32, so there
# 'auto' trains in float32; the fitted networks are float32). reports/speed.md has the measurements.
_ONE_CYCLE = {"schedule": "one-cycle", "precision": "auto", "learning_rate": 3e-3, "batch_size": 128}
# Every Keras model predicts through TensorFlow Lite (same predictions, far less per-call overhead).
_KERAS = {"epochs": 30, "inference": "tflite"}


def _keras_profiles(full: dict | None = None) -> dict:
    """The quick and ci sizes, and `full`'s overrides of the full profile (None: the base settings)."""
    return {**_KERAS_PROFILES, **({"full": full} if full else {})}


_CNN_AUG = {"architecture": "cnn", "augment": True, **_KERAS}
_CNN_AUG_FULL = {**_ONE_CYCLE, "epochs": CNN_AUG_EPOCHS}
# mlp: augmentation lets it train 20 epochs without overfitting (validation 98.85% against 98.62% for the
# plateau recipe's best epoch); at batch 256 the augmenting input pipeline keeps up (36 s, 84 s at 128)
_MLP_FULL = {**_ONE_CYCLE, "augment": True, "epochs": 20, "batch_size": 256}
# lenet5: ten one-cycle epochs with label smoothing match the plateau recipe on validation (99.17% against
# its best epoch's 99.20%) in half the time (24 s against 48 s on AVX512-BF16)
_LENET5_FULL = {**_ONE_CYCLE, "epochs": 10, "label_smoothing": 0.1}
_CNN_FULL = {**_ONE_CYCLE, "epochs": CNN_EPOCHS}

# The networks' search: the optimiser's step and the batch it averages over (their epochs stay the recipe's)
_KERAS_SPACE = {"learning_rate": [3e-4, 1e-3, 3e-3], "batch_size": [64, 128, 256]}

MODELS = {
    spec.name: spec
    for spec in [
        ModelSpec(
            "hog-svm",
            "bench.estimators:HogSVM",
            {
                "orientations": 9,
                "pixels_per_cell": 4,
                "cells_per_block": 2,
                "deskew": True,
                "pixel_weight": 0.5,
                "n_components": 100,
                "C": 5.0,
                "calibration": "temperature",
            },
            description="deskew, HOG (9 orientations, 4x4 cells) + pixels x0.5, PCA 100, RBF SVM, temperature-calibrated",
            search_space={"C": [1.0, 3.0, 10.0, 30.0], "n_components": [50, 100, 150], "pixel_weight": [0.0, 0.5, 1.0]},
        ),
        ModelSpec(
            "random-forest",
            "bench.estimators:RandomForest",
            {"n_estimators": 100, "deskew": True},
            {"ci": {"n_estimators": 30}},
            description="100 trees on deskewed pixels",
            search_space={
                "n_estimators": [50, 100, 200, 400],
                "max_features": ["sqrt", "log2", 0.05, 0.1],
                "deskew": [True, False],
            },
        ),
        ModelSpec(
            "knn",
            "bench.estimators:KNN",
            {
                "n_neighbors": 6,
                "weights": "distance",
                "deskew": True,
                "blur": 0.5,
                "n_components": 30,
                "shift_copies": 1,
                "algorithm": "kd_tree",
            },
            description="k=6, distance-weighted, deskewed pixels blurred (sigma 0.5) on 30 PCA components; "
            "the references hold every training image and four copies moved one pixel",
            search_space={
                "n_neighbors": [1, 3, 6, 8],
                "shift_copies": [0, 1],
                "weights": ["uniform", "distance"],
                "blur": [0.0, 0.5, 1.0],
                "n_components": [30, 50, 60, 90],
                "deskew": [True, False],
            },
        ),
        ModelSpec(
            "mlp",
            "bench.estimators:KerasClassifier",
            {"architecture": "mlp", **_KERAS},
            _keras_profiles(_MLP_FULL),
            description="dense 512-512 with dropout, trained with augmentation",
            search_space=_KERAS_SPACE,
        ),
        ModelSpec(
            "lenet5",
            "bench.estimators:KerasClassifier",
            {"architecture": "lenet5", **_KERAS},
            _keras_profiles(_LENET5_FULL),
            description="LeNet-5: conv 6-16 (5x5), dense 120-84",
            search_space=_KERAS_SPACE,
        ),
        ModelSpec(
            "cnn",
            "bench.estimators:KerasClassifier",
            {"architecture": "cnn", **_KERAS},
            _keras_profiles(_CNN_FULL),
            description="primary CNN: conv 32-32-64-64, batch norm, dropout, dense 256",
            search_space=_KERAS_SPACE,
        ),
        ModelSpec(
            "cnn-aug",
            "bench.estimators:KerasClassifier",
            _CNN_AUG,
            _keras_profiles(_CNN_AUG_FULL),
            description="primary CNN with rotation/zoom/shift/shear augmentation",
            search_space=_KERAS_SPACE,
        ),
        # Its members train as cnn-aug (member 0 from the same seed) with longer full-profile training; in the
        # short profiles they train exactly as cnn-aug, so there the first member is cnn-aug's own network.
        ModelSpec(
            "ensemble",
            "bench.estimators:KerasClassifier",
            {**_CNN_AUG, "n_members": 3},
            # ci: one epoch per member (3 x 3 epochs took 136 s of each 4.8-minute ci run; CI must stay under 25 min)
            {
                **_keras_profiles({**_CNN_AUG_FULL, "epochs": ENSEMBLE_EPOCHS}),
                "ci": {**_KERAS_PROFILES["ci"], "epochs": 1},
            },
            description=f"three primary CNNs trained as cnn-aug for {ENSEMBLE_EPOCHS} epochs (seeds s, s+1000, "
            "s+2000), probabilities averaged",
            search_space=_KERAS_SPACE,
        ),
    ]
}


def parse_model_names(text: str | None) -> list[str]:
    """'hog-svm,cnn' -> ['hog-svm', 'cnn']; None or 'all' -> every model, in registry order."""
    if not text or text == "all":
        return list(MODELS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    return list(dict.fromkeys(names))
