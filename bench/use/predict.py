"""What the saved models say about photos or drawings of digits (`benchmark.py predict`, whose face is
bench.cli.predict).

An image file is read (at most MAX_FILE_BYTES), made into an MNIST-style 28x28 digit (bench.use.preprocess)
and predicted by each model given; `show` writes, per image, the digit the models saw beside the input.
A file that cannot be read or holds no digit raises DigitImageError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes
from .models import predict_digit
from .preprocess import DigitImageError, preprocess

MAX_FILE_BYTES = 100 * 2**20  # no digit photo is larger; bigger files are refused before reading


def read_file(path: Path) -> bytes:
    """The file's bytes; DigitImageError when it is missing, not a file, too large or unreadable."""
    if not path.exists():
        raise DigitImageError(f"{path}: no such file")
    if not path.is_file():
        raise DigitImageError(f"{path}: not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DigitImageError(f"{path}: {size:,} bytes is over the limit of {MAX_FILE_BYTES:,}")
    try:
        return path.read_bytes()
    except OSError as e:
        raise DigitImageError(f"{path}: cannot read: {e.strerror or e}") from None


def predict_image(path: Path, data: bytes, models) -> dict:
    """The file's bytes -> {"image", "digit28" (28, 28) uint8, "inverted", "box", "predictions": [...]};
    DigitImageError if unusable."""
    digit = preprocess(data, str(path))
    return {
        "image": str(path),
        "digit28": digit.image,
        "inverted": digit.inverted,
        "box": list(digit.box),
        "predictions": [predict_digit(m, digit.image) for m in models],
    }


def show(out_dir: Path, path: Path, data: bytes, digit28: np.ndarray) -> Path:
    """out_dir/<stem>.png: the input (at most 280 pixels high) beside the 28x28 digit drawn 10x."""
    import cv2

    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    side = 280
    seen = cv2.cvtColor(cv2.resize(digit28, (side, side), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR)
    if raw is None:  # a format OpenCV cannot read (Pillow did): show the digit alone
        picture = seen
    else:
        f = side / raw.shape[0]
        shown = cv2.resize(raw, (max(1, round(raw.shape[1] * f)), side), interpolation=cv2.INTER_AREA)
        picture = np.hstack([shown, np.full((side, 8, 3), 128, np.uint8), seen])
    target = out_dir / f"{path.stem}.png"
    atomic_write_bytes(target, cv2.imencode(".png", picture)[1].tobytes())
    atomic_write_bytes(out_dir / f"{path.stem}-28x28.png", cv2.imencode(".png", digit28)[1].tobytes())
    return target
