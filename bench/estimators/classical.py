"""Classical baselines: HOG + RBF SVM, random forest on pixels, k-nearest neighbours.

Their feature steps (deskew, blur, HOG, pixels, shifted copies) are sklearn transformers in
bench.estimators.features, so that a fitted model saves with skops and loads without unpickling
arbitrary code; their smaller variants are made in bench.estimators.classical_variants.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import PredefinedSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.svm import SVC
from sklearn.utils._param_validation import Interval, StrOptions

from .base import SEEDS, THREADS, DigitClassifier, counts, fractions, positive
from .features import Blur, Deskew, Flatten, HogFeatures, shifted_copies


class HogSVM(DigitClassifier):
    """Deskew -> HOG (+ weighted pixels) -> (PCA) -> RBF SVM, probabilities calibrated on held-out data.

    pixel_weight: when > 0, the deskewed pixels (0-1) times this weight are appended to the HOG
    features. HOG keeps stroke directions but blurs where exactly a stroke lies; the pixels keep
    that. At 0.5 both parts carry about the same energy (36 unit-norm HOG blocks; about 150 lit
    pixels): on the validation split 99.35% against 99.13% for HOG alone.
    The features are not standardised: HOG blocks are already normalised, and scaling every
    dimension to unit variance amplifies the nearly empty border cells (98.29% against 98.71%
    unscaled, 20,000 training images).
    n_components: PCA dimensions of the features (None: all of them); fewer make both fitting
    and every prediction cheaper.

    SVC(probability=True) runs a 5-fold internal cross-validation (about 5x the training
    time, and deprecated in scikit-learn 1.9); instead the SVM is fit once and its decision
    values calibrated on the validation split (`calibration`: 'temperature' or 'sigmoid').
    n_jobs: threads that predict a large batch in slices (libsvm releases the GIL); -1 all cores.
    """

    uses_validation = True
    n_jobs = -1  # models saved before n_jobs existed load without it (skops restores __dict__ only)
    _parameter_constraints = {
        "orientations": counts(1),
        "pixels_per_cell": counts(1),
        "cells_per_block": counts(1),
        "deskew": ["boolean"],
        "pixel_weight": [Interval(Real, 0, None, closed="left")],
        "n_components": [None, *counts(1)],
        "C": positive(),
        "gamma": [StrOptions({"scale", "auto"}), *positive()],
        "calibration": [StrOptions({"sigmoid", "temperature", "isotonic"})],
        "validation_fraction": fractions(),
        "random_state": SEEDS,
        "n_jobs": THREADS,
    }
    # below this many images per thread, a slice costs more in thread start-up than it saves
    min_images_per_thread = 500

    def __init__(
        self,
        orientations=9,
        pixels_per_cell=4,
        cells_per_block=2,
        deskew=True,
        pixel_weight=0.0,
        n_components=None,
        C=10.0,
        gamma="scale",
        calibration="sigmoid",
        validation_fraction=0.1,
        random_state=0,
        n_jobs=-1,
    ):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.deskew = deskew
        self.pixel_weight = pixel_weight
        self.n_components = n_components
        self.C = C
        self.gamma = gamma
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit(self, X, y, X_val, y_val):
        hog_features = HogFeatures(self.orientations, self.pixels_per_cell, self.cells_per_block)
        if self.pixel_weight:
            descriptor = FeatureUnion(
                [("hog", hog_features), ("pixels", Flatten())], transformer_weights={"pixels": self.pixel_weight}
            )
        else:
            descriptor = hog_features
        # fewer training images than components (a learning curve's first point): as many as there are images
        n_components = min(self.n_components, len(X)) if self.n_components else None
        projection = [PCA(n_components, random_state=self.random_state)] if n_components else []
        features = make_pipeline(Deskew(self.deskew), descriptor, *projection)
        F = features.fit_transform(X)
        svm = SVC(C=self.C, gamma=self.gamma, cache_size=2000, random_state=self.random_state).fit(F, y)
        # The frozen SVM predicts the same whatever the folds, so one "fold" holding every validation
        # image is enough: the default 5-fold split needs 5 images of each digit, which a small
        # validation split (a learning curve's first point, a search on a few hundred images) lacks.
        all_validation = PredefinedSplit(np.zeros(len(y_val), dtype=int))
        calibrated = CalibratedClassifierCV(FrozenEstimator(svm), method=self.calibration, cv=all_validation)
        calibrated.fit(features.transform(X_val), y_val)
        self.features_ = features
        self.svm_ = calibrated
        self.n_support_vectors_ = int(svm.n_support_.sum())

    def _predict_proba(self, X):
        threads = min(effective_n_jobs(self.n_jobs), len(X) // self.min_images_per_thread)
        if threads <= 1:
            return self._predict_proba_slice(X)
        slices = np.array_split(X, threads)
        return np.concatenate(
            Parallel(n_jobs=threads, prefer="threads")(delayed(self._predict_proba_slice)(part) for part in slices)
        )

    def _predict_proba_slice(self, X):
        return self.svm_.predict_proba(self.features_.transform(X))

    def onnx_export(self):
        """Deskew and HOG (+ pixels) in numpy; PCA and the SVM's decision values in ONNX; the calibration
        (temperature or per-class sigmoid, as CalibratedClassifierCV applies it) in numpy."""
        from sklearn.pipeline import make_pipeline as pipeline

        from .onnx import OnnxExport, sklearn_graph

        calibrated = self.svm_.calibrated_classifiers_[0]
        svm = calibrated.estimator.estimator  # inside the FrozenEstimator, which skl2onnx does not know
        steps = self.features_.steps
        has_pca = isinstance(steps[-1][1], PCA)
        front = self.features_[:-1] if has_pca else self.features_
        graph = pipeline(steps[-1][1], svm) if has_pca else svm
        n_features = steps[-1][1].n_features_in_ if has_pca else svm.n_features_in_
        method, calibrators = calibrated.method, calibrated.calibrators
        if method not in ("temperature", "sigmoid") or len(svm.classes_) < 3:
            raise NotImplementedError(f"no ONNX export for {method} calibration over {len(svm.classes_)} classes")

        def calibrate(outputs):
            scores = np.asarray(outputs[1], dtype=np.float64)  # one-vs-rest decision values
            if method == "temperature":
                return calibrators[0].predict(scores)
            proba = np.column_stack([c.predict(s) for c, s in zip(calibrators, scores.T)])
            total = proba.sum(axis=1, keepdims=True)
            return np.divide(proba, total, out=np.full_like(proba, 1 / proba.shape[1]), where=total != 0)

        return OnnxExport(
            sklearn_graph(graph, n_features, raw_scores=True),
            front.transform,
            calibrate,
            f"deskew, HOG and pixels in numpy; PCA and the SVM in ONNX; {method} calibration in numpy",
        )

    def variants(self, data, kinds, threads=None):
        """The same settings retrained on stratified subsets of the training split (fewer support vectors)."""
        from .classical_variants import hog_svm_variants

        return hog_svm_variants(self, data, kinds)


class RandomForest(DigitClassifier):
    """Random forest on pixels (scaled 0-1), optionally deskewed first (`deskew`)."""

    _parameter_constraints = {
        "n_estimators": counts(1),
        "max_features": [StrOptions({"sqrt", "log2"}), *counts(1), Interval(Real, 0, 1, closed="right"), None],
        "deskew": ["boolean"],
        "n_jobs": THREADS,
        "random_state": SEEDS,
    }

    def __init__(self, n_estimators=100, max_features="sqrt", deskew=False, n_jobs=-1, random_state=0):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.deskew = deskew
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _fit(self, X, y, X_val, y_val):
        straighten = [Deskew()] if self.deskew else []
        self.pipeline_ = make_pipeline(
            *straighten,
            Flatten(),
            RandomForestClassifier(
                n_estimators=self.n_estimators,
                max_features=self.max_features,
                n_jobs=self.n_jobs,
                random_state=self.random_state,
            ),
        ).fit(X, y)

    def _predict_proba(self, X):
        return self.pipeline_.predict_proba(X)

    def onnx_export(self):
        """Pixels scaled in numpy; the forest in ONNX (TreeEnsembleClassifier)."""
        from .onnx import OnnxExport, sklearn_graph

        forest = self.pipeline_[-1]
        # Votes tie exactly in scikit-learn's float64 mean (argmax: the lowest digit); ONNX Runtime sums trees
        # in float32 in a thread-dependent order, so tied votes come out 1e-8 apart. Rounded to 1e-6 they tie
        # again and the lowest digit wins as natively.
        return OnnxExport(
            sklearn_graph(forest, forest.n_features_in_),
            self.pipeline_[:-1].transform,
            lambda outputs: np.round(outputs[1], 6),
            f"{'deskew and ' if self.deskew else ''}pixels scaled in numpy; the forest in ONNX",
        )

    def variants(self, data, kinds, threads=None):
        """The forest's first n trees (no retraining: each tree was grown independently)."""
        from .classical_variants import random_forest_variants

        return random_forest_variants(self, data, kinds)


