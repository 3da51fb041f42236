"""The Slurm backend's benchmarks (issue #12), on a real cluster ($SLURM_CONF, or .ci/slurm-up.sh's).

    python bench/bench_slurm.py [queue|ratio|watcher|all] [--repeats 3]

queue    A 500-run sweep: from starting ``orchestra up --backend slurm`` (a new process) until every
         one of its 500 jobs is in Slurm's queue (squeue lists them all, polled every 20 ms).
         Target: < 5 s. Median over repeats.
ratio    100 runs of 1 s each: the wall time of ``orchestra up --backend slurm --foreground`` (start
         to exit, every result recorded) against a hand-written ``sbatch --array`` script of the
         same 100 runs (each task starts Python, sleeps 1 s, writes its result), submitted and
         waited for by polling squeue every 0.2 s, in the same run, alternating. Target: the
         ratio of medians <= 1.10. ``--parallel N`` throttles both to N jobs at once (the test
         cluster advertises more CPUs than the machine has: N = its real cores gives each job a
         core of its own, as a cluster does).
watcher  500 jobs queued (2 running, 498 pending): the orchestrator's Slurm commands per minute and
         its CPU time (share of one core), measured in this process over 60 s after submission.

Python's bytecode cache is on, as in an installed venv (PYTHONDONTWRITEBYTECODE is dropped and
orchestra compiled first): each job's Python then loads orchestra as a user's would.
"""

from __future__ import annotations

import argparse
import hashlib
import os
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

from orchestra.plan.loader import load_sweep_file  # noqa: E402
from orchestra.service.session import UpOptions, open_session, prepare  # noqa: E402
from orchestra.slurm import Slurm  # noqa: E402


def warm_bytecode() -> None:
    """Runs load compiled modules, as from a venv pip installed (CI and tests turn the cache off)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "orchestra")], check=True)


def ensure_cluster() -> None:
    if os.environ.get("SLURM_CONF") and subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0:
        return
    out = subprocess.run(["bash", str(REPO / ".ci" / "slurm-up.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"no Slurm here and none could be started: {out.stderr.strip().splitlines()[-1:]}")
    said = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    os.environ["SLURM_CONF"] = said["SLURM_CONF"]


def job_name(sweep: Path) -> str:
    return f"{sweep.name}-{hashlib.sha256(str(sweep.resolve()).encode()).hexdigest()[:6]}"


def squeue_count(name: str, states: str = "all") -> int:
    out = subprocess.run(
        ["squeue", "-h", "-r", f"--states={states}", "-n", name, "-o", "%i"], capture_output=True, text=True
    ).stdout
    return len(out.split())


UP = [
    sys.executable,
    "-m",
    "orchestra",
    "up",
    "sweep.py",
    "--backend",
    "slurm",
    "--foreground",
    "--root",
    "sweeps",
]


def write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


# ------------------------------------------------------------------------------------------- queue

FIVE_HUNDRED = """
    import time
    from orchestra import Config, Grid, Sweep

    def train(x):
        time.sleep(60)

    sweep = Sweep(train, Config({"x": Grid(list(range(500)))}))
"""


def bench_queue(repeats: int) -> None:
    times = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
            cwd = Path(tmp)
            write(cwd / "sweep.py", FIVE_HUNDRED)
            name = job_name(cwd / "sweeps" / "sweep")
            started = time.perf_counter()
            proc = subprocess.Popen(
                [*UP, "--max-parallel", "2"],
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while squeue_count(name) < 500:
                if time.perf_counter() - started > 120:
                    raise SystemExit("500 jobs were not queued within 120 s")
                time.sleep(0.02)
            took = time.perf_counter() - started
            times.append(took)
            proc.send_signal(2)  # Ctrl-C: the jobs are cancelled
            proc.wait(timeout=120)
            subprocess.run(["scancel", "-n", name], capture_output=True)
            print(f"  queue #{i + 1}: 500 jobs in the queue {took:.2f} s after `up` started")
    print(f"queue: median {statistics.median(times):.2f} s from `up` to 500 jobs queued (target < 5 s)")


# ------------------------------------------------------------------------------------------- ratio

HUNDRED = """
    import time
    from orchestra import Config, Grid, Sweep

    def train(x):
        time.sleep(1)
        return {"x": x}

    sweep = Sweep(train, Config({"x": Grid(list(range(100)))}))
"""

# The same runs written by hand: each task starts Python, sleeps 1 s and writes its result.
TASK = """
    import json, os, sys, time
    x = int(os.environ["SLURM_ARRAY_TASK_ID"])
    time.sleep(1)
    with open(os.path.join(sys.argv[1], f"result-{x}.json"), "w") as f:
        json.dump({"x": x}, f)
"""
ARRAY = """\
    #!/bin/bash
    #SBATCH --array=0-99{throttle}
    #SBATCH --output=/dev/null
    exec {python} {task} {out}
