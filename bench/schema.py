"""The contract between measuring and reporting: typed results, the metric table, run identity.

A results file (schema "digit-bench/results/2") is plain JSON:
    {"schema": ..., "run": Run, "models": {name: Row, ...}, "significance": {...}}
Schema 2 added the accuracy interval, calibration (ECE, Brier, reliability bins), robustness
per row, the McNemar comparison of every pair and learning-curve points; schema 1 files still
read (and write back unchanged when nothing is added); a command that adds to one (a resumed
run, robustness, curves) writes it as schema 2.
`Results.from_json` / `to_json` convert between that JSON and the typed objects below; the
runner writes them, the reports and the performance check read them. Nothing here imports
an estimator, TensorFlow or the runner.

`METRICS` says, once for everyone, how each metric is titled, formatted, and which direction
is better: the comparison tables bold the best value with it, the performance check judges a
change with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

SCHEMA = "digit-bench/results/2"
READABLE_SCHEMAS = ("digit-bench/results/1", SCHEMA)
N_CLASSES = 10
DIGITS = tuple(range(N_CLASSES))

HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Metric:
    """One measured quantity: `key` in a row's metrics, how a table shows it, which way is better."""

    key: str
    title: str
    format: str = "{:.4f}"
    unit: str = ""
    better: str | None = None  # HIGHER, LOWER, or None: no best (a parameter count)
    divisor: float = 1  # shown as value / divisor (bytes as MB)

    def show(self, value) -> str:
        return "-" if value is None else self.format.format(value / self.divisor if self.divisor != 1 else value)

    @property
    def higher_is_better(self) -> bool:
        return self.better == HIGHER

    def best(self, values):
        """The best of `values` (None ignored), or None when there is none or no direction."""
        values = [v for v in values if v is not None]
        if not values or self.better is None:
            return None
        return max(values) if self.better == HIGHER else min(values)


METRICS = {
    m.key: m
    for m in [
        Metric("accuracy", "accuracy", "{:.2%}", better=HIGHER),
        Metric("error_count", "errors", "{:,}", better=LOWER),
        Metric("log_loss", "log-loss", "{:.4f}", better=LOWER),
        Metric("precision_macro", "precision", "{:.4f}", better=HIGHER),
        Metric("recall_macro", "recall", "{:.4f}", better=HIGHER),
        Metric("f1_macro", "F1", "{:.4f}", better=HIGHER),
        Metric("roc_auc_macro", "ROC-AUC", "{:.5f}", better=HIGHER),
        Metric("accuracy_ci95_low", "95% CI low", "{:.2%}"),
        Metric("accuracy_ci95_high", "95% CI high", "{:.2%}"),
        Metric("ece", "ECE", "{:.4f}", better=LOWER),
        Metric("brier", "Brier", "{:.4f}", better=LOWER),
        Metric("train_seconds", "train s", "{:,.1f}", "s", LOWER),
        Metric("throughput_img_s", "img/s", "{:,.0f}", "img/s", HIGHER),
        Metric("latency_ms_p50", "p50 ms", "{:.3f}", "ms", LOWER),
        Metric("latency_ms_p90", "p90 ms", "{:.3f}", "ms", LOWER),
        Metric("latency_ms_p95", "p95 ms", "{:.3f}", "ms", LOWER),
        Metric("latency_ms_mean", "mean ms", "{:.3f}", "ms", LOWER),
        Metric("params", "params", "{:,}"),
        Metric("size_bytes", "size MB", "{:.2f}", "bytes", LOWER, divisor=1e6),
        Metric("reference_ms", "reference ms", "{:.1f}", "ms"),
    ]
}

# The comparison table's metric columns, in order (terminal, reports and README alike).
COMPARISON = [
    "accuracy",
    "log_loss",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc_macro",
    "train_seconds",
    "throughput_img_s",
    "latency_ms_p50",
    "latency_ms_p95",
    "params",
    "size_bytes",
]

# What a further seed of a --seeds N run records (throughput and latency do not depend on the seed).
SEED_METRICS = ("accuracy", "log_loss", "f1_macro", "roc_auc_macro", "error_count", "ece", "brier")

