"""Loading a saved model never runs code: hostile .skops and .keras files are refused, with one line.

The attacks are built here: a real knn.skops whose schema.json gets one more attribute, a node that calls a
function while skops rebuilds the model (exec, eval, numpy.load of a pickle, a scipy and a bench function,
operator.call on a method or an attrgetter). Each one is first shown to be live: skops run the permissive
way (trusting whatever `get_untrusted_types` reports, which a prefix allow-list of numpy., scipy., bench.,
builtins. names lets through for all but the operator ones) writes the payload's marker file. Then
`KNN.load` and `benchmark.py predict` must refuse the file in one line and the marker must not appear.

The other half: every classical model the registry builds, under every profile, with the settings its
search space tries, and its `optimise` "smaller" variants, saves only what `trusted_types.SKOPS_NODES`
lists and loads back; and every entry of that list is used by one of them (the list stays exact).
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from bench.estimators import KNN, KerasClassifier
from bench.estimators.trusted_types import SKOPS_NODES, TRUSTED_TYPES, refused_nodes, schema_nodes
from bench.estimators.variants import VariantData
from bench.registry import MODELS, PROFILES

CLASSICAL = [name for name, spec in MODELS.items() if spec.family == "classical"]
N_TRAIN = 200  # 20 images a digit: seconds for every model


@pytest.fixture(scope="module")
def digits(sample_splits):
    """(x_train, y_train, x_val, y_val): real digits, 20 a class for training, 5 a class held out."""
    s = sample_splits
    train = np.concatenate([np.flatnonzero(s.y_train == d)[: N_TRAIN // 10] for d in range(10)])
    val = np.concatenate([np.flatnonzero(s.y_val == d)[:5] for d in range(10)])
    return s.x_train[train], s.y_train[train], s.x_val[val], s.y_val[val]


def _schema(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("schema.json"))


# ---- the list is complete: everything the project saves loads back ----


def _round_trip(est, folder: Path, data) -> set[tuple[str, str]]:
    """Fit, save and load `est` and its "smaller" variants; the (loader, type) pairs their files hold."""
    x, y, x_val, y_val = data
    est.fit(x, y, validation_data=(x_val, y_val))
    files = [(est.save(folder / f"model{est.file_suffix}"), est.predict_proba)]
    for v in est.variants(VariantData(x, y, x_val, y_val, seed=0), {"smaller"}):
        path = folder / f"{v.name}{v.suffix}"
        path.write_bytes(v.content)
        files.append((path, v.predict_proba))
    found = set()
    for path, predict_proba in files:
        assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES), path.name
        assert refused_nodes(_schema(path)) == [], path.name
        loaded = type(est).load(path)
        # float32 PCA projections of the loaded model differ from the in-memory ones by ~1e-6 (rounding);
        # distance-weighted votes carry that into the probabilities
        assert np.allclose(loaded.predict_proba(x_val), predict_proba(x_val), atol=1e-5), path.name
        found |= set(schema_nodes(_schema(path)))
    return found


def _configurations():
    """(id, model name, profile, settings): each registered classical model under each profile and with its
    class defaults, and each value its search space tries (on the ci profile)."""
    for name in CLASSICAL:
        for profile in [*PROFILES, "defaults"]:
            yield f"{name}-{profile}", name, profile, {}
        for param, values in MODELS[name].search_space.items():
            for value in values if isinstance(values, list) else []:
                yield f"{name}-{param}={value}", name, "ci", {param: value}


CONFIGURATIONS = list(_configurations())
_found: dict[str, set] = {}


@pytest.mark.parametrize("label, name, profile, settings", CONFIGURATIONS, ids=[c[0] for c in CONFIGURATIONS])
def test_every_classical_model_saves_only_listed_types_and_loads_back(label, name, profile, settings, digits, tmp_path):
    spec = MODELS[name]
    est = spec.estimator_class() if profile == "defaults" else spec.build(profile, seed=0)
    _found[label] = _round_trip(est.set_params(**settings), tmp_path, digits)


def test_the_list_holds_nothing_the_models_do_not_save(digits, tmp_path):
    for label, name, profile, settings in CONFIGURATIONS:  # those not run above (e.g. with -k) run here
        if label not in _found:
            spec = MODELS[name]
            est = spec.estimator_class() if profile == "defaults" else spec.build(profile, seed=0)
            (tmp_path / label).mkdir()
            _found[label] = _round_trip(est.set_params(**settings), tmp_path / label, digits)
    listed = {(loader, name) for loader, names in SKOPS_NODES.items() for name in names}
    assert set().union(*_found.values()) == listed
    assert TRUSTED_TYPES == sorted({name for _, name in listed})


# ---- attacks: a saved knn with one more attribute that calls something while it is rebuilt ----


def _json(value) -> dict:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _tuple(*items) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def _call(module: str, name: str, *args) -> dict:
    """module.name(*args) through skops' ConstructorFromReduceNode (meant for a type called with its own
    __reduce__ arguments; nothing but the file says the 'type' is a type)."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": _tuple(*map(_json, args)),
    }


