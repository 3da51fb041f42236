"""Presentation shared by every frontend (headless, dashboard, CLI tables): state colours, ETA, counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestra.units import format_duration

if TYPE_CHECKING:
    from orchestra.rundir import State
    from orchestra.scheduler.commands import Reply
    from orchestra.scheduler.table import Snapshot

# Plain names, not the State enum: a command line that prints a reply loads no run-directory code.
STATE_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "completed": "green",
    "stopped": "blue",
    "failed": "red",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "lost": "magenta",
}
"""Rich style of each state's name, by the name (``State`` values and ``lost``)."""


def state_style(state: State | str) -> str:
    return STATE_STYLE.get(getattr(state, "value", state), "")


def counts_text(snap: Snapshot) -> str:
    from orchestra.rundir import State

    counts = snap.counts
    parts = [f"{counts[s]} {s.value}" for s in State if counts[s]]
    return ", ".join(parts)


def eta(snap: Snapshot, now: float, workers: int) -> float | None:
    """Remaining time: mean duration of finished runs x runs left / runs at once."""
    from orchestra.rundir import State

    done = [r.elapsed(now) for r in snap.rows if r.state is State.COMPLETED and r.started_at is not None]
    left = sum(1 for r in snap.rows if r.state in (State.QUEUED, State.RUNNING))
    durations = [d for d in done if d is not None]
    if not durations or not left:
        return None
    mean = sum(durations) / len(durations)
    return mean * left / max(1, workers)


def reply_text(reply: Reply | Mapping[str, Any]) -> str:
    """One line for a command's reply (a Reply, or its JSON): ``lr=0.1/0: stopping (SIGKILL after 10s)``."""
    d = reply if isinstance(reply, Mapping) else reply.to_json()
    action, detail, run = d["action"], d.get("detail") or "", d.get("run")
    what = action if d["ok"] else (detail or action)
    more = f" ({detail})" if d["ok"] and detail else ""
    subject = f"{run}: " if run else ""
    return f"{subject}{what}{more}"


def summary_line(snap: Snapshot, elapsed: float, unrecorded: int = 0) -> str:
    """``12 runs in 3m: 11 completed, 1 failed``; ``unrecorded``: how many runs' ends are not on disk."""
    line = f"{len(snap.rows)} runs in {format_duration(elapsed)}: {counts_text(snap) or 'nothing to do'}"
    if unrecorded:
        line += f" ({unrecorded} of these not recorded: their status.json could not be written)"
    return line
