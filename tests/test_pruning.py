"""Magnitude pruning (bench/estimators/keras/pruning.py): the schedule, the masks, and `prune` on small networks."""

import keras
import numpy as np
import pytest

from bench.estimators.keras import architectures
from bench.estimators.keras.pruning import (
    MagnitudePruning,
    polynomial_sparsity,
    prunable_kernels,
    prune,
    sparsity,
)
from bench.estimators.keras.training import seed_keras


def small_net(name="small", seed=0):
    """A conv layer, batch norm and two dense layers: every kind of weight a real network has, 6,196 in kernels."""
    seed_keras(seed)  # as the estimators seed Keras (its own generator for the layers' default seeds)
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Input(architectures.INPUT_SHAPE),
            layers.Rescaling(1 / 255),
            layers.Conv2D(4, 3, strides=2, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(40, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ],
        name=name,
    )


def value(weight):
    """A copy of a Keras variable's values (`np.array(variable)` warns under NumPy 2)."""
    return weight.numpy()


def other_weights(model, trainable_only=False):
    """Every weight that is not a prunable kernel (biases, batch norm), by path."""
    kernels = {id(k) for k in prunable_kernels(model)}
    weights = model.trainable_weights if trainable_only else model.weights
    return {w.path: value(w) for w in weights if id(w) not in kernels}


def zeros_per_kernel(model):
    return [int(np.count_nonzero(value(k) == 0)) for k in prunable_kernels(model)]


def expected_zeros(model, share):
    return [int(np.round(share * np.prod(k.shape))) for k in prunable_kernels(model)]


def with_small_nonzero_biases(model):
    """Biases and batch-norm weights set far below every kernel weight: pruning them would zero them first."""
    kernels = {id(k) for k in prunable_kernels(model)}
    for i, w in enumerate(model.weights):
        if id(w) not in kernels:
            w.assign(np.full(w.shape, 1e-6 * (i + 1), dtype="float32"))
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (256, 28, 28), dtype=np.uint8), np.tile(np.arange(10), 26)[:256]


# ---- the schedule ----


def test_schedule_is_tfmot_polynomial_decay_clamped_outside_the_ramp():
    kw = {"final_sparsity": 0.8, "begin_step": 100, "end_step": 300, "initial_sparsity": 0.2}
    assert polynomial_sparsity(0, **kw) == pytest.approx(0.2)  # before the ramp: initial
    assert polynomial_sparsity(100, **kw) == pytest.approx(0.2)
    assert polynomial_sparsity(200, **kw) == pytest.approx(0.8 - 0.6 * 0.5**3)  # 0.725
    assert polynomial_sparsity(250, **kw, power=1) == pytest.approx(0.65)  # linear: three quarters of the way
    assert polynomial_sparsity(300, **kw) == pytest.approx(0.8)
    assert polynomial_sparsity(10_000, **kw) == pytest.approx(0.8)  # after the ramp: final
    assert polynomial_sparsity(5, 0.5, begin_step=5, end_step=5) == 0.5  # no ramp: one jump, no division by zero


def test_schedule_rises_monotonically():
    values = [polynomial_sparsity(s, 0.9, 10, 110) for s in range(0, 130)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(0.9)
    assert all(a <= b for a, b in zip(values, values[1:]))


# ---- which weights ----


def test_prunable_kernels_are_the_dense_and_conv_kernels_only():
    net = small_net()
    layers = [layer for layer in net.layers if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))]
    assert [id(k) for k in prunable_kernels(net)] == [id(layer.kernel) for layer in layers]
    assert len(layers) == 3


def test_prunable_kernels_reach_into_every_member_of_an_ensemble():
    members = [small_net(f"member{i}", seed=i) for i in range(3)]
    ensemble = architectures.average(members, name="ensemble")
    found = {id(k) for k in prunable_kernels(ensemble)}
    assert found == {id(k) for m in members for k in prunable_kernels(m)} and len(found) == 9


# ---- the masks ----


@pytest.mark.parametrize("share", [0.5, 0.75, 0.9])
def test_masks_zero_the_smallest_share_of_each_kernel_and_nothing_else(share):
    net = with_small_nonzero_biases(small_net())
    before_kernels = [value(k) for k in prunable_kernels(net)]
    before_others = other_weights(net)
    callback = MagnitudePruning(share, end_step=0)
    callback.set_model(net)
    callback.update_masks(share)
    callback.apply_masks()
    assert zeros_per_kernel(net) == expected_zeros(net, share)
    for before, kernel in zip(before_kernels, prunable_kernels(net)):
        kernel = value(kernel)
        pruned, kept = np.abs(before[kernel == 0]), np.abs(before[kernel != 0])
        assert pruned.max() <= kept.min()  # per layer: the smallest of that kernel, not of the network
        assert np.array_equal(kernel[kernel != 0], before[kernel != 0])
    # biases and batch norm untouched, although every one of them is smaller than any kernel weight
    assert all(np.array_equal(w, before_others[path]) for path, w in other_weights(net).items())


