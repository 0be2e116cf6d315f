"""Rewrite the README performance table between two markers, and nothing else."""

from __future__ import annotations

from pathlib import Path

from ..files import atomic_write_bytes
from ..schema import Results
from .columns import comparison_table, wall_time_text
from .document import markdown_table, md_escape

START, END = "<!-- results:start -->", "<!-- results:end -->"


class ReadmeError(ValueError):
    """The results may not become the headline, or the README has no markers."""


def check_headline(results: Results, expected_models) -> None:
    """Only a full-profile run of every model on full MNIST may become the README table."""
    run = results.run
    ds = run.dataset
    problems = []
    if ds.get("is_sample") or ds["name"] != "mnist":
        problems.append(f"dataset is {ds['name']!r}{' (sample)' if ds.get('is_sample') else ''}, not full 'mnist'")
    if run.profile != "full":
        problems.append(f"profile is {run.profile!r}, not 'full'")
    missing = [n for n in expected_models if not results.is_ok(n)]
    if missing:
        problems.append(f"models not measured: {', '.join(missing)}")
    if problems:
        raise ReadmeError("refusing to update README: " + "; ".join(problems))


def results_block(results: Results, results_path: str, report_path: str) -> str:
    run, env = results.run, results.run.environment
    body = "\n".join(markdown_table(comparison_table(results)))
    return "\n".join(
        [
            START,
            f"Full MNIST ({run.dataset['n_train']:,} train / {run.dataset['n_val']:,} validation / "
            f"{run.dataset['n_test']:,} test), profile `full`, seed {run.seed}, on {md_escape(env.get('cpu'))} "
            f"({env.get('cpu_count')} cores, machine kind `{env.get('machine_kind', 'unrecorded')}`: compare times only "
            f"within one kind), total wall time {wall_time_text(run, minutes=True)}. "
            f"Best value per column in bold. Produced by: {md_escape(run.command)}; "
            f"results: [`{results_path}`]({results_path}), report: [`{report_path}`]({report_path}).",
            "",
            body,
            END,
        ]
    )


def update_readme(readme: Path, block: str) -> bool:
    """Replace the text between the markers; returns whether the file changed."""
    text = readme.read_text()
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ReadmeError(f"{readme}: needs exactly one {START} followed by one {END}")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    new = before + block + after
    if new != text:
        atomic_write_bytes(readme, new.encode())
    return new != text
