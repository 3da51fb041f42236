"""Benchmark of the dashboard under a big, busy sweep (headless ``App.run_test``).

Scenario (issue #6): 10,000 runs, 50 of them running and changing (new step and metrics) ten times a
second, and the selected run printing 20,000 lines a second. The runs' table comes from a fake
scheduler object with the scheduler's read interface (``snapshot``/``version``; it replaces the 50
rows as the real one does), because 10,000 real processes are not the point; the log writer is a
real process appending to a real ``output.log`` that the dashboard follows.

Measured, each a median over ``--repeat`` rounds:

- time to first paint: from starting the app to the first frame that shows the table;
- input latency: key press (down/up) to the next frame written with the moved selection, p50/p95;
- UI process CPU: CPU seconds of this process per wall second in a steady window (the fake
  scheduler's own updates are measured alone and subtracted);
- memory: RSS after the window, and its growth over the window (bounded memory: ~0).

Baseline, measured in the same run: the same 10,000 rows with the same 50 changing in Textual's
``DataTable`` (``update_cell``), the widget the issue rules out because it repaints the whole table.

In headless mode Textual composes every frame but skips encoding it for the terminal; the frame
hook here encodes it (``render_segments``) so that cost counts as it would on a real terminal.

    python bench/bench_tui.py            # 3 rounds of 12 s per side
    python bench/bench_tui.py --quick    # 1 round of 4 s, a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual._compositor import CompositorUpdate
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from orchestra.rundir import State
from orchestra.scheduler.table import RunRow, Snapshot
from orchestra.tui.app import Dashboard

RUNS = 10_000
RUNNING = 50
UPDATES_PER_S = 10
SIZE = (160, 50)

WRITER = """
import sys, time
rate, path = int(sys.argv[1]), sys.argv[2]
batch = rate // 100
n = 0
with open(path, "ab", buffering=0) as f:
    t = time.perf_counter()
    while True:
        f.write(b"".join(b"epoch 3 step %9d loss %.6f \\x1b[32mok\\x1b[0m\\n" % (n + i, 1.0 / (n + i + 1)) for i in range(batch)))
        n += batch
        t += 0.01
        time.sleep(max(0.0, t - time.perf_counter()))
