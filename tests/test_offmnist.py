"""Digit datasets beyond MNIST (bench.data.offmnist): each read from small files in its published format,
made MNIST-style; missing files and malformed ones refused in one line."""

import bz2
import gzip

import cv2
import numpy as np
import pytest

from bench.data.mnist_style import from_low_res
from bench.data.offmnist import (
    ENV,
    OFF_MNIST,
    DatasetMissing,
    available_off_mnist,
    load_off_mnist,
)
from bench.data.splits import DataError


@pytest.fixture(autouse=True)
def no_dataset_variables(monkeypatch):
    for env in ENV.values():
        monkeypatch.delenv(env, raising=False)


def seven(side: int = 16) -> np.ndarray:
    """An upright "7" (a bar along the top, a stroke down to the lower left): float32 in [0, 1], ink high.
    It is not symmetric about either diagonal, so a transposed or flipped read shows."""
    a = np.zeros((16, 16), np.float32)
    a[2:4, 3:13] = 1.0
    for r in range(4, 14):
        c = 12 - (r - 4) * 2 // 3
        a[r, c - 1 : c + 1] = 1.0
    a[2:4, 2] = a[2:4, 13] = 0.5  # anti-aliased ends
    if side != 16:
        a = np.pad(cv2.resize(a, (side - 4, side - 4), interpolation=cv2.INTER_LINEAR), 2)
    return a


def idx(array: np.ndarray, code: int) -> bytes:
    """The IDX encoding: 0, 0, type code, number of dimensions, the sizes big-endian, the data big-endian."""
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return bytes([0, 0, code, array.ndim]) + dims + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write(path, data: bytes, gz: bool = False):
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def assert_mnist_style(images):
    assert images.ndim == 3 and images.shape[1:] == (28, 28) and images.dtype == np.uint8
    for image in images:
        if not image.any():
            continue
        m = cv2.moments(image.astype(np.float32))
        assert abs(m["m10"] / m["m00"] - 14) <= 0.75 and abs(m["m01"] / m["m00"] - 14) <= 0.75
        ys, xs = np.nonzero(image)
        assert max(np.ptp(ys), np.ptp(xs)) + 1 <= 21  # 20, and a pixel of anti-aliasing after the shift
        assert image.max() >= 200 and not image[0].any() and not image[:, 0].any()  # bright ink, dark border


def assert_one_line_naming(excinfo, *words):
    message = str(excinfo.value)
    assert "\n" not in message, message
    for word in words:
        assert str(word) in message, message


# --------------------------------------------------------------------------- uci-digits


def test_uci_digits_halves_are_fixed_disjoint_and_stratified():
    val = load_off_mnist("uci-digits", part="validation")
    test = load_off_mnist("uci-digits")  # the reported half is the default
    every = load_off_mnist("uci-digits", part="all")
    assert len(val.labels) + len(test.labels) == len(every.labels) == 1797
    assert abs(np.bincount(val.labels, minlength=10) - np.bincount(test.labels, minlength=10)).max() <= 1
    together = {img.tobytes() for img in np.concatenate([val.images, test.images])}
    assert len(together) == len({img.tobytes() for img in every.images})  # the halves split the set
    assert load_off_mnist("uci-digits").fingerprint == test.fingerprint != val.fingerprint
    assert test.labels.dtype == np.int64 and set(test.labels) == set(range(10))
    assert test.describe()["n"] == 899 and "test half" in test.note


def test_uci_digits_are_mnist_style():
    d = load_off_mnist("uci-digits", part="validation")
    assert_mnist_style(d.images)
    mean = d.images.mean(axis=0)
    assert mean[4:24, 4:24].sum() > 0.97 * mean.sum()  # the digits sit in the middle 20x20


def test_uci_digits_refuse_a_path_and_an_unknown_part():
    with pytest.raises(DataError, match="takes no path"):
        load_off_mnist("uci-digits", path="/somewhere")
    with pytest.raises(DataError, match="validation"):
        load_off_mnist("uci-digits", part="train")


# --------------------------------------------------------------------------- qmnist


