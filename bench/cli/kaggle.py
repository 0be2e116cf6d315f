"""`benchmark.py kaggle`: train on Kaggle Digit Recognizer's train.csv, write a submission for its test.csv;
the command-line face of bench.use.kaggle.

test.csv is read and checked before any training; the submission is checked, then written atomically.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..registry import MODELS, PROFILES
from .common import finish


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py kaggle",
        description="Train one model on Kaggle Digit Recognizer's train.csv and write a submission "
        "(ImageId,Label) for its test.csv.",
        epilog="example: python benchmark.py kaggle --train train.csv --test test.csv --model cnn --out submission.csv",
    )
    p.add_argument("--train", required=True, type=Path, help="Kaggle's train.csv (label, pixel0..pixel783)")
    p.add_argument("--test", required=True, type=Path, help="Kaggle's test.csv (pixel0..pixel783)")
    p.add_argument(
        "--model",
        default="cnn",
        choices=list(MODELS),
        metavar="NAME",
        help=f"the model to train (default: cnn; one of {', '.join(MODELS)})",
    )
    p.add_argument("--out", default=Path("submission.csv"), type=Path, help="where to write (default: submission.csv)")
    p.add_argument("--profile", default="full", choices=list(PROFILES), help="training recipe and size (default: full)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and training (default: 0)")
    return p


def main(argv) -> int:
    from ..console import esc, fail, make_console
    from ..files import atomic_write_bytes
    from ..use.kaggle import label, read_kaggle, train

    args = build_parser().parse_args(argv)
    console = make_console()
    if args.out.is_dir():
        return fail(console, f"{args.out}: is a folder; --out names the CSV file to write")
    start = time.perf_counter()

    def work() -> int:
        x_submit, splits = read_kaggle(args.train, args.test, args.profile, args.seed)
        console.print(
            f"{esc(args.test)}: {len(x_submit):,} images to label; {esc(args.train)}: training {args.model} on "
            f"{len(splits.y_train):,} images ({len(splits.y_val):,} validation, {len(splits.y_test):,} held out)"
        )
        with console.status(f"training {args.model} ({args.profile} profile)"):
            est = train(args.model, args.profile, args.seed, splits)
        data, held_out = label(est, splits, x_submit)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out, data)
        console.print(
            f"wrote {esc(args.out)}: {len(x_submit):,} rows (ImageId 1..{len(x_submit)}); {args.model} scored "
            f"{held_out:.4f} on the {len(splits.y_test):,} held-out train.csv images; "
            f"{time.perf_counter() - start:.0f} s"
        )
        return 0

    return finish(console, work, kept=f"no submission written to {args.out}")
