"""The header line: sweep name, runs per state, elapsed time, ETA, GPUs in use, and what is going on."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from orchestra.present import eta, state_style
from orchestra.rundir import State
from orchestra.scheduler.table import Snapshot
from orchestra.units import format_duration


def header_text(
    name: str,
    snap: Snapshot,
    now: float,
    *,
    workers: int,
    gpus: tuple[int, int] | None = None,
    status: str = "",
    best: str | None = None,
) -> Text:
    """``orchestra · quickstart  2 running 5 queued 3 completed  12 runs  elapsed 1m05s  eta 40s  GPUs 2/4``.

    ``best``: a search's best score so far (``best return 187.5 #17``).
    """
    text = Text()
    text.append("orchestra", style="bold")
    text.append(" · ", style="dim")
    text.append(name, style="bold")
    text.append("  ")
    counts = snap.counts
    for state in State:
        if counts[state]:
            text.append(f"{counts[state]} ", style="bold")
            text.append(f"{state.value}  ", style=state_style(state))
    text.append(f"{len(snap.rows)} runs", style="dim")
    active = counts[State.RUNNING] or counts[State.QUEUED]
    ended = [r.ended_at for r in snap.rows if r.ended_at is not None]
    until = now if active or not ended else max(ended)  # a finished sweep's clock stops
    text.append("  elapsed ", style="dim")
    text.append(format_duration(max(0.0, until - snap.started_at)))
    remaining = eta(snap, now, workers)
    if remaining is not None and not snap.paused:
        text.append("  eta ", style="dim")
        text.append(format_duration(remaining))
    if gpus is not None:
        text.append("  GPUs ", style="dim")
        text.append(f"{gpus[0]}/{gpus[1]}")
    if best:
        text.append(f"  {best}", style="bold green")
    if status:
        text.append("  ")
        text.append(f" {status} ", style="bold reverse yellow")
    return text


class SweepHeader(Static):
    """The header; the app sets its text when the table or the clock moved."""

    DEFAULT_CSS = """
    SweepHeader { height: 1; padding: 0 1; background: $panel; }
    """

    _shown: Text | None = None

    def show(self, text: Text) -> None:
        if text != self._shown:
            self._shown = text
            self.update(text)
