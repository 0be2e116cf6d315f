"""`benchmark.py optimise RUN_DIR`: the command-line face of bench.optimise.variants."""

from __future__ import annotations

import time

from ..estimators.variants import KINDS
from ..optimise.variants import parse_kinds, run_optimise
from ..report import write_reports
from ..schema import OK
from .common import finish


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="benchmark.py optimise",
        description="Measure the models a run saved in other forms, as the run measured the native ones (accuracy, "
        "agreement, throughput, latency, file size): through ONNX Runtime and LiteRT, quantised, pruned "
        "and made smaller. The numbers go into the run's results.json and report; the originals are "
        "never retrained.",
        epilog="exit codes: 0 done (variants a model cannot have are listed with the reason); 2 bad input.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="the folder a run wrote (its --out), with results.json")
    p.add_argument("--models", metavar="A,B", help="which of the run's models (default: every measured one)")
    p.add_argument(
        "--models-dir",
        metavar="DIR",
        default="models",
        help="where the run saved its models, if not inside RUN_DIR (default: models/); a model the "
        "results file places anywhere else is refused",
    )
    p.add_argument("--kinds", metavar="A,B", help=f"which kinds of variant: {', '.join(KINDS)} (default: all)")
    p.add_argument(
        "--data",
        metavar="PATH",
        help="the run's data, for the kinds that need its training split "
        "(default: $MNIST_PATH, as for the main command)",
    )
    p.add_argument(
        "--prune-epochs", type=int, default=1, metavar="N", help="fine-tuning epochs per pruned model (default 1)"
    )
    p.add_argument(
        "--save",
        action="store_true",
        help="keep each variant's file (.tflite, .onnx, .skops) in RUN_DIR/variants/MODEL/",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the variants an earlier optimise of this run measured; make only the others",
    )
    return p


def main(argv) -> int:
    from ..console import command_line, esc, fail, make_console

    args = build_parser().parse_args(argv)
    console = make_console()
    command = command_line("optimise", *argv)
    start = time.perf_counter()

    def show(name, v):
        if v["status"] != OK:
            console.print(f"{name} {esc(v['variant'])}: {v['status']}: {esc(v['reason'])}", highlight=False)
            return
        console.print(
            f"{name} {v['variant']}: accuracy {v['accuracy']:.4f}, same predictions "
            f"{v['same_predictions_as_native']:.2%}, latency p50 {v['latency_ms_p50']:.3f} ms, "
            f"{v['size_bytes'] / 1e6:.2f} MB, {time.perf_counter() - start:.0f} s so far",
            highlight=False,
        )

    if args.prune_epochs < 1:
        return fail(console, f"--prune-epochs {args.prune_epochs}: must be at least 1")

    def work() -> int:
        models = args.models.split(",") if args.models else None
        results_path = run_optimise(
            args.run_dir,
            models,
            parse_kinds(args.kinds),
            args.data,
            args.prune_epochs,
            args.resume,
            args.save,
            command=command,
            on_variant=show,
            models_dir=args.models_dir,
        )
        console.print(f"every model measured in {time.perf_counter() - start:.0f} s; results: {esc(results_path)}")
        write_reports(console, results_path)
        return 0

    again = command if args.resume else f"{command} --resume"
    return finish(console, work, kept=f"variants already measured are kept; continue with: {again}")
