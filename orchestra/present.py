"""Presentation shared by every frontend (headless, dashboard, CLI tables): state colours, ETA, counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestra.rundir import LOST, State
from orchestra.units import format_duration

if TYPE_CHECKING:
    from orchestra.scheduler.commands import Reply
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


def reply_text(reply: Reply) -> str:
    """One line for a command's reply: ``lr=0.1/0: stopping (SIGKILL after 10s)``."""
    what = reply.action.value if reply.ok else (reply.detail or reply.action.value)
    detail = f" ({reply.detail})" if reply.ok and reply.detail else ""
    subject = f"{reply.run}: " if reply.run else ""
    return f"{subject}{what}{detail}"


def summary_line(snap: Snapshot, elapsed: float, unrecorded: int = 0) -> str:
    """``12 runs in 3m: 11 completed, 1 failed``; ``unrecorded``: how many runs' ends are not on disk."""
    line = f"{len(snap.rows)} runs in {format_duration(elapsed)}: {counts_text(snap) or 'nothing to do'}"
    if unrecorded:
        line += f" ({unrecorded} of these not recorded: their status.json could not be written)"
    return line
