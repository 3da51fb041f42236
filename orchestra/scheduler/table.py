"""The scheduler's in-memory table of runs, as frontends see it.

Rows are frozen: the scheduler replaces a row when the run changes, and a frontend that holds a
snapshot can read it at leisure without locks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra.rundir import Exit, State


@dataclass(frozen=True)
class RunRow:
    """One run as the scheduler knows it now."""

    index: int
    id: str
    variant: str
    seed: int
    params: Mapping[str, Any]
    dir: Path
    state: State
    attempt: int = 0
    exit: Exit | None = None
    pid: int | None = None
    gpus: tuple[Mapping[str, Any], ...] = ()
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    step: int | None = None
    records: int = 0
    note: str = ""

    def elapsed(self, now: float) -> float | None:
        """Seconds the current or last attempt ran."""
        if self.started_at is None:
            return None
        end = self.ended_at if self.state is not State.RUNNING and self.ended_at else now
        return max(0.0, end - self.started_at)


@dataclass(frozen=True)
class Snapshot:
    """The whole table at one moment: ``version`` grows with every change."""

    version: int
    rows: tuple[RunRow, ...]
    paused: bool
    stopping: bool
    started_at: float

    @property
    def counts(self) -> Counter[State]:
        return Counter(r.state for r in self.rows)


@dataclass(frozen=True)
class RunEvent:
    """A run moved to another state (metrics updates are not events; read snapshots for those)."""

    row: RunRow
    previous: State