OK, FAILED = "ok", "failed"
# The kinds of a row's variants (`benchmark.py optimise`), in the order the report lists them
VARIANT_KINDS = ("runtime", "quantised", "pruned", "smaller")


@dataclass
class SeedRun:
    """One further seed of a model (--seeds N): its test quality and training time, or its error."""

    seed: int
    status: str
    finished_at: str | None = None
    train_seconds: float | None = None
    metrics: dict = field(default_factory=dict)  # SEED_METRICS
    error: str | None = None
    worker: dict | None = None  # where it ran: worker address, host, pid, thread counts (bench.run.jobs.where)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    def to_json(self) -> dict:
        if not self.ok:
            return {"seed": self.seed, "status": self.status, "error": self.error, "finished_at": self.finished_at}
        out = {
            "seed": self.seed,
            "status": self.status,
            "train_seconds": self.train_seconds,
            **self.metrics,
            "finished_at": self.finished_at,
        }
        return {**out, "worker": self.worker} if self.worker else out

    @classmethod
    def from_json(cls, d: dict) -> SeedRun:
        metrics = {k: d[k] for k in SEED_METRICS if k in d}
        return cls(
            d["seed"],
            d["status"],
            d.get("finished_at"),
            d.get("train_seconds"),
            metrics,
            d.get("error"),
            d.get("worker"),
        )


@dataclass
class Row:
    """The measurement of one model: what was trained, how, and every number measured on the test split.

    metrics: flat, keyed as in METRICS. per_class: lists indexed by digit (precision, recall, f1,
    support, roc_auc). confusion_matrix: 10x10 counts, rows true, columns predicted. history: one
    dict of per-epoch lists per trained network (Keras), else None. inference: how a model's own
    inference path agrees with the model it came from, else None. predictions_path: relative to the
    results file (an .npz of y_true, y_pred, proba).
    """

    name: str
    family: str
    status: str
    finished_at: str | None = None
    description: str = ""
    seed: int = 0
    estimator: str = ""
    settings: dict = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    metrics: dict = field(default_factory=dict)
    reference_ms_repeats: list = field(default_factory=list)
    per_class: dict = field(default_factory=dict)
    confusion_matrix: list = field(default_factory=list)
    history: list | None = None
    inference: dict | None = None
    model_path: str | None = None
    predictions_path: str | None = None
    reliability: dict | None = None  # calibration.reliability_bins of the test predictions (schema 2)
    robustness: dict | None = None  # accuracy under corruptions, written by `benchmark.py robustness` (schema 2)
    # dataset -> its scores on digits from elsewhere, written by `benchmark.py generalise` (bench.run.generalise)
    generalisation: dict | None = None
    # settings that replaced the registry's (`--params FILE`): {"settings": {...}, "source": FILE}; None: registry
    settings_source: dict | None = None
    # the same model through other runtimes or made smaller (`benchmark.py optimise`): one flat dict each
    variants: list | None = None
    # where it was trained and measured: worker address, host, pid, thread counts (bench.run.jobs.where)
    worker: dict | None = None
    # the runtime single-image latency was measured through (bench.evaluation.runtime_choice): latency_runtime,
    # n_checked and every candidate's agreement with the native digits and pilot median
    runtime: dict | None = None
    # where the time went, in seconds (bench.evaluation.metrics.time_breakdown): training phases, saving, measuring
    time_breakdown: dict | None = None
    seed_runs: list[SeedRun] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @classmethod
    def failed(cls, name: str, family: str, error: str, traceback: str, finished_at: str) -> Row:
        return cls(name, family, FAILED, finished_at, error=error, traceback=traceback)

    def to_json(self) -> dict:
        if not self.ok:
            return {
                "name": self.name,
                "family": self.family,
                "status": self.status,
                "error": self.error,
                "traceback": self.traceback,
                "finished_at": self.finished_at,
            }
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in _ROW_SPECIAL and not (f.name in _ROW_OPTIONAL and getattr(self, f.name) is None)
        }
        out["finished_at"] = self.finished_at  # last, as the runner has always written it
        if self.seed_runs:
            out["seed_runs"] = [s.to_json() for s in self.seed_runs]
        return out

    @classmethod
    def from_json(cls, d: dict) -> Row:
        known = {f.name for f in fields(cls)}
        row = cls(**{k: v for k, v in d.items() if k in known and k != "seed_runs"})
        row.seed_runs = [SeedRun.from_json(s) for s in d.get("seed_runs", [])]
        return row


