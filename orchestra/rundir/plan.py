"""Reading a plan back: the runs ``sweep.json`` lists, and finding one by what a user typed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

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
    variant_index: int = 0
    labels: Mapping[str, Any] = field(default_factory=dict)  # a search's trial and generation

    @property
    def id(self) -> str:
        return f"{self.variant}/{self.seed}"


def planned_runs(sweep: SweepDir, plan: Mapping[str, Any]) -> list[PlannedRunRef]:
    """The runs of a plan, by run number, with their directories.

    ``sweep.json`` lists each run as ``[variant index, seed, run number]`` under ``runs``; a plan
    written before runs were numbered explicitly numbers them variant-major, seed-minor. Runs that
    ``orchestra run --config`` added outside the plan (``adhoc``) come with their own numbers, after
    the plan's, labelled ``adhoc``.
    """
    variants = {v["index"]: v for v in plan.get("variants", [])}
    out = []
    for vi, s, index in numbered_runs(plan):
        v = variants[vi]
        out.append(
            PlannedRunRef(
                index, v["name"], s, v["params"], sweep.run(v["name"], s), vi, v.get("labels") or {}
            )
        )
    for a in plan.get("adhoc", []):
        v, s = a["variant"], a["seed"]
        if "run" in a:
            out.append(
                PlannedRunRef(
                    a["run"], v["name"], s, v["params"], sweep.run(v["name"], s), -1, {"adhoc": True}
                )
            )
    out.sort(key=lambda r: r.index)
    return out


def numbered_runs(plan: Mapping[str, Any]) -> list[list[int]]:
    """``[variant index, seed, run number]`` of every run of a plan (``sweep.json`` data)."""
    numbered = plan.get("runs")
    if numbered is not None:
        return [list(r) for r in numbered]
    seeds = list(plan.get("seeds", []))
    indices = sorted(v["index"] for v in plan.get("variants", []))
    return [[vi, s, vi * len(seeds) + j] for vi in indices for j, s in enumerate(seeds)]


def run_numbers(plan: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    """(variant name, seed) -> run number, for every run a plan ever numbered (retired ones too)."""
    names = {v["index"]: v["name"] for v in plan.get("variants", [])}
    out = {(names[vi], s): index for vi, s, index in numbered_runs(plan) if vi in names}
    for r in plan.get("retired_runs", []):
        out[(r[0], r[1])] = r[2]
    for a in plan.get("adhoc", []):
        if "run" in a:
            out[(a["variant"]["name"], a["seed"])] = a["run"]
    return out


class _Named(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def variant(self) -> str: ...


R = TypeVar("R", bound=_Named)


def resolve_run(runs: Sequence[R], text: str) -> R:
    """Find a run by number (``7``), id (``lr=0.1/0``), variant name when it has one seed, or id prefix.

    ``runs`` are planned runs (:class:`PlannedRunRef`) or a live sweep's rows: what has a number,
    an id and a variant name."""
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
