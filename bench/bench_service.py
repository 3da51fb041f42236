"""The sweep service's benchmarks (issue #17): attach, a command's round trip, the feed's cost.

    python bench/bench_service.py [attach|command|feed|all] [--repeats 5]

attach   A detached service runs a 10,000-run sweep (2 running, the rest queued). From "connect"
         to the dashboard's first paint with every row in its table: an attached dashboard
         (RemoteSweep + the Textual app, headless at 160x50), medians over repeats. For scale, the
         same first paint of the in-process dashboard over a scheduler of the same 10,000 runs.
         Target: < 0.5 s.
command  A run that records when SIGTERM reaches it; a client sends `cancel` over the control
         socket: send -> SIGTERM seen by the run, over 30 cancels (each of a fresh run), p50 and p95.
         Target p95 < 50 ms. Also the whole `orchestra cancel` command (a new Python process) for scale.
feed     50 runs each logging 10 records a second: the service's CPU (share of one core) over 10 s
         with no client, then with two dashboards' feeds attached. Target: < 5 points more.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)

import anyio  # noqa: E402
import psutil  # noqa: E402

from orchestra.rundir import State, SweepDir  # noqa: E402
from orchestra.scheduler.commands import Command, Op  # noqa: E402
from orchestra.service import oneshot  # noqa: E402
from orchestra.service.client import RemoteSweep  # noqa: E402


def write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def up_detached(cwd: Path, *args: object) -> tuple[SweepDir, int]:
    out = subprocess.run(
        [sys.executable, "-m", "orchestra", "up", "sweep.py", "-d", "--root", "sweeps", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"up -d failed: {out.stdout}{out.stderr}")
    sweep = SweepDir(cwd / "sweeps" / "sweep")
    return sweep, int(sweep.lock.read_text().split()[0])


def stop(cwd: Path, pid: int) -> None:
    (cwd / "go").touch()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 60
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)


# ------------------------------------------------------------------------------------------ attach

ATTACH_SWEEP = """
import os, time
from orchestra import Sweep, Config, Grid
def train(x):
    while not os.path.exists("go"):
        time.sleep(0.2)
sweep = Sweep(train, Config({"x": Grid(list(range(10_000)))}))
"""


async def first_paint(source: object, rows: int) -> float:
    """The moment (perf_counter) the dashboard over ``source`` has every row in its table."""
    from orchestra.tui.app import Dashboard

    app = Dashboard(source, name="sweep", workers=2, table_interval=0.02)  # type: ignore[arg-type]
    async with app.run_test(size=(160, 50)) as pilot:
        while len(app.table.rows) < rows:
            await pilot.pause(0.005)
        return time.perf_counter()


async def attach_once(sweep: SweepDir) -> float:
    started = time.perf_counter()
    remote = RemoteSweep(sweep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(remote.follow)
        await remote.ready.wait()
        painted = await first_paint(remote, 10_000)
        tg.cancel_scope.cancel()
    return painted - started


async def in_process_once(cwd: Path) -> float:
    from tests.helpers import build_scheduler

    sched = build_scheduler(cwd / "sweep.py", cwd / "local-sweeps", workers=2)
    started = time.perf_counter()
    return await first_paint(sched, 10_000) - started


def bench_attach(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        write(cwd / "sweep.py", ATTACH_SWEEP)
        sweep, pid = up_detached(cwd, "--workers", "2")
        try:
            while sum(1 for _ in (sweep.runs).glob("*/*/status.json")) < 2:
                time.sleep(0.05)
            times = [anyio.run(attach_once, sweep) for _ in range(repeats)]
            local = [anyio.run(in_process_once, cwd) for _ in range(max(1, repeats // 2))]
        finally:
            stop(cwd, pid)
    print(
        f"attach: 10,000-run live sweep, connect -> first paint with every row: median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, n={len(times)}); target < 0.5 s"
    )
    print(
        f"attach: for scale, the in-process dashboard's first paint of the same 10,000 runs: "
        f"median {statistics.median(local):.3f} s"
    )


# ----------------------------------------------------------------------------------------- command

COMMAND_SWEEP = """
import os, signal, sys, time
from orchestra import Sweep, Config, Grid
def train(x):
    def on_term(signum, frame):
        t = time.time()
        with open(f".term-{x}", "w") as f:
            f.write(repr(t))
        os.rename(f".term-{x}", f"term-{x}")  # whole when it appears
        os._exit(0)
    signal.signal(signal.SIGTERM, on_term)
    open(f"ready-{x}", "w").close()
    while True:
        time.sleep(0.5)
