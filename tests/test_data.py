"""Data loading and validation: every bad input is one clear line naming the file, exit code 2."""

import gzip

import numpy as np
import pytest
from conftest import bench_here

from bench.data import DataError, fingerprint, load_dataset


def write_npz(path, arrays):
    np.savez(path, **arrays)
    return path


def load(path, **kw):
    return load_dataset("mnist", path=str(path), download=False, **kw)


def test_npz_loads_with_shapes_types_and_validation_split(tmp_path, mnist_arrays):
    s = load(write_npz(tmp_path / "m.npz", mnist_arrays), val_fraction=0.1)
    assert s.name == "mnist" and not s.is_sample
    assert s.x_train.shape == (180, 28, 28) and s.x_val.shape == (20, 28, 28) and s.x_test.shape == (50, 28, 28)
    assert s.x_train.dtype == np.uint8 and s.y_train.dtype == np.int64
    # validation comes out of train, never out of test: the three sets are disjoint rows
    assert len(s.y_train) + len(s.y_val) == 200 and len(s.y_test) == 50
    assert np.bincount(s.y_val, minlength=10).tolist() == [2] * 10  # stratified


def test_fingerprint_depends_on_content_not_container(tmp_path, mnist_arrays):
    a = load(write_npz(tmp_path / "a.npz", mnist_arrays))
    mnist_arrays["y_test"] = np.roll(mnist_arrays["y_test"], 1)
    b = load(write_npz(tmp_path / "b.npz", mnist_arrays))
    assert a.fingerprint != b.fingerprint
    assert fingerprint(np.zeros(3)) == fingerprint(np.zeros(3))


def test_idx_folder_gzipped_and_plain(tmp_path, mnist_arrays):
    names = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    for i, (key, name) in enumerate(names.items()):
        a = mnist_arrays[key]
        raw = bytes([0, 0, 8, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape) + a.tobytes()
        if i % 2:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    s = load(tmp_path)
    from_npz = load(write_npz(tmp_path / "m.npz", mnist_arrays))
    assert s.fingerprint == from_npz.fingerprint


def test_mnist_path_environment_variable(tmp_path, mnist_arrays, monkeypatch):
    monkeypatch.setenv("MNIST_PATH", str(write_npz(tmp_path / "m.npz", mnist_arrays)))
    assert load_dataset("mnist", download=False).source == str(tmp_path / "m.npz")


def test_falls_back_to_sample_loudly_when_nothing_found(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-home"))
    s = load_dataset("mnist", download=False, train_size=500, test_size=100)
    assert s.name == "mnist-sample" and s.is_sample
    assert "SAMPLE DATA" in s.note and "Full MNIST was not found" in s.note


def test_sample_is_5000_images_stratified():
    s = load_dataset("mnist-sample")
    assert len(s.y_train) + len(s.y_val) == 4000 and len(s.y_test) == 1000
    assert np.bincount(s.y_test).tolist() == [100] * 10


def test_sample_takes_no_path():
    with pytest.raises(DataError, match="takes no --data path"):
        load_dataset("mnist-sample", path="somewhere.npz")


def test_kaggle_csv(tmp_path, mnist_arrays):
    x = mnist_arrays["x_train"].reshape(200, -1)
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = [f"{lab}," + ",".join(map(str, px)) for lab, px in zip(mnist_arrays["y_train"], x)]
    path = tmp_path / "train.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    s = load_dataset("kaggle", path=str(path))
    assert s.name == "kaggle" and len(s.y_train) + len(s.y_val) + len(s.y_test) == 200


def _truncated(tmp_path, arrays):
    p = write_npz(tmp_path / "m.npz", arrays)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return p


def _corrupt(tmp_path, arrays):
    p = tmp_path / "m.npz"
    p.write_bytes(b"this is not a zip archive at all")
    return p


def _edit(**changes):
    def make(tmp_path, arrays):
        for k, v in changes.items():
            if v is None:
                del arrays[k]
            else:
                arrays[k] = v(arrays[k])
        return write_npz(tmp_path / "m.npz", arrays)

    return make


def _nan(x):
    x = x.astype(np.float32)
    x[0, 0, 0] = np.nan
    return x


BAD_INPUTS = {
    "missing file": (lambda tmp_path, a: tmp_path / "nope.npz", "no such file"),
    "truncated archive": (_truncated, "truncated or corrupt"),
    "corrupt archive": (_corrupt, "truncated or corrupt"),
    "missing key": (_edit(y_test=None), "missing arrays y_test"),
    "wrong image shape": (
        _edit(x_train=lambda x: x.reshape(200, 14, 56), x_test=lambda x: x.reshape(50, 14, 56)),
        "expected (N, 28, 28)",
    ),
    "images not 3-D": (
        _edit(x_train=lambda x: x.reshape(200, 28, 28, 1), x_test=lambda x: x.reshape(50, 28, 28, 1)),
        "expected (N, 28, 28)",
    ),
    "labels length mismatch": (_edit(y_train=lambda y: y[:-1]), "labels have shape"),
    "label out of range": (_edit(y_train=lambda y: np.where(y == 3, 10, y)), "expected 0..9"),
    "negative label": (_edit(y_test=lambda y: y.astype(np.int16) - 1), "expected 0..9"),
    "NaN pixels": (_edit(x_train=_nan), "NaN"),
    "pixels out of range": (_edit(x_test=lambda x: x.astype(np.int32) * 2), "expected 0..255"),
    "train/test sizes differ": (_edit(x_test=lambda x: np.zeros((50, 32, 32), np.uint8)), "train images are"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_one_line_naming_the_file(tmp_path, mnist_arrays, case):
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path, mnist_arrays)
    with pytest.raises(DataError) as err:
        load(path)
    message = str(err.value)
    assert expected in message
    assert str(path) in message and "\n" not in message


def test_bad_kaggle_csv(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("digit,pixel0\n1,0\n")
    with pytest.raises(DataError, match="no 'label' column"):
        load_dataset("kaggle", path=str(path))


def test_cli_bad_data_exits_2_with_one_line_and_no_traceback(tmp_path, mnist_arrays):
    path = _truncated(tmp_path, mnist_arrays)
    proc = bench_here("--data", path, "--out", tmp_path / "out", "--models", "knn", "--profile", "ci")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "truncated or corrupt" in errors[0]
