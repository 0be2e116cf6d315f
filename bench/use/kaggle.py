"""`benchmark.py kaggle`: train on Kaggle Digit Recognizer's train.csv, write a submission for its test.csv.

test.csv is read and checked before any training. The model trains with a profile's recipe on
train.csv less a stratified sixth, which is held out to show the accuracy to expect; the
submission (`ImageId,Label`, one row per test image, ImageId 1..N, labels 0-9) is checked, then
written atomically.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np

from ..data import DataError, load_dataset, read_kaggle_test_csv
from ..files import atomic_write_bytes
from ..registry import MODELS, PROFILES


class SubmissionError(ValueError):
    """The predictions do not make a valid submission (a bug, never written)."""


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


def submission_csv(labels: np.ndarray, n_test: int) -> bytes:
    """ImageId,Label rows for 1..n_test, checked first."""
    labels = np.asarray(labels)
    if labels.shape != (n_test,):
        raise SubmissionError(f"{labels.shape[0] if labels.ndim else 0} predictions for {n_test} test images")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise SubmissionError(f"labels outside 0-9 (dtype {labels.dtype})")
    out = io.StringIO()
    out.write("ImageId,Label\n")
    out.writelines(f"{i},{int(d)}\n" for i, d in enumerate(labels, start=1))
    return out.getvalue().encode()


def main(argv) -> int:
    from ..console import esc, fail, make_console

    args = build_parser().parse_args(argv)
    console = make_console()
    if args.out.is_dir():
        return fail(console, f"{args.out}: is a folder; --out names the CSV file to write")
    start = time.perf_counter()
    try:
        x_submit = read_kaggle_test_csv(args.test)
        prof = PROFILES[args.profile]
        splits = load_dataset(
            "kaggle",
            path=args.train,
            seed=args.seed,
            val_fraction=prof.val_fraction,
            train_size=prof.train_size,
            test_size=prof.test_size,
        )
    except DataError as e:
        return fail(console, str(e))
    console.print(
        f"{esc(args.test)}: {len(x_submit):,} images to label; {esc(args.train)}: training {args.model} on "
        f"{len(splits.y_train):,} images ({len(splits.y_val):,} validation, {len(splits.y_test):,} held out)"
    )
    est = MODELS[args.model].build(args.profile, args.seed)
    with console.status(f"training {args.model} ({args.profile} profile)"):
        est.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val))
    held_out = float((est.predict(splits.x_test) == splits.y_test).mean())
    data = submission_csv(est.predict(x_submit), len(x_submit))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, data)
    console.print(
        f"wrote {esc(args.out)}: {len(x_submit):,} rows (ImageId 1..{len(x_submit)}); {args.model} scored "
        f"{held_out:.4f} on the {len(splits.y_test):,} held-out train.csv images; "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 0