def _operator(name: str, *args) -> dict:
    """operator.<name>(*args) through skops' OperatorFuncNode; args are nodes."""
    return {"__class__": name, "__module__": "operator", "__loader__": "OperatorFuncNode", "attrs": _tuple(*args)}


def _blank_knn() -> dict:
    return {"__class__": "KNN", "__module__": "bench.estimators.classical", "__loader__": "ObjectNode"}


def _write_marker(marker) -> str:
    return f"open({str(marker)!r}, 'w').write('the payload ran')"


class _PickledPayload:
    """Unpickling this runs exec(code): what numpy.load(..., allow_pickle=True) does with the file."""

    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return exec, (self.code,)


def _exec(marker, folder):
    return _call("builtins", "exec", _write_marker(marker))


def _eval_reduce(marker, folder):
    # skops' LossNode rebuilds a loss as <its type>(*args): here the 'type' is eval
    return {
        "__class__": "eval",
        "__module__": "builtins",
        "__loader__": "LossNode",
        "__reduce__": {"args": _tuple(_json(_write_marker(marker)))},
        "content": _json(None),
    }


def _numpy_load_pickle(marker, folder):
    payload = folder / "weights.npy"
    payload.write_bytes(pickle.dumps(_PickledPayload(_write_marker(marker))))
    return _call("numpy", "load", str(payload), None, True)  # numpy.load(file, mmap_mode, allow_pickle)


def _scipy_savemat(marker, folder):
    return _call("scipy.io", "savemat", str(marker), {})


def _bench_function(marker, folder):
    return _call("bench.results", "save_predictions", str(marker), [1], [[0.2, 0.8]])


def _method_call(marker, folder):
    # operator.call(<a blank KNN's bound method save>, marker): writes a model file where the attacker says
    method = {
        "__class__": "KNN",
        "__module__": "bench.estimators.classical",
        "__loader__": "MethodNode",
        "content": {"func": "save", "obj": _blank_knn()},
    }
    return _operator("call", method, _json(str(marker)))


def _attrgetter(marker, folder):
    # operator.call(operator.call(operator.attrgetter("save"), <a blank KNN>), marker)
    getter = _operator("attrgetter", _json("save"))
    return _operator("call", _operator("call", getter, _blank_knn()), _json(str(marker)))


ATTACKS = {
    "builtins.exec via ConstructorFromReduceNode": (_exec, "builtins.exec (ConstructorFromReduceNode)"),
    "builtins.eval via a reduce node (LossNode)": (_eval_reduce, "builtins.eval (LossNode)"),
    "numpy.load of a pickle": (_numpy_load_pickle, "numpy.load (ConstructorFromReduceNode)"),
    "scipy.io.savemat": (_scipy_savemat, "scipy.io.savemat (ConstructorFromReduceNode)"),
    "a bench function": (_bench_function, "bench.results.save_predictions (ConstructorFromReduceNode)"),
    "a method node called by operator.call": (_method_call, "operator.call (OperatorFuncNode)"),
    "operator.attrgetter": (_attrgetter, "operator.attrgetter (OperatorFuncNode)"),
}