"""


def run_orchestra(cwd: Path, parallel: int | None) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [*UP, *(["--max-parallel", str(parallel)] if parallel else [])],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    if done.returncode != 0 or "100 completed" not in done.stdout:
        raise SystemExit(f"orchestra's sweep failed: {done.stdout}{done.stderr}")
    return took


def run_by_hand(cwd: Path, parallel: int | None) -> float:
    out = cwd / "results"
    out.mkdir()
    throttle = f"%{parallel}" if parallel else ""
    script = write(
        cwd / "array.sh",
        ARRAY.format(python=sys.executable, task=cwd / "task.py", out=out, throttle=throttle),
    )
    started = time.perf_counter()
    job = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, check=True)
    job_id = job.stdout.strip().split(";")[0]
    while True:
        listed = subprocess.run(
            ["squeue", "-h", "-r", "-j", job_id, "-o", "%T"], capture_output=True, text=True
        ).stdout.split()
        if not [s for s in listed if s in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING")]:
            break
        time.sleep(0.2)
    took = time.perf_counter() - started
    if len(list(out.glob("result-*.json"))) != 100:
        raise SystemExit("the hand-written array did not write its 100 results")
    return took


def bench_ratio(repeats: int, parallel: int | None) -> None:
    ours, theirs = [], []
    for i in range(repeats):
        with (
            tempfile.TemporaryDirectory(prefix="bench-slurm-") as a,
            tempfile.TemporaryDirectory(prefix="bench-slurm-") as b,
        ):
            write(Path(a) / "sweep.py", HUNDRED)
            write(Path(b) / "task.py", TASK)
            hand = run_by_hand(Path(b), parallel)
            orc = run_orchestra(Path(a), parallel)
            theirs.append(hand)
            ours.append(orc)
            print(f"  ratio #{i + 1}: orchestra {orc:.2f} s, hand-written sbatch --array {hand:.2f} s")
    ratio = statistics.median(ours) / statistics.median(theirs)
    at_once = f"{parallel} at once" if parallel else "as many at once as the cluster takes"
    print(
        f"ratio: 100 one-second runs ({at_once}), orchestra median {statistics.median(ours):.2f} s vs hand-written "
        f"array median {statistics.median(theirs):.2f} s: {ratio:.3f} (target <= 1.10)"
    )


# ----------------------------------------------------------------------------------------- watcher


async def watch_queued(cwd: Path, seconds: float) -> tuple[dict[str, int], float, float, int]:
    options = UpOptions(root=cwd / "sweeps", backend="slurm", cwd=cwd, slurm=Slurm(max_parallel=2))
    prepared = prepare(load_sweep_file(str(cwd / "sweep.py")), options)
    backend = prepared.backend
    async with open_session(prepared) as session, anyio.create_task_group() as tg:
        tg.start_soon(session.run)
        name = job_name(cwd / "sweeps" / "sweep")
        while squeue_count(name) < 500:
            await anyio.sleep(0.1)
        await anyio.sleep(5)  # the submission's own burst of calls is over
        calls0 = dict(backend.commands.calls)  # type: ignore[attr-defined]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await anyio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        calls = {k: v - calls0.get(k, 0) for k, v in backend.commands.calls.items()}  # type: ignore[attr-defined]
        queued = squeue_count(name, "PENDING,RUNNING")
        session.scheduler.interrupt()
    return calls, cpu, wall, queued


def bench_watcher(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as tmp:
        cwd = Path(tmp)
        write(cwd / "sweep.py", FIVE_HUNDRED)
        calls, cpu, wall, queued = anyio.run(watch_queued, cwd, seconds)
        subprocess.run(["scancel", "-n", job_name(cwd / "sweeps" / "sweep")], capture_output=True)
    per_minute = {k: round(v * 60 / wall, 1) for k, v in calls.items() if v}
    total = sum(calls.values()) * 60 / wall
    print(
        f"watcher: {queued} jobs queued or running over {wall:.0f} s: {total:.1f} Slurm commands a minute "
        f"{per_minute}, orchestrator CPU {100 * cpu / wall:.2f}% of one core"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="?", default="all", choices=("queue", "ratio", "watcher", "all"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0, help="the watcher's measuring window")
    parser.add_argument(
        "--parallel", type=int, default=None, help="ratio: at most N jobs at once, both sides"
    )
    args = parser.parse_args()
    ensure_cluster()
    warm_bytecode()
    print(subprocess.run(["sinfo", "--version"], capture_output=True, text=True).stdout.strip())
    if args.which in ("queue", "all"):
        bench_queue(args.repeats)
    if args.which in ("ratio", "all"):
        bench_ratio(args.repeats, args.parallel)
    if args.which in ("watcher", "all"):
        bench_watcher(args.seconds)


if __name__ == "__main__":
    main()
