"""Benchmark the run's process: cold start-up against the floor, warm starts, memory, Logger.dump throughput.

    python bench/bench_runtime.py [startup|warm|dump|all] [--starts 30] [--warm-starts 15] [--dumps 20000]

startup  One no-op run, as ``python -m orchestra.runtime <run-dir>`` (the whole attempt: imports, checks,
         metadata.json, payload, result.json, exit), against the bare cloudpickle floor
         ``python -I -c "import cloudpickle, json; f = cloudpickle.load(open('payload.pkl','rb'));
         print(json.dumps(f(0.5)))"`` and ``python -c pass``, measured alternately in the same process so
         all see the same machine load, with bytecode cached (in a temporary PYTHONPYCACHEPREFIX, as an
         installed package has it).
warm     From "the backend is asked to start a run" to "the entry function is called", cold
         (``LocalBackend``: a fresh interpreter that imports what the sweep file imports) against warm
         (``ZygoteLauncher``: a fork of a zygote that preloaded them), alternately, for numpy,
         numpy+gymnasium, torch (where installed) and numpy at cpus=2 (each forked run resizes the
         BLAS pool the zygote kept at one thread); the target is warm <= 0.6x cold with
         numpy+gymnasium. Memory: the zygote's RSS, and the unique memory (PSS) of each of two runs alive
         at once, forked against cold.
dump     ``Logger.dump()`` of a run's logger: 3 keys per record, printing to a line-buffered file (as
         output.log) and appending to metrics.jsonl, in records per second; the floor is writing the same
         records with ``JsonlWriter`` alone.

Figures are medians; the ratios are what to compare between machines.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestra.plan import prepare as plan  # noqa: E402
from orchestra.plan.loader import load_sweep_file  # noqa: E402
from orchestra.rundir import JsonlWriter, RunDir, read_json, write_json  # noqa: E402
from orchestra.runtime.logger import Logger, MetricsWriter  # noqa: E402
from orchestra.service.session import UpOptions, open_session, prepare  # noqa: E402

CLOUDPICKLE_FLOOR = (
    "import cloudpickle, json; f = cloudpickle.load(open('payload.pkl','rb')); print(json.dumps(f(0.5)))"
)
NOOP = """
from orchestra import Config, Grid, Sweep

def train(config):
    return None

sweep = Sweep(train, Config({"i": Grid([0, 1])}))
"""


def floor_entry(x: float) -> None:
    return None


def make_sweep(directory: Path, source: str) -> tuple[Any, list[RunDir]]:
    """A real sweep directory (the session API writes it, as `orchestra up` does) with each run's config.json."""
    import anyio

    directory.mkdir(parents=True, exist_ok=True)
    file = directory / "bench_sweep.py"
    file.write_text(textwrap.dedent(source))
    loaded = load_sweep_file(str(file))
    prepared = prepare(loaded, UpOptions(root=directory / "sweeps", workers=2))

    async def write() -> Any:
        async with open_session(prepared) as session:
            return session.rec

    rec = anyio.run(write)
    dirs = []
    for planned in rec.runs:
        planned.dir.path.mkdir(parents=True, exist_ok=True)
        write_json(planned.dir.config, plan.run_config(rec.name, planned.spec, loaded.sweep.run_options()))
        dirs.append(planned.dir)
    return loaded, dirs


def bench_env(pycache: Path) -> dict[str, str]:
    # bytecode cached as in any installed package, kept out of the source tree
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_env(base: dict[str, str], run_dir: RunDir, attempt: int, sweep_file: Path) -> dict[str, str]:
    """What the local backend gives a run: the common environment and the parent-death link."""
    from orchestra.scheduler.runenv import run_env as orchestrator_env

    env = orchestrator_env(
        base=base, sweep_env={}, run_dir=run_dir.path, attempt=attempt, threads=1, sweep_file=sweep_file
    )
    env["ORCHESTRA_PARENT_PID"] = str(os.getpid())
    return env


def timed(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, from the child's rusage) of one process."""
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} exited {proc.returncode}; see {log}")
    return elapsed, usage.ru_utime + usage.ru_stime


