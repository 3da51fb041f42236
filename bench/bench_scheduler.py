"""Scheduler benchmarks (issue #4, #16): launch overhead, metric ingestion, reconcile of a finished sweep.

    python bench/bench_scheduler.py [launch|ingest|reconcile|all] [--runs 300] [--workers 2] [--repeats 3]

launch     N no-op runs at K workers: `orchestra up --headless` wall time against floors spawned by a
           bare asyncio loop, K at a time, measured in the same run, alternating; medians:
           - the cloudpickle floor (the target, issue #16): `python -I -c "import cloudpickle, json;
             f = cloudpickle.load(open('payload.pkl','rb')); print(json.dumps(f(0.5)))"`, the least a
             run that executes a pickled function can do;
           - the old floor: orchestra's own child (`python -m orchestra.runtime <run-dir>`, with the
             environment `up` gives it, on fresh copies of the run directories), which measures the
             orchestrator alone and hides the child's cost;
           - `python -c pass`: the interpreter's own start-up.
           Where runs get cgroups (issue #11), `orchestra up` again with `ORCHESTRA_CGROUPS=off`, in
           alternating order with the first: what the runs' cgroups cost at this launch rate.
           Beside the wall times, the CPU (user + system) of every process of `up` and of the cloudpickle
           floor, and the idle core time meanwhile: steadier than wall time on a noisy machine, and
           they say whether a difference is work done or cores left idle. And a run's time in its
           worker slot, split by the timestamps in its status.json and result.json: the launch decision
           to the entry being called, the entry, the entry's return to the end being recorded, and
           the end to the slot's next launch decision; their sum against the floor's wall time per run
           and slot says which part of a run's life holds the difference. The work directory is
           made by `tempfile` (TMPDIR chooses its filesystem, which moves these figures: see #16).
ingest     50 concurrent runs each dumping 200 records/s for 10 s through the real scheduler: records lost
           (must be 0) and the orchestrator's own CPU time.
reconcile  `orchestra up` on a 10,000-run sweep whose runs are all completed: time until it decides there
           is nothing to do (whole command, and the session's prepare() alone); target < 1 s.
first      `orchestra up --headless` of a new 1,000-run sweep: from starting the command to the first run's
           process being spawned (its status.json's started_at); target < 0.5 s (issue #16, goal 3).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


def orchestra(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestra", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env
    )


def cpu_and_idle() -> tuple[float, float | None]:
    """CPU seconds of this process and of its children waited for so far (user + system), and the
    machine's idle core-seconds so far (``/proc/stat``; None where there is none)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return cpu, None
    return cpu, (int(fields[3]) + int(fields[4])) / os.sysconf("SC_CLK_TCK")  # idle + iowait


