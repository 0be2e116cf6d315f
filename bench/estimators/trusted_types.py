"""What a saved classical model (.skops) may hold, and the check that refuses anything else before skops builds it.

A skops file is a zip whose schema.json describes every object as a node: a loader (how skops rebuilds it)
and a type, "module.name". Rebuilding a node imports that module and, for most loaders, calls the type;
ConstructorFromReduceNode and LossNode call whatever the file names with arguments from the file (exec,
eval, numpy.load, ...), OperatorFuncNode calls operator.<name> (operator.call calls anything), and
FunctionNode, PartialNode and MethodNode hand back functions or bound methods the file names. skops also
trusts some types by default (every scikit-learn estimator, numpy and scipy ufuncs as functions, builtin
types), so its `trusted=` list cannot make it refuse those. `read_skops_file` therefore reads the schema
itself and refuses any node whose loader, or whose type for that loader, is not in `SKOPS_NODES`, before
skops imports or calls anything; `TRUSTED_TYPES` is then what `skops.io.loads` is told to trust, so its own
audit checks the same list a second time.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

# Loader -> the exact types the project's classical models (registry MODELS: hog-svm, random-forest, knn, under
# every profile, the settings their search spaces try, and their `optimise` "smaller" variants) are saved with.
# tests/test_untrusted_models.py saves each of them, and fails when one holds a loader or type missing here
# or when an entry here is held by none of them.
SKOPS_NODES: dict[str, frozenset[str]] = {
    # numbers, strings, None: a JSON literal read with json.loads (skops names every one builtins.str)
    "JsonNode": frozenset({"builtins.str"}),
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    # the key types of a dict (its keys are strings)
    "TypeNode": frozenset({"builtins.str"}),
    # arrays read with np.load(allow_pickle=False), and numpy scalars made from one (PCA.noise_variance_,
    # SVC._gamma, a tree's n_classes_, the temperature's beta_)
    "NdArrayNode": frozenset({"numpy.ndarray", "numpy.float32", "numpy.float64", "numpy.int64"}),
    # objects made with cls.__new__ and given their saved attributes (or __setstate__)
    "ObjectNode": frozenset(
        {
            # the models and their feature steps
            "bench.estimators.classical.HogSVM",
            "bench.estimators.classical.RandomForest",
            "bench.estimators.classical.KNN",
            "bench.estimators.features.Deskew",
            "bench.estimators.features.Blur",
            "bench.estimators.features.HogFeatures",
            "bench.estimators.features.Flatten",
            # scikit-learn parts: pipelines, PCA, the SVM and its calibration, the forest, the neighbours
            "sklearn.pipeline.Pipeline",
            "sklearn.pipeline.FeatureUnion",
            "sklearn.decomposition._pca.PCA",
            "sklearn.svm._classes.SVC",
            "sklearn.frozen._frozen.FrozenEstimator",
            "sklearn.calibration.CalibratedClassifierCV",
            "sklearn.calibration._CalibratedClassifier",
            "sklearn.calibration._TemperatureScaling",  # calibration="temperature" (the registry's hog-svm)
            "sklearn.calibration._SigmoidCalibration",  # calibration="sigmoid" (HogSVM's default)
            "sklearn.model_selection._split.PredefinedSplit",
            "sklearn.ensemble._forest.RandomForestClassifier",
            "sklearn.tree._classes.DecisionTreeClassifier",
            "sklearn.neighbors._classification.KNeighborsClassifier",
        }
    ),
    # a fitted tree's node arrays, rebuilt as Tree(*args).__setstate__(state); `check_trees` checks their
    # indices once loaded (skops does not, and for that reason trusts no Tree by default)
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
}

# Every type above: what `skops.io.loads` is told to trust.
TRUSTED_TYPES: list[str] = sorted(set().union(*SKOPS_NODES.values()))

MAX_NAMED = 8  # refused types named in the one-line error; the rest are counted


def skops_protocol() -> int:
    """The skops format version this skops writes; files claiming another are refused (an older protocol
    makes skops rebuild nodes with its older loaders, which this check does not review)."""
    from skops.io._protocol import PROTOCOL

    return PROTOCOL


# Types an earlier layout of the package saved under another module: exact old name -> where it lives now. A file
# naming the old one is read as naming the new one (which must be in SKOPS_NODES), so saved models keep loading.
MOVED_TYPES = {
    f"bench.estimators.classical.{name}": f"bench.estimators.features.{name}"
    for name in ("Deskew", "Blur", "HogFeatures", "Flatten")
}


def _with_moved_types(schema) -> bool:
    """Rewrite, in place, every node of the schema whose type is a key of MOVED_TYPES; whether any was."""
    moved, stack = False, [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item and (new := MOVED_TYPES.get(f"{item.get('__module__')}.{item.get('__class__')}")):
                item["__module__"], item["__class__"] = new.rsplit(".", 1)
                moved = True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return moved


def _replace_schema(data: bytes, schema: dict) -> bytes:
    """The skops zip `data` with its schema.json replaced by `schema` (every other member copied as is)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = json.dumps(schema).encode() if info.filename == "schema.json" else src.read(info)
            dst.writestr(info, content)
    return out.getvalue()


