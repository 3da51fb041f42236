"""What the dashboard shows of a search: each run's trial and generation, the best so far, the
objective over trials.

A search's driver labels each run with its candidate's ``trial`` (and ``generation`` for a
generational search) when it proposes it, and with the candidate's ``score`` once told
(:mod:`orchestra.search.driver`); the objective and its direction are in ``sweep.json``, and what
was told in ``search.json`` (read when the rows carry no scores: a sweep read from its files).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestra.rundir import read_json_or_none
from orchestra.scheduler.table import RunRow
from orchestra.search.base import SEARCH_JSON
from orchestra.tui.series import SELECTED_STYLE, Histories, Series

OBJECTIVE_PLOT = "objective by trial"  # the plot's pseudo-metric: a point per told candidate
BEST_STYLE = "bold green"
TOLD_STYLE = "bright_black"


def trial_text(row: RunRow) -> str:
    """``g3 #17`` (a generational search's generation and trial), ``#17``, or ``""``."""
    labels = row.labels
    if "trial" not in labels:
        return ""
    generation = labels.get("generation")
    return f"g{generation} #{labels['trial']}" if generation is not None else f"#{labels['trial']}"


def trial_key(row: RunRow) -> tuple[int, int]:
    labels = row.labels
    return (labels.get("generation") or 0, labels.get("trial", -1))


@dataclass(frozen=True)
class Objective:
    """The objective a search optimises and whether bigger is better."""

    name: str
    mode: str

    def better(self, a: float, b: float) -> bool:
        return a > b if self.mode == "max" else a < b


Told = tuple[int, float, str]  # a told candidate: trial, score, variant


class SearchInfo:
    """The search of the sweep a dashboard shows: its objective (the settings ``histories`` read
    from ``sweep.json``) and the scores told so far (the runs' labels; ``search.json`` for a sweep
    read from its files)."""

    def __init__(self, histories: Histories) -> None:
        self.histories = histories
        self._saved: tuple[float, list[Told]] = (-1.0, [])

    def objective(self, rows: tuple[RunRow, ...]) -> Objective | None:
        row = next((r for r in rows if "trial" in r.labels), None)
        if row is None:
            return None
        search = self.histories.settings(row).get("search")
        if not isinstance(search, Mapping) or search.get("mode") not in ("max", "min"):
            return None
        return Objective(str(search.get("objective")), search["mode"])

    def scores(self, rows: tuple[RunRow, ...]) -> list[Told]:
        """``(trial, score, variant)`` of every told candidate, by trial."""
        seen: dict[int, Told] = {}
        for r in rows:
            score = r.labels.get("score")
            if isinstance(score, (int, float)) and math.isfinite(score) and "trial" in r.labels:
                seen[r.labels["trial"]] = (r.labels["trial"], float(score), r.variant)
        if seen:
            return [seen[k] for k in sorted(seen)]
        sweep_dir = _sweep_dir(rows)
        return self._from_file(sweep_dir / SEARCH_JSON) if sweep_dir is not None else []

    def _from_file(self, path: Path) -> list[Told]:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return []
        if mtime != self._saved[0]:
            state = read_json_or_none(path)
            told = state.get("told", []) if isinstance(state, dict) else []
            self._saved = (
                mtime,
                [
                    (c["trial"], float(c["value"]), c["name"])
                    for c in told
                    if isinstance(c.get("value"), (int, float)) and math.isfinite(c["value"])
                ],
            )
        return self._saved[1]


def _sweep_dir(rows: tuple[RunRow, ...]) -> Path | None:
    row = next((r for r in rows if "trial" in r.labels), None)
    return Path(row.dir).parent.parent.parent if row is not None else None


def best_text(scores: list[Told], objective: Objective) -> str | None:
    """``best return 187.5 #17``: the best score told so far, or None before the first tell."""
    best: Told | None = None
    for told in scores:
        if best is None or objective.better(told[1], best[1]):
            best = told
    if best is None:
        return None
    return f"best {objective.name} {best[1]:.4g} #{best[0]}"


def objective_series(scores: list[Told], objective: Objective) -> list[Series]:
    """Each told candidate's score by trial, and the best so far as a line on top."""
    points = [(float(t), v) for t, v, _ in scores]
    running: list[tuple[float, float]] = []
    for t, v in points:
        running.append((t, v if not running or objective.better(v, running[-1][1]) else running[-1][1]))
    return [
        Series(objective.name, points, TOLD_STYLE),
        Series("best so far", running, BEST_STYLE if points else SELECTED_STYLE),
    ]