def test_pruned_weights_stay_zero_while_training_across_fit_calls(data):
    X, y = data
    net = small_net()
    net.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    callback = MagnitudePruning(0.75, begin_step=0, end_step=4, frequency=2)
    net.fit(X[..., None], y, batch_size=64, epochs=1, callbacks=[callback], verbose=0, shuffle=False)  # steps 0-3
    assert callback.step == 4
    # masks last recomputed before step 2: 0.75 - 0.75 * (1 - 2/4) ** 3
    assert zeros_per_kernel(net) == expected_zeros(net, 0.65625)
    first = [value(k) == 0 for k in prunable_kernels(net)]

    net.fit(X[..., None], y, batch_size=64, epochs=2, callbacks=[callback], verbose=0)  # steps 4-11
    assert callback.step == 12
    assert zeros_per_kernel(net) == expected_zeros(net, 0.75)  # reached at step 4, then held for 7 steps
    kept = [value(k) for k in prunable_kernels(net)]
    for zero_before, kernel in zip(first, kept):
        assert (kernel[zero_before] == 0).all()  # a pruned weight is never brought back

    net.fit(X[..., None], y, batch_size=64, epochs=1, callbacks=[callback], verbose=0)  # past end_step: no update
    for before, kernel in zip(kept, prunable_kernels(net)):
        kernel = value(kernel)
        assert np.array_equal(kernel == 0, before == 0)  # the same weights zero after 4 more Adam steps...
        assert not np.allclose(kernel[kernel != 0], before[kernel != 0])  # ...while the others did train


# ---- prune ----


@pytest.fixture(scope="module")
def pruned(data):
    """(the small network, its weights before, the network prune gave at 90%): shared, fine-tuning takes seconds."""
    X, y = data
    net = with_small_nonzero_biases(small_net(seed=5))  # not prune's seed: a fresh clone would start elsewhere
    before = [w.copy() for w in net.get_weights()]
    return net, before, prune(net, X, y, 0.9, batch_size=64, learning_rate=1e-4, seed=0)


def test_prune_gives_a_new_network_with_the_exact_share_of_each_kernel_zero(pruned, data):
    net, before, result = pruned
    assert result is not net and not {id(w) for w in result.weights} & {id(w) for w in net.weights}
    assert zeros_per_kernel(result) == expected_zeros(result, 0.9)
    assert sparsity(result) == pytest.approx(0.9, abs=1e-4)
    for original, kernel in zip(prunable_kernels(net), prunable_kernels(result)):
        original, kernel = value(original), value(kernel)
        kept = kernel != 0  # fine-tuned from the original: 4 steps of Adam at 1e-4 move a weight 4e-4 at most
        assert np.abs(kernel[kept] - original[kept]).max() < 1e-3
    assert result.predict(data[0][:8, ..., None], verbose=0).shape == (8, 10)


def test_prune_leaves_the_original_network_as_it_was(pruned):
    net, before, result = pruned
    assert sparsity(net) == 0.0
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), before))
    assert not all(np.array_equal(a, b) for a, b in zip(result.get_weights(), before))


def test_prune_never_zeroes_biases_or_batch_norm(pruned):
    _, _, result = pruned
    # biases, batch-norm scale and offset: started at 1e-6 and fine-tuned, none zero (the moving statistics are
    # left out: prune recomputes them, and a channel that ReLU silences has mean 0 whatever was pruned)
    assert all(np.count_nonzero(w == 0) == 0 for w in other_weights(result, trainable_only=True).values())


def test_same_seed_same_weights(pruned, data):
    net, _, result = pruned
    again = prune(net, *data, 0.9, batch_size=64, learning_rate=1e-4, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(result.get_weights(), again.get_weights()))


def test_prune_prunes_every_member_of_an_ensemble(data):
    X, y = data
    members = [architectures.build("lenet5", {}, f"lenet5_{i}") for i in range(2)]
    ensemble = architectures.average(members, name="lenet5_ensemble")
    before = [w.copy() for w in ensemble.get_weights()]
    result = prune(ensemble, X, y, 0.5, batch_size=64)
    kernels = prunable_kernels(result)
    assert len(kernels) == 10 and not {id(k) for k in kernels} & {id(k) for k in prunable_kernels(ensemble)}
    assert zeros_per_kernel(result) == expected_zeros(result, 0.5)  # each of the five kernels of each member
    assert all(np.array_equal(a, b) for a, b in zip(ensemble.get_weights(), before))


def test_sparsity_is_the_share_of_zeros_weighted_by_kernel_size():
    net = small_net()
    kernels = prunable_kernels(net)
    kernels[0].assign(np.zeros(kernels[0].shape, dtype="float32"))  # the conv kernel: 36 of 6,196 kernel weights
    total = sum(int(np.prod(k.shape)) for k in kernels)
    assert sparsity(net) == pytest.approx(36 / total)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_a_sparsity_outside_zero_to_one_is_refused(bad, data):
    X, y = data
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\).*got"):
        prune(small_net(), X, y, bad)
    with pytest.raises(ValueError, match=r"final_sparsity must be in \[0, 1\)"):
        MagnitudePruning(bad, end_step=10)


def test_a_schedule_that_would_bring_weights_back_is_refused():
    with pytest.raises(ValueError, match="must not exceed final_sparsity"):
        MagnitudePruning(0.5, end_step=10, initial_sparsity=0.6)
    with pytest.raises(ValueError, match="begin_step <= end_step"):
        MagnitudePruning(0.5, begin_step=20, end_step=10)
