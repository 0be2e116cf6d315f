"""How a run's saved models do on digits from other sources: `benchmark.py generalise RUN_DIR`.

Each model the run saved is loaded (safely: skops allow-list, Keras safe mode), checked to be the model the run
measured, and scored on every chosen off-MNIST dataset (bench.data.offmnist: images made MNIST-style). Its numbers
go into its row's `generalisation` (per dataset: accuracy with its 95% Wilson interval, log-loss, ECE, the drop
from the model's MNIST test accuracy, and an exact McNemar test against every other model scored on the same
digits, Holm-corrected over that dataset's pairs), written atomically as each model finishes. Each model's
predicted digits are kept in RUN_DIR/generalisation/<model>.npz, so a model scored later is paired with those
scored before, and `--resume` skips what was measured on the same data (same fingerprint).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..data import DataError
from ..data.offmnist import OFF_MNIST, DatasetMissing, load_off_mnist
from ..evaluation import metrics
from ..evaluation.significance import mcnemar_pairs
from ..results import load_predictions as load_arrays
from ..results import now, save_arrays, write_results
from ..schema import SCHEMA, Row
from .executors import InProcess
from .jobs import Job
from .saved import SavedModelError, open_run, run_test_set
from .saved_jobs import checked_model, run_saved_model_jobs, saved_model_jobs

FOLDER = "generalisation"  # inside the run folder: <model>.npz predictions and samples.npz
SAMPLES_NAME = "samples.npz"
N_SAMPLES = 20  # images per dataset in the report's grid
KEPT = ("accuracy", "accuracy_ci95_low", "accuracy_ci95_high", "error_count", "log_loss", "ece")


class GeneraliseError(ValueError):
    """The run, its saved models or the datasets asked for cannot be used."""


def choose_datasets(names: str | None, paths: dict[str, str]) -> tuple[list[str], list[str]]:
    """--datasets and --data -> (the datasets to score, one line per dataset skipped because its files are missing).

    names: comma-separated (a user's folder as folder:PATH), or None / 'all' for every dataset whose files can be
    found. A dataset asked for by name whose files are missing is an error; with 'all' it is skipped and named.
    """
    everything = names is None or names == "all"
    # 'all' is every dataset with files of its own; a user's folder is only ever scored when named
    wanted = (
        [n for n in OFF_MNIST if n != "folder"] if everything else [n.strip() for n in names.split(",") if n.strip()]
    )
    unknown = [n for n in wanted if (n not in OFF_MNIST or n == "folder") and not n.startswith("folder:")]
    if unknown:
        raise GeneraliseError(
            f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(OFF_MNIST)} or folder:PATH"
        )
    if stray := sorted(set(paths) - set(wanted)):
        raise GeneraliseError(f"--data names {', '.join(stray)}, which --datasets does not score")
    chosen, skipped = [], []
    for name in dict.fromkeys(wanted):
        try:
            _dataset(name, paths.get(name))
        except DatasetMissing as e:
            if not everything:
                raise GeneraliseError(str(e)) from None
            skipped.append(str(e))
            continue
        chosen.append(name)
    if not chosen:
        raise GeneraliseError("no off-MNIST dataset found: " + "; ".join(skipped))
    return chosen, skipped


@functools.lru_cache(maxsize=8)
def _dataset(name: str, path: str | None):
    """The dataset, read once per process (every model is scored on the same images)."""
    return load_off_mnist(name, path)


def model_task(job: Job, splits=None) -> dict:
    """A "generalise" job: one saved model of the run in job.out_dir scored on every chosen dataset.

    job.options: row (the model's Row JSON), datasets ([name, path or None] pairs), models_dir.
    Returns {dataset: {"entry": quality numbers, "predicted": (N,) digits}}.
    """
    est, _, _ = checked_model(job)
    out = {}
    for name, path in job.options["datasets"]:
        d = _dataset(name, path)
        proba = est.predict_proba(d.images)
        q = metrics.quality(d.labels, proba)
        out[name] = {"entry": {k: q[k] for k in KEPT}, "predicted": proba.argmax(axis=1).astype(np.int8)}
    return out


def _read_npz(path: Path) -> dict:
    return load_arrays(path) if path.is_file() else {}


def _key(i: int) -> str:
    return f"dataset_{i}"


def _save_predictions(folder: Path, model: str, names: list[str], predicted: dict) -> None:
    """Merge this model's predicted digits per dataset into folder/<model>.npz (dataset names kept in `names`)."""
    path = folder / f"{model}.npz"
    old = _read_npz(path)
    by_name = {str(n): old[_key(i)] for i, n in enumerate(old.get("names", []))}
    by_name.update({n: predicted[n] for n in names})
    arrays = {_key(i): p for i, p in enumerate(by_name.values())}
    save_arrays(path, names=np.array(list(by_name)), **arrays)


def load_predictions(folder: Path, model: str) -> dict[str, np.ndarray]:
    """{dataset: (N,) predicted digits} a model's generalise run kept (empty when none)."""
    saved = _read_npz(Path(folder) / f"{model}.npz")
    return {str(n): saved[_key(i)] for i, n in enumerate(saved.get("names", []))}


def _pair_up(rows: list[Row], folder: Path, name: str, dataset) -> None:
    """Exact McNemar tests between every two models scored on this copy of dataset `name` (same fingerprint),
    Holm-corrected over its pairs, into each of their rows."""
    predicted = {}
    for r in rows:
        entry = (r.generalisation or {}).get(name)
        if entry and entry["fingerprint"] == dataset.fingerprint:
            p = load_predictions(folder, r.name).get(name)
            if p is not None and len(p) == len(dataset.labels):
                predicted[r.name] = p
    tests = {n: {} for n in predicted}
    for pair in mcnemar_pairs(dataset.labels, predicted):
        a, b = pair["model_a"], pair["model_b"]
        common = {"p_value": pair["p_value"], "p_holm": pair["p_holm"], "significant": pair["significant"]}
        tests[a][b] = {
            "only_this_correct": pair["only_a_correct"],
            "only_other_correct": pair["only_b_correct"],
            **common,
        }
        tests[b][a] = {
            "only_this_correct": pair["only_b_correct"],
            "only_other_correct": pair["only_a_correct"],
            **common,
        }
    for r in rows:
        if r.name in tests:
            r.generalisation[name]["mcnemar"] = tests[r.name]


def run_generalise(
    run_dir,
    datasets=None,
    paths=None,
    models=None,
    command="",
    on_model=None,
    on_skip=None,
    executor=None,
    retries=0,
    on_retry=None,
    models_dir="models",
    resume=False,
) -> Path:
    """Score every saved model of the run in run_dir on the off-MNIST datasets; returns the results path.

    datasets: comma-separated names, or None / 'all' for every dataset found (see `choose_datasets`); paths:
    {dataset: file or folder} for the file-based ones (default: their environment variables). models: which of
    the run's models (None: every ok row). on_model(name, row.generalisation) after each model; on_skip(line)
    for each dataset skipped because its files are missing. resume: a model already scored on the same data
    (same dataset fingerprints) is not scored again.
    """
    run_dir, paths = Path(run_dir), dict(paths or {})
    try:
        results_path, results, rows = open_run(run_dir, models, models_dir)
        run_test_set(run_dir)
    except SavedModelError as e:
        raise GeneraliseError(str(e)) from None
    names, skipped = choose_datasets(datasets, paths)
    for line in skipped:
        if on_skip:
            on_skip(line)
    data = {n: _dataset(n, paths.get(n)) for n in names}
    folder = run_dir / FOLDER
    samples = {f"images_{i}": d.images[:N_SAMPLES] for i, d in enumerate(data.values())}
    labels = {f"labels_{i}": d.labels[:N_SAMPLES] for i, d in enumerate(data.values())}
    save_arrays(folder / SAMPLES_NAME, names=np.array(names), **samples, **labels)

    def done(row: Row) -> bool:
        return resume and all(
            n in (row.generalisation or {}) and row.generalisation[n]["fingerprint"] == data[n].fingerprint
            for n in names
        )

    results.schema = SCHEMA
    options = {"datasets": [[n, str(Path(paths[n]).resolve()) if n in paths else None] for n in names]}
    executor = executor or InProcess()
    profile = results.run.profile
    todo = [row for row in rows if not done(row)]
    jobs = saved_model_jobs(
        "generalise", "bench.run.generalise:model_task", todo, profile, run_dir, models_dir, executor, options
    )
    by_name = {row.name: row for row in rows}

    def finished(job, result, error, trace):
        if result is None:
            raise GeneraliseError(f"{job.model}: not scored off MNIST: {error}")
        row = by_name[job.model]
        mnist_accuracy = row.metrics["accuracy"]
        _save_predictions(folder, row.name, names, {n: result[n]["predicted"] for n in names})
        row.generalisation = dict(row.generalisation or {})
        for n in names:
            d = data[n]
            row.generalisation[n] = {
                **result[n]["entry"],
                "n": int(len(d.labels)),
                "drop": mnist_accuracy - result[n]["entry"]["accuracy"],
                "source": d.source,
                "fingerprint": d.fingerprint,
                "command": command,
                "finished_at": now(),
            }
        for n in names:
            _pair_up(rows, folder, n, data[n])
        write_results(results_path, results)  # each model's numbers are safe as soon as they exist
        if on_model:
            on_model(row.name, row.generalisation)

    try:
        run_saved_model_jobs(executor, jobs, finished, profile, retries, on_retry)
    except (SavedModelError, DataError) as e:
        raise GeneraliseError(str(e)) from None
    return results_path
