"""Which ``metrics.jsonl`` key is a record's step (the x axis), and which keys are counters, not metrics.

One list, one owner: the runtime picks each record's ``step`` with :func:`row_step`, the readers
(``orchestra results``, ``plot``, the dashboard) pass over these names when they choose a default
metric. Pure Python: the runtime pays for this module in every run.

A sweep (or a Logger) may declare its step, ``Sweep(step="env_steps")``; without a declaration
the step is the first key of :data:`STEP_KEYS` that the row logged as an integer. Names match
whatever their case and separators (``TotalEnvSteps``, ``total-env-steps``) and after a ``/``
prefix (stable-baselines' ``time/total_timesteps``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STEP_KEYS = (
    # environment interactions (RL): the usual x axis of RL papers, finest first
    "total_timesteps",
    "timesteps",
    "timestep",
    "total_env_steps",
    "env_steps",
    "env_step",
    "total_env_interacts",
    "total_frames",
    "frames",
    # optimisation loops (ML)
    "global_step",
    "step",
    "iteration",
    "iterations",
    "itr",
    "iter",
    # coarser loops
    "episode",
    "episodes",
    "epoch",
)
"""Names recognised as the step, in order of preference (a finer counter before a coarser one)."""


def _norm(name: str) -> str:
    return name.rsplit("/", 1)[-1].lower().replace("_", "").replace("-", "").replace(" ", "")


_RANK = {_norm(k): i for i, k in enumerate(STEP_KEYS)}
_CACHE: dict[str, int | None] = {}


def step_rank(name: str) -> int | None:
    """The position of ``name`` in :data:`STEP_KEYS` (case and separators aside); None if not a step name."""
    try:
        return _CACHE[name]
    except KeyError:
        rank = _CACHE[name] = _RANK.get(_norm(name)) if isinstance(name, str) else None
        return rank


def is_step_key(name: str, declared: str | None = None) -> bool:
    """Whether ``name`` is the declared step or a recognised step name."""
    return name == declared or step_rank(name) is not None


def as_step(value: Any) -> int | None:
    """``value`` as a step: an int, or a float with an integral value; None for anything else."""
    if type(value) is int:
        return value
    if (
        type(value) is float and value.is_integer()
    ):  # False for nan and inf (no math import on the run's path)
        return int(value)
    return None


def row_step(values: Mapping[str, Any], declared: str | None = None) -> int | None:
    """The step of one logged row: the declared key's value, else the best-ranked step name's; None if none.

    >>> row_step({"episode": 3, "env_steps": 600, "return": 1.5})
    600
    >>> row_step({"episode": 3, "env_steps": 600}, declared="episode")
    3
    """
    if declared is not None:
        return as_step(values.get(declared))
    best: tuple[int, int] | None = None
    for key, value in values.items():
        rank = step_rank(key)
        if rank is not None and (best is None or rank < best[0]):
            step = as_step(value)
            if step is not None:
                best = (rank, step)
    return None if best is None else best[1]


def step_key(names: Iterable[str], declared: str | None = None) -> str | None:
    """Which of ``names`` is the step: the declared one if present, else the best-ranked step name."""
    names = list(names)
    if declared is not None:
        return declared if declared in names else None
    ranked = [(r, n) for n in names if (r := step_rank(n)) is not None]
    return min(ranked)[1] if ranked else None
