"""The headless frontend: progress and one line per finished run, for a terminal or a log file.

On a terminal it shows a rich progress bar with counts per state, elapsed time and ETA, and
prints a line above it for each run that finishes. When stdout is not a terminal it prints plain
lines only: one per finished run and a summary at the end, nothing that repaints. Alerts (status
files that cannot be written: launching is paused) are printed when they appear and when they
are resolved.

Output that cannot be written (a log file on a full disk, a closed pipe: ``up | head``) is given
up, never the sweep: the runs go on and their records are what counts.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING, TextIO

import anyio

from orchestra.present import counts_text, eta, state_style
from orchestra.rundir import State
from orchestra.scheduler.core import Scheduler
from orchestra.scheduler.table import RunRow
from orchestra.units import format_duration

if TYPE_CHECKING:
    from rich.console import Console


def finished_line(row: RunRow) -> str:
    """``completed  lr=0.1/0  3.2s  loss=0.01`` or ``failed  lr=0.1/1  exception: ValueError: ...``."""
    took = format_duration(row.elapsed(time.time()))
    if row.state is State.COMPLETED:
        metrics = "  ".join(f"{k}={_fmt(v)}" for k, v in list(row.metrics.items())[:4])
        return f"{row.state.value:<9}  {row.id}  {took}  {metrics}".rstrip()
    why = row.exit.describe() if row.exit else ""
    attempt = f" (attempt {row.attempt})" if row.attempt > 1 else ""
    return f"{row.state.value:<9}  {row.id}{attempt}  {took}  {why}".rstrip()


def say(text: str, *, file: TextIO | None = None) -> None:
    """Print a line of ``up``'s own; one that cannot be written (stdout on a full disk, a closed pipe)
    is dropped: the sweep goes on, its records are on disk."""
    try:
        print(text, file=file or sys.stdout, flush=True)
    except OSError:
        pass


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class _Output:
    """Prints to a console until a write fails, then stays quiet (the sweep is what matters)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.broken = False

    def print(self, text: str, *, markup: bool = False) -> None:
        if self.broken:
            return
        try:
            self.console.print(text, markup=markup)
        except OSError:
            self.broken = True


# what rich's Text strips as well: bell, backspace, vertical tab, form feed, carriage return
_CONTROL = dict.fromkeys((7, 8, 11, 12, 13))


class _Lines:
    """Plain lines for a log file or a pipe (no rich: a line is a write), quiet after a failed write."""

    def __init__(self, file: TextIO) -> None:
        self.file = file
        self.broken = False

    def print(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.file.write(text.translate(_CONTROL) + "\n")
            self.file.flush()
        except (OSError, ValueError):  # ValueError: the file was closed
            self.broken = True


def is_terminal(file: TextIO, tty: bool | None) -> bool:
    """Whether ``file`` gets the progress bar: ``tty`` when given, else as rich decides
    (``TTY_COMPATIBLE``, ``FORCE_COLOR``, then ``isatty``), without importing rich for a log file."""
    if tty is not None:
        return tty
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return file.isatty()
    except (ValueError, OSError):
        return False


class _Alerts:
    """The sweep's alerts as lines: each new text once, and one that went away, with nothing new in
    its place, as resolved (an alert whose text changed, a count say, is not resolved)."""

    def __init__(self) -> None:
        self.shown: tuple[str, ...] = ()

    def lines(self, scheduler: Scheduler) -> list[str]:
        now = scheduler.alerts
        new = [f"orchestra: {a}" for a in now if a not in self.shown]
        gone = [f"orchestra: resolved: {a}" for a in self.shown if a not in now]
        self.shown = now
        return new or gone


async def show(
    scheduler: Scheduler, *, file: TextIO | None = None, tty: bool | None = None, workers: int = 1
) -> None:
    """Display the sweep until the scheduler is done (run it next to ``scheduler.run()``)."""
    alerts = _Alerts()
    events = scheduler.events()
    if not is_terminal(file or sys.stdout, tty):
        out = _Lines(file or sys.stdout)

        def print_alerts() -> None:
            for line in alerts.lines(scheduler):
                out.print(line)

        async def print_alerts_now_and_then() -> None:  # those no run's end comes with (a full disk)
            while True:
                print_alerts()
                await anyio.sleep(0.25)

        async with anyio.create_task_group() as tg:
            tg.start_soon(print_alerts_now_and_then)
            async with events:
                async for ev in events:  # until the scheduler closes its table
                    if ev.row.state.finished:
                        print_alerts()  # first what explains it (a run directory that was refused)
                        out.print(finished_line(ev.row))
            print_alerts()
            tg.cancel_scope.cancel()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=file, force_terminal=tty, soft_wrap=True, highlight=False)
    total = len(scheduler.snapshot().rows)

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        TextColumn("eta {task.fields[eta]}"),
        console=console,
        transient=False,
    )
    task = progress.add_task(scheduler.name, total=total, counts="", eta="-")
    progress_out = _Output(progress.console)

    def refresh() -> None:
        snap = scheduler.snapshot()
        now = time.time()
        finished = sum(1 for r in snap.rows if r.state.finished)
        label = "paused" if snap.paused else ("stopping" if snap.stopping else "")
        progress.update(
            task,
            completed=finished,
            counts=counts_text(snap) + (f" [{label}]" if label else ""),
            eta=format_duration(eta(snap, now, workers)),
        )
        for line in alerts.lines(scheduler):
            progress_out.print(f"[yellow]{_escape(line)}[/]", markup=True)

    async def print_events() -> None:
        async with events:
            async for ev in events:
                if ev.row.state.finished:
                    style = state_style(ev.row.state)
                    progress_out.print(f"[{style}]{_escape(finished_line(ev.row))}[/]", markup=True)
                # the bar itself is refreshed four times a second below: a refresh per event would
                # copy the whole table for each of them (quadratic in the sweep's size)

    try:
        with progress:
            async with anyio.create_task_group() as tg:
                tg.start_soon(print_events)
                while not scheduler.done:
                    refresh()
                    await anyio.sleep(0.25)
                refresh()
                tg.cancel_scope.cancel()
    except OSError:
        pass  # the terminal went away while the progress bar was drawn: the sweep goes on regardless


async def stop_on_signals(scheduler: Scheduler) -> None:
    """SIGINT, SIGTERM or SIGHUP interrupt the sweep (runs resume on the next up); a second one kills them.

    Where runs outlive the orchestrator (Slurm jobs), SIGTERM and SIGHUP (a logout, a login node's
    clean-up) end only the orchestrator: the jobs go on and the next ``up`` re-attaches to them.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        count = 0
        async for sig in signals:
            if sig != signal.SIGINT and scheduler.backend.runs_outlive_orchestrator:
                name = signal.Signals(sig).name
                print(
                    f"orchestra: {name}: leaving the runs to {scheduler.backend.name}; "
                    "`orchestra up` again re-attaches to them",
                    file=sys.stderr,
                    flush=True,
                )
                scheduler.detach()
                continue
            count += 1
            if count == 1:
                name = signal.Signals(sig).name
                try:
                    print(
                        f"orchestra: {name}: stopping runs (again to kill them now)",
                        file=sys.stderr,
                        flush=True,
                    )
                except OSError:
                    pass  # SIGHUP: the terminal is gone; the runs are stopped all the same
                scheduler.interrupt()
            else:
                scheduler.kill_all()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
