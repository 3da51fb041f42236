"""Scheduler benchmarks (issue #4): launch overhead, metric ingestion, reconcile of a finished sweep.

    python bench/bench_scheduler.py [launch|ingest|reconcile|all] [--runs 500] [--workers 2] [--repeats 3]

launch     N no-op runs at K workers: `orchestra up --headless` wall time against the floor, a minimal
           asyncio loop that spawns the same child work (`python -m orchestra.runtime <run-dir>` on the same
           kind of run directories, K at a time), measured in the same run, alternating; medians.
ingest     50 concurrent runs each dumping 200 records/s for 10 s through the real scheduler: records lost
           (must be 0) and the orchestrator's own CPU time.
reconcile  `orchestra up` on a 10,000-run sweep whose runs are all completed: time until it decides there
           is nothing to do (whole command, and reconcile() alone); target < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
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


def write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def orchestra(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestra", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )


# ------------------------------------------------------------------------------------------- launch


async def floor(run_dirs: list[Path], workers: int) -> float:
    """The least any orchestrator can do: spawn each run's child work, K at a time, and wait."""
    sem = asyncio.Semaphore(workers)

    async def one(d: Path) -> None:
        async with sem:
            with open(d / "output.log", "ab") as log:
                env = {
                    **os.environ,
                    "ORCHESTRA_RUN_DIR": str(d),
                    "ORCHESTRA_ATTEMPT": "1",
                    "ORCHESTRA_PARENT_PID": str(os.getpid()),
                }
                p = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "orchestra.runtime",
                    str(d),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
                await p.wait()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(d) for d in run_dirs))
    return time.perf_counter() - t0


def bench_launch(n: int, workers: int, repeats: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="orch-bench-launch-"))
    try:
        f = write(
            work / "noop.py",
            f"""
            from orchestra import Sweep, Config, Grid
            def noop(config):
                return None
            sweep = Sweep(noop, Config({{"i": Grid(list(range({n})))}}))
        """,
        )
        ours, floors = [], []
        for rep in range(repeats):
            t0 = time.perf_counter()
            out = orchestra(
                "up",
                f,
                "--root",
                work / "sweeps",
                "--name",
                f"r{rep}",
                "--workers",
                workers,
                "--headless",
                cwd=work,
            )
            ours.append(time.perf_counter() - t0)
            assert out.returncode == 0, out.stdout + out.stderr
            run_dirs = sorted((work / "sweeps" / f"r{rep}" / "runs").glob("*/0"))
            assert len(run_dirs) == n
            floors.append(asyncio.run(floor(run_dirs, workers)))
            print(
                f"  repeat {rep}: orchestra up {ours[-1]:.2f}s  floor {floors[-1]:.2f}s  ratio {ours[-1] / floors[-1]:.3f}"
            )
        o, fl = statistics.median(ours), statistics.median(floors)
        print(
            f"launch: {n} no-op runs, K={workers}: orchestra up {o:.2f}s (median of {repeats}), floor {fl:.2f}s, "
            f"ratio {o / fl:.3f} (target <= 1.10); per run {1000 * o / n:.1f} ms vs {1000 * fl / n:.1f} ms"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------- ingest


def bench_ingest(runs: int = 50, rate: int = 200, seconds: float = 10.0) -> None:
    import anyio

    sys.path.insert(0, str(REPO))
    from tests.helpers import build_scheduler

    work = Path(tempfile.mkdtemp(prefix="orch-bench-ingest-"))
    try:
        f = write(
            work / "loud.py",
            f"""
            import time
            from orchestra import Sweep, Config, Grid
            def loud(ctx):
                start = time.perf_counter()
                for i in range({int(rate * seconds)}):
                    ctx.logger("iteration", i); ctx.logger("loss", 1.0 / (i + 1)); ctx.logger("reward", i * 0.5)
                    ctx.logger.dump()
                    delay = start + (i + 1) / {rate} - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
            sweep = Sweep(loud, Config({{"i": Grid(list(range({runs})))}}))
        """,
        )
        sched = build_scheduler(f, work / "sweeps", workers=runs, metrics_interval=0.5)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        anyio.run(sched.run)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        kids = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
        expected = int(rate * seconds)
        rows = sched.snapshot().rows
        lines = [len((r.dir / "metrics.jsonl").read_bytes().splitlines()) for r in rows]
        lost = sum(expected - r.records for r in rows)
        on_disk = sum(lines)
        print(
            f"ingest: {runs} runs x {rate} records/s for {seconds:g}s = {runs * expected} records; "
            f"on disk {on_disk}, read by the scheduler {sum(r.records for r in rows)}, lost {lost}; "
            f"orchestrator CPU {cpu:.2f}s over {wall:.1f}s wall ({100 * cpu / wall:.1f}% of one core, "
            f"{cpu / max(1, on_disk) * 1e6:.1f} us per record); the runs themselves used {kids:.1f}s CPU on "
            f"{len(os.sched_getaffinity(0))} cores"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------- reconcile


def bench_reconcile(n: int = 10_000, repeats: int = 5) -> None:
    from orchestra.plan.loader import load_sweep_file
    from orchestra.plan.prepare import apply, reconcile
    from orchestra.rundir import Exit, Reason, State, Status
    from orchestra.runtime.payload import dumps_entry

    work = Path(tempfile.mkdtemp(prefix="orch-bench-reconcile-"))
    try:
        f = write(
            work / "big.py",
            f"""
            from orchestra import Sweep, Config, Grid
            def train(config):
                pass
            sweep = Sweep(train, Config({{"a": Grid(list(range({n // 100}))), "b": Grid(list(range(100)))}}))
        """,
        )
        loaded = load_sweep_file(str(f))
        payload = dumps_entry(loaded.sweep.entry, by_value=[loaded.module])
        rec = reconcile(loaded, work / "sweeps", payload=payload)
        apply(rec, payload)
        now = time.time()
        for r in rec.runs:
            r.dir.path.mkdir(parents=True)
            done = Status(State.QUEUED).moved(State.RUNNING, now, attempt=1, started_at=now)
            done = done.moved(State.COMPLETED, now + 1, ended_at=now + 1, exit=Exit(Reason.SUCCESS, 0))
            r.dir.write_status(done)
        whole, inner = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = orchestra("up", f, "--root", work / "sweeps", "--headless", cwd=work)
            whole.append(time.perf_counter() - t0)
            assert out.returncode == 0 and "nothing to do" in out.stdout, out.stdout + out.stderr
            t0 = time.perf_counter()
            rec = reconcile(loaded, work / "sweeps", payload=payload)
            inner.append(time.perf_counter() - t0)
            assert not rec.to_start
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import orchestra.cli.up"], check=True)
        startup = time.perf_counter() - t0
        print(
            f"reconcile: {n} completed runs: `orchestra up` decides nothing to do in {statistics.median(whole):.3f}s "
            f"(median of {repeats}; target < 1 s); reconcile() alone {statistics.median(inner):.3f}s; "
            f"python + orchestra import floor {startup:.3f}s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", nargs="?", default="all", choices=["launch", "ingest", "reconcile", "all"])
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if a.what in ("reconcile", "all"):
        bench_reconcile()
    if a.what in ("ingest", "all"):
        bench_ingest()
    if a.what in ("launch", "all"):
        bench_launch(a.runs, a.workers, a.repeats)


if __name__ == "__main__":
    main()
