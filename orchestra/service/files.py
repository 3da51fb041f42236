"""A sweep read from its files, for a dashboard when no service runs it (finished, crashed, killed).

:class:`FileSweep` has the face of :class:`~orchestra.tui.source.SweepSource`: rows from
``sweep.json``, each run's ``status.json`` and the end of its ``metrics.jsonl``, re-read once a
second while the dashboard is open. It sends no commands itself: a retry needs a service, which
:class:`orchestra.cli.attach.Attached` starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from orchestra.rundir import State, SweepDir, last_records, planned_runs
from orchestra.scheduler.commands import Command, Reply
from orchestra.scheduler.table import RunRow, Snapshot, status_fields


def read_rows(sweep: SweepDir) -> list[RunRow]:
    """Every planned run as a row, from the files (a run with no status yet is queued)."""
    plan = sweep.read_plan()
    rows = []
    for ref in planned_runs(sweep, plan):
        status = ref.dir.read_status()
        row = RunRow(
            index=ref.index,
            id=ref.id,
            variant=ref.variant,
            seed=ref.seed,
            params=ref.params,
            dir=ref.dir.path,
            state=State.QUEUED,
            labels=ref.labels,
        )
        if status is not None:
            row = replace(row, **status_fields(status))
            metrics: dict[str, Any] = {}
            step = None
            for rec in last_records(ref.dir.metrics):
                if isinstance(rec, dict):
                    if isinstance(rec.get("values"), dict):
                        metrics.update(rec["values"])
                    if isinstance(rec.get("step"), int):
                        step = rec["step"]
            row = replace(row, metrics=metrics, step=step)
        rows.append(row)
    return rows


class FileSweep:
    """A sweep's files as a dashboard source; ``refresh`` re-reads them (cheaply when nothing moved)."""

    def __init__(self, sweep: SweepDir) -> None:
        self.sweep = sweep
        self.version = 0
        self.done = True
        self._rows: list[RunRow] = []
        self._stamp: tuple[float, ...] = ()
        self._started = time.time()
        self.refresh()

    def refresh(self) -> None:
        stamp = self._mtimes()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        self._rows = read_rows(self.sweep)
        self.version += 1

    def _mtimes(self) -> tuple[float, ...]:
        out = [_mtime(self.sweep.sweep_json)]
        try:
            with os.scandir(self.sweep.runs) as variants:
                for v in variants:
                    out.append(_mtime(v.path))
        except FileNotFoundError:
            pass
        for row in self._rows:
            out.append(_mtime(row.dir / "status.json"))
        return tuple(out)

    def snapshot(self) -> Snapshot:
        started = min((r.started_at for r in self._rows if r.started_at), default=self._started)
        return Snapshot(self.version, tuple(self._rows), False, False, started, True)

    def gpu_views(self) -> Sequence[Any]:
        return ()

    async def send(self, command: Command) -> list[Reply]:
        raise RuntimeError("no service runs this sweep: start one to send commands")


def _mtime(path: str | os.PathLike[str]) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
