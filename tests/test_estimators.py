"""The interface contract every model keeps: shapes, probabilities, clone, sklearn tools, save/load."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from bench.data import stratified_subset
from bench.estimators import KNN, HogSVM, KerasClassifier, RandomForest
from bench.estimators.keras import build_cnn, build_lenet5, build_mlp
from bench.estimators.keras.training import batch_norm_layers, resolve_precision
from bench.registry import MODELS, parse_model_names

# Small but real settings so every model trains in seconds on the 600-image slice.
# augmentation learns slower; the ensemble's 3 members each get KERAS_FAST's 2 epochs (0.82 on the 200 test images)
FAST = {"random-forest": {"n_estimators": 10}, "cnn-aug": {"epochs": 5}}
# Batch norm's moving statistics need some steps before inference is sensible: small batches.
KERAS_FAST = {"epochs": 2, "batch_size": 16}


def build(name):
    est = MODELS[name].build("ci", seed=0)
    if "epochs" in est.get_params():
        est.set_params(**KERAS_FAST)
    return est.set_params(**FAST.get(name, {}))


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, sample_splits):
    s = sample_splits
    est = build(request.param).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    return request.param, est


def test_predict_proba_shape_and_rows_sum_to_one(fitted, sample_splits):
    name, est = fitted
    proba = est.predict_proba(sample_splits.x_test)
    assert proba.shape == (len(sample_splits.x_test), 10)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()
    pred = est.predict(sample_splits.x_test)
    assert pred.shape == (len(sample_splits.x_test),) and set(pred) <= set(range(10))
    assert np.array_equal(pred, np.argmax(proba, axis=1))
    assert list(est.classes_) == list(range(10))


# Accuracy on the 200 test images after these fast settings (two epochs on 540 images for the networks), less
# 4.5 points for a network (round-off across CPUs grows over short training) and 2 for a classical model.
# Reached on x86_64-avx512_bf16: hog-svm 0.975, random-forest 0.84, knn 0.925, mlp 0.845, lenet5 0.765,
# cnn 0.865, cnn-aug 0.925, ensemble 0.86 (the CNNs need batch norm's exact statistics for these; with
# lagging moving averages a few hundred steps leave them far lower).
FLOORS = {
    "hog-svm": 0.955,
    "random-forest": 0.82,
    "knn": 0.905,
    "mlp": 0.80,
    "lenet5": 0.72,
    "cnn": 0.82,
    "cnn-aug": 0.88,
    "ensemble": 0.815,
}


def test_learns_what_it_learned_before(fitted, sample_splits):
    name, est = fitted
    assert est.score(sample_splits.x_test, sample_splits.y_test) > FLOORS[name], name


def test_accepts_flat_784_pixel_rows(fitted, sample_splits):
    name, est = fitted
    x = sample_splits.x_test[:5]
    assert np.allclose(est.predict_proba(x.reshape(5, 784)), est.predict_proba(x))


def test_clone_gives_unfitted_copy_with_same_params(fitted):
    name, est = fitted
    c = clone(est)
    assert c.get_params() == est.get_params()
    assert not hasattr(c, "classes_")


def test_save_load_round_trip_identical_predictions(fitted, sample_splits, tmp_path):
    name, est = fitted
    path = est.save(tmp_path / f"{name}{est.file_suffix}")
    loaded = type(est).load(path)
    assert np.array_equal(loaded.predict(sample_splits.x_test), est.predict(sample_splits.x_test))
    assert np.allclose(loaded.predict_proba(sample_splits.x_test), est.predict_proba(sample_splits.x_test))


def test_rejects_wrong_image_shape(fitted):
    name, est = fitted
    with pytest.raises(ValueError, match="28, 28"):
        est.predict(np.zeros((3, 32, 32)))


def test_primary_cnn_has_exactly_330346_parameters():
    assert build_cnn().count_params() == 330_346


def test_lenet5_has_classic_parameter_count():
    assert build_lenet5().count_params() == 61_706


def test_keras_architecture_options_reach_the_builder(sample_splits, tmp_path):
    s = sample_splits
    options = {"hidden": 64, "dropout": 0.3}
    est = KerasClassifier("mlp", epochs=1, batch_size=64, architecture_options=options).fit(
        s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)
    )
    assert est.n_params() == build_mlp(hidden=64).count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert est.architecture_options is options and options == {"hidden": 64, "dropout": 0.3}  # kept as given
    loaded = KerasClassifier.load(est.save(tmp_path / "mlp.keras"))
    assert loaded.architecture_options == options and loaded.n_params() == 55_050
    with pytest.raises(ValueError, match="architecture 'mlp' has no option 'filters'; its options are hidden, dropout"):
        KerasClassifier("mlp", architecture_options={"filters": 8}).fit(s.x_train, s.y_train)


def test_ensemble_averages_member_probabilities(sample_splits):
    s = sample_splits
    est = KerasClassifier("mlp", n_members=2, epochs=1, batch_size=64).fit(
        s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)
    )
    assert len(est.history_) == 2
    x = s.x_test[:20, ..., None].astype(np.float32)
    members = [layer for layer in est.model_.layers if hasattr(layer, "layers")]
    mean = np.mean([m(x, training=False).numpy() for m in members], axis=0)
    assert len(members) == 2 and np.allclose(est.predict_proba(s.x_test[:20]), mean, atol=1e-6)


def test_ensemble_member_files_hold_the_members_it_uses(sample_splits, tmp_path):
    import keras

    s = sample_splits
    ckpt = tmp_path / "ens.keras"
    est = KerasClassifier(
        "mlp",
        n_members=2,
        epochs=2,
        batch_size=64,
        schedule="one-cycle",
        precision="mixed_bfloat16",
        checkpoint_path=str(ckpt),
        random_state=1,
    ).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    x = s.x_test[:20, ..., None].astype(np.float32)
    members = [layer for layer in est.model_.layers if hasattr(layer, "layers")]
    for i, member in enumerate(members):
        saved = keras.saving.load_model(tmp_path / f"ens.member{i}.keras", safe_mode=True)
        assert saved.dtype_policy.name == "float32"
        assert np.array_equal(saved(x, training=False).numpy(), member(x, training=False).numpy())


def test_ensemble_members_of_different_seeds_differ(sample_splits):
    """random_state 1's members (seeds 1, 1001) share none with random_state 0's (0, 1000): member seed rs + 1000 i."""
    s = sample_splits
    x = s.x_test[:20, ..., None].astype(np.float32)

    def members(rs, n):
        est = KerasClassifier("mlp", n_members=n, epochs=1, batch_size=64, random_state=rs).fit(
            s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)
        )
        return (
            [m(x, training=False).numpy() for m in est.model_.layers if hasattr(m, "layers")]
            if n > 1
            else [est.model_(x, training=False).numpy()]
        )

    ens0, ens1 = members(0, 2), members(1, 2)
    assert np.array_equal(ens1[0], members(1, 1)[0])  # member 0 of random_state 1 is the single network of seed 1
    assert np.array_equal(ens1[1], members(1001, 1)[0])
    assert not any(np.array_equal(a, b) for a in ens0 for b in ens1)


def test_keras_history_records_learning_rate_and_best_epoch(sample_splits, tmp_path):
    s = sample_splits
    ckpt = tmp_path / "lenet5.keras"
    est = KerasClassifier("lenet5", epochs=2, batch_size=64, checkpoint_path=str(ckpt)).fit(
        s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)
    )
    h = est.history_[0]
    assert len(h["loss"]) == 2 and len(h["learning_rate"]) == 2 and h["best_epoch"] in (1, 2)
    assert ckpt.is_file()  # the best epoch was checkpointed during training


def test_same_seed_same_predictions(sample_splits):
    s = sample_splits
    runs = [
        KerasClassifier("lenet5", epochs=1, batch_size=64, random_state=3)
        .fit(s.x_train, s.y_train)
        .predict_proba(s.x_test)
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])


def test_works_in_pipeline_and_grid_search(sample_splits):
    s = sample_splits
    pipe = Pipeline([("knn", KNN(deskew=False))])
    search = GridSearchCV(pipe, {"knn__n_neighbors": [1, 3]}, cv=2).fit(s.x_train, s.y_train)
    assert search.best_params_["knn__n_neighbors"] in (1, 3)
    assert 0.5 < search.score(s.x_test, s.y_test) <= 1.0


def test_hog_svm_fits_on_a_hundred_images_and_inside_a_search(sample_splits):
    """A learning curve's first point and a search on a few hundred images: PCA to 100 dimensions gets
    fewer than 100 images, and the calibration gets one validation image per digit (no 5-fold split)."""
    from bench.registry import MODELS

    s = sample_splits
    x, y = stratified_subset(s.x_train, s.y_train, 100, 0)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=10, stratify=y, random_state=0)
    est = MODELS["hog-svm"].build("full", 0).fit(x_train, y_train, validation_data=(x_val, y_val))
    assert est.score(s.x_test, s.y_test) > 0.6
    search = GridSearchCV(MODELS["hog-svm"].build("full", 0), {"C": [1.0, 10.0]}, cv=2).fit(
        s.x_train[:300], s.y_train[:300]
    )
    assert search.best_score_ > 0.8


@pytest.mark.parametrize(
    "orientations, pixels_per_cell, cells_per_block", [(9, 4, 2), (9, 7, 2), (12, 4, 3), (8, 2, 2)]
)
def test_batched_hog_equals_scikit_image_hog(sample_splits, orientations, pixels_per_cell, cells_per_block):
    """hog_descriptors does for a batch what skimage.feature.hog does per image (the features the
    saved hog-svm models were trained on); includes blank and saturated images (zero gradients)."""
    from skimage.feature import hog

    from bench.estimators.features import Deskew, hog_descriptors

    images = np.concatenate(
        [
            Deskew().transform(sample_splits.x_test[:200]),
            np.zeros((1, 28, 28), np.float32),
            np.full((1, 28, 28), 255, np.float32),
        ]
    )
    cell, block = (pixels_per_cell,) * 2, (cells_per_block,) * 2
    expected = np.stack(
        [
            hog(img, orientations=orientations, pixels_per_cell=cell, cells_per_block=block, block_norm="L2-Hys")
            for img in images
        ]
    )
    got = hog_descriptors(images, orientations, pixels_per_cell, cells_per_block)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_hog_svm_predicts_a_batch_on_threads_as_on_one(sample_splits):
    s = sample_splits
    est = MODELS["hog-svm"].build("ci", 0).fit(s.x_train[:600], s.y_train[:600], validation_data=(s.x_val, s.y_val))
    est.min_images_per_thread = 100  # the sample's test set splits into several slices
    threaded = est.set_params(n_jobs=4).predict_proba(s.x_test)
    one = est.set_params(n_jobs=1).predict_proba(s.x_test)
    np.testing.assert_allclose(threaded, one, atol=1e-6)  # BLAS rounds a PCA projection by batch size
    np.testing.assert_array_equal(threaded.argmax(1), one.argmax(1))


def test_keras_model_carves_validation_when_none_given(sample_splits):
    s = sample_splits
    est = KerasClassifier("mlp", epochs=1, validation_fraction=0.2).fit(s.x_train, s.y_train)
    assert est.n_train_ == int(len(s.y_train) * 0.8)


def test_classical_model_learns_from_validation_rows_too(sample_splits):
    s = sample_splits
    est = KNN().fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    assert est.n_train_ == len(s.y_train) + len(s.y_val)


def test_skops_load_refuses_untrusted_types(tmp_path):
    import skops.io as sio

    from bench.estimators import DigitClassifier

    path = tmp_path / "evil.skops"
    sio.dump({"x": np.arange(3)}, path)  # loadable, but not a model: refused by class check
    with pytest.raises(ValueError, match="not a DigitClassifier"):
        DigitClassifier.load(path)


def test_model_names_parse():
    assert parse_model_names("all") == list(MODELS)
    assert parse_model_names("hog-svm, cnn") == ["hog-svm", "cnn"]
    with pytest.raises(ValueError, match="unknown model"):
        parse_model_names("hog-svm,resnet")


def test_one_cycle_bfloat16_training_gives_a_float32_model(sample_splits):
    s = sample_splits
    est = KerasClassifier(
        "lenet5", epochs=3, batch_size=32, schedule="one-cycle", precision="mixed_bfloat16", learning_rate=3e-3
    ).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    lr = est.history_[0]["learning_rate"]
    # warm-up over the first 30% of steps (ends inside epoch 1), then cosine decay to zero at the last step
    assert len(lr) == 3 and lr[0] > lr[1] > lr[2] and lr[2] < 1e-6 and max(lr) <= 3e-3
    assert est.history_[0]["kept_epoch"] == 3  # one-cycle keeps the epoch it anneals to
    assert est.model_.dtype_policy.name == "float32" and est.model_.count_params() == 61_706
    assert est.score(s.x_test, s.y_test) > 0.5


def test_batch_norm_statistics_are_those_of_the_training_images(sample_splits):
    """The kept network normalises with its training images' exact statistics, not a lagging moving average."""
    import keras

    s = sample_splits
    est = KerasClassifier("cnn", epochs=1, batch_size=64).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    layers = batch_norm_layers(est.model_)
    assert len(layers) == 2
    for layer in layers:  # in order, as the estimator set them
        a = keras.Model(est.model_.inputs, layer.input).predict(s.x_train[..., None], verbose=0).astype(np.float64)
        assert np.allclose(layer.moving_mean.numpy(), a.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)
        assert np.allclose(layer.moving_variance.numpy(), a.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-6)


