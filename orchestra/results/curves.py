"""Learning curves across seeds: the mean and a band of the spread at each point.

Curves are aligned on ``x``. With ``x="step"`` every step any run logged is a point and each point
averages the runs that logged it (a run still going contributes to the early points only). With
``x="time"`` (seconds since the run's first record) or another metric as ``x``, runs that share
the exact same x values are averaged point by point, others are interpolated onto 256 points
spanning all of them, each run only within its own range.

The band: where 3 or more runs contribute, the 95 % confidence interval of the mean (Student's t:
mean +- t(0.975, n-1) * sd / sqrt(n)); where only 2 do, their min and max (a t-interval on two
points is +- 12.7 standard errors: it says nothing, and hides the curves); with 1, none.
:attr:`Curve.minmax` marks the points whose band is the min-max, so a plot can say so.

``smooth=N`` replaces each run's values by their centred moving average over N points (fewer at
the ends) before the runs are averaged; NaN stays NaN over the window that holds it.

``log=True`` (for a logarithmic axis) works on the values' logarithms and turns the results back:
the line is the geometric mean and the interval is symmetric in log space, so it never reaches
zero or below (a linear interval on a metric spanning decades often does, and a log axis cannot
draw it). Values at or below zero have no logarithm and are left out, with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestra.results.errors import MetricError, ResultsWarning, ScoreError
from orchestra.results.metrics import is_numeric
from orchestra.results.params import MISSING
from orchestra.results.runs import Run, Runs, group_label

GRID_POINTS = 256

# t(0.975, df) for df = 1..30; beyond, the Cornish-Fisher expansion below is accurate to 1e-4.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959963984540054


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError("t quantile needs df >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@dataclass(frozen=True, eq=False)
class Curve:
    """One group's learning curve: ``mean`` with a band ``low``/``high`` at each ``x``.

    ``n[i]`` is how many runs contribute at ``x[i]``; ``stderr`` (sd / sqrt n) is NaN where it is
    below 2. The band is the 95 % interval where ``n >= 3``, the min-max where ``n == 2``
    (``minmax`` is True there), and NaN where ``n < 2``. With ``log`` the statistics were taken
    on log10 values: ``mean`` is the geometric mean, and ``stderr`` is in log10 units.
    """

    label: str
    key: tuple[Any, ...]
    params: Mapping[str, Any]
    runs: Runs
    x: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    minmax: np.ndarray
    log: bool = False

    @property
    def unfinished(self) -> Runs:
        return self.runs.filter(lambda r: not r.finished)


def curves(
    runs: Runs,
    metric: str,
    *,
    x: str = "step",
    group_by: Sequence[str] | None = None,
    smooth: int = 1,
    log: bool = False,
) -> list[Curve]:
    """The curve of ``metric`` against ``x`` for each variant (or ``group_by`` group), in sweep order.

    Groups none of whose runs logged the metric are left out.
    """
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ScoreError(f"smoothing needs a whole number of points >= 1, got {smooth!r}")
    runs.check_x(x)
    out: list[Curve] = []
    groups: list[tuple[str, tuple[Any, ...], Mapping[str, Any], Runs]]
    if group_by:
        keys = runs.check_keys(group_by)
        groups = [
            (group_label(keys, k), k, {kk: None if v is MISSING else v for kk, v in zip(keys, k)}, g)
            for k, g in runs.group_by(keys).items()
        ]
    else:
        groups = [(name, (name,), g[0].params, g) for name, g in runs.by_variant().items()]
    dropped = 0
    for label, key, params, group in groups:
        series = [s for s in (_series(r, metric, x) for r in group) if s is not None]
        if not series:
            continue
        if log:
            dropped += sum(int((ys <= 0).sum()) for _, ys in series)
            with np.errstate(all="ignore"):
                series = [(xs, np.where(ys > 0, np.log10(ys), np.nan)) for xs, ys in series]
        if smooth > 1:
            series = [(xs, moving_average(ys, smooth)) for xs, ys in series]
        grid, matrix = _align(series, exact=(x == "step"))
        mean, stderr, n = _stats(matrix)
        half = _t975_per_point(n) * stderr
        low, high = mean - half, mean + half
        minmax = n == 2
        if minmax.any():
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                low[minmax] = np.nanmin(matrix[:, minmax], axis=0)
                high[minmax] = np.nanmax(matrix[:, minmax], axis=0)
        if log:
            mean, low, high = 10.0**mean, 10.0**low, 10.0**high
        out.append(Curve(label, key, params, group, grid, mean, stderr, low, high, n, minmax, log))
    if dropped:
        warnings.warn(
            f"{dropped} value(s) of {metric} are 0 or below and have no place on a log axis; left out",
            ResultsWarning,
            stacklevel=2,
        )
    if not out:
        runs.check_metric(metric)  # no run logged it: say which metrics they did log
    return out


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The centred mean of ``window`` points around each value (fewer at the ends); NaN spreads over its window."""
    n = len(values)
    if window <= 1 or n == 0:
        return values
    nan = np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(nan, 0.0, values))])
    nans = np.concatenate([[0], np.cumsum(nan)])
    i = np.arange(n)
    lo = np.maximum(0, i - (window - 1) // 2)
    hi = np.minimum(n, i + window // 2 + 1)
    out = (sums[hi] - sums[lo]) / (hi - lo)
    out[nans[hi] - nans[lo] > 0] = np.nan
    return out


def _series(run: Run, metric: str, x: str) -> tuple[np.ndarray, np.ndarray] | None:
    if x == "step":
        steps, ys = run.curve(metric)
        if not len(ys):
            return None
        if not is_numeric(ys):
            raise MetricError(
                f"metric {metric!r} of run {run.id} holds text, not numbers; choose a numeric metric"
            )
        xs = steps.astype(np.float64)
    else:
        m = run.metrics()
        if metric not in m or (x != "time" and x not in m):
            return None
        ys = m.values[metric]
        if not is_numeric(ys):
            raise MetricError(
                f"metric {metric!r} of run {run.id} holds text, not numbers; choose a numeric metric"
            )
        mask = m.present.get(metric, np.ones(len(m), dtype=bool))
        if x == "time":
            xs = m.time - m.time[0]
        else:
            xs = m.values[x]
            if not is_numeric(xs):
                raise MetricError(f"x metric {x!r} of run {run.id} holds text, not numbers")
            mask = mask & m.present.get(x, mask) & np.isfinite(xs)
        if not mask.any():
            return None
        xs, ys = xs[mask], ys[mask]
    xs, ys = xs.astype(np.float64), ys.astype(np.float64)
    if len(xs) > 1 and not bool((xs[1:] >= xs[:-1]).all()):
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    return xs, ys


def _align(series: list[tuple[np.ndarray, np.ndarray]], *, exact: bool) -> tuple[np.ndarray, np.ndarray]:
    """A common grid and a (runs x points) matrix, NaN where a run has no value."""
    first = series[0][0]
    if exact or all(len(xs) == len(first) and np.array_equal(xs, first) for xs, _ in series):
        grid = np.unique(np.concatenate([xs for xs, _ in series]))
        matrix = np.full((len(series), len(grid)), np.nan)
        for i, (xs, ys) in enumerate(series):
            matrix[i, np.searchsorted(grid, xs)] = ys
        return grid, matrix
    lo = min(float(xs[0]) for xs, _ in series)
    hi = max(float(xs[-1]) for xs, _ in series)
    grid = np.linspace(lo, hi, GRID_POINTS)
    matrix = np.full((len(series), len(grid)), np.nan)
    for i, (xs, ys) in enumerate(series):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        matrix[i, inside] = np.interp(grid[inside], xs, ys)
    return grid, matrix


def _stats(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and count of the finite values in each column."""
    finite = np.isfinite(matrix)
    n = finite.sum(axis=0)
    safe_n = np.maximum(n, 1)
    mean = np.where(n > 0, np.where(finite, matrix, 0.0).sum(axis=0) / safe_n, np.nan)
    dev = np.where(finite, matrix - mean, 0.0)
    var = np.where(n > 1, (dev**2).sum(axis=0) / np.maximum(n - 1, 1), np.nan)
    return mean, np.sqrt(var) / np.sqrt(safe_n), n


def _t975_per_point(n: np.ndarray) -> np.ndarray:
    df = n - 1
    t = np.full(len(n), math.nan)
    for d in np.unique(df[df >= 1]):
        t[df == d] = t975(int(d))
    return t
