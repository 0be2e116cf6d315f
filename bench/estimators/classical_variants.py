"""The classical models' smaller variants (`benchmark.py optimise`, kind "smaller"; see .variants for the
contract): an SVM retrained on fewer images, a forest's first trees, a kNN with fewer references or fewer
PCA dimensions. Each model's `variants` hands over to the function here."""

from __future__ import annotations

import copy

from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from .variants import sklearn_variant

# An SVM's prediction cost is its support vectors: training on fewer images keeps fewer.
SUBSET_FRACTIONS = (0.1, 0.3)
TREE_COUNTS = (10, 30)
# A kNN query costs (reference images) x (dimensions): both can shrink without retraining anything.
REFERENCE_FRACTIONS = (0.1, 0.3)
COMPONENTS = (15, 20)


def hog_svm_variants(model, data, kinds):
    """The same settings retrained on stratified subsets of the training split (fewer support vectors)."""
    from sklearn.base import clone

    from ..data import stratified_subset

    if "smaller" not in kinds:
        return
    for n in (round(f * len(data.y_train)) for f in SUBSET_FRACTIONS):
        if not data.wanted(f"subset-{n}"):
            continue
        x, y = stratified_subset(data.x_train, data.y_train, n, data.seed)
        small = clone(model).fit(x, y, validation_data=(data.x_val, data.y_val))
        yield sklearn_variant(
            f"subset-{n}",
            f"retrained on {n:,} of {len(data.y_train):,} training images: "
            f"{small.n_support_vectors_:,} support vectors (full: {model.n_support_vectors_:,})",
            small,
            {"n_support_vectors": small.n_support_vectors_},
        )


def random_forest_variants(model, data, kinds):
    """The forest's first n trees (no retraining: each tree was grown independently)."""
    forest = model.pipeline_[-1]
    if "smaller" not in kinds:
        return
    for n in (n for n in TREE_COUNTS if n < len(forest.estimators_) and data.wanted(f"trees-{n}")):
        few = copy.copy(forest)
        few.estimators_, few.n_estimators = forest.estimators_[:n], n
        small = copy.copy(model)
        small.pipeline_ = Pipeline(model.pipeline_.steps[:-1] + [(model.pipeline_.steps[-1][0], few)])
        small.n_estimators = n
        yield sklearn_variant(f"trees-{n}", f"the first {n} of {len(forest.estimators_)} trees, no retraining", small)


def knn_variants(model, data, kinds):
    """Fewer reference images (a stratified subset of the stored ones) or fewer PCA dimensions (the
    leading components of the fitted PCA are exactly a smaller PCA's); the neighbour index is rebuilt."""
    from ..data import stratified_subset

    if "smaller" not in kinds:
        return
    *front, search = model.pipeline_.steps
    references, labels = search[1]._fit_X, search[1].classes_[search[1]._y]
    for n in (n for n in (round(f * len(labels)) for f in REFERENCE_FRACTIONS) if data.wanted(f"references-{n}")):
        yield sklearn_variant(
            f"references-{n}",
            f"{n:,} of the {len(labels):,} reference images, stratified",
            _knn_with(model, front, *stratified_subset(references, labels, n, data.seed)),
        )
    pca = model.pipeline_[-2] if isinstance(model.pipeline_[-2], PCA) else None
    for k in (k for k in COMPONENTS if pca is not None and k < pca.n_components_ and data.wanted(f"pca-{k}")):
        fewer = copy.copy(pca)
        fewer.n_components = fewer.n_components_ = k
        for name in ("components_", "explained_variance_", "explained_variance_ratio_", "singular_values_"):
            setattr(fewer, name, getattr(pca, name)[:k])
        yield sklearn_variant(
            f"pca-{k}",
            f"the first {k} of {pca.n_components_} PCA dimensions, no refit",
            _knn_with(model, front[:-1] + [(front[-1][0], fewer)], references[:, :k], labels),
        )


def _knn_with(model, front_steps, references, labels):
    """A copy of the kNN `model` whose neighbour search holds `references` (already transformed) instead."""
    small = copy.copy(model)
    search = KNeighborsClassifier(**model.pipeline_[-1].get_params()).fit(references, labels)
    small.pipeline_ = Pipeline(list(front_steps) + [(model.pipeline_.steps[-1][0], search)])
    return small