_ROW_SPECIAL = {"seed_runs", "error", "traceback", "finished_at"}
_ROW_OPTIONAL = {
    "reliability",
    "robustness",
    "generalisation",
    "settings_source",
    "variants",
    "worker",
    "runtime",
    "time_breakdown",
}  # written only when measured, so schema 1 rows write back unchanged


@dataclass
class Run:
    """What a run was: command, profile, seeds, data (name, source, sizes, fingerprint), machine, sessions."""

    command: str
    profile: str
    seed: int
    dataset: dict  # data.Splits.describe(): name, source, fingerprint, is_sample, note, sizes, class counts
    environment: dict  # environment.describe(): versions, CPU, threads
    started_at: str
    profile_settings: dict = field(default_factory=dict)
    seeds: int = 1
    models_requested: list = field(default_factory=list)
    finished_at: str | None = None
    sessions: list = field(default_factory=list)
    total_wall_seconds: float = 0.0

    def to_json(self) -> dict:
        keys = (
            "command",
            "profile",
            "profile_settings",
            "seed",
            "seeds",
            "models_requested",
            "dataset",
            "environment",
            "started_at",
            "finished_at",
            "sessions",
            "total_wall_seconds",
        )
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_json(cls, d: dict) -> Run:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def identity(self) -> dict:
        """What must match between runs compared or resumed: profile, seed, dataset name and fingerprint."""
        return {
            "profile": self.profile,
            "seed": self.seed,
            "dataset": {"name": self.dataset["name"], "fingerprint": self.dataset["fingerprint"]},
        }


def identity_differences(expected: dict, got: dict) -> list[tuple[str, object, object]]:
    """(what, expected, got) for each part of two run identities (Run.identity) that differs."""
    pairs = [
        ("profile", expected["profile"], got["profile"]),
        ("seed", expected["seed"], got["seed"]),
        ("dataset", expected["dataset"]["name"], got["dataset"]["name"]),
        ("data fingerprint", expected["dataset"]["fingerprint"], got["dataset"]["fingerprint"]),
    ]
    return [(what, old, new) for what, old, new in pairs if old != new]


@dataclass
class Results:
    """A whole results file: the run and one row per model, in the order they were first measured."""

    run: Run
    models: dict[str, Row] = field(default_factory=dict)
    schema: str = SCHEMA
    # the exact McNemar test of every pair of ok models, Holm-corrected: {"method", "alpha", "n_test", "pairs"}
    significance: dict | None = None
    # learning-curve points (`benchmark.py curves`), one flat dict per model and training-set size:
    # model, family, size, seed, status, accuracy, train_seconds, settings, finished_at (error when failed)
    curves: list = field(default_factory=list)
    # a hyperparameter search (`benchmark.py tune`): model, search, space, trials (flat dicts), best, sessions
    tuning: dict | None = None

    def ok_rows(self) -> list[Row]:
        return [r for r in self.models.values() if r.ok]

    def failed_rows(self) -> list[Row]:
        return [r for r in self.models.values() if not r.ok]

    def is_ok(self, name: str) -> bool:
        return name in self.models and self.models[name].ok

    def to_json(self) -> dict:
        out = {
            "schema": self.schema,
            "run": self.run.to_json(),
            "models": {n: r.to_json() for n, r in self.models.items()},
        }
        if self.significance is not None:
            out["significance"] = self.significance
        if self.curves:
            out["curves"] = self.curves
        if self.tuning is not None:
            out["tuning"] = self.tuning
        return out

    @classmethod
    def from_json(cls, d: dict) -> Results:
        """d: a dict whose schema was checked; KeyError/TypeError when a required field is missing."""
        return cls(
            Run.from_json(d["run"]),
            {n: Row.from_json(r) for n, r in d["models"].items()},
            d["schema"],
            d.get("significance"),
            d.get("curves", []),
            d.get("tuning"),
        )