def qmnist_files(folder, gz=True, labels="idx2-int", tail=6):
    """QMNIST-format test files: 10,000 rows standing for MNIST's test set, then `tail` lost digits."""
    n = 10_000 + tail
    images = np.zeros((n, 28, 28), np.uint8)
    rng = np.random.default_rng(0)
    images[10_000:] = rng.integers(0, 256, (tail, 28, 28))
    extended = np.zeros((n, 8), np.int64)
    extended[:, 0] = np.arange(n) % 10
    extended[10_000:, 0] = [7, 3, 0, 9, 1, 5][:tail]
    extended[:, 5] = 200_000 + np.arange(n)  # the global NIST index: never a digit
    z = ".gz" if gz else ""
    write(folder / f"qmnist-test-images-idx3-ubyte{z}", idx(images, 0x08), gz)
    if labels == "idx2-int":
        write(folder / f"qmnist-test-labels-idx2-int{z}", idx(extended, 0x0C), gz)
    else:
        write(folder / f"qmnist-test-labels-idx1-ubyte{z}", idx(extended[:, 0], 0x08), gz)
    return images[10_000:], extended[10_000:, 0]


@pytest.mark.parametrize("gz, labels", [(True, "idx2-int"), (False, "idx2-int"), (True, "idx1-ubyte")])
def test_qmnist_is_the_rows_after_the_first_10000(tmp_path, gz, labels):
    images, digits = qmnist_files(tmp_path, gz, labels)
    d = load_off_mnist("qmnist", path=str(tmp_path))
    assert d.images.shape == (6, 28, 28) and d.images.dtype == np.uint8
    assert np.array_equal(d.images, images)  # already MNIST-style: unchanged
    assert d.labels.tolist() == digits.tolist() == [7, 3, 0, 9, 1, 5]
    assert "test50k" in d.note and "10,001" in d.note


def test_qmnist_found_through_its_variable_as_a_folder_or_a_file(tmp_path, monkeypatch):
    qmnist_files(tmp_path)
    monkeypatch.setenv("QMNIST_PATH", str(tmp_path))
    assert "qmnist" in available_off_mnist()
    by_folder = load_off_mnist("qmnist")
    monkeypatch.setenv("QMNIST_PATH", str(tmp_path / "qmnist-test-images-idx3-ubyte.gz"))
    assert load_off_mnist("qmnist").fingerprint == by_folder.fingerprint


# --------------------------------------------------------------------------- emnist-digits


def emnist_files(folder, images, labels, gz=True):
    z = ".gz" if gz else ""
    stored = np.round(images * 255).astype(np.uint8).transpose(0, 2, 1)  # EMNIST stores each image transposed
    write(folder / f"emnist-digits-test-images-idx3-ubyte{z}", idx(stored, 0x08), gz)
    write(folder / f"emnist-digits-test-labels-idx1-ubyte{z}", idx(np.asarray(labels), 0x08), gz)


@pytest.mark.parametrize("gz", [True, False])
def test_emnist_digits_come_out_upright(tmp_path, gz):
    upright = seven(28)
    emnist_files(tmp_path, np.stack([upright, np.rot90(upright)]), [7, 1], gz)
    d = load_off_mnist("emnist-digits", path=str(tmp_path))
    assert d.labels.tolist() == [7, 1]
    assert_mnist_style(d.images)
    stored = np.round(upright * 255) / 255
    assert np.array_equal(d.images[0], from_low_res(stored[None], 1)[0])
    assert not np.array_equal(d.images[0], from_low_res(stored.T[None], 1)[0])
    rows = d.images[0].sum(axis=1)
    assert rows[:14].sum() > rows[14:].sum()  # the 7's bar is at the top


# --------------------------------------------------------------------------- usps


def libsvm_line(image: np.ndarray, label: int) -> str:
    """USPS' libsvm line: label 1-10 for digits 0-9, then all 256 features in -1..1, row by row."""
    return f"{label} " + " ".join(f"{i + 1}:{2 * v - 1:.6g}" for i, v in enumerate(image.ravel())) + "\n"


def test_usps_libsvm_labels_1_to_10_are_digits_0_to_9(tmp_path):
    upright = seven()
    text = libsvm_line(upright, 8) + libsvm_line(np.fliplr(upright), 1) + libsvm_line(upright.T, 10)
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(text.encode()))
    d = load_off_mnist("usps", path=str(tmp_path))  # the test file of the folder
    assert d.labels.tolist() == [7, 0, 9]
    assert_mnist_style(d.images)
    assert np.array_equal(d.images, from_low_res(np.stack([upright, np.fliplr(upright), upright.T]), 1))
    assert "test" in d.note