def test_validation_during_training_judges_the_network_as_it_predicts(sample_splits):
    # one-cycle keeps its last epoch; with under 1,000 training images each epoch's statistics are the kept ones
    s = sample_splits
    est = KerasClassifier("cnn", epochs=2, batch_size=64, schedule="one-cycle").fit(
        s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)
    )
    assert est.history_[0]["val_accuracy"][-1] == pytest.approx(est.score(s.x_val, s.y_val), abs=1e-6)


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["avx2", "fma"], "float32"),
        (["avx512f", "avx512_bf16"], "mixed_bfloat16"),
        (["amx_bf16"], "mixed_bfloat16"),
        ([], "float32"),
    ],
)
def test_auto_precision_uses_bfloat16_only_where_the_cpu_has_it(monkeypatch, flags, expected):
    import bench.environment

    monkeypatch.setattr(bench.environment, "cpu_simd_flags", lambda: flags)
    assert resolve_precision("auto") == expected
    assert resolve_precision("float32") == "float32"
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        resolve_precision("half")


@pytest.mark.parametrize(
    "est, bad",
    [
        (KerasClassifier("mlp"), {"schedule": "cyclic"}),
        (KerasClassifier("mlp"), {"inference": "onnx"}),
        (KerasClassifier("mlp"), {"epochs": 0}),
        (KerasClassifier("mlp"), {"architecture": "resnet"}),
        (KerasClassifier("mlp"), {"label_smoothing": 1.5}),
        (KNN(), {"n_neighbors": 0}),
        (KNN(), {"weights": "far"}),
        (HogSVM(), {"C": -1.0}),
        (HogSVM(), {"calibration": "platt"}),
        (RandomForest(), {"n_estimators": 0}),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else type(v).__name__,
)
def test_a_bad_parameter_is_refused_before_any_data_is_looked_at(est, bad):
    """scikit-learn's own parameter validation runs first: the images given here (None) are never checked."""
    name, value = next(iter(bad.items()))
    with pytest.raises(ValueError, match=f"The '{name}' parameter of {type(est).__name__} must be .*Got {value!r}"):
        est.set_params(**bad).fit(None, None)


def test_tflite_inference_predicts_as_keras(sample_splits, tmp_path):
    s = sample_splits
    est = KerasClassifier("cnn", epochs=1, batch_size=32, inference="tflite", n_jobs=1).fit(
        s.x_train, s.y_train, validation_data=(s.x_val, s.y_val)
    )
    check = est.inference_check(s.x_test)
    assert check == {**check, "inference": "tflite", "same_predictions_as_keras": 1.0}
    assert check["max_abs_proba_difference"] < 1e-4
    assert check["interpreter"] == "ai-edge-litert"  # LiteRT, a dependency, not the deprecated tf.lite.Interpreter
    batch = est.predict_proba(s.x_test[:50])
    singles = np.concatenate([est.predict_proba(s.x_test[i : i + 1]) for i in range(50)])
    assert np.allclose(singles, batch, atol=1e-5)
    # the interpreter is rebuilt after clone, pickling and save/load, not carried over
    loaded = KerasClassifier.load(est.save(tmp_path / "cnn.keras"))
    assert np.array_equal(loaded.predict(s.x_test), est.predict(s.x_test))


def test_model_trained_on_some_digits_still_answers_in_digits(sample_splits):
    """A scikit-learn model that saw only 3s and 5s has two inner columns; predictions must still be digits."""
    s = sample_splits
    keep = np.isin(s.y_train, [3, 5])
    est = KNN(deskew=False).fit(s.x_train[keep], s.y_train[keep])
    proba = est.predict_proba(s.x_test)
    assert proba.shape == (len(s.x_test), 10) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(est.predict(s.x_test)) <= {3, 5}
    assert set(est.predict(s.x_test[np.isin(s.y_test, [3, 5])])) == {3, 5}


def test_onnx_runtime_predicts_as_the_model(fitted, sample_splits):
    """Every model runs in ONNX Runtime with the same predictions. kNN only with uniform weights: the converter
    ignores distance weighting, so the registry's distance-weighted knn refuses rather than mislead."""
    name, est = fitted
    x = sample_splits.x_test
    if name == "knn":
        with pytest.raises(NotImplementedError, match="uniform-vote probabilities"):
            est.onnx_export()
        est = clone(est).set_params(weights="uniform").fit(sample_splits.x_train, sample_splits.y_train)
    native = est.predict_proba(x)
    onnx = est.onnx_predictor(threads=1)(x)
    assert onnx.shape == (len(x), 10)
    np.testing.assert_allclose(onnx.sum(axis=1), 1.0, atol=1e-5)
    agreement = np.mean(onnx.argmax(1) == native.argmax(1))
    assert agreement >= (0.99 if name == "knn" else 0.999), name
    if name == "knn":
        # votes of k neighbours: a tie in distance broken the other way moves one vote (1/k) between two digits,
        # on at most 1% of the images; otherwise the same probabilities
        changed = np.abs(onnx - native).max(axis=1)
        assert changed.max() <= 1 / est.n_neighbors + 1e-6 and np.mean(changed > 1e-6) <= 0.01
    else:
        assert np.abs(onnx - native).max() < 1e-3, name


def test_shifted_copies_move_every_image_one_pixel_each_way():
    from bench.estimators.features import shifted_copies

    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, 10, 12] = 1.0
    copies = shifted_copies(image, 1)
    lit = {tuple(int(i) for i in np.argwhere(c)[0]) for c in copies}
    assert copies.shape == (4, 28, 28) and all(c.sum() == 1 for c in copies)
    assert lit == {(9, 12), (11, 12), (10, 11), (10, 13)}


def test_knn_with_shifted_copies_searches_five_times_the_references(sample_splits):
    s = sample_splits
    est = KNN(n_neighbors=3, n_components=20, shift_copies=1, algorithm="kd_tree", n_jobs=1)
    est.fit(s.x_train[:300], s.y_train[:300])
    search = est.pipeline_[-1]
    assert search.n_samples_fit_ == 1500 and search._fit_method == "kd_tree"
    assert (est.predict(s.x_train[:50]) == s.y_train[:50]).mean() > 0.9


def test_knn_searches_a_batch_by_brute_force_with_the_trees_answers(sample_splits):
    s = sample_splits
    est = KNN(n_neighbors=3, n_components=20, shift_copies=1, algorithm="kd_tree", n_jobs=1)
    est.fit(s.x_train, s.y_train)
    batch = est.predict_proba(s.x_test[: 2 * est.BRUTE_FROM])  # brute force
    one_by_one = np.concatenate([est.predict_proba(s.x_test[i : i + 1]) for i in range(2 * est.BRUTE_FROM)])
    assert est.pipeline_[-1]._fit_method == "kd_tree"  # the tree is still what single images use
    np.testing.assert_allclose(batch, one_by_one, atol=1e-6)
