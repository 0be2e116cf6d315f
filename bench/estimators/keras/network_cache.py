"""Trained networks kept for reuse: a network trained once is not trained again by another model of the run.

The ensemble's first member is trained exactly as `cnn-aug` (same architecture, recipe, seed and data), so
the run trains that network once. A network is stored under a key that names everything its weights depend
on: the architecture and its options, the recipe, the arithmetic, the seed, the training and validation
images and labels, the Keras and TensorFlow versions, the CPU's instruction set and the thread count (the
order of floating-point sums, hence the weights, depends on the threads). Anything different is another key,
so a reused network is the one that training would have produced here.

Files: <folder>/<key>.keras (the float32 network, loaded back in safe mode) and <key>.json ({"key": what the
key was made from, "history": the network's training history}).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from ...files import atomic_write, atomic_write_text
from .architectures import _keras


def network_key(architecture: str, options: dict, recipe, precision: str, seed: int, data: str) -> dict:
    """What a trained network's weights depend on, as plain data (its hash names the files); data: the
    `bench.data.fingerprint` of the training and validation images and labels."""
    import tensorflow as tf

    from ...environment import machine_kind

    return {
        "architecture": architecture,
        "options": options,
        "recipe": dataclasses.asdict(recipe),
        "precision": precision,
        "seed": int(seed),
        "data": data,
        "keras": _keras().__version__,
        "tensorflow": tf.__version__,
        "machine_kind": machine_kind(),
        "threads": [
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        ],
    }


def _stem(folder, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return Path(folder) / digest


def load(folder, key: dict):
    """(network, history) stored under `key`, or None when there is none or the stored one is not for this key."""
    stem = _stem(folder, key)
    network, meta = stem.with_suffix(".keras"), stem.with_suffix(".json")
    if not (network.is_file() and meta.is_file()):
        return None
    try:
        stored = json.loads(meta.read_text())
        if stored.get("key") != json.loads(json.dumps(key)) or not isinstance(stored.get("history"), dict):
            return None
        return _keras().saving.load_model(network, safe_mode=True), stored["history"]
    except (OSError, ValueError, TypeError):  # a damaged file is trained again, not trusted
        return None


def store(folder, key: dict, net, history: dict) -> None:
    stem = _stem(folder, key)
    atomic_write(stem.with_suffix(".keras"), net.save)
    atomic_write_text(stem.with_suffix(".json"), json.dumps({"key": key, "history": history}, indent=1))
