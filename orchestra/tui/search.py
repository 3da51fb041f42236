"""What the dashboard shows of a search: each run's trial and generation, the best so far, the
objective over trials.

A search's driver labels each run with its candidate's ``trial`` (and ``generation`` for a
generational search) when it proposes it, and with the candidate's ``score`` once told
(:mod:`orchestra.search.driver`); the objective and its direction are in ``sweep.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.rundir import SWEEP_JSON, read_json_or_none
from orchestra.scheduler.table import RunRow
from orchestra.tui.series import SELECTED_STYLE, Series

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


class SearchInfo:
    """The search of the sweep a dashboard shows, read from its ``sweep.json`` once (None: no search)."""

    def __init__(self) -> None:
        self._read: dict[Path, Objective | None] = {}

    def objective(self, rows: tuple[RunRow, ...]) -> Objective | None:
        row = next((r for r in rows if "trial" in r.labels), None)
        if row is None:
            return None
        sweep_dir = Path(row.dir).parent.parent.parent
        if sweep_dir not in self._read:
            self._read[sweep_dir] = _objective(read_json_or_none(sweep_dir / SWEEP_JSON))
        return self._read[sweep_dir]


def _objective(plan: Any) -> Objective | None:
    settings = plan.get("settings") if isinstance(plan, dict) else None
    search = settings.get("search") if isinstance(settings, dict) else None
    if not isinstance(search, dict) or search.get("mode") not in ("max", "min"):
        return None
    return Objective(str(search.get("objective")), search["mode"])


def scores(rows: tuple[RunRow, ...]) -> list[tuple[int, float, str]]:
    """``(trial, score, variant)`` of every told candidate, by trial."""
    seen: dict[int, tuple[int, float, str]] = {}
    for r in rows:
        score = r.labels.get("score")
        if isinstance(score, (int, float)) and math.isfinite(score) and "trial" in r.labels:
            seen[r.labels["trial"]] = (r.labels["trial"], float(score), r.variant)
    return [seen[k] for k in sorted(seen)]


def best_text(rows: tuple[RunRow, ...], objective: Objective) -> str | None:
    """``best return 187.5 #17``: the best score told so far, or None before the first tell."""
    best: tuple[int, float, str] | None = None
    for told in scores(rows):
        if best is None or objective.better(told[1], best[1]):
            best = told
    if best is None:
        return None
    return f"best {objective.name} {best[1]:.4g} #{best[0]}"


def objective_series(rows: tuple[RunRow, ...], objective: Objective) -> list[Series]:
    """Each told candidate's score by trial, and the best so far as a line on top."""
    told = scores(rows)
    points = [(float(t), v) for t, v, _ in told]
    running: list[tuple[float, float]] = []
    for t, v in points:
        running.append((t, v if not running or objective.better(v, running[-1][1]) else running[-1][1]))
    return [
        Series(objective.name, points, TOLD_STYLE),
        Series("best so far", running, BEST_STYLE if points else SELECTED_STYLE),
    ]