@pytest.fixture(scope="module")
def knn_file(tmp_path_factory, digits) -> Path:
    """A genuine small knn.skops (the registry's kind: deskew, PCA, distance-weighted neighbours)."""
    x, y, _, _ = digits
    return KNN(n_components=20).fit(x, y).save(tmp_path_factory.mktemp("genuine") / "knn.skops")


def _with_attribute(src: Path, dst: Path, node: dict) -> Path:
    """A copy of the skops file `src` whose model has one more attribute, `node`."""
    with zipfile.ZipFile(src) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(files["schema.json"])
    attributes = schema["content"]  # the model's __dict__, a DictNode: keys and their types pair up in order
    attributes["content"]["payload"] = node
    attributes["key_types"]["content"].append({"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"})
    files["schema.json"] = json.dumps(schema).encode()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return dst


def _hostile(knn_file, folder: Path, attack: str, marker: Path) -> Path:
    return _with_attribute(knn_file, folder / "knn.skops", ATTACKS[attack][0](marker, folder))


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_attack_is_live_when_skops_trusts_what_the_file_names(attack, knn_file, tmp_path):
    """The control: the same file loaded the permissive way runs its payload, so the refusal below is real."""
    marker = tmp_path / "pwned.mat"
    path = _hostile(knn_file, tmp_path, attack, marker)
    untrusted = sio.get_untrusted_types(file=path)
    prefixes = ("numpy.", "scipy.", "sklearn.", "bench.", "builtins.", "collections.")
    if not attack.startswith(("a method node", "operator.")):  # a prefix allow-list lets these through
        assert all(t.startswith(prefixes) for t in untrusted), untrusted
    sio.load(path, trusted=untrusted)
    assert marker.exists()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_model_file_that_calls_a_function_is_refused_in_one_line(attack, knn_file, tmp_path):
    marker = tmp_path / "pwned.mat"
    path = _hostile(knn_file, tmp_path, attack, marker)
    with pytest.raises(ValueError) as refused:
        KNN.load(path)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{path}: refusing to load types")
    assert ATTACKS[attack][1] in message
    assert not marker.exists()