class Spent:
    """CPU and idle core time spent in each ``with`` block, one entry per repeat."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.idle: list[float] = []

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        cpu0, idle0 = cpu_and_idle()
        yield
        cpu1, idle1 = cpu_and_idle()
        self.cpu.append(cpu1 - cpu0)
        if idle0 is not None and idle1 is not None:
            self.idle.append(idle1 - idle0)


def slot_phases(run_dirs: list[Path], workers: int) -> tuple[float, float, float, float]:
    """Where a run's time in its worker slot goes, from its status.json and result.json (medians
    over the runs, ms): the orchestrator deciding to launch it to its entry being called (the
    spawn and the run's Python start-up), the entry, the entry's return to the orchestrator
    recording the end (result.json written, the exit, noticing it, reaping, bookkeeping), and that
    record to the next launch decision (the freed slot's next run; the first ``workers`` runs have none)."""
    times = []
    for d in run_dirs:
        status, result = read_status(d), json.loads((d / "result.json").read_text())
        times.append((status["started_at"], result["started_at"], result["ended_at"], status["ended_at"]))
    times.sort()
    ends = sorted(t[3] for t in times)
    gaps = []
    for launched in (t[0] for t in times[workers:]):  # each launch follows the latest end not yet followed
        i = bisect.bisect_right(ends, launched)
        if i:
            gaps.append(launched - ends.pop(i - 1))

    def ms(values: list[float]) -> float:
        return 1000 * statistics.median(values) if values else 0.0

    return (
        ms([b - a for a, b, _, _ in times]),
        ms([c - b for _, b, c, _ in times]),
        ms([d - c for _, _, c, d in times]),
        ms(gaps),
    )


def read_status(run_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((run_dir / "status.json").read_text())
    return loaded


# ------------------------------------------------------------------------------------------- launch


CLOUDPICKLE_FLOOR = (
    "import cloudpickle, json; f = cloudpickle.load(open('payload.pkl','rb')); print(json.dumps(f(0.5)))"
)


def floor_entry(x: float) -> None:
    """The floor's pickled function: a no-op like the sweep's entry (pickled by value, as that is)."""
    return None


async def spawn_all(commands: list[tuple[list[str], Path, Path, dict[str, str]]], workers: int) -> float:
    """Spawn each ``(argv, cwd, log, env)``, K at a time, as bare as an orchestrator can; wall seconds."""
    sem = asyncio.Semaphore(workers)

    async def one(argv: list[str], cwd: Path, log_path: Path, env: dict[str, str]) -> None:
        async with sem:
            with open(log_path, "ab") as log:
                p = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                )
                if await p.wait() != 0:
                    raise SystemExit(f"{argv} failed; see {log_path}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(*c) for c in commands))
    return time.perf_counter() - t0


def cloudpickle_floor(work: Path, run_dirs: list[Path], workers: int) -> float:
    import cloudpickle

    (work / "payload.pkl").write_bytes(cloudpickle.dumps(floor_entry))
    argv = [sys.executable, "-I", "-c", CLOUDPICKLE_FLOOR]
    env = dict(os.environ)
    return asyncio.run(spawn_all([(argv, work, d / "floor.log", env) for d in run_dirs], workers))


def orchestra_child_floor(run_dirs: list[Path], workers: int) -> float:
    """The old floor: orchestra's own child, with the environment `up` gives it, on fresh copies of
    the run directories (their config.json): re-running the originals would delete files, and on
    an ext4 without a journal every inode freed in the last seconds slows down the next creations
    (``recently_deleted``), which would be charged to the next repeat's `orchestra up`."""
    commands = []
    copies = []
    for d in run_dirs:
        sweep = d.parent.parent.parent
        twin = sweep.parent / f"{sweep.name}.floor"
        if not twin.exists():
            twin.mkdir()
            for name in ("payload.pkl", "sweep.json"):
                shutil.copyfile(sweep / name, twin / name)
            shutil.copytree(sweep / "launch", twin / "launch")
        copy = twin / "runs" / d.parent.name / d.name
        copy.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(d / "config.json", copy / "config.json")
        copies.append(copy)
    for d in copies:
        env = {
            **os.environ,
            "ORCHESTRA_RUN_DIR": str(d),
            "ORCHESTRA_ATTEMPT": "1",
            "ORCHESTRA_PARENT_PID": str(os.getpid()),
            "ORCHESTRA_RESULT_FSYNC": "orchestrator",
        }
        commands.append(
            (
                [sys.executable, "-m", "orchestra.runtime", str(d)],
                d.parent.parent.parent.parent,
                d / "output.log",
                env,
            )
        )
    return asyncio.run(spawn_all(commands, workers))


def pass_floor(work: Path, run_dirs: list[Path], workers: int) -> float:
    argv = [sys.executable, "-c", "pass"]
    return asyncio.run(spawn_all([(argv, work, d / "pass.log", dict(os.environ)) for d in run_dirs], workers))


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
        # bytecode cached, as in any installed package, kept out of the source tree; -I floors ignore both
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        warm = write(
            work / "warm.py",
            """
            from orchestra import Sweep, Config, Grid
            def noop(config):
                return None
            sweep = Sweep(noop, Config({"i": Grid([0, 1, 2, 3])}))
        """,
        )
        out = orchestra("up", warm, "--root", work / "sweeps", "--workers", workers, "--headless", cwd=work)
        assert out.returncode == 0, out.stdout + out.stderr
        warm_dirs = sorted((work / "sweeps" / "warm" / "runs").glob("*/0"))
        cloudpickle_floor(work, warm_dirs, workers)
        orchestra_child_floor(warm_dirs, workers)
        with_cgroups = any("cgroup" in (s.get("handle") or {}) for s in map(read_status, warm_dirs))
        ours: list[float] = []
        no_cgroups: list[float] = []
        spent = {"up": Spent(), "floor": Spent()}  # where the difference goes: CPU, or idle cores
        floors: dict[str, list[float]] = {"cloudpickle": [], "old": [], "pass": []}
        phases: list[tuple[float, float, float, float]] = []

        def up(name: str, env: dict[str, str]) -> float:
            t0 = time.perf_counter()
            out = orchestra(
                "up",
                f,
                "--root",
                work / "sweeps",
                "--name",
                name,
                "--workers",
                workers,
                "--headless",
                cwd=work,
                env=env,
            )
            took = time.perf_counter() - t0
            assert out.returncode == 0, out.stdout + out.stderr
            return took

        for rep in range(repeats):
            off = {**os.environ, "ORCHESTRA_CGROUPS": "off"}
            if with_cgroups and rep % 2:  # alternate which of the two goes first
                no_cgroups.append(up(f"n{rep}", off))
            with spent["up"].measure():
                ours.append(up(f"r{rep}", dict(os.environ)))
            if with_cgroups and not rep % 2:
                no_cgroups.append(up(f"n{rep}", off))
            run_dirs = sorted((work / "sweeps" / f"r{rep}" / "runs").glob("*/0"))
            assert len(run_dirs) == n
            phases.append(slot_phases(run_dirs, workers))
            with spent["floor"].measure():
                floors["cloudpickle"].append(cloudpickle_floor(work, run_dirs, workers))
            floors["old"].append(orchestra_child_floor(run_dirs, workers))
            floors["pass"].append(pass_floor(work, run_dirs, workers))
            print(
                f"  repeat {rep}: orchestra up {ours[-1]:.2f}s  cloudpickle floor {floors['cloudpickle'][-1]:.2f}s "
                f"(ratio {ours[-1] / floors['cloudpickle'][-1]:.3f})  old floor {floors['old'][-1]:.2f}s  "
                f"python -c pass {floors['pass'][-1]:.2f}s"
                + (f"  up without cgroups {no_cgroups[-1]:.2f}s" if with_cgroups else "")
            )
        o = statistics.median(ours)
        cp, old, bare = (statistics.median(floors[k]) for k in ("cloudpickle", "old", "pass"))

        def paired(
            k: str,
        ) -> float:  # each repeat's ratio, measured back to back: steadier on a loaded machine
            return statistics.median(a / b for a, b in zip(ours, floors[k]))

        print(
            f"launch: {n} no-op runs, K={workers}, medians of {repeats}: orchestra up {o:.2f}s, "
            f"cloudpickle floor {cp:.2f}s, ratio {paired('cloudpickle'):.3f} (median of the repeats' ratios; "
            f"target <= 1.10); per run {1000 * o / n:.1f} ms vs {1000 * cp / n:.1f} ms"
        )
        print(
            f"launch: old floor (orchestra's own child spawned by asyncio) {old:.2f}s, ratio {paired('old'):.3f}; "
            f"python -c pass {bare:.2f}s ({1000 * bare / n:.1f} ms per run)"
        )
        cpu_up, cpu_floor = (statistics.median(spent[k].cpu) for k in ("up", "floor"))
        line = (
            f"launch: CPU of every process (user + system, medians): orchestra up {cpu_up:.2f} core-s "
            f"(the orchestrator and its runs), cloudpickle floor {cpu_floor:.2f} (its loop and its runs), "
            f"ratio {statistics.median(a / b for a, b in zip(spent['up'].cpu, spent['floor'].cpu)):.3f}"
        )
        if spent["up"].idle and spent["floor"].idle:
            idle_up, idle_floor = (statistics.median(spent[k].idle) for k in ("up", "floor"))
            line += (
                f"; idle core time meanwhile {idle_up:.2f} vs {idle_floor:.2f} core-s "
                f"(wall is about (CPU + idle) / {os.cpu_count()} cores)"
            )
        print(line)
        start, entry, end, gap = (statistics.median(p[i] for p in phases) for i in range(4))
        print(
            f"launch: a run's time in its slot (medians, from its files): launch decision to entry "
            f"{start:.2f} ms, entry {entry:.2f}, entry's return to its end recorded {end:.2f}, end to the "
            f"slot's next launch decision {gap:.2f}: {start + entry + end + gap:.1f} ms a run, against "
            f"{1000 * cp * workers / n:.1f} ms a run in a slot of the cloudpickle floor"
        )
        if with_cgroups:
            without = statistics.median(a / b for a, b in zip(no_cgroups, floors["cloudpickle"]))
            cost = statistics.median(a / b for a, b in zip(ours, no_cgroups))
            print(
                f"launch: orchestra up with ORCHESTRA_CGROUPS=off {statistics.median(no_cgroups):.2f}s, ratio "
                f"{without:.3f}; the runs' cgroups cost {100 * (cost - 1):+.1f}% here (median of the paired ratios)"
            )
        else:
            print("launch: runs get no cgroups here (no writable cgroup v2): nothing to compare them with")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------- ingest


def bench_ingest(runs: int = 50, rate: int = 200, seconds: float = 10.0) -> None:
    import anyio

    from orchestra.plan.loader import load_sweep_file
    from orchestra.service.session import UpOptions, open_session, prepare

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
        options = UpOptions(root=work / "sweeps", workers=runs, metrics_interval=0.5, cwd=work)
        prepared = prepare(load_sweep_file(str(f)), options)

        async def run() -> Any:
            async with open_session(prepared) as session:
                await session.run()
                return session.scheduler

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        sched = anyio.run(run)
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
    from orchestra.plan.prepare import apply
    from orchestra.rundir import Exit, Reason, State, Status
    from orchestra.service.session import UpOptions, prepare

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
        options = UpOptions(root=work / "sweeps", workers=2)
        prepared = prepare(loaded, options)
        rec = prepared.rec
        apply(rec, prepared.payload)
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
            rec = prepare(loaded, options).rec  # reads only: pickling, the backend's check, reconcile
            inner.append(time.perf_counter() - t0)
            assert not rec.to_start
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import orchestra.cli.up"], check=True)
        startup = time.perf_counter() - t0
        print(
            f"reconcile: {n} completed runs: `orchestra up` decides nothing to do in {statistics.median(whole):.3f}s "
            f"(median of {repeats}; target < 1 s); prepare() alone {statistics.median(inner):.3f}s; "
            f"python + orchestra import floor {startup:.3f}s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------- first


def bench_first(n: int = 1000, repeats: int = 5) -> None:
    import json
    import signal

    work = Path(tempfile.mkdtemp(prefix="orch-bench-first-"))
    try:
        f = write(
            work / "big.py",
            f"""
            from orchestra import Sweep, Config, Grid
            def noop(config):
                return None
            sweep = Sweep(noop, Config({{"i": Grid(list(range({n})))}}))
        """,
        )
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed package has it
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        firsts = []
        for rep in range(repeats + 1):  # the first warms the bytecode and the page cache
            argv = [sys.executable, "-m", "orchestra", "up", str(f), "--headless", "--name", f"r{rep}"]
            t0 = time.time()
            p = subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs = work / "sweeps" / f"r{rep}" / "runs"
            first = None
            while first is None and p.poll() is None:
                for status in runs.glob("*/0/status.json") if runs.is_dir() else []:
                    try:
                        started = json.loads(status.read_bytes()).get("started_at")
                    except ValueError:
                        continue
                    if started:
                        first = started
                time.sleep(0.002)
            p.send_signal(signal.SIGINT)
            p.wait()
            assert first is not None, "no run started"
            if rep:
                firsts.append(first - t0)
        print(
            f"first: `orchestra up` of a new {n}-run sweep to its first run spawned: "
            f"{statistics.median(firsts):.3f}s (median of {repeats}; target < 0.5 s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "what", nargs="?", default="all", choices=["launch", "ingest", "reconcile", "first", "all"]
    )
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    if a.what in ("first", "all"):
        bench_first()
    if a.what in ("reconcile", "all"):
        bench_reconcile()
    if a.what in ("ingest", "all"):
        bench_ingest()
    if a.what in ("launch", "all"):
        bench_launch(a.runs, a.workers, a.repeats)


if __name__ == "__main__":
    main()
