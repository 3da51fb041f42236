"""A run's metric history for plotting, read incrementally from its ``metrics.jsonl``."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestra.rundir import METRICS_JSONL, STEP_KEYS, JsonlTail
from orchestra.scheduler.table import RunRow


def plottable(keys: Iterable[str]) -> list[str]:
    """The metric names worth a plot or a column: everything but the step counters."""
    return [k for k in keys if k not in STEP_KEYS]


class MetricHistory:
    """Every numeric metric of one run by step; after a retry a repeated step keeps its last value.

    At most ``max_points`` steps are kept per metric: past that, every other step is dropped, so a
    long run costs bounded memory and still plots its whole course.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_points: int = 2000) -> None:
        self.tail = JsonlTail(path)
        self.max_points = max_points
        self.series: dict[str, dict[int, float]] = {}
        self.latest_step: int | None = None

    def poll(self) -> bool:
        """Read new records; True when there were any."""
        records = self.tail.read_new()
        for rec in records:
            if not isinstance(rec, dict):
                continue
            step, values = rec.get("step"), rec.get("values")
            if not isinstance(step, int) or not isinstance(values, dict):
                continue
            self.latest_step = step
            for key, value in values.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                points = self.series.setdefault(key, {})
                points[step] = float(value)
                if len(points) > 2 * self.max_points:
                    self.series[key] = {s: points[s] for s in sorted(points)[::2]}
        return bool(records)

    def metrics(self) -> list[str]:
        """Names of the plottable metrics, in the order they were first logged."""
        return plottable(self.series)

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


def variant_metrics(histories: Histories, runs: Sequence[RunRow]) -> list[str]:
    """The plottable metrics any of ``runs`` logged, in first-logged order."""
    names: dict[str, None] = {}
    for row in runs:
        names.update(dict.fromkeys(histories.get(row).metrics()))
    return list(names)


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
