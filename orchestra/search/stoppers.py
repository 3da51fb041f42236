"""Early stopping: ``ASHA`` and ``MedianStopping``, fed with every metrics record of running runs.

A stopper sees ``(run, t, value)`` for each record a running run logs (``t`` is the record's step,
or the logged value of ``time_attr``; ``value`` the logged ``metric``) and answers whether to stop
the run now. A stopped run gets SIGTERM (it may snapshot) and ends as ``stopped``, reason
``stopped_early``: finished, not failed, never retried. Decisions compare runs, each seed of a
config on its own. On resume a stopper is rebuilt from the runs' ``metrics.jsonl`` files.

Pure Python (no numpy): a grid with a stopper needs no extra.
"""

from __future__ import annotations

import bisect
import math
import random
from abc import ABC, abstractmethod
from typing import Any

from orchestra.search.base import MODES, SearchError


def _check_number(value: Any, what: str, *, above: float, integer: bool = False, equal: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kinds) and value != math.inf
    if not ok or not (value >= above if equal else value > above):
        kind = "an integer" if integer else "a number"
        raise SearchError(f"{what} must be {kind} {'>=' if equal else '>'} {above:g}, got {value!r}")
    return value


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class Stopper(ABC):
    """What the stoppers share: the metric, the direction, the time attribute.

    ``metric`` and ``mode`` default to the sweep's objective and mode.
    """

    def __init__(self, metric: str | None, mode: str | None, time_attr: str | None) -> None:
        who = type(self).__name__
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise SearchError(f"{who} metric must be the name of a logged metric, got {metric!r}")
        if mode is not None and mode not in MODES:
            raise SearchError(f"{who} mode must be 'max' or 'min', got {mode!r}")
        if time_attr is not None and (not isinstance(time_attr, str) or not time_attr):
            raise SearchError(f"{who} time_attr must be the name of a logged key, got {time_attr!r}")
        self.metric = metric
        self.mode = mode
        self.time_attr = time_attr

    def bind(self, objective: str | None, mode: str | None) -> None:
        """Take the sweep's objective and mode where none were given."""
        who = type(self).__name__
        if self.metric is None:
            if objective is None:
                raise SearchError(
                    f"{who} needs a metric: {who}(metric='return', mode='max'), or Sweep(objective=, mode=)"
                )
            self.metric = objective
            self.mode = self.mode or mode
        if self.mode is None:
            raise SearchError(f"{who}(metric={self.metric!r}) needs mode='max' or mode='min'")

    def sign(self, value: float) -> float:
        """``value`` with bigger meaning better."""
        return value if self.mode == "max" else -value

    @abstractmethod
    def on_result(self, run: str, t: float, value: float) -> bool:
        """Take a record of a running run; True: stop it now."""

    def describe(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "metric": self.metric,
            "mode": self.mode,
            "time_attr": self.time_attr,
            **self.options(),
        }

    def options(self) -> dict[str, Any]:
        return {}


class _Bracket:
    """One bracket of asynchronous successive halving: rungs at ``grace * rf**(k + s)``, newest first."""

    def __init__(self, grace: float, max_t: float, rf: float, s: int) -> None:
        self.rf = rf
        milestones = []
        k = 0
        while grace * rf ** (k + s) <= max_t * (1 + 1e-12):
            milestones.append(grace * rf ** (k + s))
            k += 1
        self.rungs: list[tuple[float, dict[str, float]]] = [(m, {}) for m in reversed(milestones)]

    def cutoff(self, recorded: dict[str, float]) -> float | None:
        """The value a run must reach at a rung to go on: the top ``1/rf`` of those recorded there."""
        if not recorded:
            return None
        return percentile(list(recorded.values()), (1 - 1 / self.rf) * 100)

    def on_result(self, run: str, t: float, value: float) -> bool:
        for milestone, recorded in self.rungs:
            if t >= milestone and run in recorded:
                return False  # judged at this rung already: it goes on until the next one
            if t < milestone:
                continue
            cutoff = self.cutoff(recorded)
            recorded[run] = value
            return cutoff is not None and value < cutoff
        return False


