"""`benchmark.py predict IMAGE...`: what the saved models say about photos or drawings of digits; the
command-line face of bench.use.predict.

Each image is made into an MNIST-style 28x28 digit (bench.use.preprocess), then predicted by the
cnn (--model NAME for another, --all-models for every saved model side by side). An image that
cannot be read or holds no digit gets one error line; the others are still predicted, and the
exit code is 2 when any failed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..console import esc
from ..use.models import ModelsError, load_models
from ..use.predict import predict_image, read_file, show
from ..use.preprocess import DigitImageError

DEFAULT_MODEL = "cnn"


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