class KNN(DigitClassifier):
    """k-nearest neighbours on (optionally deskewed, optionally blurred) pixels, optionally projected by PCA.

    blur: the sigma in pixels of a Gaussian smoothing after deskewing (0: none); it lets a stroke one
    pixel off still overlap its neighbour's. n_components: PCA dimensions before the neighbour search
    (None: all 784 pixels). The projection drops pixel noise and makes each query ~15x cheaper.
    shift_copies: the neighbour search also holds four copies of every training image moved this many
    pixels up, down, left and right (after deskew and blur; 0: none), so a test digit written a pixel off
    still finds its neighbours; it multiplies the references, and each query's cost, by five.
    PCA is fitted on the unshifted images. algorithm: scikit-learn's neighbour search ("kd_tree" is exact and,
    on 30 PCA dimensions, faster per query than brute force over 270,000 references).
    """

    _parameter_constraints = {
        "n_neighbors": counts(1),
        "weights": [StrOptions({"uniform", "distance"})],
        "deskew": ["boolean"],
        "blur": [Interval(Real, 0, None, closed="left")],
        "n_components": [None, *counts(1)],
        "shift_copies": [Interval(Integral, 0, 4, closed="both")],
        "algorithm": [StrOptions({"auto", "brute", "kd_tree", "ball_tree"})],
        "n_jobs": THREADS,
    }

    def __init__(
        self,
        n_neighbors=3,
        weights="distance",
        deskew=True,
        blur=0.0,
        n_components=None,
        shift_copies=0,
        algorithm="auto",
        n_jobs=-1,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.deskew = deskew
        self.blur = blur
        self.n_components = n_components
        self.shift_copies = shift_copies
        self.algorithm = algorithm
        self.n_jobs = n_jobs

    def _fit(self, X, y, X_val, y_val):
        smoothing = [Blur(self.blur)] if self.blur else []
        projection = [PCA(self.n_components, random_state=0)] if self.n_components else []
        pixels = make_pipeline(Deskew(self.deskew), *smoothing)  # images -> images
        to_features = make_pipeline(Flatten(), *projection)  # images -> what the search compares
        images = pixels.fit_transform(X)
        references, labels = to_features.fit_transform(images), np.asarray(y)
        if self.shift_copies:
            copies = to_features.transform(shifted_copies(images, self.shift_copies))
            references, labels = np.concatenate([references, copies]), np.tile(labels, 5)
        search = KNeighborsClassifier(
            n_neighbors=self.n_neighbors, weights=self.weights, algorithm=self.algorithm, n_jobs=self.n_jobs
        ).fit(references, labels)
        self.pipeline_ = Pipeline([*pixels.steps, *to_features.steps, ("kneighborsclassifier", search)])

    # A saved KNN holds its references and labels, not scikit-learn's search index: a KDTree is rebuilt from
    # arrays it indexes without bounds checks, so one from a file is never trusted; refitting it on load
    # builds the same tree (about a second for 270,000 references).
    def __getstate__(self):
        state = super().__getstate__()
        if "pipeline_" in state:
            *front, (name, search) = state["pipeline_"].steps
            state = {
                **state,
                "pipeline_": Pipeline([*front, (name, KNeighborsClassifier(**search.get_params()))]),
                "references_": search._fit_X,
                "reference_labels_": search.classes_[search._y],
            }
        return state

    def __setstate__(self, state):
        references, labels = state.pop("references_", None), state.pop("reference_labels_", None)
        super().__setstate__(state)
        if references is not None:
            self.pipeline_.steps[-1][1].fit(references, labels)

    # From this many images on, the neighbours are found by brute force (the same exact search, as matrix
    # products): a kd-tree answers one query faster (3.1 against 6.3 ms over 270,000 references), but a batch
    # 3-4x slower, and 7x slower on images unlike any reference (inverted, noisy), where it visits most leaves.
    BRUTE_FROM = 64

    def _predict_proba(self, X):
        search = self.pipeline_[-1]
        if len(X) < self.BRUTE_FROM or search._fit_method == "brute":
            return self.pipeline_.predict_proba(X)
        features = self.pipeline_[:-1].transform(X)
        method, search._fit_method = search._fit_method, "brute"
        try:
            return search.predict_proba(features)
        finally:
            search._fit_method = method

    def onnx_export(self):
        """Deskew and pixel scaling in numpy; PCA and the neighbour search in ONNX. The search is brute
        force over every training image (ONNX has no index), so it is slow per image; float32
        distances can also order near-equal neighbours differently from scikit-learn's float64."""
        from .onnx import OnnxExport, sklearn_graph

        if self.weights != "uniform":
            # measured: the graph's probabilities are plain thirds (uniform votes) where scikit-learn weighs
            # by distance; 98.3% same predictions on the sample. A different model must not be reported as this one.
            raise NotImplementedError(
                "skl2onnx's kNN graph returns uniform-vote probabilities, not "
                f"weights={self.weights!r} ones; only weights='uniform' is exported"
            )

        first = [type(step) for _, step in self.pipeline_.steps].index(Flatten) + 1
        front, search = self.pipeline_[:first], self.pipeline_[first:]
        return OnnxExport(
            sklearn_graph(search, search.n_features_in_),
            front.transform,
            lambda outputs: outputs[1],
            "deskew, blur and pixels in numpy; PCA and a brute-force neighbour search in ONNX",
        )

    def variants(self, data, kinds, threads=None):
        """Fewer reference images (a stratified subset of the stored ones) or fewer PCA dimensions (the
        leading components of the fitted PCA are exactly a smaller PCA's); the neighbour index is rebuilt."""
        from .classical_variants import knn_variants

        return knn_variants(self, data, kinds)
