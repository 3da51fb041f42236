"""The headless frontend: progress and one line per finished run, for a terminal or a log file.

On a terminal it shows a rich progress bar with counts per state, elapsed time and ETA, and
prints a line above it for each run that finishes. When stdout is not a terminal it prints plain
lines only: one per finished run and a summary at the end, nothing that repaints.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import TextIO

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestra.present import counts_text, eta, state_style
from orchestra.rundir import State
from orchestra.scheduler.core import Scheduler
from orchestra.scheduler.table import RunRow
from orchestra.units import format_duration


def finished_line(row: RunRow) -> str:
    """``completed  lr=0.1/0  3.2s  loss=0.01`` or ``failed  lr=0.1/1  exception: ValueError: ...``."""
    took = format_duration(row.elapsed(time.time()))
    if row.state is State.COMPLETED:
        metrics = "  ".join(f"{k}={_fmt(v)}" for k, v in list(row.metrics.items())[:4])
        return f"{row.state.value:<9}  {row.id}  {took}  {metrics}".rstrip()
    why = row.exit.describe() if row.exit else ""
    attempt = f" (attempt {row.attempt})" if row.attempt > 1 else ""
    return f"{row.state.value:<9}  {row.id}{attempt}  {took}  {why}".rstrip()


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


async def show(
    scheduler: Scheduler, *, file: TextIO | None = None, tty: bool | None = None, workers: int = 1
) -> None:
    """Display the sweep until the scheduler is done (run it next to ``scheduler.run()``)."""
    console = Console(file=file, force_terminal=tty, soft_wrap=True, highlight=False)
    events = scheduler.events()
    total = len(scheduler.snapshot().rows)
    said: set[str] = set()

    def say_alerts(printer: Console) -> None:
        for text in scheduler.snapshot().alerts:
            if text not in said:
                said.add(text)
                printer.print(f"orchestra: {text}", markup=False)

    if not console.is_terminal:

        async def print_alerts() -> None:
            while True:
                say_alerts(console)
                await anyio.sleep(0.5)

        async with anyio.create_task_group() as tg:
            tg.start_soon(print_alerts)
            async with events:
                async for ev in events:
                    if ev.row.state.finished:
                        console.print(finished_line(ev.row), markup=False)
            say_alerts(console)
            tg.cancel_scope.cancel()
        return
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

    async def print_events() -> None:
        async with events:
            async for ev in events:
                if ev.row.state.finished:
                    style = state_style(ev.row.state)
                    progress.console.print(f"[{style}]{_escape(finished_line(ev.row))}[/]")
                refresh()

    with progress:
        async with anyio.create_task_group() as tg:
            tg.start_soon(print_events)
            while not scheduler.done:
                refresh()
                say_alerts(progress.console)
                await anyio.sleep(0.25)
            refresh()
            tg.cancel_scope.cancel()


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
                print(
                    f"orchestra: {name}: stopping runs (again to kill them now)", file=sys.stderr, flush=True
                )
                scheduler.interrupt()
            else:
                scheduler.kill_all()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