def test_types_skops_trusts_by_default_are_refused_too(knn_file, tmp_path):
    """skops trusts numpy ufuncs as functions and every scikit-learn estimator without being told; neither
    is in the list, so neither gets in (here: numpy.sin, and a FunctionTransformer holding it)."""
    ufunc = {"__class__": "sin", "__module__": "numpy", "__loader__": "FunctionNode"}
    transformer = {
        "__class__": "FunctionTransformer",
        "__module__": "sklearn.preprocessing._function_transformer",
        "__loader__": "ObjectNode",
        "content": {
            "__class__": "dict",
            "__module__": "builtins",
            "__loader__": "DictNode",
            "content": {"func": ufunc},
            "key_types": {
                "__class__": "list",
                "__module__": "builtins",
                "__loader__": "ListNode",
                "content": [{"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}],
            },
        },
    }
    for node, name in [
        (ufunc, "numpy.sin (FunctionNode)"),
        (transformer, "sklearn.preprocessing._function_transformer.FunctionTransformer (ObjectNode)"),
    ]:
        path = _with_attribute(knn_file, tmp_path / name.split()[0] / "knn.skops", node)
        # skops flags nothing more than in the genuine file: trusting what it flags lets this in
        assert sio.get_untrusted_types(file=path) == sio.get_untrusted_types(file=knn_file)
        with pytest.raises(ValueError, match=r"refusing to load types") as refused:
            KNN.load(path)
        assert name in str(refused.value) and "\n" not in str(refused.value)


def test_an_older_skops_format_and_a_file_that_is_no_zip_are_refused(knn_file, tmp_path):
    """A file may claim an older skops format, whose loaders skops keeps for old files: not reviewed here, refused."""
    with zipfile.ZipFile(knn_file) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    schema = json.loads(files["schema.json"])
    old = tmp_path / "old" / "knn.skops"
    old.parent.mkdir()
    with zipfile.ZipFile(old, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, json.dumps({**schema, "protocol": 0}) if name == "schema.json" else content)
    with pytest.raises(ValueError, match=r"written in skops format 0; only format \d+"):
        KNN.load(old)
    junk = tmp_path / "junk.skops"
    junk.write_text("not a zip")
    with pytest.raises(ValueError, match=r"junk.skops: not a readable skops file \(BadZipFile"):
        KNN.load(junk)


def test_a_forest_whose_tree_points_outside_its_nodes_is_refused(digits, tmp_path):
    """skops checks types, not what is in them: a Tree's node indices are walked unchecked by compiled code."""
    x, y, _, _ = digits
    est = MODELS["random-forest"].build("ci", seed=0).set_params(n_estimators=3).fit(x, y)
    est.pipeline_[-1].estimators_[1].tree_.children_left[0] = 10**6
    with pytest.raises(ValueError, match="a decision tree in it is malformed: a node's child lies outside"):
        type(est).load(est.save(tmp_path / "random-forest.skops"))
    est = MODELS["random-forest"].build("ci", seed=0).set_params(n_estimators=3).fit(x, y)
    est.pipeline_[-1].estimators_[2].tree_.feature[0] = 5000
    with pytest.raises(ValueError, match="a node splits on a feature outside 0-783"):
        type(est).load(est.save(tmp_path / "random-forest.skops"))


# ---- the user's path: benchmark.py predict ----


@pytest.fixture(scope="module")
def photo(tmp_path_factory, sample_splits) -> Path:
    from digit_photos import dark_on_paper

    x, y = sample_splits.x_test, sample_splits.y_test
    path = tmp_path_factory.mktemp("photo") / "seven.jpg"
    path.write_bytes(dark_on_paper(x[int(np.flatnonzero(y == 7)[0])], np.random.default_rng(3)))
    return path


def test_predict_with_a_hostile_knn_says_one_error_line_and_exits_2(knn_file, photo, tmp_path, capsys):
    from bench.cli import main

    marker = tmp_path / "pwned.mat"
    models = tmp_path / "models"
    _hostile(knn_file, models, "builtins.exec via ConstructorFromReduceNode", marker)
    code = main(["predict", str(photo), "--model", "knn", "--models-dir", str(models)])
    out = capsys.readouterr()
    assert code == 2
    assert out.out.count("\n") == 1 and out.out.startswith(f"error: {models / 'knn.skops'}: ")
    assert "builtins.exec (ConstructorFromReduceNode)" in out.out and "Traceback" not in out.out + out.err
    assert not marker.exists()
    # the genuine file in the same place is read as usual
    (models / "knn.skops").write_bytes(knn_file.read_bytes())
    assert main(["predict", str(photo), "--model", "knn", "--models-dir", str(models)]) == 0
    assert "seven.jpg" in capsys.readouterr().out


# ---- Keras: only .keras files, in safe mode, with checked metadata ----

GOOD_META = {"class": "KerasClassifier", "params": {"architecture": "mlp", "epochs": 1}, "history": [], "n_train": 10}


def _keras_pair(folder: Path, meta) -> Path:
    """folder/model.keras (an empty zip: refused metadata must stop the load before Keras reads it) and its JSON."""
    path = folder / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    (folder / "model.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    return path


@pytest.mark.parametrize("suffix", [".h5", ".hdf5", ".keras.h5", ".pb", ""])
def test_keras_files_other_than_dot_keras_are_refused(suffix, tmp_path):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    (tmp_path / "model.json").write_text(json.dumps(GOOD_META))
    with pytest.raises(ValueError) as refused:
        KerasClassifier.load(path)
    assert str(refused.value) == f"{path}: not a .keras file; only Keras v3 .keras files are loaded (in safe mode)"


@pytest.mark.parametrize(
    "meta, problem",
    [
        ("not json {", "cannot read the model's metadata: JSONDecodeError"),
        ([], "not this model's metadata: not a JSON object"),
        ({**GOOD_META, "class": "HogSVM"}, "its class is 'HogSVM', not 'KerasClassifier'"),
        ({**GOOD_META, "params": ["mlp"]}, '"params" is not an object'),
        (
            {**GOOD_META, "params": {"architecture": "mlp", "__class__": "x", "run": "exec"}},
            "\"params\" names '__class__', 'run', not parameters of KerasClassifier",
        ),
        ({**GOOD_META, "history": {"loss": []}}, '"history" is not a list of objects'),
        ({**GOOD_META, "history": ["loss"]}, '"history" is not a list of objects'),
        ({**GOOD_META, "n_train": "10"}, '"n_train" is not an integer'),
        ({**GOOD_META, "n_train": True}, '"n_train" is not an integer'),
        ({key: value for key, value in GOOD_META.items() if key != "n_train"}, '"n_train" is not an integer'),
    ],
    ids=[
        "not-json",
        "a-list",
        "class",
        "params-list",
        "params-unknown",
        "history-dict",
        "history-strings",
        "n_train-string",
        "n_train-bool",
        "n_train-missing",
    ],
)
def test_bad_keras_metadata_is_refused_in_one_line(meta, problem, tmp_path):
    path = _keras_pair(tmp_path, meta)
    with pytest.raises(ValueError) as refused:
        KerasClassifier.load(path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'model.json'}: ") and problem in message and "\n" not in message


def test_keras_loads_in_safe_mode_a_lambda_layer_is_refused(tmp_path):
    """A .keras file may hold Python bytecode (a Lambda layer); safe mode refuses to deserialize it."""
    import keras

    marker = tmp_path / "pwned"
    net = keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Lambda(lambda x, m=str(marker): x if open(m, "w").write("ran") else x)]
    )
    marker.unlink(missing_ok=True)  # building the layer may have run it, here; loading must not
    path = tmp_path / "model.keras"
    net.save(path)
    (tmp_path / "model.json").write_text(json.dumps(GOOD_META))
    with pytest.raises(ValueError) as refused:
        KerasClassifier.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: cannot be loaded: ValueError: ") and "safe_mode" in message
    assert "\n" not in message and not marker.exists()


def test_a_model_saved_under_the_earlier_module_of_its_feature_steps_still_loads(tmp_path, digits):
    """Files whose schema names bench.estimators.classical.Deskew (and Blur, Flatten) load as the same model."""
    from bench.estimators.trusted_types import MOVED_TYPES

    x, y, x_val, y_val = digits
    est = MODELS["knn"].build("ci", 0, n_jobs=1).fit(x, y, validation_data=(x_val, y_val))
    path = est.save(tmp_path / "knn.skops")
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    schema, earlier = json.loads(members["schema.json"]), {new: old for old, new in MOVED_TYPES.items()}
    stack = [schema]
    while stack:  # every node naming a moved type names its earlier module instead
        item = stack.pop()
        if isinstance(item, dict):
            if (old := earlier.get(f"{item.get('__module__')}.{item.get('__class__')}")) is not None:
                item["__module__"] = old.rsplit(".", 1)[0]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    text = json.dumps(schema)
    assert "bench.estimators.classical.Deskew" not in text and '"bench.estimators.features"' not in text
    members["schema.json"] = text.encode()
    with zipfile.ZipFile(tmp_path / "old.skops", "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    loaded = type(est).load(tmp_path / "old.skops")
    assert np.array_equal(loaded.predict(x_val), est.predict(x_val))