sweep = Sweep(train, Config({"x": Grid(list(range(60)))}))
"""


def bench_command(repeats: int) -> None:
    n, n_cli = 30, 20
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        write(cwd / "sweep.py", COMMAND_SWEEP)
        sweep, pid = up_detached(cwd, "--workers", "2", "--grace", "5")
        trips: list[float] = []
        cli: list[float] = []
        try:
            for x in range(n + n_cli):
                while not (cwd / f"ready-{x}").exists():
                    time.sleep(0.005)
                if x >= n:  # the last ones: the whole CLI command, for scale
                    t0 = time.time()
                    subprocess.run(
                        [sys.executable, "-m", "orchestra", "cancel", str(sweep.path), f"x={x}"],
                        capture_output=True,
                        check=True,
                    )
                    while not (cwd / f"term-{x}").exists():
                        time.sleep(0.001)
                    cli.append(float((cwd / f"term-{x}").read_text()) - t0)
                    continue
                t0 = time.time()
                replies = oneshot.command(sweep.path, Command(Op.CANCEL, (f"x={x}/0",)))
                assert replies[0].ok, replies
                while not (cwd / f"term-{x}").exists():
                    time.sleep(0.001)
                trips.append(float((cwd / f"term-{x}").read_text()) - t0)
        finally:
            stop(cwd, pid)
    trips.sort()
    p95 = trips[int(0.95 * (len(trips) - 1))]
    print(
        f"command: cancel over the socket until SIGTERM reaches the run: p50 {statistics.median(trips) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {max(trips) * 1000:.1f} ms (n={len(trips)}); target p95 < 50 ms"
    )
    cli.sort()
    print(
        f"command: the whole `orchestra cancel` (a new Python process, connect, send) until SIGTERM: "
        f"p50 {statistics.median(cli) * 1000:.0f} ms, p95 {cli[int(0.95 * (len(cli) - 1))] * 1000:.0f} ms "
        f"(n={len(cli)}); for scale, `python -c pass`: {_python_start() * 1000:.0f} ms"
    )


def _python_start() -> float:
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -------------------------------------------------------------------------------------------- feed

FEED_SWEEP = """
import os, time
from orchestra import Sweep, Config, Grid
def train(ctx, x):
    i = 0
    while not os.path.exists("go"):
        ctx.logger("iteration", i); ctx.logger("loss", 1.0 / (i + 1)); ctx.logger.dump()
        i += 1
        time.sleep(0.1)
sweep = Sweep(train, Config({"x": Grid(list(range(50)))}))
"""


def cpu_share(pid: int, seconds: float) -> float:
    proc = psutil.Process(pid)
    t0, c0 = time.monotonic(), sum(proc.cpu_times()[:2])
    time.sleep(seconds)
    return (sum(proc.cpu_times()[:2]) - c0) / (time.monotonic() - t0)


async def watched_cpu(sweep: SweepDir, pid: int, seconds: float) -> float:
    followers = [RemoteSweep(sweep), RemoteSweep(sweep)]
    async with anyio.create_task_group() as tg:
        for f in followers:
            tg.start_soon(f.follow)
        for f in followers:
            await f.ready.wait()
        share = await anyio.to_thread.run_sync(cpu_share, pid, seconds)
        tg.cancel_scope.cancel()
    return share


def bench_feed(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        write(cwd / "sweep.py", FEED_SWEEP)
        sweep, pid = up_detached(cwd, "--workers", "50")
        try:
            while True:
                snap, _ = oneshot.snapshot(sweep.path)
                if sum(1 for r in snap.rows if r.state is State.RUNNING and r.records) == 50:
                    break
                time.sleep(0.2)
            alone, watched = [], []
            for _ in range(max(1, repeats // 2)):
                alone.append(cpu_share(pid, 10))
                watched.append(anyio.run(watched_cpu, sweep, pid, 10))
        finally:
            stop(cwd, pid)
    a, w = statistics.median(alone), statistics.median(watched)
    print(
        f"feed: service CPU with 50 runs logging 10 records/s each: {a * 100:.1f} % of a core with no client, "
        f"{w * 100:.1f} % with two dashboards' feeds (+{(w - a) * 100:.1f} points); target < +5"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", nargs="?", default="all", choices=["attach", "command", "feed", "all"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.what in ("attach", "all"):
        bench_attach(args.repeats)
    if args.what in ("command", "all"):
        bench_command(args.repeats)
    if args.what in ("feed", "all"):
        bench_feed(args.repeats)


if __name__ == "__main__":
    main()
