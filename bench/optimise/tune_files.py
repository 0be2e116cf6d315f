"""The files a search reads and writes settings through: search spaces (`tune --space`) and the
settings a run takes (`benchmark.py --params`). Plain JSON in, checked against the registry's
estimators, one-line `TuneError`s naming the file, the model or the parameter.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..registry import MODELS

DISTRIBUTIONS = ("loguniform", "uniform", "randint")


class TuneError(ValueError):
    """The model, search space, budget or output folder cannot be used as asked."""


def parse_space(space, model: str, source: str, search: str) -> dict:
    """A search space as data -> what scikit-learn's search classes take ({param: list | distribution}).

    space: {param: [values...]} or {param: {"loguniform" | "uniform" | "randint": [low, high]}};
    distributions only for random and halving searches. Errors name the source and the parameter.
    """
    from scipy import stats

    if not isinstance(space, dict) or not space:
        raise TuneError(f'{source}: the search space is empty; give at least one parameter, e.g. {{"C": [1, 10]}}')
    params = MODELS[model].estimator_class().get_params()
    parsed = {}
    for name, values in space.items():
        if name not in params:
            raise TuneError(f"{source}: {model} has no parameter {name!r} (it has: {', '.join(sorted(params))})")
        if isinstance(values, list):
            if not values:
                raise TuneError(f"{source}: {name} has an empty list of values")
            parsed[name] = values
            continue
        kind = next(iter(values)) if isinstance(values, dict) and len(values) == 1 else None
        bounds = values.get(kind) if kind else None
        if kind not in DISTRIBUTIONS or not (
            isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds)
        ):
            raise TuneError(
                f"{source}: {name} must be a list of values or one of "
                f'{{"{"|".join(DISTRIBUTIONS)}": [low, high]}}, got {json.dumps(values)}'
            )
        low, high = bounds
        if not low < high or (kind == "loguniform" and low <= 0):
            raise TuneError(
                f"{source}: {name}: {kind} needs 0 < low < high"
                if kind == "loguniform"
                else f"{source}: {name}: {kind} needs low < high, got {bounds}"
            )
        if search == "grid":
            raise TuneError(
                f"{source}: a grid search needs a list of values for {name}, not a {kind} distribution "
                "(use --search random or halving)"
            )
        if kind == "loguniform":
            parsed[name] = stats.loguniform(low, high)
        elif kind == "uniform":
            parsed[name] = stats.uniform(low, high - low)
        else:
            parsed[name] = stats.randint(int(low), int(high) + 1)
    return parsed


def read_space_file(path) -> dict:
    """The JSON object in `path`; TuneError naming the file when it is missing or not a JSON object."""
    space = _read_json(path, "", "no such search-space file", "not a JSON search space")
    if not isinstance(space, dict):
        raise TuneError(f"{path}: must hold a JSON object of parameter -> values, got {type(space).__name__}")
    return space


def _read_json(path, prefix: str, missing: str, unreadable: str):
    """The JSON in `path`; TuneError '<prefix><path>: <missing>' or '...: <unreadable> (<why>)' otherwise."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TuneError(f"{prefix}{path}: {missing}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TuneError(f"{prefix}{path}: {unreadable} ({e})") from None


def grid_size(space: dict) -> int | None:
    """Candidates in a space of lists only; None when it has a distribution (endless)."""
    if any(not isinstance(v, list) for v in space.values()):
        return None
    return math.prod(len(v) for v in space.values())


def read_params_file(path) -> dict[str, dict]:
    """--params FILE -> {model: {param: value}}: a tune results file (its best trial) or a JSON object of
    model -> settings. One-line errors name the file, the model or the parameter."""
    data = _read_json(path, "--params: ", "no such file", "not JSON")
    if isinstance(data, dict) and isinstance(data.get("tuning"), dict):
        best = data["tuning"].get("best")
        if not best:
            raise TuneError(f"--params: {path}: the search in it has no finished trial yet")
        data = {data["tuning"]["model"]: best["params"]}
    if not isinstance(data, dict) or not data:
        raise TuneError(f"--params: {path}: must be a tune results.json or a JSON object of model -> settings")
    for model, params in data.items():
        if model not in MODELS:
            raise TuneError(f"--params: {path}: unknown model {model!r}; choose from {', '.join(MODELS)}")
        if not isinstance(params, dict):
            raise TuneError(f"--params: {path}: the settings of {model} must be a JSON object")
        known = MODELS[model].estimator_class().get_params()
        if unknown := sorted(set(params) - set(known)):
            raise TuneError(
                f"--params: {path}: {model} has no parameter {', '.join(map(repr, unknown))} "
                f"(it has: {', '.join(sorted(known))})"
            )
    return data
