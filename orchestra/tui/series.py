"""A run's metric history for plotting, read incrementally from its ``metrics.jsonl``.

The same reading as ``orchestra results`` (:mod:`orchestra.results.metrics`), record by record:
a later attempt's records replace what earlier attempts logged at or past its first step, and the
plot opens on the sweep's objective, else on the first metric that is neither the step nor a
counter (:func:`default_metric`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.rundir import METRICS_JSONL, SWEEP_JSON, JsonlTail, read_json_or_none
from orchestra.rundir.steps import is_step_key
from orchestra.scheduler.table import RunRow


def plottable(keys: Iterable[str], step: str | None = None) -> list[str]:
    """The metric names worth a plot or a column: everything but the step (declared or recognised)."""
    return [k for k in keys if not is_step_key(k, step)]


class MetricHistory:
    """Every numeric metric of one run by step; the newest attempt wins.

    A repeated step keeps its last value, and a record of a later attempt (a retry resumed from an
    older snapshot) removes every point at or past its step first, so no stale tail remains. At
    most ``max_points`` steps are kept per metric: past that, every other step is dropped, so a
    long run costs bounded memory and still plots its whole course.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_points: int = 2000) -> None:
        self.tail = JsonlTail(path)
        self.max_points = max_points
        self.series: dict[str, dict[int, float]] = {}
        self.latest_step: int | None = None
        self.attempt: int | None = None
        self._counting: dict[str, tuple[bool, bool, int]] = {}  # key -> (only rising ints, grew, last)

    def poll(self) -> bool:
        """Read new records; True when there were any."""
        records = self.tail.read_new()
        for rec in records:
            if not isinstance(rec, dict):
                continue
            step, values = rec.get("step"), rec.get("values")
            if not isinstance(step, int) or not isinstance(values, dict):
                continue
            attempt = rec.get("attempt")
            if isinstance(attempt, int):
                if self.attempt is not None and attempt > self.attempt:
                    self._forget_from(step)
                self.attempt = attempt
            self.latest_step = step
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                self._count(key, value)
                points = self.series.setdefault(key, {})
                points[step] = float(value)
                if len(points) > 2 * self.max_points:
                    self.series[key] = {s: points[s] for s in sorted(points)[::2]}
        return bool(records)

    def _forget_from(self, step: int) -> None:
        for key, points in self.series.items():
            if any(s >= step for s in points):
                self.series[key] = {s: v for s, v in points.items() if s < step}
        # a counter restarts from the snapshot with the attempt: only a fall within one counts
        self._counting = {k: (rising, grew, -(2**63)) for k, (rising, grew, _) in self._counting.items()}

    def _count(self, key: str, value: float) -> None:
        rising, grew, last = self._counting.get(key, (True, False, 0))
        if key not in self._counting:
            rising = type(value) is int
        elif rising:
            rising = type(value) is int and value >= last
            grew = grew or (value > last and last != -(2**63))
        self._counting[key] = (rising, grew, value if type(value) is int else 0)

    def counters(self) -> set[str]:
        """Metrics logged as integers that never went down and went up: counters, not results."""
        return {k for k, (rising, grew, _) in self._counting.items() if rising and grew}

    def metrics(self, step: str | None = None) -> list[str]:
        """Names of the plottable metrics, in the order they were first logged."""
        return plottable(self.series, step)

    def points(self, metric: str) -> list[tuple[int, float]]:
        """``(step, value)`` pairs of ``metric`` in step order."""
        return sorted(self.series.get(metric, {}).items())


@dataclass(frozen=True)
class Series:
    """One line of a plot: ``(step, value)`` points in step order, its label and colour."""

    label: str
    points: Sequence[tuple[float, float]]
    style: str


SELECTED_STYLE = "bold bright_cyan"
OTHER_STYLES = ("magenta", "yellow", "green", "blue", "red", "bright_black")


class Histories:
    """The metric histories of the runs looked at lately (at most ``size``, least recent dropped)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._runs: OrderedDict[str, MetricHistory] = OrderedDict()
        self._settings: dict[Path, Mapping[str, Any]] = {}

    def get(self, row: RunRow) -> MetricHistory:
        """The run's history, with what it logged since the last call read in."""
        history = self._runs.get(row.id)
        if history is None:
            history = self._runs[row.id] = MetricHistory(row.dir / METRICS_JSONL)
            if len(self._runs) > self.size:
                self._runs.popitem(last=False)
        self._runs.move_to_end(row.id)
        history.poll()
        return history

    def settings(self, row: RunRow) -> Mapping[str, Any]:
        """The settings recorded in the sweep.json of ``row``'s sweep (read once): step, objective, mode."""
        sweep_dir = Path(row.dir).parent.parent.parent
        found = self._settings.get(sweep_dir)
        if found is None:
            plan = read_json_or_none(sweep_dir / SWEEP_JSON)
            settings = plan.get("settings") if isinstance(plan, dict) else None
            found = self._settings[sweep_dir] = settings if isinstance(settings, dict) else {}
        return found


def variant_metrics(histories: Histories, runs: Sequence[RunRow]) -> list[str]:
    """The plottable metrics any of ``runs`` logged, in first-logged order."""
    step = histories.settings(runs[0]).get("step") if runs else None
    names: dict[str, None] = {}
    for row in runs:
        names.update(dict.fromkeys(histories.get(row).metrics(step)))
    return list(names)


def default_metric(histories: Histories, runs: Sequence[RunRow]) -> str | None:
    """The metric the plot opens on: the sweep's objective once a run logged it; else the first
    metric logged that is neither the step nor a counter (an integer that only grows); else the first.
    """
    names = variant_metrics(histories, runs)
    if not names:
        return None
    objective = histories.settings(runs[0]).get("objective")
    if objective in names:
        return str(objective)
    histories_ = [histories.get(row) for row in runs]
    counted = set().union(*(h.counters() for h in histories_))
    not_counted = set().union(*(set(h.series) - h.counters() for h in histories_))
    return next((n for n in names if n not in counted or n in not_counted), names[0])


def variant_series(histories: Histories, runs: Sequence[RunRow], selected: str, metric: str) -> list[Series]:
    """``metric`` of each run of a variant (one per seed), the ``selected`` run last and brightest."""
    others = [r for r in runs if r.id != selected]
    chosen = [r for r in runs if r.id == selected]
    out = []
    for k, row in enumerate(others):
        out.append(
            Series(f"seed {row.seed}", histories.get(row).points(metric), OTHER_STYLES[k % len(OTHER_STYLES)])
        )
    for row in chosen:
        out.append(Series(f"seed {row.seed}", histories.get(row).points(metric), SELECTED_STYLE))
    return out
