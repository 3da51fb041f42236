"""Loading a sweep directory into runs: the plan from ``sweep.json``, one status read per run."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestra.errors import RunDirError
from orchestra.results.params import varying_keys
from orchestra.results.runs import Run, Runs
from orchestra.rundir import State, SweepDir, SweepLock, planned_runs


class SweepResults(Runs):
    """All runs of a sweep's current plan (variants x seeds), in run order.

    ``seeds`` and ``variants`` (the recorded ``sweep.json`` entries) describe the plan; variants the
    plan retired are not included. ``orchestrator_alive`` tells whether an ``orchestra up`` held the
    sweep's lock when it was loaded.
    """

    def __init__(
        self,
        path: Path,
        plan: Mapping[str, Any],
        runs: Sequence[Run],
        orchestrator_alive: bool,
    ) -> None:
        super().__init__(runs)
        self.path = path
        self.plan = plan
        self.name: str = plan.get("name") or path.name
        self.seeds: tuple[int, ...] = tuple(plan.get("seeds", ()))
        self.variants: tuple[Mapping[str, Any], ...] = tuple(plan.get("variants", ()))
        self.orchestrator_alive = orchestrator_alive

    def varying_keys(self) -> list[str]:
        """Flattened parameter keys whose values differ between variants (what tells them apart)."""
        return varying_keys([v.get("params", {}) for v in self.variants]) if self.variants else []

    def __repr__(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in self.states().items())
        return f"<SweepResults {self.name!r}: {len(self)} runs ({states})>"


def load_sweep(path: str | os.PathLike[str], *, cache: bool = True) -> SweepResults:
    """The runs of the sweep in directory ``path`` (what ``orchestra up`` made), without reading metrics.

    Reads ``sweep.json`` and each run's ``status.json`` once. A run with no status has never
    started (``queued``); one recorded as ``running`` while no live orchestrator holds the sweep's
    lock is ``lost``. Works on a sweep that is still running: reload to see newer data.
    ``cache=False`` reads every ``metrics.jsonl`` and neither reads nor writes the runs' columnar
    caches (:mod:`orchestra.results.cache`).

    >>> sweep = load_sweep("sweeps/quickstart")
    >>> sweep.best("loss", mode="min", last_pct=10).params
    {'lr': 0.1, 'batch_size': 32, 'momentum': 0.5}
    """
    sweep_dir = SweepDir(path)
    plan = sweep_dir.read_plan()
    seeds = plan.get("seeds")
    if not isinstance(seeds, list) or not isinstance(plan.get("variants"), list):
        raise RunDirError(f"{sweep_dir.sweep_json}: has no list of seeds and variants; is it a sweep file?")
    try:
        refs = planned_runs(sweep_dir, plan)
    except (KeyError, TypeError) as exc:
        raise RunDirError(f"{sweep_dir.sweep_json}: a variant is malformed ({exc!r})") from exc
    alive = SweepLock(sweep_dir).holder() is not None
    settings = plan.get("settings")
    settings = settings if isinstance(settings, dict) else {}
    runs: list[Run] = []
    for ref in refs:
        status = ref.dir.read_status()
        lost = not alive and status is not None and status.state is State.RUNNING
        runs.append(
            Run(ref.index, ref.variant, ref.variant_index, ref.seed, ref.params, ref.dir, status, lost,
                settings=settings, cache=cache)
        )  # fmt: skip
    return SweepResults(sweep_dir.path, plan, runs, alive)
