"""Ranking variants (or groups of runs) by a metric: which config is best.

Each run is scored by :func:`orchestra.results.objective.window_mean` (the mean of its metric over
a window of its curve); a variant's score is the mean of its runs' scores, with the standard
error across runs (NaN for a single run). Every run that logged the metric counts, whatever its
state (a failed run up to its failure, a running one so far); runs that have not logged it yet
are left out and the variant's ``n`` says how many counted.

Ranking puts every variant with a number first (best first, by ``mode``), then the NaN ones (a
run that logged NaN inside its window scores NaN, and so does its variant), then those with no
data at all; ties keep sweep order, so the earlier variant wins, as PyExpUtils' strict
comparison does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestra.results.errors import ScoreError
from orchestra.results.objective import Window, mean_stderr, window_mean
from orchestra.results.params import MISSING
from orchestra.results.runs import Runs, group_label

if TYPE_CHECKING:
    from orchestra.results.runs import Run

MODES = ("max", "min")


@dataclass(frozen=True)
class Score:
    """A variant (or a group of runs) scored by a metric.

    ``scores`` holds one number per run that logged the metric; ``mean`` and ``stderr`` are across
    them. ``params`` are the variant's parameters (or the group's key values).
    """

    label: str
    key: tuple[Any, ...]
    params: Mapping[str, Any]
    runs: Runs
    scores: tuple[float, ...]
    mean: float
    stderr: float

    @property
    def n(self) -> int:
        """How many runs have a score."""
        return len(self.scores)

    @property
    def unfinished(self) -> Runs:
        """The group's runs that have not finished (queued, running, lost)."""
        return self.runs.filter(lambda r: not r.finished)

    @property
    def variant(self) -> str | None:
        """The variant's name when all runs are seeds of one variant."""
        names = {r.variant for r in self.runs}
        return names.pop() if len(names) == 1 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "variant": self.variant,
            "params": dict(self.params),
            "mean": self.mean,
            "stderr": self.stderr,
            "n": self.n,
            "scores": list(self.scores),
            "runs": len(self.runs),
            "states": self.runs.states(),
        }


def run_score(run: Run, metric: str, window: Window) -> float | None:
    """The mean of ``metric`` over the run's window; None if it never logged it; NaN inside -> NaN."""
    return window_mean(run.values(metric), window, metric, run.id)


def rank(
    runs: Runs,
    metric: str,
    *,
    mode: str,
    window: Window | None = None,
    group_by: Sequence[str] | None = None,
) -> list[Score]:
    """Score every variant (or every group of ``group_by`` values) by ``metric``; best first."""
    if mode not in MODES:
        raise ScoreError(f"mode must be 'max' or 'min', got {mode!r}")
    window = window or Window()
    out: list[Score] = []
    if group_by:
        keys = runs.check_keys(group_by)
        for key, group in runs.group_by(keys).items():
            params = {k: None if v is MISSING else v for k, v in zip(keys, key)}
            out.append(_score(group_label(keys, key), key, params, group, metric, window))
    else:
        for name, group in runs.by_variant().items():
            out.append(_score(name, (name,), group[0].params, group, metric, window))
    if not any(s.n for s in out):
        runs.check_metric(metric)  # no run logged it: say which metrics they did log
    sign = -1.0 if mode == "max" else 1.0

    def order(s: Score) -> tuple[int, float]:
        if s.n == 0:
            return (2, 0.0)
        if math.isnan(s.mean):
            return (1, 0.0)
        return (0, sign * s.mean)

    return sorted(out, key=order)  # stable: ties keep sweep order


def _score(
    label: str, key: tuple[Any, ...], params: Mapping[str, Any], group: Runs, metric: str, window: Window
) -> Score:
    scores = tuple(s for s in (run_score(r, metric, window) for r in group) if s is not None)
    mean, stderr = mean_stderr(scores)
    return Score(label, key, params, group, scores, mean, stderr)


def guess_mode(metric: str) -> str:
    """``min`` for names that read as costs (loss, error, regret, ...), else ``max``."""
    words = {w for w in "".join(c if c.isalnum() else " " for c in metric.lower()).split()}
    costs = {"loss", "error", "err", "mse", "mae", "rmse", "regret", "cost", "perplexity", "ppl", "nll"}
    if words & costs or any(metric.lower().endswith(c) for c in ("loss", "error")):
        return "min"
    return "max"
