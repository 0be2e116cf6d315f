"""Smaller variants of the classical models (`estimators.variants`): each is what its note says."""

import numpy as np
import pytest

from bench.data import stratified_subset
from bench.estimators import KNN, HogSVM, RandomForest
from bench.estimators.variants import KINDS, VariantData


@pytest.fixture(scope="module")
def data(sample_splits):
    s = sample_splits
    return VariantData(s.x_train, s.y_train, s.x_val, s.y_val, seed=0)


def _variants(est, data, kinds=KINDS):
    return {v.name: v for v in est.variants(data, kinds)}


def test_a_forest_variant_is_exactly_its_first_trees(sample_splits, data):
    s = sample_splits
    est = RandomForest(n_estimators=40, n_jobs=1).fit(s.x_train, s.y_train)
    variants = _variants(est, data)
    assert list(variants) == ["trees-10", "trees-30"]
    pixels = est.pipeline_[:-1].transform(s.x_test)
    first_ten = np.mean([t.predict_proba(pixels) for t in est.pipeline_[-1].estimators_[:10]], axis=0)
    np.testing.assert_allclose(variants["trees-10"].predict_proba(s.x_test), first_ten)
    assert len(est.pipeline_[-1].estimators_) == 40  # the original keeps every tree
    assert 0 < variants["trees-10"].size_bytes < variants["trees-30"].size_bytes
    assert _variants(est, data, ("quantised", "pruned")) == {}  # only the kinds asked for


def test_knn_variants_keep_fewer_references_or_the_leading_pca_dimensions(sample_splits, data):
    s = sample_splits
    est = KNN(n_neighbors=3, n_components=40, n_jobs=1).fit(s.x_train, s.y_train)
    variants = _variants(est, data)
    assert list(variants) == ["references-54", "references-162", "pca-15", "pca-20"]
    small = variants["references-54"].predict_proba.__self__
    assert len(small.pipeline_[-1]._fit_X) == 54 and len(np.unique(small.pipeline_[-1]._y)) == 10
    pca20 = variants["pca-20"].predict_proba.__self__
    full = est.pipeline_[:-1].transform(s.x_test)
    # float32 projections through differently blocked BLAS kernels: 1.7e-6 apart on AVX512 for values near 0.3
    np.testing.assert_allclose(pca20.pipeline_[:-1].transform(s.x_test), full[:, :20], rtol=1e-5, atol=1e-5)
    assert est.pipeline_[-2].n_components_ == 40  # the original PCA is untouched
    assert np.mean(variants["pca-15"].predict_proba(s.x_test).argmax(1) == s.y_test) > 0.7


def test_a_variant_file_loads_back_as_the_model_measured(sample_splits, data, tmp_path):
    s = sample_splits
    est = KNN(n_neighbors=3, n_components=40, n_jobs=1).fit(s.x_train, s.y_train)
    variant = _variants(est, data)["pca-20"]
    path = tmp_path / f"pca-20{variant.suffix}"
    path.write_bytes(variant.content)  # what optimise --save writes
    assert variant.suffix == ".skops" and len(variant.content) == variant.size_bytes
    loaded, measured = KNN.load(path).predict_proba(s.x_test), variant.predict_proba(s.x_test)
    np.testing.assert_allclose(loaded, measured, atol=1e-6)  # distances summed in another order: 1e-7 apart
    np.testing.assert_array_equal(loaded.argmax(1), measured.argmax(1))


def test_an_svm_retrained_on_a_subset_keeps_fewer_support_vectors(sample_splits, data):
    s = sample_splits
    est = HogSVM(n_components=30, n_jobs=1).fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val))
    variants = _variants(est, data, ("smaller",))
    assert list(variants) == ["subset-54", "subset-162"]
    small = variants["subset-54"]
    assert small.extra["n_support_vectors"] < variants["subset-162"].extra["n_support_vectors"] < est.n_support_vectors_
    assert small.predict_proba(s.x_test).shape == (len(s.x_test), 10)


def test_the_subsets_variants_use_keep_class_shares_and_a_fixed_order():
    y = np.repeat(np.arange(10), [50, 150, 100, 100, 100, 100, 100, 100, 100, 100])
    stratified_indices = lambda y, n, seed: stratified_subset(np.arange(len(y)), y, n, seed)[0]  # noqa: E731
    chosen = stratified_indices(y, 100, seed=0)
    assert len(chosen) == 100 and np.all(np.diff(chosen) > 0)
    assert np.bincount(y[chosen]).tolist() == [5, 15, 10, 10, 10, 10, 10, 10, 10, 10]
    np.testing.assert_array_equal(chosen, stratified_indices(y, 100, seed=0))
    assert len(stratified_indices(y, 5000, seed=0)) == len(y)