def schema_nodes(schema) -> list[tuple[str, str]]:
    """Every (loader, type) in a skops schema: each dict with a "__loader__" key, however deep, including
    dicts skops itself would never visit (so nothing skops rebuilds can be missed here)."""
    nodes, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                nodes.append((str(item.get("__loader__")), f"{item.get('__module__')}.{item.get('__class__')}"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return nodes


def refused_nodes(schema) -> list[str]:
    """'type (loader)' for each node of the schema that `SKOPS_NODES` does not allow, sorted, once each."""
    return sorted(
        {f"{name} ({loader})" for loader, name in schema_nodes(schema) if name not in SKOPS_NODES.get(loader, ())}
    )


def read_skops_file(path) -> bytes:
    """The bytes of a skops file of the current protocol holding only the loaders and types of `SKOPS_NODES`;
    ValueError (one line naming the file) otherwise. The schema is only read: nothing is imported or called.
    The caller loads these same bytes (skops.io.loads), so the file cannot change between check and load."""
    path = Path(path)
    try:
        data = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable skops file ({type(e).__name__}: {_one_line(e)})") from None
    if not isinstance(schema, dict):
        raise ValueError(f"{path}: not a skops file (its schema.json is not a JSON object)")
    protocol = schema.get("protocol")
    if type(protocol) is not int or protocol != skops_protocol():
        raise ValueError(
            f"{path}: written in skops format {protocol!r}; only format {skops_protocol()} (this "
            "skops's) is loaded: retrain the model to save it again"
        )
    if _with_moved_types(schema):
        data = _replace_schema(data, schema)
    refused = refused_nodes(schema)
    if refused:
        more = len(refused) - MAX_NAMED
        named = ", ".join(refused[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")
        raise ValueError(
            f"{path}: refusing to load types outside the list of what digit-bench models are saved with: {named}"
        )
    return data


def check_trees(model, path) -> None:
    """Refuse (ValueError naming the file) a loaded model holding a decision tree whose nodes would send
    scikit-learn's compiled tree walk outside its arrays: every tree has at least one node and exactly as
    many as its arrays hold; an inner node's children come after it (so every walk ends) and lie within the
    tree; its feature lies within the columns the tree is given, which is its owner's n_features_in_ (a
    DecisionTreeClassifier's, and a forest's for each of its trees). Types alone (what skops checks) cannot
    say this; the loaded objects are only read here."""
    import numpy as np
    from sklearn.tree._tree import Tree

    seen, stack = set(), [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, type, np.ndarray, np.generic)):
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, Tree):
            if problem := _tree_problem(obj):
                raise ValueError(f"{path}: refusing to load, a decision tree in it is malformed: {problem}")
        elif hasattr(obj, "__dict__"):
            state = vars(obj)
            # what reads this object's trees: its own tree_ (a DecisionTreeClassifier), or its estimators'
            # trees (a forest, which checks the columns it is given and passes them on unchecked)
            widths = [state["tree_"].n_features] if isinstance(state.get("tree_"), Tree) else []
            widths += [
                vars(e).get("n_features_in_")
                for e in (state.get("estimators_") or [])
                if hasattr(e, "__dict__") and isinstance(vars(e).get("tree_"), Tree)
            ]
            n_features = state.get("n_features_in_")
            if any(type(n_features) is not int or w != n_features for w in widths):
                raise ValueError(
                    f"{path}: refusing to load, a decision tree in it reads other columns than "
                    f"its {type(obj).__name__} is given"
                )
            stack.extend(state.values())


def _tree_problem(tree) -> str | None:
    """What is wrong with a Tree's node arrays, or None (see `check_trees`)."""
    import numpy as np

    if not 1 <= tree.node_count == tree.capacity:
        return f"{tree.node_count} nodes in arrays of {tree.capacity}"
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    inner = np.flatnonzero(left != -1)
    if len(inner) and not (
        (left[inner] > inner).all()
        and (right[inner] > inner).all()
        and (left[inner] < tree.node_count).all()
        and (right[inner] < tree.node_count).all()
    ):
        return "a node's child lies outside the tree or before the node"
    if len(inner) and not ((feature[inner] >= 0).all() and (feature[inner] < tree.n_features).all()):
        return f"a node splits on a feature outside 0-{tree.n_features - 1}"
    return None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
