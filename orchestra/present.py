"""Presentation shared by every frontend (headless, dashboard, CLI tables): state colours, ETA, counts."""

from __future__ import annotations

from orchestra.rundir import LOST, State
from orchestra.scheduler.table import Snapshot

STATE_STYLE = {
    State.QUEUED.value: "dim",
    State.RUNNING.value: "cyan",
    State.COMPLETED.value: "green",
    State.STOPPED.value: "blue",
    State.FAILED.value: "red",
    State.CANCELLED.value: "yellow",
    State.INTERRUPTED.value: "magenta",
    LOST: "magenta",
}
"""Rich style of each state's name, by the name (``State`` values and ``lost``)."""


def state_style(state: State | str) -> str:
    return STATE_STYLE.get(state.value if isinstance(state, State) else state, "")


def counts_text(snap: Snapshot) -> str:
    counts = snap.counts
    parts = [f"{counts[s]} {s.value}" for s in State if counts[s]]
    return ", ".join(parts)


def eta(snap: Snapshot, now: float, workers: int) -> float | None:
    """Remaining time: mean duration of finished runs x runs left / runs at once."""
    done = [r.elapsed(now) for r in snap.rows if r.state is State.COMPLETED and r.started_at is not None]
    left = sum(1 for r in snap.rows if r.state in (State.QUEUED, State.RUNNING))
    durations = [d for d in done if d is not None]
    if not durations or not left:
        return None
    mean = sum(durations) / len(durations)
    return mean * left / max(1, workers)
