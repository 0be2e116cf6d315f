"""`benchmark.py predict IMAGE...`: what the saved models say about photos or drawings of digits.

Each image is made into an MNIST-style 28x28 digit (bench.use.preprocess), then predicted by the
cnn (--model NAME for another, --all-models for every saved model side by side). An image that
cannot be read or holds no digit gets one error line; the others are still predicted, and the
exit code is 2 when any failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..console import esc
from ..files import atomic_write_bytes
from .models import ModelsError, load_models, predict_digit
from .preprocess import DigitImageError, preprocess

DEFAULT_MODEL = "cnn"
MAX_FILE_BYTES = 100 * 2**20  # no digit photo is larger; bigger files are refused before reading


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py predict",
        description="Predict the digit in each image (PNG, JPEG, BMP, WebP, ...: a photo of a digit on paper, "
        "a drawing, a screenshot) with the models a run saved. Each image is first made into a "
        "28x28 digit the MNIST way (found, cropped, scaled into 20x20, centred by mass).",
        epilog="example: python benchmark.py predict photo.jpg drawing.png --all-models --show seen/",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", default=DEFAULT_MODEL, help=f"the saved model to use (default: {DEFAULT_MODEL})")
    which.add_argument("--all-models", action="store_true", help="every saved model, side by side")
    p.add_argument("--models-dir", default="models", type=Path, help="where a run saved its models (default: models/)")
    p.add_argument(
        "--show",
        type=Path,
        metavar="DIR",
        help="write, per image, the 28x28 digit the models saw beside a copy of the input",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def read_file(path: Path) -> bytes:
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


def _cell(p: dict) -> str:
    return f"{p['digit']} ({100 * p['confidence']:.1f}%)"


def table(results: list[dict], models) -> object:
    from rich.table import Table

    t = Table(title=None if len(models) > 1 else f"{models[0].name}")
    t.add_column("image")
    if len(models) == 1:
        t.add_column("digit", justify="right")
        t.add_column("confidence", justify="right")
        t.add_column("top 3")
        for r in results:
            p = r["predictions"][0]
            t.add_row(
                esc(r["image"]),
                str(p["digit"]),
                f"{100 * p['confidence']:.1f}%",
                "  ".join(f"{d}: {100 * q:.1f}%" for d, q in p["top"]),
            )
    else:
        for m in models:
            t.add_column(m.name, justify="right")
        for r in results:
            t.add_row(esc(r["image"]), *(_cell(p) for p in r["predictions"]))
    return t


def main(argv) -> int:
    from ..console import EXIT_BAD_INPUT, fail, make_console

    args = build_parser().parse_args(argv)
    console = make_console()
    try:
        models = load_models(args.models_dir, None if args.all_models else [args.model])
    except ModelsError as e:
        return fail(console, str(e))
    results, failed = [], 0
    for name in args.images:
        path = Path(name)
        try:
            data = read_file(path)
            r = predict_image(path, data, models)
        except DigitImageError as e:
            failed += 1
            if args.json:
                results.append({"image": name, "error": str(e)})
            else:
                fail(console, str(e))
            continue
        if args.show:
            r["shown"] = str(show(args.show, path, data, r["digit28"]))
        results.append(r)
    good = [r for r in results if "error" not in r]
    if args.json:
        for r in good:
            r["digit28"] = r["digit28"].tolist()
        print(json.dumps({"models": [m.describe() for m in models], "images": results}, indent=1))
    elif good:
        console.print(table(good, models))
        if args.show:
            console.print(f"what the models saw: {esc(args.show)}/<image>.png")
    return EXIT_BAD_INPUT if failed else 0
