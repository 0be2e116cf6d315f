"""The search itself: scikit-learn's search classes made to run one candidate at a time, and the log
that records each trial as it ends.

GridSearchCV, RandomizedSearchCV and HalvingRandomSearchCV run the candidates on the common estimator
interface; `_TrialByTrial` hands them to scikit-learn one at a time, so `TrialLog` writes each trial
the moment it ends, checks the budget between trials and skips the trials a resumed search already has.
`candidates` lists what a grid or random search would try, for running its trials as jobs instead.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np

from ..results import now
from ..schema import OK

HALVING_FACTOR = 3  # each round keeps the best third of the candidates on three times the images


class BudgetSpent(Exception):
    """Raised between trials when the next trial would end after the budget."""


class NothingLeft(Exception):
    """Raised when every candidate of a resumed search already has its trial."""


def _plain(value):
    """NumPy scalars (from a sampled distribution) as plain Python values, for JSON and set_params."""
    return value.item() if isinstance(value, np.generic) else value


def trial_key(params: dict) -> str:
    """What identifies a candidate among the trials: its settings as sorted JSON."""
    return json.dumps({k: _plain(v) for k, v in params.items()}, sort_keys=True)


class TrialLog:
    """Written by the search between trials: saves each trial, enforces the budget, skips done trials."""

    def __init__(self, tuning: dict, save, budget_seconds, on_trial, skip_done: bool):
        self.tuning, self.save, self.on_trial = tuning, save, on_trial
        self.budget_seconds, self.start, self.ran = budget_seconds, time.perf_counter(), 0
        self.done = {trial_key(t["params"]) for t in tuning["trials"] if t["status"] == OK} if skip_done else set()
        self.longest = max(
            (t["fit_seconds"] + t["score_seconds"] for t in tuning["trials"] if t["status"] == OK), default=0.0
        )

    def before_trial(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.budget_seconds is not None and self.ran and elapsed + self.longest > self.budget_seconds:
            raise BudgetSpent

    def record(self, results: dict, caught: list) -> None:
        """The trial scikit-learn just scored: the last entry of its results so far."""
        failure = next((str(w.message) for w in caught if "fits failed" in str(w.message)), None)
        score = float(results["mean_test_score"][-1])
        self.add(
            {
                "params": results["params"][-1],
                "score": score if np.isfinite(score) else None,
                "fit_seconds": float(results["mean_fit_time"][-1]),
                "score_seconds": float(results["mean_score_time"][-1]),
                **{k: int(results[k][-1]) for k in ("iter", "n_resources") if k in results},
            },
            failure,
        )

    def record_failure(self, params: dict, extra: dict | None, message: str, seconds: float) -> None:
        """A trial whose fit raised: scikit-learn raises instead of scoring when all of a call's fits fail."""
        self.add(
            {
                "params": params,
                "score": None,
                "fit_seconds": seconds,
                "score_seconds": 0.0,
                **{k: int(v[0]) for k, v in (extra or {}).items()},
            },
            message,
        )

    def add(self, trial: dict, failure: str | None) -> None:
        """One finished trial: params, score (None: failed), fit_seconds, score_seconds; failure: why it failed."""
        trial = {
            "trial": len(self.tuning["trials"]) + 1,
            **trial,
            "params": {k: _plain(v) for k, v in trial["params"].items()},
            "status": OK if failure is None and trial["score"] is not None else "failed",
            "finished_at": now(),
        }
        if trial["status"] != OK:
            # the summary scikit-learn writes ends with the exception's own line
            lines = [line for line in (failure or "scored NaN").strip().splitlines() if line.strip()]
            trial["error"] = lines[-1][:500]
        self.tuning["trials"].append(trial)
        self.ran += 1
        self.longest = max(self.longest, trial["fit_seconds"] + trial["score_seconds"])
        self.tuning["best"] = best_trial(self.tuning)
        self.save()
        self.on_trial(trial)


class _TrialByTrial:
    """Mixin for scikit-learn's search classes: evaluate the candidates one at a time.

    BaseSearchCV hands `_run_search` a function that scores a list of candidates; this passes
    them on singly, so the trial log sees each trial as it ends (halving's per-candidate
    `more_results` are sliced to match).
    """

    trial_log: TrialLog

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        from sklearn.exceptions import FitFailedWarning

        # sklearn's callback contexts number their tasks per call and refuse a second task 0 under one parent;
        # no callback is used here, so the trials go without one
        def one_at_a_time(candidate_params, cv=None, more_results=None, callback_ctx=None):
            results = None
            for i, params in enumerate(list(candidate_params)):
                if trial_key(params) in self.trial_log.done:
                    continue
                self.trial_log.before_trial()
                extra = {k: v[i : i + 1] for k, v in more_results.items()} if more_results else None
                started = time.perf_counter()
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", FitFailedWarning)
                        results = evaluate_candidates([params], cv, more_results=extra)
                except ValueError as e:
                    if "fits failed" not in str(e):
                        raise
                    self.trial_log.record_failure(params, extra, str(e), time.perf_counter() - started)
                    continue
                self.trial_log.record(results, caught)
            if results is None:  # nothing scored: every candidate was done before, or failed
                raise NothingLeft
            return results

        return super()._run_search(one_at_a_time, callback_ctx=callback_ctx)


def _search_class(search: str):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV

    base = {"grid": GridSearchCV, "random": RandomizedSearchCV, "halving": HalvingRandomSearchCV}[search]
    return type(f"TrialByTrial{base.__name__}", (_TrialByTrial, base), {})


def make_search(search: str, estimator, space: dict, cv, n_iter: int, seed: int):
    """The scikit-learn search object: accuracy on the PredefinedSplit `cv`, no refit, failures scored NaN."""
    common = {"cv": cv, "refit": False, "error_score": np.nan, "n_jobs": 1}  # one trial at a time, in order
    cls = _search_class(search)
    if search == "grid":
        return cls(estimator, space, **common)
    if search == "random":
        return cls(estimator, space, n_iter=n_iter, random_state=seed, **common)
    return cls(
        estimator,
        space,
        n_candidates=n_iter,
        factor=HALVING_FACTOR,
        min_resources="exhaust",
        random_state=seed,
        return_train_score=False,
        **common,
    )


def best_trial(tuning: dict) -> dict | None:
    """The trial with the highest validation accuracy; for halving, among those of the last round reached."""
    ok = [t for t in tuning["trials"] if t["status"] == OK]
    if tuning["search"] == "halving" and ok:
        last = max(t.get("iter", 0) for t in ok)
        ok = [t for t in ok if t.get("iter", 0) == last]
    return max(ok, key=lambda t: t["score"], default=None)


def candidates(search: str, space: dict, n_iter: int, seed: int) -> list[dict]:
    """The candidates GridSearchCV / RandomizedSearchCV would evaluate, in their order, as plain values."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    found = ParameterGrid(space) if search == "grid" else ParameterSampler(space, n_iter, random_state=seed)
    return [{k: _plain(v) for k, v in p.items()} for p in found]