def bench_startup(work: Path, starts: int) -> None:
    import cloudpickle

    loaded, (run_dir, _) = make_sweep(work / "startup", NOOP)
    (work / "payload.pkl").write_bytes(cloudpickle.dumps(floor_entry))
    base = bench_env(work / "pycache")
    cases = {
        "orchestra": [sys.executable, "-m", "orchestra.runtime", str(run_dir.path)],
        "cloudpickle floor": [sys.executable, "-I", "-c", CLOUDPICKLE_FLOOR],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    log = run_dir.output_log
    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    for attempt in range(starts + 3):
        env = run_env(base, run_dir, attempt + 1, loaded.path)
        for name, cmd in cases.items():
            wall, cpu = timed(cmd, env, work, log)
            if attempt >= 3:  # the first three warm the page cache and the bytecode
                walls[name].append(wall)
                cpus[name].append(cpu)
    ours, floor, bare = (statistics.median(walls[k]) for k in cases)
    ours_cpu, floor_cpu, bare_cpu = (statistics.median(cpus[k]) for k in cases)
    print(
        f"start-up (one no-op run, medians of {starts}): orchestra {ours * 1e3:.1f} ms, cloudpickle floor "
        f"{floor * 1e3:.1f} ms (ratio {ours / floor:.2f}, {(ours - floor) * 1e3:+.1f} ms), "
        f"python -c pass {bare * 1e3:.1f} ms"
    )
    print(
        f"start-up CPU (user+system): orchestra {ours_cpu * 1e3:.1f} ms, cloudpickle floor {floor_cpu * 1e3:.1f} ms "
        f"(ratio {ours_cpu / floor_cpu:.2f}, {(ours_cpu - floor_cpu) * 1e3:+.1f} ms), python -c pass "
        f"{bare_cpu * 1e3:.1f} ms"
    )


WARM_SWEEP = """
import os, signal, sys, time
{imports}
from orchestra import Config, Grid, Sweep

def train(hold):
    entered = time.time()
    modules = [{names}]  # what the sweep file imported: a cold run imports it loading the payload
    if hold:
        open(os.path.join(os.environ["ORCHESTRA_RUN_DIR"], "holding"), "w").close()
        signal.pause()  # until the benchmark has read its memory and sends SIGTERM
    return {{"entered": entered, "pid": os.getpid(), "modules": [m.__name__ for m in modules]}}

sweep = Sweep(train, Config({{"hold": Grid([False, True]), "i": Grid([0, 1])}}), preload=[{preload}])
"""


def bench_warm(work: Path, starts: int) -> None:
    import anyio

    cases = [
        ("numpy", ["numpy"], 1),
        ("numpy+gymnasium", ["numpy", "gymnasium"], 1),
        ("torch", ["torch"], 1),
        ("numpy, cpus=2", ["numpy"], 2),  # forked too: each run resizes the pools the zygote kept at 1
    ]
    for label, modules, cpus in cases:
        if any(importlib.util.find_spec(m) is None for m in modules):
            print(f"warm ({label}): not installed here, skipped")
            continue
        source = WARM_SWEEP.format(
            imports="\n".join(f"import {m}" for m in modules),
            names=", ".join(modules),
            preload=", ".join(repr(m) for m in modules),
        )
        loaded, dirs = make_sweep(work / label.replace(", ", "-"), source)
        anyio.run(_warm_case, label, loaded, dirs, starts, bench_env(work / "pycache"), cpus)


async def _warm_case(
    label: str, loaded: Any, dirs: list[RunDir], starts: int, base: dict[str, str], cpus: int
) -> None:
    import anyio

    from orchestra.scheduler.backends import Placement, RunLaunch
    from orchestra.scheduler.backends.local import LocalBackend
    from orchestra.scheduler.backends.zygote import ZygoteLauncher
    from orchestra.sweep import Resources

    quick = [d for d in dirs if "hold=false" in str(d.path)]
    holding = [d for d in dirs if "hold=true" in str(d.path)]
    attempts = {str(d.path): 0 for d in dirs}
    os.environ.clear()
    os.environ.update(base)  # the backend builds each run's environment from this process's
    local = LocalBackend(workers=4)
    cwd = dirs[0].path.parents[4]

    def launch(run_dir: RunDir) -> tuple[RunLaunch, Placement]:
        attempts[str(run_dir.path)] += 1
        run = RunLaunch(str(run_dir.path), run_dir.path, attempts[str(run_dir.path)], {}, loaded.path, cwd)
        return run, Placement(run.run_id, Resources(cpus=cpus), threads=cpus)

    async def cold(run_dir: RunDir) -> Any:
        (handle,) = await local.launch([launch(run_dir)])
        return handle

    async def warm(run_dir: RunDir) -> Any:
        return await warm_start(zygote, *launch(run_dir))

    async def latency(start: Any, run_dir: RunDir) -> float:
        t0 = time.time()  # the scheduler has decided to start it
        handle = await start(run_dir)
        ended = await handle.wait()
        code = ended if isinstance(ended, int) else ended.returncode
        if code != 0:
            raise SystemExit(f"{run_dir.path} exited {code}; see its output.log")
        return float(read_json(run_dir.result)["return"]["entered"]) - t0

    async def memory(start: Any) -> list[int]:
        handles = [await start(d) for d in holding]
        for d in holding:
            while not (d.path / "holding").exists():  # a benchmark, not a test: polling is fine here
                await anyio.sleep(0.01)
        pss = [_pss_kib(h.pid) for h in handles]
        for d, h in zip(holding, handles):
            (d.path / "holding").unlink()
            os.killpg(h.pid, signal.SIGTERM)
            await h.wait()
        return pss

    async with ZygoteLauncher(
        loaded.sweep.preload, log_path=dirs[0].path.parents[2] / "zygote.log"
    ) as zygote:
        t0 = time.perf_counter()
        await latency(warm, quick[0])  # starts the zygote; its preload is reported, not counted
        ready = time.perf_counter() - t0
        if not zygote.warm:
            print(f"warm ({label}): the zygote could not serve; see the message above")
            return
        await latency(cold, quick[1])
        colds, warms = [], []
        for i in range(starts):
            d = quick[i % 2]
            colds.append(await latency(cold, d))
            warms.append(await latency(warm, d))
        c, w = statistics.median(colds), statistics.median(warms)
        print(
            f"warm ({label}): start-to-entry cold {c * 1e3:.1f} ms, warm {w * 1e3:.1f} ms, ratio {w / c:.2f} "
            f"({(c - w) * 1e3:.0f} ms saved per run; medians of {starts}); zygote ready in {ready:.2f}s",
            flush=True,
        )
        cold_pss = await memory(cold)
        warm_pss = await memory(warm)
        assert zygote.pid is not None
        print(
            f"warm ({label}): memory: zygote RSS {_status_kib(zygote.pid, 'VmRSS') / 1024:.1f} MiB; PSS of each "
            f"of 2 runs alive at once: cold {statistics.mean(cold_pss) / 1024:.1f} MiB, forked "
            f"{statistics.mean(warm_pss) / 1024:.1f} MiB (ratio {statistics.mean(warm_pss) / statistics.mean(cold_pss):.2f})",
            flush=True,
        )


async def warm_start(zygote: Any, launch: Any, placement: Any) -> Any:
    """What ``LocalBackend._start`` does for a run, with ``zygote.start`` in place of ``anyio.open_process``:
    the wiring of docs/run-directory.md ("Warm starts"), until the local backend has it."""
    import subprocess

    import anyio

    from orchestra.rundir import OUTPUT_LOG
    from orchestra.scheduler.runenv import run_env

    env = run_env(
        base=os.environ,
        sweep_env=launch.sweep_env,
        run_dir=launch.run_dir,
        attempt=launch.attempt,
        threads=placement.threads,
        sweep_file=launch.sweep_file,
        device_env=placement.env or None,
    )
    env["ORCHESTRA_PARENT_PID"] = str(os.getpid())
    argv = [sys.executable, "-m", "orchestra.runtime", str(launch.run_dir)]
    log = os.open(
        launch.run_dir / OUTPUT_LOG,
        os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o644,
    )
    try:

        async def cold() -> Any:
            return await anyio.open_process(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=launch.cwd,
                env=env,
                start_new_session=True,
            )

        return await zygote.start(argv, env=env, cwd=launch.cwd, log_fd=log, cold=cold)
    finally:
        os.close(log)


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss line for pid {pid}")


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def bench_dump(directory: Path, dumps: int, repeats: int = 5) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    logger_rates, floor_rates = [], []
    real_stdout = sys.stdout
    for r in range(repeats):
        with open(directory / f"out{r}.log", "w", buffering=1) as out:
            sys.stdout = out
            try:
                logger = Logger(metrics=MetricsWriter(directory / f"metrics{r}.jsonl", attempt=1))
                t0 = time.perf_counter()
                for i in range(dumps):
                    logger("iteration", i)
                    logger("loss", 1.0 / (i + 1))
                    logger("lr", 3e-4)
                    logger.dump(index=-1)
                logger_rates.append(dumps / (time.perf_counter() - t0))
            finally:
                sys.stdout = real_stdout
        with JsonlWriter(directory / f"floor{r}.jsonl") as w:
            t0 = time.perf_counter()
            for i in range(dumps):
                w.write(
                    {
                        "step": i,
                        "time": time.time(),
                        "attempt": 1,
                        "values": {"iteration": i, "loss": 1.0 / (i + 1), "lr": 3e-4},
                    }
                )
            floor_rates.append(dumps / (time.perf_counter() - t0))
    rate, floor = statistics.median(logger_rates), statistics.median(floor_rates)
    print(
        f"Logger.dump (3 keys, printed to a line-buffered file + metrics.jsonl): {rate:,.0f} records/s; "
        f"JsonlWriter alone {floor:,.0f} records/s (ratio {rate / floor:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", nargs="?", default="all", choices=["startup", "warm", "dump", "all"])
    parser.add_argument("--starts", type=int, default=30, help="start-ups measured per case (default 30)")
    parser.add_argument(
        "--warm-starts", type=int, default=15, help="cold/warm pairs per warm case (default 15)"
    )
    parser.add_argument(
        "--dumps", type=int, default=20_000, help="Logger.dump calls per repeat (default 20000)"
    )
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="orchestra-bench-") as tmp:
        work = Path(tmp)
        if args.what in ("startup", "all"):
            bench_startup(work, args.starts)
        if args.what in ("warm", "all"):
            bench_warm(work, args.warm_starts)
        if args.what in ("dump", "all"):
            bench_dump(work / "dump", args.dumps)


if __name__ == "__main__":
    main()
