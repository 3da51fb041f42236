"""The score of a run by a metric: what ``orchestra results`` ranks by, and what a search is told.

A run's score is the mean of its metric over a :class:`Window` of its curve: the whole curve (the
default, as PyExpUtils' ``getBest``), its last ``N`` values, or its last ``p`` percent of values
(rounded up, at least one). The curve is what :mod:`orchestra.results.metrics` reads (the newest
attempt wins) with the run's returned scalars as its final values. A group's score (a variant's
seeds, or any runs pooled together) is the mean of its runs' scores with the standard error
across them. NaN inside the window makes the run's score NaN, and so the group's: a config that
diverged on one seed is not the best.

This is the one implementation: :meth:`orchestra.results.Runs.rank` (``orchestra results``) calls
:func:`window_mean` on each run's curve, and a process that has no :class:`~orchestra.results.Runs`
at hand (the orchestrator telling an adaptive search how a candidate did) scores run directories
with :func:`score_run` and :func:`score_group`. Needs numpy only (no pandas, no matplotlib).

>>> from orchestra.results.objective import Window, score_group
>>> score_group(["sweeps/s/runs/lr=0.01/0", "sweeps/s/runs/lr=0.01/1"], "return", Window(last_pct=10))
GroupScore(mean=187.5, stderr=2.5, n=2, scores=(185.0, 190.0))
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestra.results.cache import load_metrics
from orchestra.results.errors import MetricError, ScoreError
from orchestra.results.metrics import is_numeric
from orchestra.rundir import RunDir


@dataclass(frozen=True)
class Window:
    """Which part of each curve is scored: all of it, the last ``last`` values, or the last ``last_pct`` %."""

    last: int | None = None
    last_pct: float | None = None

    def __post_init__(self) -> None:
        if self.last is not None and self.last_pct is not None:
            raise ScoreError("give either the last N steps or the last p percent, not both")
        if self.last is not None and (
            isinstance(self.last, bool) or not isinstance(self.last, int) or self.last < 1
        ):
            raise ScoreError(f"the last N steps needs a whole number N >= 1, got {self.last!r}")
        if self.last_pct is not None and not (0 < self.last_pct <= 100):
            raise ScoreError(f"the last p percent needs 0 < p <= 100, got {self.last_pct!r}")

    def select(self, values: np.ndarray) -> np.ndarray:
        if self.last is not None:
            return values[-self.last :]
        if self.last_pct is not None:
            k = max(1, math.ceil(len(values) * self.last_pct / 100 - 1e-9))
            return values[-k:]
        return values

    def describe(self) -> str:
        if self.last is not None:
            return f"the last {self.last} steps"
        if self.last_pct is not None:
            return f"the last {self.last_pct:g} % of steps"
        return "the whole curve"

    def to_json(self) -> dict[str, Any]:
        return {"last": self.last, "last_pct": self.last_pct}


@dataclass(frozen=True)
class GroupScore:
    """The score of a group of runs: mean and standard error of its runs' scores (``n`` of them)."""

    mean: float
    stderr: float
    n: int
    scores: tuple[float, ...]


def window_mean(values: np.ndarray, window: Window, metric: str, run: str) -> float | None:
    """The score of one run's curve of ``metric``: the mean over ``window``; None for an empty curve."""
    if not len(values):
        return None
    if not is_numeric(values):
        raise MetricError(f"metric {metric!r} of run {run} holds text, not numbers; choose a numeric metric")
    part = window.select(values)
    return float(np.add.reduce(part, dtype=np.float64)) / len(part)


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt n) of ``values``; NaN where undefined.

    Plain floats: a variant has a handful of seeds, and numpy's overhead is most of the cost there.
    """
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(values) / n
    if n == 1:
        return mean, math.nan
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var) / math.sqrt(n)


def score_run(run_dir: str | os.PathLike[str], metric: str, window: Window | None = None) -> float | None:
    """The score of the run in ``run_dir`` by ``metric``; None if it has not logged (or returned) it.

    Reads the run's ``status.json`` (its attempt), then its cached columns or ``metrics.jsonl``
    and ``result.json``, as ``orchestra results`` does; safe on a run that is still going.
    """
    path = os.fspath(run_dir)
    status = RunDir(path).read_status()
    attempt = status.attempt if status is not None else 0
    finished = status is not None and status.state.finished
    _, values = load_metrics(path, attempt, finished).curve(metric)
    return window_mean(values, window or Window(), metric, path)


def score_group(
    run_dirs: Iterable[str | os.PathLike[str]], metric: str, window: Window | None = None
) -> GroupScore:
    """The score of a group of runs (e.g. a candidate's seeds): the mean of their :func:`score_run`.

    Runs that have not logged the metric are left out (``n`` counts the others); ``mean`` is NaN
    when none has.
    """
    scores = tuple(s for s in (score_run(d, metric, window) for d in run_dirs) if s is not None)
    mean, stderr = mean_stderr(scores)
    return GroupScore(mean, stderr, len(scores), scores)