def test_usps_h5_matches_the_libsvm_files(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py", reason="reading usps.h5 needs h5py, which is not installed")
    digits = np.stack([seven(), np.flipud(seven())])
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        for part, labels in (("train", [3, 4]), ("test", [7, 2])):
            f.create_group(part)
            f[part].create_dataset("data", data=digits.reshape(2, 256).astype(np.float64))
            f[part].create_dataset("target", data=np.array(labels, np.int64))
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress("".join(map(libsvm_line, digits, [8, 3])).encode()))
    from_h5 = load_off_mnist("usps", path=str(tmp_path / "usps.h5"))
    from_libsvm = load_off_mnist("usps", path=str(tmp_path / "usps.t.bz2"))
    assert from_h5.labels.tolist() == from_libsvm.labels.tolist() == [7, 2]
    assert from_h5.fingerprint == from_libsvm.fingerprint
    assert load_off_mnist("usps", path=str(tmp_path / "usps.h5"), part="train").labels.tolist() == [3, 4]
    monkeypatch.setenv("USPS_PATH", str(tmp_path / "usps.h5"))
    assert available_off_mnist()["usps"].endswith("usps.h5")


def test_usps_h5_without_h5py_says_so(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real(name, *args, **kwargs)

    write(tmp_path / "usps.h5", b"\x89HDF\r\n\x1a\n" + bytes(100))
    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(DataError) as e:
        load_off_mnist("usps", path=str(tmp_path / "usps.h5"))
    assert_one_line_naming(e, "usps.h5", "h5py")


# --------------------------------------------------------------------------- missing and malformed files


@pytest.mark.parametrize("name", ["qmnist", "usps", "emnist-digits"])
def test_missing_files_name_the_dataset_and_its_variable(tmp_path, monkeypatch, name):
    with pytest.raises(DatasetMissing) as e:
        load_off_mnist(name)
    assert_one_line_naming(e, name, ENV[name])
    monkeypatch.setenv(ENV[name], str(tmp_path))  # a folder without the files
    with pytest.raises(DatasetMissing) as e:
        load_off_mnist(name)
    assert_one_line_naming(e, name, tmp_path, ENV[name])
    with pytest.raises(DatasetMissing) as e:
        load_off_mnist(name, path=str(tmp_path / "nowhere"))
    assert_one_line_naming(e, name, "nowhere")
    assert issubclass(DatasetMissing, DataError)
    assert name not in available_off_mnist()


def test_a_folder_without_the_labels_names_the_missing_file(tmp_path):
    qmnist_files(tmp_path)
    (tmp_path / "qmnist-test-labels-idx2-int.gz").unlink()
    with pytest.raises(DatasetMissing) as e:
        load_off_mnist("qmnist", path=str(tmp_path))
    assert_one_line_naming(e, "qmnist-test-labels-idx2-int", "QMNIST_PATH")


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


BROKEN = {  # how -> (break the files, the file named, words the message holds)
    "truncated gzip": (lambda f: _truncate(f["images"]), "images", ["truncated"]),
    "bad magic": (lambda f: write(f["images"], b"\x12\x34\x08\x03" + bytes(100), gz=True), "images", ["magic"]),
    "labels of the wrong type": (
        lambda f: write(f["labels"], idx(np.zeros((10_006, 8), np.uint8), 0x08), gz=True),
        "labels",
        ["type 0x08", "expected 2 of 0x0C"],
    ),
    "labels of the wrong rank": (
        lambda f: write(f["labels"], idx(np.zeros(10_006, np.uint8), 0x08), gz=True),
        "labels",
        ["1 dimensions", "expected 2"],
    ),
    "truncated data": (
        lambda f: write(f["images"], gzip.decompress(f["images"].read_bytes())[:-5], gz=True),
        "images",
        ["truncated", "[10006, 28, 28]"],
    ),
}


@pytest.mark.parametrize("how", BROKEN)
def test_a_malformed_qmnist_file_is_one_line_naming_it(tmp_path, how):
    qmnist_files(tmp_path)
    files = {
        "images": tmp_path / "qmnist-test-images-idx3-ubyte.gz",
        "labels": tmp_path / "qmnist-test-labels-idx2-int.gz",
    }
    breaks, which, words = BROKEN[how]
    breaks(files)
    with pytest.raises(DataError) as e:
        load_off_mnist("qmnist", path=str(tmp_path))
    assert_one_line_naming(e, files[which], *words)


def test_emnist_labels_out_of_range_and_a_length_mismatch(tmp_path):
    emnist_files(tmp_path, np.stack([seven(28)] * 2), [7, 12])
    with pytest.raises(DataError) as e:
        load_off_mnist("emnist-digits", path=str(tmp_path))
    assert_one_line_naming(e, "emnist-digits-test-labels-idx1-ubyte.gz", "0..9")
    emnist_files(tmp_path, np.stack([seven(28)] * 2), [7, 1, 2])
    with pytest.raises(DataError) as e:
        load_off_mnist("emnist-digits", path=str(tmp_path))
    assert_one_line_naming(e, "emnist-digits-test-labels-idx1-ubyte.gz", "3 labels for the 2 images")


@pytest.mark.parametrize(
    "content, words",
    [
        (bz2.compress(b"11 1:0.5\n"), ["line 1", "1-10"]),
        (bz2.compress(b"3 1:0.5\nthree 1:0.5\n"), ["line 2"]),
        (bz2.compress(b"3 300:0.5\n"), ["line 1", "1-256"]),
        (bz2.compress(b"3 1:7\n"), ["line 1", "-1..1"]),
        (bz2.compress(b"3 1:0.5\n" * 50)[:30], ["truncated"]),
        (b"\xff\xfe\x00 binary", ["non-text"]),
    ],
)
def test_a_malformed_usps_libsvm_file_is_one_line_naming_it(tmp_path, content, words):
    write(tmp_path / "usps.t.bz2", content)
    with pytest.raises(DataError) as e:
        load_off_mnist("usps", path=str(tmp_path / "usps.t.bz2"))
    assert_one_line_naming(e, "usps.t.bz2", *words)


def test_a_malformed_usps_h5_is_one_line_naming_it(tmp_path):
    h5py = pytest.importorskip("h5py", reason="reading usps.h5 needs h5py, which is not installed")
    write(tmp_path / "usps.h5", b"not an HDF5 file at all")
    with pytest.raises(DataError) as e:
        load_off_mnist("usps", path=str(tmp_path / "usps.h5"))
    assert_one_line_naming(e, "usps.h5", "HDF5")
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        f.create_dataset("test/data", data=np.zeros((2, 100)))
        f.create_dataset("test/target", data=np.zeros(2, np.int64))
    with pytest.raises(DataError) as e:
        load_off_mnist("usps", path=str(tmp_path / "usps.h5"))
    assert_one_line_naming(e, "usps.h5", "(2, 100)")


# --------------------------------------------------------------------------- folder


def paper_digit(ink: np.ndarray) -> bytes:
    """A digit as a scan would have it: dark ink on light paper, 112 x 112, PNG."""
    big = cv2.resize(np.round(ink * 255).astype(np.uint8), (112, 112), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".png", 255 - big)[1].tobytes()


def test_folder_reads_both_label_layouts(tmp_path):
    (tmp_path / "7").mkdir()
    write(tmp_path / "7" / "first.png", paper_digit(seven()))
    write(tmp_path / "scan_3.png", paper_digit(np.flipud(seven())))
    write(tmp_path / "notes.txt", b"not an image: skipped")
    d = load_off_mnist(f"folder:{tmp_path}")
    assert d.labels.tolist() == [7, 3]  # sorted by path: 7/first.png, then scan_3.png
    assert_mnist_style(d.images)
    expected = from_low_res(seven()[None], 1)[0].astype(float)
    assert np.corrcoef(d.images[0].ravel(), expected.ravel())[0, 1] > 0.8
    assert d.source == str(tmp_path) and d.fingerprint.startswith("sha256:")
    assert load_off_mnist("folder", path=str(tmp_path)).fingerprint == d.fingerprint


@pytest.mark.parametrize("bad", ["scan.png", "scan_12.png", "7.png"])
def test_folder_refuses_an_image_without_a_digit_label(tmp_path, bad):
    write(tmp_path / "scan_1.png", paper_digit(seven()))
    write(tmp_path / bad, paper_digit(seven()))
    with pytest.raises(DataError) as e:
        load_off_mnist(f"folder:{tmp_path}")
    assert_one_line_naming(e, bad, "_<digit>")


def test_folder_refuses_an_unreadable_image_and_a_missing_folder(tmp_path):
    write(tmp_path / "scan_1.png", b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError) as e:
        load_off_mnist(f"folder:{tmp_path}")
    assert_one_line_naming(e, "scan_1.png")
    with pytest.raises(DatasetMissing) as e:
        load_off_mnist(f"folder:{tmp_path / 'nowhere'}")
    assert_one_line_naming(e, "nowhere")


# --------------------------------------------------------------------------- the registry


def test_registry_and_unknown_names():
    assert set(OFF_MNIST) == {"uci-digits", "qmnist", "usps", "emnist-digits", "folder"}
    assert available_off_mnist() == {"uci-digits": "sklearn.datasets.load_digits"}
    with pytest.raises(DataError) as e:
        load_off_mnist("svhn")
    assert_one_line_naming(e, "svhn", "uci-digits", "folder:PATH")
