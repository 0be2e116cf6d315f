"""The ci-profile runs that `check` and `baseline` make when no results files are given."""

from __future__ import annotations

from pathlib import Path

from ..console import esc
from .compare import BadInput
from .rules import CI_PROFILE, DEFAULT_REPEATS


def check_repeats(n: int | None) -> int:
    """How many ci runs to make: DEFAULT_REPEATS when not given; BadInput below one."""
    if n is None:
        return DEFAULT_REPEATS
    if n < 1:
        raise BadInput(f"--repeats must be at least 1, got {n}")
    return n


def run_ci(
    out_dir: Path, seed: int, repeats: int, console, data_path=None, offline=False, purpose="check"
) -> list[Path]:
    """Run the ci profile (all models) `repeats` times into out_dir/run-N; returns the results paths.

    Data is found as the main command finds it (--data, $MNIST_PATH, Keras cache, download;
    the sample loudly when all fail). The sample's fingerprint differs from full MNIST's, so
    a fallback is then refused by the fingerprint check rather than compared.
    """
    from ..registry import MODELS
    from ..run.runner import run

    def announce(splits):
        console.print(f"dataset [bold]{esc(splits.name)}[/bold] from {esc(splits.source)} ({splits.fingerprint[:19]})")
        if splits.is_sample:
            console.print(f"[bold yellow]{esc(splits.note)}[/bold yellow]")

    paths = []
    for i in range(1, repeats + 1):
        run_dir = out_dir / f"run-{i}" if repeats > 1 else out_dir
        console.rule(f"ci profile run {i} of {repeats} -> {esc(run_dir)}")
        paths.append(
            run(
                list(MODELS),
                profile=CI_PROFILE,
                dataset="mnist",
                data_path=data_path,
                seed=seed,
                out_dir=run_dir,
                models_dir=run_dir / "models",
                download=not offline,
                command=f"python benchmark.py {purpose} (ci run {i} of {repeats})",
                console=console,
                on_data=announce if i == 1 else None,
            )
        )
    console.print(f"ci results: {esc(', '.join(map(str, paths)))}", highlight=False)
    return paths
