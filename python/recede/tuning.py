"""Tuning files as Optuna objectives.

A tuning file (``configs/tune_*.toml``, docs/tuning.md) names the scenario
keys to tune, their ranges and scales, the scenarios and seeds to run, and
the objective. :func:`objective` turns it into a function of an Optuna
trial that suggests each parameter on its range (log scale and integers as
the file says) and evaluates it with the same code as ``recede tune``:
workers on different machines share one study through Optuna's storage
(``JournalFileStorage`` on a shared disk, or an RDB URL).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Union

from ._recede import Tune

__all__ = ["objective", "suggest", "start_params"]


def suggest(trial: Any, parameter: dict) -> float:
    """The trial's value for one parameter of a :class:`Tune`."""
    name, low, high, log = parameter["name"], parameter["low"], parameter["high"], parameter["log"]
    if parameter["integer"]:
        return float(trial.suggest_int(name, int(low), int(high), log=log))
    return trial.suggest_float(name, low, high, log=log)


def start_params(tune: Union[Tune, str, "os.PathLike[str]"]) -> dict:
    """The file's starting values, for ``study.enqueue_trial``."""
    if not isinstance(tune, Tune):
        tune = Tune.load(os.fspath(tune))
    return {
        p["name"]: int(p["start"]) if p["integer"] else p["start"] for p in tune.parameters
    }


def objective(
    tune: Union[Tune, str, "os.PathLike[str]"], failed_value: float = math.inf
) -> Callable[[Any], float]:
    """An Optuna objective for a tuning file: the mean cost over its
    training scenarios and seeds, ``failed_value`` for a candidate that
    fails (diverges, collides, misses a required goal); the failure and
    per-run costs are stored as the trial's user attributes."""
    if not isinstance(tune, Tune):
        tune = Tune.load(os.fspath(tune))
    parameters = tune.parameters

    def evaluate(trial: Any) -> float:
        values = [suggest(trial, p) for p in parameters]
        value, failure, runs = tune.evaluate(values)
        trial.set_user_attr("runs", [{k: r[k] for k in ("scenario", "seed", "cost")} for r in runs])
        if failure is not None:
            trial.set_user_attr("failure", failure)
            return failed_value
        return value

    return evaluate
