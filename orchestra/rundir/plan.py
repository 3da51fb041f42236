"""Reading a plan back: the runs ``sweep.json`` lists, and finding one by what a user typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestra.errors import RunDirError
from orchestra.rundir.layout import RunDir, SweepDir


@dataclass(frozen=True)
class PlannedRunRef:
    """A run as listed by ``sweep.json``: its number, variant name and seed, and its directory."""

    index: int
    variant: str
    seed: int
    params: Mapping[str, Any]
    dir: RunDir

    @property
    def id(self) -> str:
        return f"{self.variant}/{self.seed}"


def planned_runs(sweep: SweepDir, plan: Mapping[str, Any]) -> list[PlannedRunRef]:
    """The runs of a plan (variants x seeds, variant-major), with their directories."""
    seeds = list(plan.get("seeds", []))
    out = []
    for v in plan.get("variants", []):
        for j, s in enumerate(seeds):
            out.append(
                PlannedRunRef(v["index"] * len(seeds) + j, v["name"], s, v["params"], sweep.run(v["name"], s))
            )
    return out


def resolve_run(runs: list[PlannedRunRef], text: str) -> PlannedRunRef:
    """Find a run by number (``7``), id (``lr=0.1/0``), variant name when it has one seed, or id prefix."""
    text = text.strip().rstrip("/")
    if text.isdigit():
        for r in runs:
            if r.index == int(text):
                return r
        raise RunDirError(f"run {text}: no such run number (the sweep has runs 0..{len(runs) - 1})")
    exact = [r for r in runs if r.id == text]
    if exact:
        return exact[0]
    by_variant = [r for r in runs if r.variant == text]
    if len(by_variant) == 1:
        return by_variant[0]
    prefixed = [r for r in runs if r.id.startswith(text)]
    if len(prefixed) == 1:
        return prefixed[0]
    matches = by_variant or prefixed
    if matches:
        shown = ", ".join(r.id for r in matches[:4]) + (", ..." if len(matches) > 4 else "")
        raise RunDirError(f"run {text!r} is ambiguous ({shown}); give VARIANT/SEED or the run number")
    raise RunDirError(f"run {text!r}: no such run; `orchestra status DIR` lists them")