"""


class FakeScheduler:
    """The scheduler's read interface over 10,000 rows; ``step()`` changes the running ones."""

    def __init__(self, root: Path) -> None:
        now = time.time()
        self.rows: list[RunRow] = []
        for i in range(RUNS):
            state = State.RUNNING if i < RUNNING else (State.COMPLETED if i < RUNS // 2 else State.QUEUED)
            variant = f"lr={10 ** -(1 + i % 4):g}_hidden={64 << (i // 4 % 3)}_env=e{i // 12 % 9999}"
            run_dir = root / variant / str(i % 3)
            metrics = {"loss": 1.0 / (i + 1), "reward": float(i)} if state is not State.QUEUED else {}
            self.rows.append(
                RunRow(
                    i, f"{variant}/{i % 3}", variant, i % 3, {"lr": 10 ** -(1 + i % 4)}, run_dir, state,
                    attempt=1 if state is not State.QUEUED else 0,
                    started_at=now - 60 if state is not State.QUEUED else None,
                    ended_at=now - 1 if state is State.COMPLETED else None,
                    metrics=metrics, step=100 if metrics else None,
                )
            )  # fmt: skip
        self.rows[0].dir.mkdir(parents=True, exist_ok=True)
        self.version = 1
        self.done = False
        self.paused = False
        self.gpus = None
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        if self._snapshot is None or self._snapshot.version != self.version:
            self._snapshot = Snapshot(self.version, tuple(self.rows), False, False, time.time() - 60)
        return self._snapshot

    def step(self) -> None:
        for i in range(RUNNING):
            row = self.rows[i]
            step = (row.step or 0) + 1
            self.rows[i] = replace(row, step=step, metrics={"loss": random.random(), "reward": step * 1.5})
        self.version += 1

    def cancel(self, run_id: str) -> str:
        return run_id

    kill = retry = cancel

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...
    def interrupt(self) -> None: ...
    def kill_all(self) -> None: ...


MOVES: list[float] = []  # when the selection moved, in either app


class MovingTable(DataTable[str]):
    def watch_cursor_coordinate(self, old, new) -> None:  # type: ignore[no-untyped-def]
        MOVES.append(time.perf_counter())
        super().watch_cursor_coordinate(old, new)


class TableApp(App[None]):
    """The baseline: the same rows in a DataTable, the running ones' cells updated in place."""

    def __init__(self, source: FakeScheduler) -> None:
        super().__init__()
        self.source = source
        self._version = 0

    def compose(self) -> ComposeResult:
        yield MovingTable(id="table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in ("#", "variant", "seed", "state", "try", "step", "loss", "reward"):
            table.add_column(name, key=name)
        for r in self.source.rows:
            table.add_row(*_cells(r), key=r.id)
        self.set_interval(0.25, self._tick)

    def _tick(self) -> None:
        if self.source.version == self._version:
            return
        self._version = self.source.version
        table = self.query_one(DataTable)
        for r in self.source.rows[:RUNNING]:
            for name, value in zip(("step", "loss", "reward"), _cells(r)[5:]):
                table.update_cell(r.id, name, value)


def _cells(r: RunRow) -> tuple[str, ...]:
    m = r.metrics
    return (
        str(r.index), r.variant, str(r.seed), r.state.value, str(r.attempt), str(r.step or ""),
        f"{m['loss']:.4g}" if "loss" in m else "", f"{m['reward']:.4g}" if "reward" in m else "",
    )  # fmt: skip


class Frames:
    """Timestamps of the frames an app writes (encoded for a terminal, as a real one is)."""

    def __init__(self, app: App) -> None:
        self.times: list[float] = []
        original = app._display

        def display(screen, renderable) -> None:  # type: ignore[no-untyped-def]
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
                self.times.append(time.perf_counter())
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    async def after(self, t: float, timeout: float = 5.0) -> float:
        """The time of the first frame written after ``t``."""
        return await first_after(self.times, t, timeout)


async def first_after(times: list[float], t: float, timeout: float = 5.0) -> float:
    """The first of ``times`` (appended as they happen) later than ``t``, waiting for it."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        later = [x for x in times[-100:] if x > t]
        if later:
            return min(later)
        await asyncio.sleep(0.0005)
    raise TimeoutError("nothing happened")


async def changer(source: FakeScheduler, stop: asyncio.Event) -> None:
    while not stop.is_set():
        source.step()
        await asyncio.sleep(1 / UPDATES_PER_S)


async def measure(kind: str, seconds: float, lines_per_s: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        source = FakeScheduler(Path(tmp))
        log = source.rows[0].dir / "output.log"
        log.touch()
        writer = None
        if kind == "dashboard" and lines_per_s:
            writer = subprocess.Popen([sys.executable, "-c", WRITER, str(lines_per_s), str(log)])
        try:
            return await _measure_app(kind, source, seconds)
        finally:
            if writer is not None:
                writer.kill()
                writer.wait()


async def _measure_app(kind: str, source: FakeScheduler, seconds: float) -> dict[str, float]:
    proc = psutil.Process()
    app: App = Dashboard(source, name="bench", workers=RUNNING) if kind == "dashboard" else TableApp(source)
    frames = Frames(app)
    if isinstance(app, Dashboard):
        move_to = app.table.move_to

        def moved(index: int) -> None:
            MOVES.append(time.perf_counter())
            move_to(index)

        app.table.move_to = moved  # type: ignore[method-assign]
    stop = asyncio.Event()
    t_start = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        first_paint = await frames.after(t_start, timeout=60) - t_start
        changes = asyncio.create_task(changer(source, stop))
        await pilot.pause(1.0)
        rss_start = proc.memory_info().rss
        cpu0, wall0 = time.process_time(), time.perf_counter()
        latencies = []
        deadline = wall0 + seconds
        key = "down"
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await pilot.press(key)
            moved_at = await first_after(MOVES, t0)
            latencies.append(await frames.after(moved_at) - t0)
            key = "up" if key == "down" else "down"
            await asyncio.sleep(random.uniform(0.05, 0.15))
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        rss_end = proc.memory_info().rss
        stop.set()
        await changes
    latencies.sort()
    return {
        "first_paint_ms": first_paint * 1000,
        "latency_p50_ms": statistics.median(latencies) * 1000,
        "latency_p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "cpu": cpu,
        "rss_mib": rss_end / 2**20,
        "rss_growth_mib": (rss_end - rss_start) / 2**20,
    }


async def scheduler_alone(seconds: float) -> float:
    """CPU per second of the fake scheduler's own updates (not the UI's)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = FakeScheduler(Path(tmp))
        stop = asyncio.Event()
        task = asyncio.create_task(changer(source, stop))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while time.perf_counter() - wall0 < seconds:
            source.snapshot()
            await asyncio.sleep(0.25)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        await task
        return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--lines-per-s", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="one round of 4 s")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.seconds = 1, 4.0
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    results: dict[str, list[dict[str, float]]] = {"dashboard": [], "datatable": []}
    for _ in range(args.repeat):
        for kind in results:
            results[kind].append(asyncio.run(measure(kind, args.seconds, args.lines_per_s)))
    own = asyncio.run(scheduler_alone(min(args.seconds, 5.0)))
    print(
        f"{RUNS} runs, {RUNNING} running and changing {UPDATES_PER_S}x/s, {SIZE[0]}x{SIZE[1]}, medians of {args.repeat}"
    )
    print(
        f"dashboard: selected run printing {args.lines_per_s} lines/s; baseline: DataTable, same rows, no log"
    )
    print(f"fake scheduler's own CPU (subtracted): {own * 100:.1f}% of a core")
    print(f"{'':24}{'dashboard':>12}{'DataTable':>12}{'ratio':>8}")
    for name, unit in (
        ("first_paint_ms", "ms"),
        ("latency_p50_ms", "ms"),
        ("latency_p95_ms", "ms"),
        ("cpu", "%"),
        ("rss_mib", "MiB"),
        ("rss_growth_mib", "MiB"),
    ):
        a = statistics.median(r[name] for r in results["dashboard"])
        b = statistics.median(r[name] for r in results["datatable"])
        if name == "cpu":
            a, b = max(0.0, a - own) * 100, max(0.0, b - own) * 100
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{name + ' (' + unit + ')':24}{a:12.1f}{b:12.1f}{ratio:>8}")


if __name__ == "__main__":
    main()