class ASHA(Stopper):
    """Asynchronous successive halving (Li et al. 2020), stop-only, as Ray Tune's ``ASHAScheduler``.

    Rungs sit at ``grace_period * reduction_factor**k`` (up to ``max_t``). When a run first
    reaches a rung, its value there is compared with the values other runs had at that rung: below
    the top ``1 / reduction_factor`` of them, it is stopped. Runs that reach ``max_t`` are stopped
    too. ``brackets > 1`` spreads runs over brackets whose first rung is ever later (Ray's softmax
    over the brackets' sizes, drawn from the run's name so a sweep decides the same way again).

    >>> ASHA(metric="return", mode="max", max_t=100, grace_period=10, reduction_factor=3)
    """

    def __init__(
        self,
        metric: str | None = None,
        mode: str | None = None,
        *,
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 4,
        brackets: int = 1,
        time_attr: str | None = None,
    ) -> None:
        super().__init__(metric, mode, time_attr)
        self.max_t = _check_number(max_t, "ASHA max_t", above=0)
        self.grace_period = _check_number(grace_period, "ASHA grace_period", above=0)
        self.reduction_factor = _check_number(reduction_factor, "ASHA reduction_factor", above=1)
        self.brackets = _check_number(brackets, "ASHA brackets", above=0, integer=True)
        if grace_period > max_t:
            raise SearchError(f"ASHA grace_period {grace_period!r} must not exceed max_t {max_t!r}")
        self._brackets = [_Bracket(grace_period, max_t, reduction_factor, s) for s in range(brackets)]
        self._of: dict[str, _Bracket] = {}

    def _bracket(self, run: str) -> _Bracket:
        bracket = self._of.get(run)
        if bracket is None:
            if len(self._brackets) == 1:
                bracket = self._brackets[0]
            else:
                sizes = [len(b.rungs) for b in self._brackets]
                weights = [math.exp(n - max(sizes)) for n in sizes]
                bracket = random.Random(run).choices(self._brackets, weights)[0]
            self._of[run] = bracket
        return bracket

    def on_result(self, run: str, t: float, value: float) -> bool:
        if t >= self.max_t:
            return True
        if not math.isfinite(value):
            return False
        return self._bracket(run).on_result(run, t, self.sign(value))

    def options(self) -> dict[str, Any]:
        return {
            "max_t": self.max_t,
            "grace_period": self.grace_period,
            "reduction_factor": self.reduction_factor,
            "brackets": self.brackets,
        }


class _Curve:
    """One run's values by step, with running sums for the mean up to any step."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.values: list[float] = []
        self.sums: list[float] = []

    def add(self, t: float, value: float) -> None:
        if self.steps and t <= self.steps[-1]:  # a retry resumed from an older step: the newest attempt wins
            keep = bisect.bisect_left(self.steps, t)
            del self.steps[keep:], self.values[keep:], self.sums[keep:]
        self.steps.append(t)
        self.values.append(value)
        self.sums.append(value + (self.sums[-1] if self.sums else 0.0))

    def mean_until(self, t: float) -> float | None:
        """The running mean of the values logged up to step ``t``, if the run got that far."""
        if not self.steps or self.steps[-1] < t:
            return None
        i = bisect.bisect_right(self.steps, t)
        return self.sums[i - 1] / i if i else None


class MedianStopping(Stopper):
    """The median stopping rule (Golovin et al. 2017, Google Vizier; Ray Tune's ``MedianStoppingRule``).

    At each step ``t >= grace_period``, a run whose best value so far is worse than the median of
    the other runs' running means up to ``t`` is stopped, once at least ``min_samples_required``
    other runs have reached ``t``.

    >>> MedianStopping(metric="return", mode="max", grace_period=10)
    """

    def __init__(
        self,
        metric: str | None = None,
        mode: str | None = None,
        *,
        grace_period: float = 1,
        min_samples_required: int = 3,
        time_attr: str | None = None,
    ) -> None:
        super().__init__(metric, mode, time_attr)
        self.grace_period = _check_number(grace_period, "MedianStopping grace_period", above=0, equal=True)
        self.min_samples_required = _check_number(
            min_samples_required, "MedianStopping min_samples_required", above=0, integer=True
        )
        self._curves: dict[str, _Curve] = {}

    def on_result(self, run: str, t: float, value: float) -> bool:
        if not math.isfinite(value):
            return False
        curve = self._curves.setdefault(run, _Curve())
        curve.add(t, self.sign(value))
        if t < self.grace_period:
            return False
        others = [m for r, c in self._curves.items() if r != run and (m := c.mean_until(t)) is not None]
        if len(others) < self.min_samples_required:
            return False
        best = max(curve.values)
        return best < percentile(others, 50)

    def options(self) -> dict[str, Any]:
        return {"grace_period": self.grace_period, "min_samples_required": self.min_samples_required}


def stopper_from_json(d: Any) -> Stopper | None:
    """The stopper a ``sweep.json`` describes (:meth:`Stopper.describe`); None for one of another kind."""
    kinds: dict[str, type[Stopper]] = {"ASHA": ASHA, "MedianStopping": MedianStopping}
    if not isinstance(d, dict) or d.get("kind") not in kinds:
        return None
    options = {k: v for k, v in d.items() if k != "kind"}
    return kinds[d["kind"]](**options)
