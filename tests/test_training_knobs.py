"""The training recipe's knobs: label smoothing with its folded temperature, the weight average, kNN's blur."""

import numpy as np
import pytest
from scipy.special import log_softmax

from bench.estimators import KNN, KerasClassifier
from bench.estimators.features import Blur
from bench.estimators.keras import build_mlp
from bench.estimators.keras.training import Recipe, fold_temperature


def _log_loss(net, X, y):
    p = np.asarray(net.predict(X[..., None], verbose=0), dtype=np.float64)
    return -np.log(np.clip(p[np.arange(len(y)), y], 1e-30, None)).mean(), p.argmax(1)


@pytest.fixture(scope="module")
def small_trained_mlp(sample_splits):
    s = sample_splits
    net = build_mlp(hidden=32)
    net.compile("adam", "sparse_categorical_crossentropy")
    net.fit(s.x_train[..., None], s.y_train, epochs=2, batch_size=64, verbose=0)
    return net


@pytest.mark.parametrize("scale", [8.0, 0.1])
def test_fold_temperature_fits_the_output_layer_to_the_validation_images(sample_splits, small_trained_mlp, scale):
    """A network made over- (x8) or under-confident (x0.1) gets the temperature that undoes it, folded into its
    last layer: the same digits, a lower log-loss, and no lower log-loss at a nearby temperature."""
    import keras

    s = sample_splits
    net = keras.models.clone_model(small_trained_mlp)
    net.set_weights(small_trained_mlp.get_weights())
    kernel, bias = net.layers[-1].get_weights()
    net.layers[-1].set_weights([kernel * scale, bias * scale])
    before, digits = _log_loss(net, s.x_val, s.y_val)
    logits = np.log(np.asarray(net.predict(s.x_val[..., None], verbose=0), dtype=np.float64))

    t = fold_temperature(net, s.x_val, s.y_val)

    after, folded_digits = _log_loss(net, s.x_val, s.y_val)
    assert np.array_equal(folded_digits, digits)
    assert after < before
    assert (t > 1) if scale > 1 else (t < 1)
    rows = np.arange(len(s.y_val))
    for other in (t * 0.8, t * 1.25):
        assert -log_softmax(logits / other, axis=1)[rows, s.y_val].mean() > after - 1e-6


def test_label_smoothing_trains_on_soft_targets_and_keeps_the_digits(sample_splits):
    s = sample_splits
    est = KerasClassifier(
        "mlp", epochs=2, batch_size=64, schedule="one-cycle", learning_rate=3e-3, label_smoothing=0.2
    ).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    history = est.history_[0]
    # the temperature sharpens what smoothing capped at 0.82 on the likeliest digit
    assert 0 < history["temperature"] < 1
    assert est.predict_proba(s.x_test).max() > 0.82 + 0.01
    assert len(history["val_accuracy"]) == 2 and history["val_accuracy"][-1] > 0.5
    assert est.score(s.x_test, s.y_test) > 0.5


def test_recipe_loss_targets_and_weight_average():
    smoothed = Recipe(
        epochs=1,
        batch_size=8,
        learning_rate=1e-3,
        schedule="one-cycle",
        augment=False,
        early_stopping_patience=1,
        lr_patience=1,
        lr_factor=0.5,
        min_lr=1e-4,
        label_smoothing=0.1,
        ema_momentum=0.999,
    )
    assert smoothed.loss().get_config()["label_smoothing"] == pytest.approx(0.1)
    np.testing.assert_array_equal(smoothed.targets(np.array([2, 0])), np.eye(10, dtype=np.float32)[[2, 0]])
    optimizer = smoothed.optimizer(100)
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(0.999)
    plain = Recipe(**{**smoothed.__dict__, "label_smoothing": 0.0, "ema_momentum": None})
    assert plain.loss() == "sparse_categorical_crossentropy"
    np.testing.assert_array_equal(plain.targets(np.array([2, 0])), [2, 0])
    assert not plain.optimizer(100).use_ema


def test_blur_spreads_a_stroke_and_keeps_its_ink():
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, 14, 10:18] = 255.0
    blurred = Blur(0.5).transform(image)
    assert blurred.shape == (1, 28, 28)
    assert blurred[0, 13, 12] > 0 and blurred[0, 14, 12] < 255
    assert blurred.sum() == pytest.approx(image.sum(), rel=1e-4)


def test_knn_blurs_only_when_asked(sample_splits):
    s = sample_splits
    steps = lambda est: [type(step).__name__ for _, step in est.pipeline_.steps]  # noqa: E731
    blurred = KNN(n_neighbors=3, blur=0.5, n_components=20).fit(s.x_train, s.y_train)
    plain = KNN(n_neighbors=3, blur=0.0, n_components=20).fit(s.x_train, s.y_train)
    assert steps(blurred) == ["Deskew", "Blur", "Flatten", "PCA", "KNeighborsClassifier"]
    assert steps(plain) == ["Deskew", "Flatten", "PCA", "KNeighborsClassifier"]
    assert blurred.score(s.x_test, s.y_test) > 0.8


def _fit(s, **kw):
    return KerasClassifier(
        **{"architecture": "mlp", "epochs": 1, "batch_size": 64, "schedule": "one-cycle", "learning_rate": 3e-3, **kw}
    ).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))


def _members(est):
    return [m for m in est.model_.layers if hasattr(m, "layers")] or [est.model_]


def test_an_ensemble_reuses_the_network_a_single_model_of_its_settings_trained(sample_splits, tmp_path):
    s = sample_splits
    x = s.x_test[:30, ..., None].astype(np.float32)
    single = _fit(s, random_state=4, network_cache=str(tmp_path))
    ensemble = _fit(s, random_state=4, n_members=2, network_cache=str(tmp_path))
    assert [h.get("reused", False) for h in ensemble.history_] == [True, False]
    assert [h["seed"] for h in ensemble.history_] == [4, 1004]
    first = _members(ensemble)[0]
    assert np.array_equal(first(x).numpy(), single.model_(x).numpy())
    assert ensemble.history_[0]["seconds"] == single.history_[0]["seconds"]  # the training it did not repeat
    # the same ensemble without the folder trains both members itself, to the same weights
    alone = _fit(s, random_state=4, n_members=2)
    assert not any(h.get("reused") for h in alone.history_)
    assert np.array_equal(_members(alone)[0](x).numpy(), first(x).numpy())


@pytest.mark.parametrize("change", ["epochs", "data", "damaged"])
def test_a_network_is_trained_again_when_anything_it_depends_on_differs(sample_splits, tmp_path, change):
    s = sample_splits
    _fit(s, network_cache=str(tmp_path))
    if change == "damaged":
        for f in tmp_path.glob("*.keras"):
            f.write_bytes(b"not a zip")
    kw = {"epochs": 2} if change == "epochs" else {}
    data = s.x_train[1:], s.y_train[1:]
    x, y = data if change == "data" else (s.x_train, s.y_train)
    again = KerasClassifier(
        **{
            "architecture": "mlp",
            "epochs": 1,
            "batch_size": 64,
            "schedule": "one-cycle",
            "learning_rate": 3e-3,
            "network_cache": str(tmp_path),
            **kw,
        }
    ).fit(x, y, validation_data=(s.x_val, s.y_val))
    assert not again.history_[0].get("reused")
